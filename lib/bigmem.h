/* Internal: large zeroed blocks that the kernel may back with 2 MiB pages.
 *
 * Every first touch of a 4 KiB page is a page fault, and on the virtual
 * machines we measure on one costs about 15 us (bench/README.md, "Start-up"):
 * a prediction of one PNG took 490 of them, most to read a 550 KB weights file
 * and copy it into the net.  A block from here starts on a 2 MiB boundary and
 * is marked MADV_HUGEPAGE, so where transparent huge pages are enabled
 * ("madvise" or "always", the kernel's default is one of them) each whole
 * 2 MiB of it is one fault.
 *
 * The length: under 256 KiB, 4 KiB pages (a huge page's zeroing would cost
 * more than the faults).  From 256 KiB to 2 MiB, one 2 MiB page.  From 2 MiB
 * on, with whole 1, rounded up to whole 2 MiB pages (for a block read through
 * once and freed soon); with whole 0, the tail after the last whole 2 MiB
 * stays in 4 KiB pages, so a block kept long holds little more memory than it
 * touches (a huge page counts whole once touched).
 *
 * Under AddressSanitizer the blocks come from calloc, so overflows still hit
 * its red zones. */
#ifndef CNN_BIGMEM_H
#define CNN_BIGMEM_H

#include <stddef.h>

/* Below this, a block is in 4 KiB pages (see above); callers choosing
 * whether a buffer is worth a block of cnn_big_calloc use the same line. */
#define CNN_BIG_MIN ((size_t)256 << 10)

/* A zeroed block of at least `bytes` (at least 1), or NULL; *mapped is what
 * cnn_big_free needs back. */
void *cnn_big_calloc(size_t bytes, int whole, size_t *mapped);

/* Frees a block of cnn_big_calloc (NULL is fine). */
void cnn_big_free(void *p, size_t mapped);

#endif
