/* safetensors reader and writer (see safetensors.h). */
#include "safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bigmem.h"
#include "fileio.h"
#include "strbuf.h"

enum { DT_F32, DT_F64, DT_F16, DT_BF16 };

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}};

struct cnn_st_file {
    int n;
    cnn_st_tensor *t;   /* n tensors, header order */
    int *dtype;         /* n dtype codes as stored in the file */
    float *data;        /* every tensor's values, back to back; NULL when they */
    void *file;         /* are the file's own bytes, kept here (load's `keep`), */
    size_t file_mapped; /* a block of cnn_big_calloc of this length (0: of malloc) */
    size_t *begin;      /* n offsets of the tensors' bytes from data_off, */
    size_t data_off;    /* the data's offset in the file (for cnn_st_read_values) */
    int nmeta;
    char **mkey, **mval;
};

/* ======================================================= reading */

typedef struct entry {
    const char *name;   /* points into the cJSON tree while parsing */
    int dtype;
    int rank;
    int64_t shape[CNN_ST_MAX_RANK];
    size_t count, begin, end;
} entry;

static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "something else";
}

/* A JSON number that is an exact non-negative integer not above 2^53. */
static int json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int rank)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Checks one tensor entry of the header. */
static int parse_entry(const char *fname, const cJSON *v, size_t buflen, entry *e,
                       cnn_error *err)
{
    const char *tn = v->string;
    e->name = tn;
    if (!cJSON_IsObject(v))
        return cnn_errorf(err, "%s: tensor %s: expected an object, found %s", fname, tn,
                          json_kind(v));

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "dtype");
    if (!dt) return cnn_errorf(err, "%s: tensor %s: missing \"dtype\"", fname, tn);
    if (!cJSON_IsString(dt))
        return cnn_errorf(err, "%s: tensor %s: dtype is %s, expected a string", fname, tn,
                          json_kind(dt));
    e->dtype = -1;
    for (int k = 0; k < (int)(sizeof dtypes / sizeof dtypes[0]); k++)
        if (strcmp(dt->valuestring, dtypes[k].name) == 0) e->dtype = k;
    if (e->dtype < 0)
        return cnn_errorf(err, "%s: tensor %s: dtype %s is not supported (supported: F32, F64,"
                          " F16, BF16)", fname, tn, dt->valuestring);

    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(v, "shape");
    if (!sh) return cnn_errorf(err, "%s: tensor %s: missing \"shape\"", fname, tn);
    if (!cJSON_IsArray(sh))
        return cnn_errorf(err, "%s: tensor %s: shape is %s, expected an array", fname, tn,
                          json_kind(sh));
    int rank = cJSON_GetArraySize(sh);
    if (rank > CNN_ST_MAX_RANK)
        return cnn_errorf(err, "%s: tensor %s: rank %d is more than the %d supported", fname,
                          tn, rank, CNN_ST_MAX_RANK);
    e->rank = rank;
    size_t count = 1;
    int overflow = 0, i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t u;
        if (json_uint(d, &u) != 0) {
            if (cJSON_IsNumber(d))
                return cnn_errorf(err, "%s: tensor %s: shape[%d] is %g, expected a non-negative"
                                  " integer", fname, tn, i, d->valuedouble);
            return cnn_errorf(err, "%s: tensor %s: shape[%d] is %s, expected a non-negative"
                              " integer", fname, tn, i, json_kind(d));
        }
        e->shape[i++] = (int64_t)u;
        if (u != 0 && count > SIZE_MAX / u) overflow = 1;
        else count *= (size_t)u;
    }
    char shs[256];
    shape_str(shs, sizeof shs, e->shape, rank);
    size_t esize = dtypes[e->dtype].size;
    /* A zero dimension makes the product 0 whatever the others are. */
    for (int k = 0; k < rank; k++)
        if (e->shape[k] == 0) overflow = 0, count = 0;
    if (overflow || count > SIZE_MAX / esize)
        return cnn_errorf(err, "%s: tensor %s: shape %s overflows the size of memory", fname, tn,
                          shs);
    e->count = count;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(v, "data_offsets");
    if (!off) return cnn_errorf(err, "%s: tensor %s: missing \"data_offsets\"", fname, tn);
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        json_uint(cJSON_GetArrayItem(off, 0), &b) != 0 ||
        json_uint(cJSON_GetArrayItem(off, 1), &en) != 0)
        return cnn_errorf(err, "%s: tensor %s: data_offsets must be an array of two"
                          " non-negative integers", fname, tn);
    if (b > en)
        return cnn_errorf(err, "%s: tensor %s: data_offsets [%llu, %llu] end before they begin",
                          fname, tn, (unsigned long long)b, (unsigned long long)en);
    if (en > buflen)
        return cnn_errorf(err, "%s: tensor %s: data_offsets [%llu, %llu] outside the data buffer"
                          " of %zu bytes", fname, tn, (unsigned long long)b,
                          (unsigned long long)en, buflen);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    if (e->end - e->begin != count * esize)
        return cnn_errorf(err, "%s: tensor %s: data_offsets [%zu, %zu] hold %zu bytes, shape %s"
                          " of %s needs %zu", fname, tn, e->begin, e->end, e->end - e->begin,
                          shs, dtypes[e->dtype].name, count * esize);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_range(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The byte ranges must tile the buffer: sorted, each begins where the last ended. */
static int check_coverage(const char *fname, entry *es, int n, size_t buflen, cnn_error *err)
{
    entry **ord = malloc(sizeof *ord * (size_t)(n ? n : 1));
    if (!ord) return cnn_errorf(err, "%s: out of memory", fname);
    for (int i = 0; i < n; i++) ord[i] = &es[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_range);
    size_t at = 0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (ord[i]->begin < at)
            rc = cnn_errorf(err, "%s: tensors %s [%zu, %zu] and %s [%zu, %zu] overlap", fname,
                            ord[i - 1]->name, ord[i - 1]->begin, ord[i - 1]->end, ord[i]->name,
                            ord[i]->begin, ord[i]->end);
        else if (ord[i]->begin > at)
            rc = cnn_errorf(err, "%s: bytes [%zu, %zu) of the data buffer belong to no tensor"
                            " (a hole before tensor %s)", fname, at, ord[i]->begin,
                            ord[i]->name);
        else
            at = ord[i]->end;
    }
    if (rc == 0 && at != buflen)
        rc = cnn_errorf(err, "%s: the data buffer has %zu bytes but the tensors cover only the"
                        " first %zu", fname, buflen, at);
    free(ord);
    return rc;
}

