/* Large zeroed blocks on 2 MiB boundaries (bigmem.h says why). */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define PAGE ((size_t)4096)

#if defined(__SANITIZE_ADDRESS__)
#define USE_CALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define USE_CALLOC 1
#endif
#endif

void *cnn_big_calloc(size_t bytes, int whole, size_t *mapped)
{
    *mapped = 0;
    if (bytes == 0) bytes = 1;
#ifdef USE_CALLOC
    (void)whole;
    return calloc(1, bytes);
#else
    size_t unit = bytes < CNN_BIG_MIN ? PAGE : bytes < HUGE_PAGE || whole ? HUGE_PAGE : PAGE;
    if (bytes > SIZE_MAX - 2 * HUGE_PAGE) return NULL;
    size_t len = (bytes + unit - 1) / unit * unit;
    /* HUGE_PAGE more than needed, then the ends cut off: the rest starts on a
     * 2 MiB boundary.  Anonymous memory comes zeroed. */
    char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (a > p) munmap(p, (size_t)(a - p));
    if (p + len + HUGE_PAGE > a + len) munmap(a + len, (size_t)(p + len + HUGE_PAGE - (a + len)));
#ifdef MADV_HUGEPAGE
    if (len >= HUGE_PAGE) madvise(a, len, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    *mapped = len;
    return a;
#endif
}

void cnn_big_free(void *p, size_t mapped)
{
    if (!p) return;
#ifdef USE_CALLOC
    (void)mapped;
    free(p);
#else
    munmap(p, mapped);
#endif
}
