/* What the CPU and the OS can run, for the kernels picked at run time
 * (layers/avx512.h, layers/dense.c, xsmm.c).
 *
 * The answers come from the table glibc's loader fills once at start
 * (<sys/platform/x86.h>, glibc 2.33 and later; "active" means the OS saves the
 * registers too), not from CPUID instructions of our own: on a virtual machine
 * each CPUID is a trap to the hypervisor (6.6 us here), and libgcc's
 * __builtin_cpu_supports links a constructor that runs ten of them at every
 * start, 0.07 ms of a one-PNG prediction (bench/README.md, "Start-up").
 * Without that header, libgcc's answers.  Under Valgrind, which hides
 * AVX-512 from both, the portable paths run. */
#ifndef CNN_CPU_H
#define CNN_CPU_H

#if defined(__x86_64__) && defined(__GNUC__)
#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#define CNN_CPU_GLIBC 1
#endif
#endif

/* AVX-512 F, BW and VL: what layers/avx512.h's kernels use.  The x86-64-v3
 * level (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE, and the v2 level's SSE4.2 and
 * POPCNT): code compiled for arch=x86-64-v3. */
#ifdef CNN_CPU_GLIBC
/* glibc's CPU_FEATURE_ACTIVE, but with an unsigned shift: its inline
 * x86_cpu_active computes 1 << 31 in an int for bit 31 (AVX512VL), which is
 * undefined and which UBSan reports. */
static inline int cnn_cpu_active(unsigned int index)
{
    const unsigned int per_leaf = 8 * sizeof(unsigned int) * 4, per_reg = 8 * sizeof(unsigned int);
    const struct cpuid_feature *f = __x86_get_cpuid_feature_leaf(index / per_leaf);
    unsigned int reg = index % per_leaf;
    return (int)((f->active_array[reg / per_reg] >> (reg % per_reg)) & 1u);
}
#define CNN_CPU_HAS(name, gcc_name) cnn_cpu_active(x86_cpu_##name)
static inline int cnn_cpu_x86_64_v3(void)
{
    return CNN_CPU_HAS(AVX2, 0) && CNN_CPU_HAS(FMA, 0) && CNN_CPU_HAS(BMI1, 0) &&
           CNN_CPU_HAS(BMI2, 0) && CNN_CPU_HAS(F16C, 0) && CNN_CPU_HAS(LZCNT, 0) &&
           CNN_CPU_HAS(MOVBE, 0) && CNN_CPU_HAS(SSE4_2, 0) && CNN_CPU_HAS(POPCNT, 0);
}
#else
#define CNN_CPU_HAS(name, gcc_name) __builtin_cpu_supports(gcc_name)
static inline int cnn_cpu_x86_64_v3(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}
#endif

static inline int cnn_cpu_avx512(void)
{
    return CNN_CPU_HAS(AVX512F, "avx512f") && CNN_CPU_HAS(AVX512BW, "avx512bw") &&
           CNN_CPU_HAS(AVX512VL, "avx512vl");
}
#endif

#endif
