/* Libraries loaded at their first use (dynload.h). */
#include "dynload.h"

#include <dlfcn.h>
#include <stdio.h>

int cnn_dl_resolve(const char *soname, const char *lib, const char *task, const char *package,
                   const char *const *names, void **fns, int n, char *why, size_t why_len)
{
    void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(why, why_len, "cannot load %s to %s (%s); install Debian's %s", lib, task,
                 e ? e : soname, package);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!(fns[i] = dlsym(h, names[i]))) {
            snprintf(why, why_len, "%s has no %s: cannot %s", soname, names[i], task);
            return -1;
        }
    return 0;
}
