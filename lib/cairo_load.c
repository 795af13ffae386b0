/* cairo loaded at the first picture (cairo_load.h says why).  Resolved once,
 * under pthread_once; the table is only read afterwards.  The library is
 * never closed. */
#define CNN_CAIRO_LOADER
#include "cairo_load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define SONAME "libcairo.so.2"

cnn_cairo_fns cnn_cairo;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[CNN_ERROR_MAX]; /* the loading failure, for every caller */

static void load(void)
{
    void *h = dlopen(SONAME, RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "cannot load cairo to draw the picture (%s); install Debian's "
                                  "libcairo2", e ? e : SONAME);
        return;
    }
    /* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define RESOLVE(f)                                                                        \
    if (!why[0] && !(*(void **)&cnn_cairo.f = dlsym(h, #f)))                             \
        snprintf(why, sizeof why, "%s has no %s: cannot draw the picture", SONAME, #f);
    CNN_CAIRO_FUNCS(RESOLVE)
#undef RESOLVE
}

int cnn_cairo_load(cnn_error *err)
{
    pthread_once(&once, load);
    return why[0] ? cnn_errorf(err, "%s", why) : 0;
}
