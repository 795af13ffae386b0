/* HDF5 reads for the Keras importer (see h5.h). */
#include "h5.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keras' own files list at most a few thousand layers; the bound keeps a
 * hostile attribute from costing more than its file. */
#define MAX_LIST 100000
#define MAX_LIST_BYTES ((size_t)64 << 20)

/* HDF5 prints its error stack to stderr by default; we report our own. */
static void quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int h5_open(const char *path, h5_id *out, cnn_error *err)
{
    quiet();
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) return cnn_errorf(err, "%s: not an HDF5 file (no HDF5 signature)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return cnn_errorf(err, "%s: the HDF5 library cannot open it (damaged or truncated)",
                                 path);
    *out = f;
    return 0;
}

int h5_open_image(const void *buf, size_t len, const char *file, h5_id *out, cnn_error *err)
{
    quiet();
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (len < 8 || memcmp(buf, sig, 8) != 0)
        return cnn_errorf(err, "%s: not an HDF5 file (no HDF5 signature)", file);
    /* The core (memory) driver with the image set on the access property
     * list: HDF5 copies it.  (H5LTopen_file_image's no-copy mode leaks its
     * callback data in HDF5 1.10.) */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 20, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)buf, len) >= 0)
        f = H5Fopen("in-memory.h5", H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) return cnn_errorf(err, "%s: the HDF5 library cannot open it (damaged or truncated)",
                                 file);
    *out = f;
    return 0;
}

void h5_close(h5_id file)
{
    if (file > 0) H5Fclose(file);
}

int h5_group_open(h5_id loc, const char *path, h5_id *out)
{
    *out = -1;
    if (strcmp(path, ".") != 0 && !h5_exists(loc, path)) return -1;
    hid_t g = H5Gopen2(loc, path, H5P_DEFAULT);
    if (g < 0) return -1;
    *out = g;
    return 0;
}

void h5_group_close(h5_id g)
{
    if (g > 0) H5Gclose(g);
}

int h5_exists(h5_id loc, const char *path)
{
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    /* H5Lexists needs every intermediate link to exist. */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) return 0;
    }
    return H5Oexists_by_name(loc, path, H5P_DEFAULT) > 0;
}

int h5_has_attr(h5_id loc, const char *name)
{
    char chunk[256];
    snprintf(chunk, sizeof chunk, "%s0", name);
    return H5Aexists(loc, name) > 0 || H5Aexists(loc, chunk) > 0;
}

void h5_free_strings(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Appends the `count` variable-length strings of attribute a (name) to
 * *list, which has room for them, at most max_bytes in all. */
static int read_variable_strings(hid_t a, hid_t type, hid_t space, hssize_t count,
                                 const char *name, const char *file, size_t max_bytes,
                                 char **list, int *n, cnn_error *err)
{
    int rc = -1;
    hid_t mem = H5Tcopy(H5T_C_S1);
    char **vl = calloc((size_t)count, sizeof *vl);
    if (mem < 0 || !vl || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(type)) < 0 || H5Aread(a, mem, vl) < 0) {
        cnn_errorf(err, "%s: attribute %s cannot be read", file, name);
        free(vl);
        vl = NULL;
        goto done;
    }
    size_t total = 0;
    for (hssize_t i = 0; i < count; i++) {
        size_t len = vl[i] ? strlen(vl[i]) : 0;
        total += len;
        if (total > max_bytes) {
            cnn_errorf(err, "%s: attribute %s is longer than %zu bytes", file, name, max_bytes);
            goto done;
        }
        char *s = malloc(len + 1);
        if (!s) {
            cnn_errorf(err, "%s: out of memory", file);
            goto done;
        }
        memcpy(s, vl[i] ? vl[i] : "", len + 1);
        list[(*n)++] = s;
    }
    rc = 0;
done:
    if (vl) {
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mem, space, H5P_DEFAULT, vl);
#else
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, vl);
#endif
        free(vl);
    }
    if (mem >= 0) H5Tclose(mem);
    return rc;
}

/* Appends the `count` fixed-size strings of attribute a (name) to *list,
 * which has room for them, at most max_bytes in all; space padding is cut. */
static int read_fixed_strings(hid_t a, hid_t type, hssize_t count, const char *name,
                              const char *file, size_t max_bytes, char **list, int *n,
                              cnn_error *err)
{
    size_t size = H5Tget_size(type);
    if (size == 0 || size > max_bytes || (size_t)count > max_bytes / size)
        return cnn_errorf(err, "%s: attribute %s is longer than %zu bytes", file, name,
                          max_bytes);
    char *raw = malloc(size * (size_t)count);
    if (!raw) return cnn_errorf(err, "%s: out of memory", file);
    int rc = -1;
    if (H5Aread(a, type, raw) < 0) {
        cnn_errorf(err, "%s: attribute %s cannot be read", file, name);
        goto done;
    }
    for (hssize_t i = 0; i < count; i++) {
        const char *p = raw + (size_t)i * size;
        size_t len = strnlen(p, size);
        while (len > 0 && p[len - 1] == ' ') len--; /* space-padded strings */
        char *s = malloc(len + 1);
        if (!s) {
            cnn_errorf(err, "%s: out of memory", file);
            goto done;
        }
        memcpy(s, p, len);
        s[len] = 0;
        list[(*n)++] = s;
    }
    rc = 0;
done:
    free(raw);
    return rc;
}