/* Length of the valid UTF-8 prefix of s[0, n) (the reference requires UTF-8). */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
        else return i;
        if (n - i < len) return i;
        unsigned cp = c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return n;
}

static uint64_t rd_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static float f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24: zero and subnormals */
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7f800000u | mant << 13;
    else bits = sign | (exp + 112) << 23 | mant << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void convert(float *dst, const unsigned char *src, size_t count, int dtype)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The file's byte order is the host's: a copy (decoding byte by byte took
     * a fifth of the CPU of cnn-infer on one PNG). */
    if (dtype == DT_F32) {
        memcpy(dst, src, 4 * count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case DT_F32: {
            uint32_t b = (uint32_t)rd_le(src + 4 * i, 4);
            memcpy(&dst[i], &b, 4);
            break;
        }
        case DT_F64: {
            uint64_t b = rd_le(src + 8 * i, 8);
            double d;
            memcpy(&d, &b, 8);
            dst[i] = (float)d;
            break;
        }
        case DT_F16: dst[i] = f16_to_float((uint16_t)rd_le(src + 2 * i, 2)); break;
        case DT_BF16: {
            uint32_t b = (uint32_t)rd_le(src + 2 * i, 2) << 16;
            memcpy(&dst[i], &b, 4);
            break;
        }
        }
    }
}

