/* libxsmm's JIT kernels for the conv layers' per-image GEMMs (xsmm.h).
 *
 * libxsmm's own front end (libxsmm_init, libxsmm_smmdispatch) is not used:
 * its initialization cost ~7 ms and 11.8 MB of resident memory (a registry of
 * 131,072 kernels, zeroed), which took Fashion-MNIST training from 70.4 to
 * 81.7 MB peak RSS.  Its code generator (libxsmm_generator_gemm_kernel, the
 * same machine code the front end makes: bit-identical results, checked) is
 * called directly, with a list of the few shapes made so far. */
#include "xsmm.h"

#include <stddef.h>

#ifdef CNN_HAVE_XSMM
#include <libxsmm.h>
#include <libxsmm_generator.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"

typedef void (*kernel_fn)(const float *a, const float *b, float *c);

/* The kernels made so far, one per shape (NULL fn: libxsmm declined it, or no
 * executable memory), searched and grown under the mutex; never freed. */
typedef struct {
    int m, n, k, lda, ldb, ldc, beta_one, trans_b;
    void *fn;
} entry;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *made;
static size_t nmade, cap;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int arch; /* libxsmm's id of the CPU, 0: libxsmm's kernels are not used */
static char name[96];

/* libxsmm's id of this CPU, by libxsmm 1.17's own rule (libxsmm_cpuid_x86:
 * AVX-512 F and CD, then DQ, BW and VL for the Skylake-SP core, VNNI for
 * Cascade Lake, BF16 for Cooper Lake), from the features read once at start
 * (cpu.h: they include the OS's saving of the AVX-512 registers), or 0 below
 * the AVX-512 core.  libxsmm_cpuid_x86 asks the CPU again, some 20 CPUID
 * instructions, each a trap to the hypervisor on a virtual machine: 0.15 ms
 * of a 5 ms prediction of one PNG (bench/README.md, "Start-up"). */
static int avx512_arch(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (!CNN_CPU_HAS(AVX512F, "avx512f") || !CNN_CPU_HAS(AVX512CD, "avx512cd") ||
        !CNN_CPU_HAS(AVX512DQ, "avx512dq") || !CNN_CPU_HAS(AVX512BW, "avx512bw") ||
        !CNN_CPU_HAS(AVX512VL, "avx512vl"))
        return 0;
    if (!CNN_CPU_HAS(AVX512_VNNI, "avx512vnni")) return LIBXSMM_X86_AVX512_CORE;
    return CNN_CPU_HAS(AVX512_BF16, "avx512bf16") ? LIBXSMM_X86_AVX512_CPX
                                                  : LIBXSMM_X86_AVX512_CLX;
#else
    int cpu = libxsmm_cpuid_x86(NULL);
    return cpu >= LIBXSMM_X86_AVX512_CORE && cpu <= LIBXSMM_X86_AVX512_CPX ? cpu : 0;
#endif
}

/* libxsmm's kernels only where they were measured faster than OpenBLAS's
 * (bench/README.md): AVX-512 (Skylake-SP and later; not the Xeon Phi's).  With
 * AVX2 kernels (LIBXSMM_TARGET=hsw, the same Zen 5) training ran 7% slower and
 * inference 5% faster; with SSE both ran 40% slower. */
static void init(void)
{
    arch = avx512_arch();
}

/* The name, only when asked (libxsmm_cpuid_name was 1% of a one-PNG run). */
static pthread_once_t name_once = PTHREAD_ONCE_INIT;
static void init_name(void)
{
    pthread_once(&once, init);
    if (arch)
        snprintf(name, sizeof name, "libxsmm %s (%s)", LIBXSMM_VERSION, libxsmm_cpuid_name(arch));
    else
        snprintf(name, sizeof name, "OpenBLAS (libxsmm %s: no AVX-512)", LIBXSMM_VERSION);
}

/* Generates the kernel of e into fresh executable memory (written, then made
 * read-only and executable); NULL if libxsmm declines the shape or the system
 * refuses executable memory. */
static void *generate(const entry *e)
{
    libxsmm_descriptor_blob blob;
    int flags = e->trans_b ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
    const libxsmm_gemm_descriptor *d =
        libxsmm_sgemm_descriptor_init(&blob, e->m, e->n, e->k, e->lda, e->ldb, e->ldc, 1.0f,
                                      e->beta_one ? 1.0f : 0.0f, flags, LIBXSMM_GEMM_PREFETCH_NONE);
    if (!d) return NULL;
    /* generate() runs under the mutex: one buffer for all (the kernels here
     * are 1-8 KB, but big shapes unroll to more; a fresh megabyte from malloc
     * was an mmap and a munmap each) */
    static unsigned char buf[1 << 20];
    libxsmm_generated_code gc;
    memset(&gc, 0, sizeof gc);
    gc.generated_code = buf;
    gc.buffer_size = sizeof buf;
    gc.code_type = 2; /* machine code */
    gc.arch = (unsigned)arch;
    libxsmm_generator_gemm_kernel(&gc, d);
    void *code = NULL;
    if (!gc.last_error && gc.code_size > 0) {
        size_t size = gc.code_size;
        code = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (code == MAP_FAILED) {
            code = NULL;
        } else {
            memcpy(code, gc.generated_code, size);
            if (mprotect(code, size, PROT_READ | PROT_EXEC)) munmap(code, size), code = NULL;
        }
    }
    return code;
}

cnn_gemm_kernel cnn_gemm_kernel_get(int m, int n, int k, int lda, int ldb, int ldc, float beta,
                                    int trans_b)
{
    pthread_once(&once, init);
    cnn_gemm_kernel kern = {NULL};
    if (!arch || (beta != 0.0f && beta != 1.0f)) return kern;
    entry want = {m, n, k, lda, ldb, ldc, beta == 1.0f, !!trans_b, NULL};
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nmade && memcmp(&made[i], &want, offsetof(entry, fn))) i++;
    if (i == nmade) {
        entry *grown = nmade < cap ? made : realloc(made, (cap = 2 * cap + 8) * sizeof *made);
        if (grown) {
            made = grown;
            want.fn = generate(&want);
            made[nmade++] = want;
        }
    }
    if (i < nmade) kern.fn = made[i].fn;
    pthread_mutex_unlock(&lock);
    return kern;
}

void cnn_gemm_kernel_run(cnn_gemm_kernel kern, const float *a, const float *b, float *c)
{
    kernel_fn f;
    memcpy(&f, &kern.fn, sizeof f); /* code kept as void * (POSIX: the conversion round-trips) */
    f(a, b, c);
    /* libxsmm 1.17's kernels return with the upper halves of the vector
     * registers dirty; the SSE code after them (im2col, relu) then ran ~30%
     * slower on Zen 5 (bench/README.md) */
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("vzeroupper" ::: "memory");
#endif
}

const char *cnn_gemm_kernel_name(void)
{
    pthread_once(&name_once, init_name);
    return name;
}

#else /* no libxsmm at build time: every caller falls back to cnn_sgemm */

cnn_gemm_kernel cnn_gemm_kernel_get(int m, int n, int k, int lda, int ldb, int ldc, float beta,
                                    int trans_b)
{
    (void)m, (void)n, (void)k, (void)lda, (void)ldb, (void)ldc, (void)beta, (void)trans_b;
    return (cnn_gemm_kernel){NULL};
}

void cnn_gemm_kernel_run(cnn_gemm_kernel kern, const float *a, const float *b, float *c)
{
    (void)kern, (void)a, (void)b, (void)c;
}

const char *cnn_gemm_kernel_name(void)
{
    return "OpenBLAS (built without libxsmm)";
}
#endif