/* Appends the strings of one attribute to *list.  Returns 0 or -1. */
static int read_string_attr(hid_t loc, const char *name, const char *file, size_t max_bytes,
                            char ***list, int *n, int scalar_only, cnn_error *err)
{
    int rc = -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), type = -1, space = -1;
    hssize_t count = 0;
    if (a < 0) {
        cnn_errorf(err, "%s: attribute %s cannot be read", file, name);
        goto done;
    }
    type = H5Aget_type(a);
    space = H5Aget_space(a);
    if (type < 0 || space < 0) {
        cnn_errorf(err, "%s: attribute %s cannot be read", file, name);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    count = sc == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(space);
    if (count < 0 || (scalar_only && count != 1) || count > MAX_LIST - *n) {
        cnn_errorf(err, "%s: attribute %s: expected %s, found %lld values", file, name,
                   scalar_only ? "one string" : "a list of strings", (long long)count);
        goto done;
    }
    if (count == 0) { /* Keras writes an empty list as an empty float array */
        rc = 0;
        goto done;
    }
    if (H5Tget_class(type) != H5T_STRING) {
        cnn_errorf(err, "%s: attribute %s: expected %s, found another type", file, name,
                   scalar_only ? "a string" : "a list of strings");
        goto done;
    }
    char **grown = realloc(*list, (size_t)(*n + count) * sizeof *grown);
    if (!grown) {
        cnn_errorf(err, "%s: out of memory", file);
        goto done;
    }
    *list = grown;
    htri_t var = H5Tis_variable_str(type);
    rc = var > 0 ? read_variable_strings(a, type, space, count, name, file, max_bytes, *list, n,
                                         err)
                 : read_fixed_strings(a, type, count, name, file, max_bytes, *list, n, err);
done:
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (a >= 0) H5Aclose(a);
    return rc;
}

int h5_attr_string(h5_id loc, const char *name, const char *file, size_t max, char **out,
                   cnn_error *err)
{
    char **list = NULL;
    int n = 0;
    if (H5Aexists(loc, name) <= 0) return cnn_errorf(err, "%s: no attribute %s", file, name);
    if (read_string_attr(loc, name, file, max, &list, &n, 1, err)) {
        h5_free_strings(list, n);
        return -1;
    }
    *out = list[0];
    free(list);
    return 0;
}

int h5_attr_strings(h5_id loc, const char *name, const char *file, char ***out, int *n,
                    cnn_error *err)
{
    char **list = NULL;
    int count = 0;
    if (H5Aexists(loc, name) > 0) {
        if (read_string_attr(loc, name, file, MAX_LIST_BYTES, &list, &count, 0, err)) goto fail;
    } else {
        /* Keras' save_attributes_to_hdf5_group splits long lists into name0, name1, ... */
        char chunk[300];
        int k = 0;
        for (;; k++) {
            snprintf(chunk, sizeof chunk, "%s%d", name, k);
            if (H5Aexists(loc, chunk) <= 0) break;
            if (read_string_attr(loc, chunk, file, MAX_LIST_BYTES, &list, &count, 0, err))
                goto fail;
        }
        if (k == 0) {
            cnn_errorf(err, "%s: no attribute %s", file, name);
            goto fail;
        }
    }
    *out = list;
    *n = count;
    return 0;
fail:
    h5_free_strings(list, count);
    return -1;
}

static void shape_text(char *buf, size_t n, int rank, const long long *d)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", d[i]);
    if (k < n) snprintf(buf + k, n - k, "%s)", rank == 1 ? "," : "");
}

int h5_read_floats(h5_id loc, const char *path, int rank, const int *dims, float *out,
                   const char *file, const char *what, cnn_error *err)
{
    int rc = -1;
    hid_t ds = -1, space = -1, type = -1;
    if (!h5_exists(loc, path)) return cnn_errorf(err, "%s: %s is missing", file, what);
    ds = H5Dopen2(loc, path, H5P_DEFAULT);
    if (ds < 0) {
        cnn_errorf(err, "%s: %s is not a dataset", file, what);
        goto done;
    }
    space = H5Dget_space(ds);
    type = H5Dget_type(ds);
    if (space < 0 || type < 0) {
        cnn_errorf(err, "%s: %s cannot be read", file, what);
        goto done;
    }
    if (H5Tget_class(type) != H5T_FLOAT) {
        cnn_errorf(err, "%s: %s is not floating-point data", file, what);
        goto done;
    }
    int r = H5Sget_simple_extent_ndims(space);
    hsize_t d[H5S_MAX_RANK];
    if (r < 0 || r > H5S_MAX_RANK || H5Sget_simple_extent_dims(space, d, NULL) < 0) {
        cnn_errorf(err, "%s: %s cannot be read", file, what);
        goto done;
    }
    int same = r == rank;
    for (int i = 0; same && i < r; i++) same = d[i] == (hsize_t)dims[i];
    if (!same) {
        long long want[4], got[H5S_MAX_RANK];
        for (int i = 0; i < rank; i++) want[i] = dims[i];
        for (int i = 0; i < r; i++) got[i] = (long long)d[i];
        char a[160], b[160];
        shape_text(a, sizeof a, r > 8 ? 8 : r, got);
        shape_text(b, sizeof b, rank, want);
        cnn_errorf(err, "%s: %s has shape %s but the architecture needs %s", file, what, a, b);
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        cnn_errorf(err, "%s: %s cannot be read (damaged data)", file, what);
        goto done;
    }
    rc = 0;
done:
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

long h5_group_size(h5_id loc, const char *path)
{
    H5G_info_t info;
    if (!h5_exists(loc, path) || H5Gget_info_by_name(loc, path, &info, H5P_DEFAULT) < 0) return -1;
    return (long)info.nlinks;
}