/* Parses the checked header into f (minus the data). */
static int parse_header(const char *fname, const cJSON *root, size_t buflen, cnn_st_file *f,
                        entry **out_entries, cnn_error *err)
{
    int nkeys = cJSON_GetArraySize(root);
    const char **keys = malloc(sizeof *keys * (size_t)(nkeys ? nkeys : 1));
    entry *es = calloc((size_t)(nkeys ? nkeys : 1), sizeof *es);
    if (!keys || !es) {
        free(keys);
        free(es);
        return cnn_errorf(err, "%s: out of memory", fname);
    }
    int nk = 0, n = 0, rc = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, root) keys[nk++] = v->string;
    qsort(keys, (size_t)nk, sizeof *keys, cmp_str);
    for (int i = 1; i < nk && rc == 0; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            rc = cnn_errorf(err, "%s: the header names \"%s\" twice", fname, keys[i]);
    free(keys);

    cJSON_ArrayForEach(v, root) {
        if (rc != 0) break;
        if (strcmp(v->string, "__metadata__") == 0) {
            if (cJSON_IsNull(v)) continue;
            if (!cJSON_IsObject(v)) {
                rc = cnn_errorf(err, "%s: __metadata__ is %s, expected an object of strings",
                                fname, json_kind(v));
                break;
            }
            int m = cJSON_GetArraySize(v);
            f->mkey = calloc((size_t)(m ? m : 1), sizeof *f->mkey);
            f->mval = calloc((size_t)(m ? m : 1), sizeof *f->mval);
            if (!f->mkey || !f->mval) {
                rc = cnn_errorf(err, "%s: out of memory", fname);
                break;
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, v) {
                if (!cJSON_IsString(kv)) {
                    rc = cnn_errorf(err, "%s: __metadata__.%s is %s, expected a string", fname,
                                    kv->string, json_kind(kv));
                    break;
                }
                f->mkey[f->nmeta] = strdup(kv->string);
                f->mval[f->nmeta] = strdup(kv->valuestring);
                f->nmeta++;
                if (!f->mkey[f->nmeta - 1] || !f->mval[f->nmeta - 1]) {
                    rc = cnn_errorf(err, "%s: out of memory", fname);
                    break;
                }
            }
            /* Duplicates by sorting a copy of the keys: n log n, not n^2 (200,000
             * pairs took a minute pairwise). */
            if (rc == 0 && f->nmeta > 1) {
                const char **sorted = malloc(sizeof *sorted * (size_t)f->nmeta);
                if (!sorted) {
                    rc = cnn_errorf(err, "%s: out of memory", fname);
                    break;
                }
                memcpy(sorted, f->mkey, sizeof *sorted * (size_t)f->nmeta);
                qsort(sorted, (size_t)f->nmeta, sizeof *sorted, cmp_str);
                for (int j = 1; j < f->nmeta && rc == 0; j++)
                    if (strcmp(sorted[j - 1], sorted[j]) == 0)
                        rc = cnn_errorf(err, "%s: __metadata__ names \"%s\" twice", fname,
                                        sorted[j]);
                free(sorted);
            }
            continue;
        }
        rc = parse_entry(fname, v, buflen, &es[n], err);
        n++;
    }
    if (rc == 0) rc = check_coverage(fname, es, n, buflen, err);
    if (rc != 0) {
        free(es);
        return -1;
    }
    f->n = n;
    *out_entries = es;
    return 0;
}

/* The JSON header of a safetensors file of len bytes whose first bytes are at
 * p: checked (length, UTF-8, JSON object, nothing after it) and parsed into
 * *root.  p must hold at least 8 + the header length bytes when that length
 * fits the file; *hlen is that length. */
