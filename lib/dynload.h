/* Libraries loaded at their first use instead of linked: a linked library is
 * mapped and relocated at every start of every tool, whether the run needs it
 * or not (cairo: 17 libraries, some 5 ms; libjpeg: 0.18 ms of a 5 ms
 * prediction of one PNG; bench/README.md, "Start-up").  Internal. */
#ifndef CNN_DYNLOAD_H
#define CNN_DYNLOAD_H

#include <stddef.h>

/* dlopen(soname), then dlsym of each of names[0..n) into fns[0..n) (void *:
 * POSIX guarantees it converts to a function pointer).  Returns 0, or -1 with
 * why (of why_len bytes) saying which library or function is missing, what
 * could then not be done ("draw the picture") and which Debian package to
 * install.  The library is never closed.  Callers run it once, under
 * pthread_once, and keep why for every later caller. */
int cnn_dl_resolve(const char *soname, const char *lib, const char *task, const char *package,
                   const char *const *names, void **fns, int n, char *why, size_t why_len);

#endif
