/* libFuzzer harness for IDX files: cnn_idx_load_mem (the in-memory twin of
 * cnn_idx_load, which cnn-train and cnn-infer use), plain and gzip; and, on
 * the same bytes in an unlinked temporary file, the record stream cnn-train evaluates a test set
 * with (lib/idx_internal.h), which must accept exactly what the loader accepts
 * and read the same records, whatever the size of its reads.
 *
 * The first input byte chooses the route: odd means "gzip-compress the rest
 * first", so the fuzzer explores IDX headers behind a valid gzip layer as well
 * as raw (possibly corrupt) gzip streams and plain files.  A 16 MiB decoded
 * limit keeps memory small; headers claiming more must be refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "idx.h"
#include "idx_internal.h"

#define FUZZ_IDX_MAX_BYTES ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *gzip_bytes(const uint8_t *src, size_t n, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&zs, (uLong)n) + 32;
    unsigned char *dst = malloc(cap);
    if (!dst) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)n;
    zs.next_out = dst;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(dst);
        return NULL;
    }
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return dst;
}

static void check_loaded(const cnn_idx *x)
{
    if (x->rank < 1 || x->rank > CNN_IDX_MAX_RANK || x->count != x->dims[0] || !x->data ||
        x->elem_size != cnn_idx_type_size(x->type) ||
        x->count * x->record * x->elem_size > FUZZ_IDX_MAX_BYTES)
        abort();
    /* Touch every record the way the dataset loader and cnn-infer do. */
    float *rec = malloc(sizeof(float) * x->record);
    if (!rec) abort();
    size_t step = x->count > 64 ? x->count / 64 : 1;
    for (size_t i = 0; i < x->count; i += step) cnn_idx_record_float(x, i, rec);
    cnn_idx_record_float(x, x->count - 1, rec);
    free(rec);
    cnn_error err;
    long label;
    for (size_t i = 0; i < x->count && i < 64; i++) (void)cnn_idx_label(x, i, &label, &err);
    (void)cnn_idx_label(x, x->count, &label, &err); /* out of range: an error, no crash */
}

/* The stream reader over the bytes in[0..n), `chunk` records a read: 0 when it
 * refused them, else 1 with every record compared with the loader's x (NULL:
 * the loader refused them, which is then a disagreement). */
static int stream_agrees(const unsigned char *in, size_t n, size_t chunk, const cnn_idx *x)
{
    char tmp[] = "/tmp/fuzz-idx-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0 || unlink(tmp) || (n && write(fd, in, n) != (ssize_t)n)) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cnn_idx_stream *s = NULL;
    cnn_error err;
    int ok = cnn_idx_stream_open(path, FUZZ_IDX_MAX_BYTES, NULL, NULL, &s, &err) == 0;
    if (ok) {
        const cnn_idx *h = cnn_idx_stream_header(s);
        size_t rec = h->record * h->elem_size;
        unsigned char *buf = malloc(chunk * rec + 1);
        if (!buf) abort();
        for (size_t at = 0; ok && at < h->count; at += chunk) {
            size_t k = h->count - at < chunk ? h->count - at : chunk;
            ok = cnn_idx_stream_read(s, buf, k, &err) == 0;
            if (ok && x && memcmp(buf, (const unsigned char *)x->data + at * rec, k * rec) != 0)
                abort(); /* the stream read other records than the loader */
        }
        free(buf);
        ok = ok && cnn_idx_stream_finish(s, NULL, &err) == 0;
    }
    cnn_idx_stream_close(s);
    close(fd);
    if (ok != (x != NULL)) {
        fprintf(stderr, "the loader %s, the stream %s\n", x ? "accepted" : "refused",
                ok ? "accepted" : "refused");
        abort();
    }
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    unsigned char *gz = NULL;
    if (data[0] & 1) {
        gz = gzip_bytes(in, n, &n);
        if (!gz) return 0;
        in = gz;
    }
    cnn_idx *x = NULL;
    cnn_error err;
    err.msg[0] = 0;
    if (cnn_idx_load_mem(in, n, "fuzz.idx", FUZZ_IDX_MAX_BYTES, &x, &err) == 0) {
        check_loaded(x);
    } else if (x || !err.msg[0]) {
        fprintf(stderr, "cnn_idx_load_mem failed without a message or left *out set\n");
        abort();
    }
    stream_agrees(in, n, 1 + (data[0] >> 1) % 7, x);
    cnn_idx_free(x);
    free(gz);
    return 0;
}