static int read_header(const unsigned char *p, size_t len, const char *fname, uint64_t *hlen_out,
                       cJSON **root_out, cnn_error *err)
{
    if (len < 8)
        return cnn_errorf(err, "%s: not a safetensors file: %zu bytes, expected at least 8 for"
                          " the header length", fname, len);
    uint64_t hlen = rd_le(p, 8);
    if (hlen > len - 8)
        return cnn_errorf(err, "%s: header length %llu exceeds file size %zu (after the 8-byte"
                          " length field)", fname, (unsigned long long)hlen, len);
    if (hlen > CNN_ST_MAX_HEADER)
        return cnn_errorf(err, "%s: header length %llu exceeds the limit of %zu bytes", fname,
                          (unsigned long long)hlen, CNN_ST_MAX_HEADER);
    const char *hdr = (const char *)p + 8;
    if (hlen == 0 || hdr[0] != '{')
        return cnn_errorf(err, "%s: not a safetensors file: the header does not start with"
                          " '{'", fname);
    size_t good = utf8_valid_prefix((const unsigned char *)hdr, (size_t)hlen);
    if (good != hlen)
        return cnn_errorf(err, "%s: the header is not valid UTF-8 at header byte %zu", fname,
                          good);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        return cnn_errorf(err, "%s: the header is not valid JSON (error near header byte %zu of"
                          " %llu)", fname, at, (unsigned long long)hlen);
    }
    for (const char *q = end; q < hdr + hlen; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return cnn_errorf(err, "%s: unexpected bytes after the JSON header at header byte"
                              " %zu of %llu", fname, (size_t)(q - hdr),
                              (unsigned long long)hlen);
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cnn_errorf(err, "%s: the header is not a JSON object", fname);
    }
    *hlen_out = hlen;
    *root_out = root;
    return 0;
}

/* 1 when every tensor is float32 in the host's byte order at a 4-byte
 * aligned place of data: the file's bytes are the values. */
static int usable_in_place(const unsigned char *data, const entry *es, int n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (int i = 0; i < n; i++)
        if (es[i].dtype != DT_F32 || (uintptr_t)(data + es[i].begin) % _Alignof(float)) return 0;
    return 1;
#else
    (void)data, (void)es, (void)n;
    return 0;
#endif
}

/* NaN or infinity in weights makes every prediction NaN: refuse them, naming
 * the tensor, rather than print "nan" and exit 0. */
static int check_finite(const char *fname, const cnn_st_tensor *t, const float *v,
                        cnn_error *err)
{
    size_t bad = 0, first = 0;
    for (size_t k = 0; k < t->count; k++)
        if (!isfinite(v[k]) && bad++ == 0) first = k;
    if (!bad) return 0;
    return cnn_errorf(err, "%s: tensor \"%s\" holds %zu non-finite value%s (NaN or infinity), "
                           "the first at index %zu", fname, t->name, bad, bad > 1 ? "s" : "",
                      first);
}

/* A file of len bytes whose header is at p: the header checked against the
 * data buffer's length (every tensor's range, the coverage), then, when data
 * is not NULL, the values converted and checked.  data NULL: the tensors have
 * names and shapes, no values.  keep: p is the caller's block (of malloc or
 * cnn_big_calloc), which the result may take over (*kept = 1), its tensors then
 * pointing into it instead of into a converted copy: a weights file's pages
 * are touched once, not twice (each new page costs a fault, on a virtual
 * machine some 15 us: bench/README.md, "Start-up"). */
