/* PNG-reading helpers shared by the drawing tests (see png_test.h). */
#include "png_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

static const char *dir;

int scratch_make(char *template_)
{
    if (!mkdtemp(template_)) {
        perror("mkdtemp");
        return -1;
    }
    dir = template_;
    return 0;
}

const char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

void scratch_remove(void)
{
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(path_in(e->d_name));
    closedir(d);
    if (rmdir(dir) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int colour_type(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char h[26];
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    return got == sizeof h ? h[25] : -1;
}

void rgb_at(const cnn_image *im, int x, int y, int rgb[3])
{
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lrintf(im->px[((size_t)c * im->height + y) * im->width + x] * 255.0f);
}

int same_bytes(const char *a, const char *b)
{
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    cnn_error err;
    int same = cnn_read_file(a, 1 << 26, &da, &la, &err) == 0 &&
               cnn_read_file(b, 1 << 26, &db, &lb, &err) == 0 && la == lb && la > 0 &&
               memcmp(da, db, la) == 0;
    free(da);
    free(db);
    return same;
}
