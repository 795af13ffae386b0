/* AVX-512 versions of the layers' data movement (im2col, col2im, transposes,
 * pooling), picked at run time: the build stays generic x86-64, and a kernel
 * compiled for AVX-512 runs only where cnn_avx512() says the CPU (and the OS)
 * has it.  Elsewhere, and off x86-64, the portable code runs.  These paths
 * only move, select or add floats one at a time in the portable code's order,
 * so both give the same bits.  Masked loads and stores take the ragged rows
 * (11 or 26 floats in the lecture model) in one or two instructions; a masked
 * lane is not read, so it may lie outside the buffer.  -DCNN_NO_AVX512 in
 * CFLAGS leaves them out (to test the portable code on such a machine). */
#ifndef CNN_LAYERS_AVX512_H
#define CNN_LAYERS_AVX512_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CNN_NO_AVX512)
#include <immintrin.h>

#include "cpu.h"

#define CNN_AVX512 1
#define CNN_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* Whether the AVX-512 paths may run (cpu.h).  Under Valgrind, which hides
 * AVX-512, they do not. */
static inline int cnn_avx512(void)
{
    return cnn_cpu_avx512();
}

/* The lanes [a, b) of 16, with a and b clipped to [0, 16]. */
static inline unsigned cnn_lanes(int a, int b)
{
    a = a < 0 ? 0 : a > 16 ? 16 : a;
    b = b < 0 ? 0 : b > 16 ? 16 : b;
    return a >= b ? 0u : ((1u << b) - 1u) & ~((1u << a) - 1u);
}
#else
#define CNN_AVX512 0
#endif

#endif