static int load(const unsigned char *p, size_t len, const unsigned char *data_or_null,
                unsigned char *keep, int *kept, const char *fname, cnn_st_file **out,
                cnn_error *err)
{
    if (kept) *kept = 0;
    *out = NULL;
    uint64_t hlen = 0;
    cJSON *root = NULL;
    if (read_header(p, len, fname, &hlen, &root, err)) return -1;
    const unsigned char *data = data_or_null ? p + 8 + hlen : NULL;
    size_t buflen = len - 8 - (size_t)hlen;
    cnn_st_file *f = calloc(1, sizeof *f);
    entry *es = NULL;
    if (!f) {
        cJSON_Delete(root);
        return cnn_errorf(err, "%s: out of memory", fname);
    }
    if (parse_header(fname, root, buflen, f, &es, err) != 0) goto fail;

    size_t total = 0;
    for (int i = 0; i < f->n; i++) total += es[i].count; /* <= buflen / 2: no overflow */
    size_t nt = f->n > 0 ? (size_t)f->n : 1;
    f->t = calloc(nt, sizeof *f->t);
    f->dtype = calloc(nt, sizeof *f->dtype);
    f->begin = calloc(nt, sizeof *f->begin);
    f->data_off = 8 + (size_t)hlen;
    int in_place = data && keep && usable_in_place(data, es, f->n);
    if (data && !in_place) f->data = malloc(sizeof(float) * (total ? total : 1));
    if (!f->t || !f->dtype || !f->begin || (data && !in_place && !f->data)) {
        cnn_errorf(err, "%s: out of memory for %zu values", fname, total);
        goto fail;
    }
    size_t at = 0;
    for (int i = 0; i < f->n; i++) {
        cnn_st_tensor *t = &f->t[i];
        t->name = strdup(es[i].name);
        if (!t->name) {
            cnn_errorf(err, "%s: out of memory", fname);
            goto fail;
        }
        t->rank = es[i].rank;
        memcpy(t->shape, es[i].shape, sizeof t->shape);
        t->count = es[i].count;
        f->dtype[i] = es[i].dtype;
        f->begin[i] = es[i].begin;
        if (!data) continue;
        if (in_place) {
            t->data = (const float *)(const void *)(data + es[i].begin);
        } else {
            t->data = f->data + at;
            convert(f->data + at, data + es[i].begin, es[i].count, es[i].dtype);
        }
        if (check_finite(fname, t, t->data, err)) goto fail;
        at += es[i].count;
    }
    free(es);
    cJSON_Delete(root);
    if (in_place) f->file = keep, *kept = 1;
    *out = f;
    return 0;
fail:
    free(es);
    cJSON_Delete(root);
    cnn_st_free(f);
    return -1;
}

int cnn_st_load_mem(const void *buf, size_t len, const char *name, cnn_st_file **out,
                    cnn_error *err)
{
    return load(buf, len, buf, NULL, NULL, name ? name : "(memory)", out, err);
}

/* A regular file of `size` bytes, the first plen of them (prefix) read
 * already, read whole into a block of cnn_big_calloc (*mapped); NULL with err
 * filled when it cannot be, or when it is not `size` bytes long any more. */
static unsigned char *read_big(FILE *fp, const char *name, size_t size, const void *prefix,
                               size_t plen, size_t *mapped, cnn_error *err)
{
    unsigned char *b = cnn_big_calloc(size + 1, 1, mapped);
    if (!b) {
        cnn_errorf(err, "%s: out of memory for %zu bytes", name, size);
        return NULL;
    }
    if (plen) memcpy(b, prefix, plen);
    size_t n = plen + fread(b + plen, 1, size + 1 - plen, fp);
    if (ferror(fp) || n != size) {
        if (ferror(fp)) cnn_errorf(err, "%s: read error: %s", name, strerror(errno));
        else cnn_errorf(err, "%s: %s while it was read (%zu bytes, then %s%zu)", name,
                        n < size ? "shrank" : "grew", size, n < size ? "" : "more than ", n);
        cnn_big_free(b, *mapped);
        return NULL;
    }
    return b;
}

