/* cairo loaded at the first picture (cairo_load.h says why).  Resolved once,
 * under pthread_once; the table is only read afterwards.  The library is
 * never closed. */
#define CNN_CAIRO_LOADER
#include "cairo_load.h"

#include <pthread.h>

#include "dynload.h"

cnn_cairo_fns cnn_cairo;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[CNN_ERROR_MAX]; /* the loading failure, for every caller */

static void load(void)
{
#define NAME(f) #f,
    static const char *const names[] = {CNN_CAIRO_FUNCS(NAME)};
#undef NAME
    void *fns[sizeof names / sizeof *names];
    if (cnn_dl_resolve("libcairo.so.2", "cairo", "draw the picture", "libcairo2", names, fns,
                       (int)(sizeof names / sizeof *names), why, sizeof why))
        return;
    /* the table's fields are the functions in the list's order */
    int i = 0;
#define SET(f) *(void **)&cnn_cairo.f = fns[i++];
    CNN_CAIRO_FUNCS(SET)
#undef SET
}

int cnn_cairo_load(cnn_error *err)
{
    pthread_once(&once, load);
    return why[0] ? cnn_errorf(err, "%s", why) : 0;
}