int cnn_st_load_fp(FILE *fp, const char *name, long long size, size_t max_bytes,
                   const void *prefix, size_t plen, int header_only, cnn_st_file **out,
                   cnn_error *err)
{
    *out = NULL;
    /* The length field and the header's first byte decide before the rest is
     * read: a stream that is not safetensors (a pipe, /dev/zero) is refused
     * after 9 bytes, not after max_bytes. */
    unsigned char head[9];
    if (plen > sizeof head) return cnn_errorf(err, "%s: cnn_st_load_fp: prefix too long", name);
    if (plen) memcpy(head, prefix, plen);
    size_t got = plen + fread(head + plen, 1, sizeof head - plen, fp);
    if (ferror(fp)) return cnn_errorf(err, "%s: read error: %s", name, strerror(errno));
    uint64_t hlen = 0;
    if (got >= 8) {
        hlen = rd_le(head, 8);
        if (size >= 0 && hlen > (unsigned long long)size - 8)
            return cnn_errorf(err, "%s: header length %llu exceeds file size %lld (after the "
                                   "8-byte length field)", name, (unsigned long long)hlen, size);
        if (hlen > CNN_ST_MAX_HEADER)
            return cnn_errorf(err, "%s: header length %llu exceeds the limit of %zu bytes", name,
                              (unsigned long long)hlen, CNN_ST_MAX_HEADER);
        if (hlen == 0 || (got == 9 && head[8] != '{'))
            return cnn_errorf(err, "%s: not a safetensors file: the header does not start with"
                                   " '{'", name);
    }
    char *buf = NULL;
    size_t len = 0;
    int rc;
    if (!header_only || got < sizeof head) {
        /* a large regular file in 2 MiB pages (bigmem.h) */
        size_t mapped = 0;
        if (!header_only && size >= (long long)CNN_BIG_MIN &&
            (unsigned long long)size <= max_bytes && got == sizeof head) {
            len = (size_t)size;
            buf = (char *)read_big(fp, name, len, head, got, &mapped, err);
            rc = buf ? 0 : -1;
        } else {
            rc = cnn_read_stream_after(fp, name, max_bytes, head, got, &buf, &len, err);
        }
        int kept = 0;
        if (rc == 0)
            rc = load((unsigned char *)buf, len, header_only ? NULL : (unsigned char *)buf,
                      (unsigned char *)buf, &kept, name, out, err);
        if (kept) (*out)->file_mapped = mapped;
        else if (mapped) cnn_big_free(buf, mapped);
        else free(buf);
        return rc;
    }
    /* Only the header: 8 + hlen bytes are read (hlen <= CNN_ST_MAX_HEADER),
     * whatever the size of the data after them.  The data's length is the
     * regular file's size, or what is left of the stream, read to its end
     * (bounded by max_bytes) without keeping it. */
    size_t hbytes = 8 + (size_t)hlen; /* >= 9: hlen 0 was refused */
    if (size < 0 && hbytes > max_bytes)
        return cnn_errorf(err, "%s: larger than the limit of %zu bytes", name, max_bytes);
    if (!(buf = malloc(hbytes))) return cnn_errorf(err, "%s: out of memory", name);
    memcpy(buf, head, got);
    size_t have = got + fread(buf + got, 1, hbytes - got, fp);
    if (ferror(fp)) {
        free(buf);
        return cnn_errorf(err, "%s: read error: %s", name, strerror(errno));
    }
    if (have < hbytes) {
        len = have; /* the file ended inside the header: read_header says so */
    } else if (size >= 0) {
        len = (size_t)size;
    } else if (cnn_skip_stream(fp, name, hbytes, max_bytes, &len, err)) {
        free(buf);
        return -1;
    }
    rc = load((unsigned char *)buf, len, NULL, NULL, NULL, name, out, err);
    free(buf);
    return rc;
}

int cnn_st_load(const char *path, size_t max_bytes, cnn_st_file **out, cnn_error *err)
{
    *out = NULL;
    long long size;
    FILE *fp = cnn_open_input(path, max_bytes, &size, err);
    if (!fp) return -1;
    int rc = cnn_st_load_fp(fp, path, size, max_bytes, NULL, 0, 0, out, err);
    fclose(fp);
    return rc;
}

int cnn_st_load_header(const char *path, size_t max_bytes, cnn_st_file **out, cnn_error *err)
{
    *out = NULL;
    long long size;
    /* A regular file's size costs nothing: max_bytes bounds only what a stream
     * (a pipe, a device) makes us read. */
    FILE *fp = cnn_open_input(path, SIZE_MAX, &size, err);
    if (!fp) return -1;
    int rc = cnn_st_load_fp(fp, path, size, max_bytes, NULL, 0, 1, out, err);
    fclose(fp);
    return rc;
}

int cnn_st_read_values(const cnn_st_file *f, int fd, const char *fname, const cnn_st_tensor *t,
                       float *dst, cnn_error *err)
{
    size_t i = (size_t)(t - f->t);
    int dt = f->dtype[i];
    size_t bytes = t->count * dtypes[dt].size;
    unsigned char *tmp = NULL, *into = (unsigned char *)dst;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (dt != DT_F32) /* float32 in the host's order goes straight to dst */
#endif
        if (!(into = tmp = malloc(bytes ? bytes : 1)))
            return cnn_errorf(err, "%s: out of memory for tensor %s", fname, t->name);
    size_t got = 0;
    ssize_t r = 1;
    while (got < bytes) {
        r = pread(fd, into + got, bytes - got, (off_t)(f->data_off + f->begin[i] + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < bytes) {
        if (r < 0) cnn_errorf(err, "%s: read error: %s", fname, strerror(errno));
        else cnn_errorf(err, "%s: shrank while it was read (tensor %s ends at byte %zu)", fname,
                        t->name, f->data_off + f->begin[i] + bytes);
        free(tmp);
        return -1;
    }
    if (tmp) convert(dst, tmp, t->count, dt);
    free(tmp);
    return check_finite(fname, t, dst, err);
}

int cnn_st_count(const cnn_st_file *f)
{
    return f->n;
}

const cnn_st_tensor *cnn_st_tensor_at(const cnn_st_file *f, int i)
{
    return i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const cnn_st_tensor *cnn_st_find(const cnn_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

const char *cnn_st_dtype(const cnn_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return dtypes[f->dtype[i]].name;
    return NULL;
}

int cnn_st_meta_count(const cnn_st_file *f)
{
    return f->nmeta;
}

int cnn_st_meta_at(const cnn_st_file *f, int i, const char **key, const char **value)
{
    if (i < 0 || i >= f->nmeta) return -1;
    *key = f->mkey[i];
    *value = f->mval[i];
    return 0;
}

const char *cnn_st_meta(const cnn_st_file *f, const char *key)
{
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->mkey[i], key) == 0) return f->mval[i];
    return NULL;
}

void cnn_st_free(cnn_st_file *f)
{
    if (!f) return;
    if (f->t)
        for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) {
        free(f->mkey[i]);
        free(f->mval[i]);
    }
    free(f->mkey);
    free(f->mval);
    free(f->t);
    free(f->dtype);
    free(f->begin);
    free(f->data);
    if (f->file_mapped) cnn_big_free(f->file, f->file_mapped);
    else free(f->file);
    free(f);
}

/* ======================================================= writing */

static int cmp_tensor_name(const void *a, const void *b)
{
    const cnn_st_tensor *x = *(const cnn_st_tensor *const *)a;
    const cnn_st_tensor *y = *(const cnn_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int check_tensors(const char *path, const cnn_st_tensor *ts, int n, cnn_error *err)
{
    for (int i = 0; i < n; i++) {
        const cnn_st_tensor *t = &ts[i];
        if (!t->name) return cnn_errorf(err, "%s: tensor %d has no name", path, i);
        if (utf8_valid_prefix((const unsigned char *)t->name, strlen(t->name)) != strlen(t->name))
            return cnn_errorf(err, "%s: tensor %d: name is not valid UTF-8", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return cnn_errorf(err, "%s: tensor %d: the name __metadata__ is reserved", path, i);
        if (t->rank < 0 || t->rank > CNN_ST_MAX_RANK)
            return cnn_errorf(err, "%s: tensor %s: rank %d, expected 0 to %d", path, t->name,
                              t->rank, CNN_ST_MAX_RANK);
        size_t count = 1;
        int overflow = 0;
        for (int k = 0; k < t->rank; k++) {
            if (t->shape[k] < 0)
                return cnn_errorf(err, "%s: tensor %s: shape[%d] is %lld, expected >= 0", path,
                                  t->name, k, (long long)t->shape[k]);
            uint64_t d = (uint64_t)t->shape[k];
            if (d != 0 && count > SIZE_MAX / 4 / d) overflow = 1;
            else count *= (size_t)d;
        }
        for (int k = 0; k < t->rank; k++)
            if (t->shape[k] == 0) count = 0, overflow = 0;
        if (overflow)
            return cnn_errorf(err, "%s: tensor %s: shape overflows the size of memory", path,
                              t->name);
        if (count != t->count)
            return cnn_errorf(err, "%s: tensor %s: count %zu, but the shape holds %zu values",
                              path, t->name, t->count, count);
        if (count && !t->data) return cnn_errorf(err, "%s: tensor %s: no data", path, t->name);
    }
    return 0;
}

int cnn_st_write(const char *path, const cnn_st_tensor *tensors, int n,
                 const char *const *meta_keys, const char *const *meta_values, int nmeta,
                 cnn_error *err)
{
    if (n < 0 || nmeta < 0)
        return cnn_errorf(err, "%s: negative tensor or metadata count", path);
    if (check_tensors(path, tensors, n, err) != 0) return -1;
    for (int i = 0; i < nmeta; i++) {
        if (!meta_keys[i] || !meta_values[i])
            return cnn_errorf(err, "%s: metadata pair %d has no key or no value", path, i);
        if (utf8_valid_prefix((const unsigned char *)meta_keys[i], strlen(meta_keys[i])) !=
                strlen(meta_keys[i]) ||
            utf8_valid_prefix((const unsigned char *)meta_values[i], strlen(meta_values[i])) !=
                strlen(meta_values[i]))
            return cnn_errorf(err, "%s: metadata pair %d is not valid UTF-8", path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta_keys[i], meta_keys[j]) == 0)
                return cnn_errorf(err, "%s: metadata key \"%s\" given twice", path,
                                  meta_keys[i]);
    }

    /* Name order, as the reference library lays out tensors of one dtype. */
    const cnn_st_tensor **ord = malloc(sizeof *ord * (size_t)(n ? n : 1));
    if (!ord) return cnn_errorf(err, "%s: out of memory", path);
    for (int i = 0; i < n; i++) ord[i] = &tensors[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_tensor_name);
    for (int i = 1; i < n; i++) {
        if (strcmp(ord[i - 1]->name, ord[i]->name) == 0) {
            cnn_errorf(err, "%s: tensor name \"%s\" given twice", path, ord[i]->name);
            free(ord);
            return -1;
        }
    }

    cnn_strbuf h = {0};
    cnn_strbuf_puts(&h, "{");
    if (nmeta > 0) {
        cnn_strbuf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) cnn_strbuf_puts(&h, ",");
            cnn_strbuf_json_string(&h, meta_keys[i]);
            cnn_strbuf_puts(&h, ":");
            cnn_strbuf_json_string(&h, meta_values[i]);
        }
        cnn_strbuf_puts(&h, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const cnn_st_tensor *t = ord[i];
        if (i || nmeta > 0) cnn_strbuf_puts(&h, ",");
        cnn_strbuf_json_string(&h, t->name);
        cnn_strbuf_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->rank; k++) cnn_strbuf_printf(&h, "%s%lld", k ? "," : "",
                                                    (long long)t->shape[k]);
        cnn_strbuf_printf(&h, "],\"data_offsets\":[%zu,", off);
        off += t->count * 4;
        cnn_strbuf_printf(&h, "%zu]}", off);
    }
    cnn_strbuf_puts(&h, "}");
    while (h.len % 8) cnn_strbuf_puts(&h, " ");
    if (h.oom) {
        free(h.s);
        free(ord);
        return cnn_errorf(err, "%s: out of memory", path);
    }

    cnn_atomic_file af;
    if (cnn_atomic_open(&af, path, err) != 0) {
        free(h.s);
        free(ord);
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.fp) == 8 && fwrite(h.s, 1, h.len, af.fp) == h.len;
    unsigned char chunk[4096];
    for (int i = 0; i < n && ok; i++) {
        const cnn_st_tensor *t = ord[i];
        for (size_t k = 0; k < t->count && ok;) {
            size_t m = 0;
            for (; m < sizeof chunk / 4 && k < t->count; m++, k++) {
                uint32_t b;
                memcpy(&b, &t->data[k], 4);
                for (int j = 0; j < 4; j++)
                    chunk[4 * m + (size_t)j] = (unsigned char)(b >> (8 * j));
            }
            ok = fwrite(chunk, 1, 4 * m, af.fp) == 4 * m;
        }
    }
    free(h.s);
    free(ord);
    if (!ok) {
        int e = errno;
        cnn_atomic_abort(&af);
        return cnn_errorf(err, "%s: write failed: %s (the previous file, if any, is unchanged)",
                          path, strerror(e));
    }
    return cnn_atomic_commit(&af, err);
}
