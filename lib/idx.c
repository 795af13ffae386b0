/* IDX reader and writer, plain or gzip (see idx.h).
 *
 * Reading goes through a small `reader` that serves bytes from a FILE or a
 * memory buffer, optionally through zlib's inflate, so the header can be read
 * and checked before the element buffer is allocated, whatever the source. */
#include "idx.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "fileio.h"
#include "idx_internal.h"

#define CHUNK (1u << 16)

/* ---------------------------------------------------------------- types */

const char *cnn_idx_type_name(int type)
{
    switch (type) {
    case CNN_IDX_U8: return "u8";
    case CNN_IDX_I8: return "i8";
    case CNN_IDX_I16: return "i16";
    case CNN_IDX_I32: return "i32";
    case CNN_IDX_F32: return "f32";
    case CNN_IDX_F64: return "f64";
    default: return "unknown";
    }
}

size_t cnn_idx_type_size(int type)
{
    switch (type) {
    case CNN_IDX_U8:
    case CNN_IDX_I8: return 1;
    case CNN_IDX_I16: return 2;
    case CNN_IDX_I32:
    case CNN_IDX_F32: return 4;
    case CNN_IDX_F64: return 8;
    default: return 0;
    }
}

/* "60000×28×28 u8" into buf. */
static void describe_shape(char *buf, size_t cap, int type, int rank, const size_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < rank && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%zu", i ? "×" : "", dims[i]);
        if (n < 0) return;
        used += (size_t)n;
    }
    if (used < cap) snprintf(buf + used, cap - used, " %s", cnn_idx_type_name(type));
}

/* --------------------------------------------------------------- reader */

typedef struct reader {
    const char *name;
    FILE *fp;                   /* file source, or NULL for memory */
    const unsigned char *mem;   /* memory source */
    size_t mem_len, mem_pos;
    unsigned char peek[2];      /* bytes read ahead to detect gzip */
    size_t npeek, peek_pos;
    size_t raw_total;           /* source bytes consumed so far */

    int gzip;
    int z_init;
    int member_done;            /* inflate reached the end of a gzip member */
    int truncated;              /* the compressed input ended inside a member */
    z_stream zs;
    unsigned char *inbuf;       /* input chunk for file sources */
    size_t out_total;           /* decompressed bytes handed out */

    cnn_idx_check_fn check;     /* called with the header before the data is read */
    void *check_ctx;
    int header_only;            /* stop after the header (cnn_idx_read_header) */
    int sum;                    /* keep crc, the CRC-32 of the bytes rd hands out */
    uLong crc;
} reader;

/* Reads up to n raw source bytes into dst; *got < n means end of input. */
static int raw_read(reader *r, void *dst, size_t n, size_t *got, cnn_error *err)
{
    unsigned char *d = dst;
    size_t k = 0;
    while (k < n && r->peek_pos < r->npeek) d[k++] = r->peek[r->peek_pos++];
    if (r->fp) {
        size_t m = fread(d + k, 1, n - k, r->fp);
        k += m;
        if (k < n && ferror(r->fp))
            return cnn_errorf(err, "%s: read error: %s", r->name, strerror(errno));
    } else {
        size_t m = r->mem_len - r->mem_pos;
        if (m > n - k) m = n - k;
        if (m) memcpy(d + k, r->mem + r->mem_pos, m);
        r->mem_pos += m;
        k += m;
    }
    r->raw_total += k;
    *got = k;
    return 0;
}

/* Gives inflate more input.  *got == 0 means the source is exhausted. */
static int gz_refill(reader *r, size_t *got, cnn_error *err)
{
    if (!r->fp && r->peek_pos == r->npeek) {
        /* Memory: point zlib straight at the buffer (in pieces that fit uInt). */
        size_t m = r->mem_len - r->mem_pos;
        if (m > (1u << 30)) m = 1u << 30;
        r->zs.next_in = (Bytef *)(r->mem + r->mem_pos);
        r->zs.avail_in = (uInt)m;
        r->mem_pos += m;
        r->raw_total += m;
        *got = m;
        return 0;
    }
    if (!r->inbuf && !(r->inbuf = malloc(CHUNK)))
        return cnn_errorf(err, "%s: out of memory", r->name);
    size_t m = 0;
    if (raw_read(r, r->inbuf, r->fp ? CHUNK : r->npeek - r->peek_pos, &m, err) != 0) return -1;
    r->zs.next_in = r->inbuf;
    r->zs.avail_in = (uInt)m;
    *got = m;
    return 0;
}

/* Decompresses up to n bytes into dst.  *got < n means the data ended: cleanly
 * at the end of a gzip member, or (r->truncated set) inside one. */
static int gz_read(reader *r, void *dst, size_t n, size_t *got, cnn_error *err)
{
    unsigned char *d = dst;
    size_t k = 0;
    while (k < n) {
        if (r->zs.avail_in == 0) {
            size_t m = 0;
            if (gz_refill(r, &m, err) != 0) return -1;
            if (m == 0) {
                if (!r->member_done) r->truncated = 1;
                break;
            }
        }
        if (r->member_done) {
            /* More input after a complete member: another member (as `cat a.gz b.gz`
             * makes) or garbage, which inflate reports as a bad header. */
            if (inflateReset(&r->zs) != Z_OK)
                return cnn_errorf(err, "%s: gzip: cannot reset the decoder", r->name);
            r->member_done = 0;
        }
        size_t want = n - k;
        if (want > UINT_MAX) want = UINT_MAX;
        r->zs.next_out = d + k;
        r->zs.avail_out = (uInt)want;
        int ret = inflate(&r->zs, Z_NO_FLUSH);
        size_t produced = want - r->zs.avail_out;
        k += produced;
        r->out_total += produced;
        if (ret == Z_STREAM_END) {
            r->member_done = 1;
        } else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT || ret == Z_STREAM_ERROR) {
            size_t at = r->raw_total - r->zs.avail_in;
            return cnn_errorf(err, "%s: corrupt gzip data near compressed byte %zu: %s", r->name,
                              at, r->zs.msg ? r->zs.msg : "invalid data");
        } else if (ret == Z_MEM_ERROR) {
            return cnn_errorf(err, "%s: out of memory in gzip decoder", r->name);
        }
        /* Z_OK or Z_BUF_ERROR: loop, refilling input when it runs out. */
    }
    *got = k;
    return 0;
}

static int rd(reader *r, void *dst, size_t n, size_t *got, cnn_error *err)
{
    int rc = r->gzip ? gz_read(r, dst, n, got, err) : raw_read(r, dst, n, got, err);
    if (!rc && r->sum && *got) r->crc = crc32_z(r->crc, dst, *got);
    return rc;
}

static void reader_close(reader *r)
{
    if (r->z_init) inflateEnd(&r->zs);
    free(r->inbuf);
    r->z_init = 0;
    r->inbuf = NULL;
}

/* ------------------------------------------------------------- decoding */

/* Big-endian elements to host order, in place. */
static void to_host(unsigned char *p, size_t n, size_t esize)
{
    for (size_t i = 0; i < n; i++, p += esize) {
        if (esize == 2) {
            uint16_t v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
            memcpy(p, &v, 2);
        } else if (esize == 4) {
            uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            memcpy(p, &v, 4);
        } else if (esize == 8) {
            uint64_t v = 0;
            for (int b = 0; b < 8; b++) v = v << 8 | p[b];
            memcpy(p, &v, 8);
        }
    }
}

/* What an IDX header says, once checked. */
typedef struct idx_header {
    int type, rank;
    size_t dims[CNN_IDX_MAX_RANK];
    size_t esize, elems;  /* element size, elements */
    size_t hlen, bytes;   /* header bytes, data bytes */
    char shape[256];      /* the shape as messages name it */
    const char *src;      /* "file has" or "gzip data decompresses to" */
} idx_header;

/* Reads and checks the magic and the dimensions: a known type, rank 1 to
 * CNN_IDX_MAX_RANK, no dimension 0, a size that fits memory and max_bytes,
 * and (known_size >= 0) the file's size. */
static int read_header(reader *r, long long known_size, size_t max_bytes, idx_header *h,
                       cnn_error *err)
{
    const char *name = r->name;
    unsigned char hdr[4 + 4 * CNN_IDX_MAX_RANK];
    const char *src = h->src = r->gzip ? "gzip data decompresses to" : "file has";
    size_t got = 0;

    /* Magic: 0, 0, type, rank. */
    if (rd(r, hdr, 4, &got, err) != 0) return -1;
    if (r->truncated)
        return cnn_errorf(err, "%s: truncated gzip stream: it ends after %zu compressed bytes,"
                          " inside the 4-byte IDX magic", name, r->raw_total);
    if (got == 0)
        return cnn_errorf(err, "%s: empty %s, expected an IDX header", name,
                          r->gzip ? "gzip data" : "file");
    if (got < 4)
        return cnn_errorf(err, "%s: truncated header: %s %zu bytes, an IDX header needs at"
                          " least 4", name, src, got);
    if (hdr[0] != 0 || hdr[1] != 0)
        return cnn_errorf(err, "%s: not an IDX file: magic starts with 0x%02x 0x%02x, expected"
                          " 0x00 0x00", name, hdr[0], hdr[1]);
    int type = h->type = hdr[2], rank = h->rank = hdr[3];
    size_t esize = h->esize = cnn_idx_type_size(type);
    if (!esize)
        return cnn_errorf(err, "%s: unknown IDX type code 0x%02x (known: 0x08 u8, 0x09 i8,"
                          " 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64)", name, type);
    if (rank < 1)
        return cnn_errorf(err, "%s: rank 0 in the IDX header, expected at least 1", name);
    if (rank > CNN_IDX_MAX_RANK)
        return cnn_errorf(err, "%s: rank %d in the IDX header is more than the %d supported",
                          name, rank, CNN_IDX_MAX_RANK);

    /* Dimensions. */
    size_t hlen = h->hlen = 4 + 4 * (size_t)rank;
    if (rd(r, hdr + 4, hlen - 4, &got, err) != 0) return -1;
    if (r->truncated)
        return cnn_errorf(err, "%s: truncated gzip stream: it ends after %zu compressed bytes,"
                          " inside the %zu-byte IDX header", name, r->raw_total, hlen);
    if (got < hlen - 4)
        return cnn_errorf(err, "%s: truncated header: rank %d needs %zu header bytes, %s %zu",
                          name, rank, hlen, src, 4 + got);
    size_t *dims = h->dims;
    size_t elems = 1;
    int overflow = 0;
    for (int i = 0; i < rank; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        dims[i] = (size_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                           (uint32_t)p[2] << 8 | p[3]);
        if (dims[i] == 0)
            return cnn_errorf(err, "%s: dimension %d of %d is 0 in the IDX header, every"
                              " dimension must be at least 1", name, i + 1, rank);
        if (elems > SIZE_MAX / dims[i]) overflow = 1;
        else elems *= dims[i];
    }
    h->elems = elems;
    char *shape = h->shape;
    describe_shape(shape, sizeof h->shape, type, rank, dims);
    if (overflow || elems > SIZE_MAX / esize || elems * esize > SIZE_MAX - hlen)
        return cnn_errorf(err, "%s: IDX header dimensions %s overflow the size of memory", name,
                          shape);
    size_t bytes = h->bytes = elems * esize;
    if (bytes > max_bytes)
        return cnn_errorf(err, "%s: header says %s = %zu data bytes, more than the limit of"
                          " %zu bytes", name, shape, bytes, max_bytes);
    if (known_size >= 0 && (unsigned long long)known_size != hlen + bytes) {
        int trunc = (unsigned long long)known_size < hlen + bytes;
        return cnn_errorf(err, "%s: %s: header says %s = %zu bytes with the header, file has %lld",
                          name, trunc ? "truncated" : "trailing bytes after the data", shape,
                          hlen + bytes, known_size);
    }
    return 0;
}

/* The data ended after `got` of the bytes the header claims. */
static int data_short(const reader *r, const idx_header *h, size_t got, cnn_error *err)
{
    if (r->truncated)
        return cnn_errorf(err, "%s: truncated gzip stream: it ends after %zu compressed "
                          "bytes, %zu of the %zu data bytes the header claims (%s)", r->name,
                          r->raw_total, got, h->bytes, h->shape);
    return cnn_errorf(err, "%s: truncated: header says %s = %zu bytes with the header, %s "
                      "%zu", r->name, h->shape, h->hlen + h->bytes, h->src, h->hlen + got);
}

/* After the data: anything more is an error, as is a gzip stream cut before
 * its trailer (its checksum was never verified). */
static int data_end(reader *r, const idx_header *h, cnn_error *err)
{
    unsigned char extra;
    size_t got = 0;
    if (rd(r, &extra, 1, &got, err) != 0) return -1;
    if (got)
        return cnn_errorf(err, "%s: trailing bytes after the data: header says %s = %zu bytes "
                          "with the header, %s more", r->name, h->shape, h->hlen + h->bytes,
                          h->src);
    if (r->truncated)
        return cnn_errorf(err, "%s: truncated gzip stream: the data is complete but the stream "
                          "ends after %zu compressed bytes, before its trailer", r->name,
                          r->raw_total);
    return 0;
}

/* Reads the data the header claims into x->data (allocated), then makes sure
 * nothing follows it and a gzip stream ended with its trailer. */
static int read_data(reader *r, const idx_header *h, cnn_idx *x, cnn_error *err)
{
    size_t got = 0, bytes = h->bytes;
    if (!(x->data = malloc(bytes)))
        return cnn_errorf(err, "%s: out of memory for %zu bytes of %s data", r->name, bytes,
                          h->shape);
    if (rd(r, x->data, bytes, &got, err) != 0) return -1;
    if (got < bytes) return data_short(r, h, got, err);
    return data_end(r, h, err);
}

/* Counts the non-finite values among the n elements of float type `type` at
 * p (host order), element base + i; *first gets the first one's index. */
static void count_nonfinite(int type, const unsigned char *p, size_t n, size_t base,
                            size_t *bad, size_t *first)
{
    if (type != CNN_IDX_F32 && type != CNN_IDX_F64) return;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (type == CNN_IDX_F32) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            v = f;
        } else {
            memcpy(&v, p + 8 * i, 8);
        }
        if (!isfinite(v) && (*bad)++ == 0) *first = base + i;
    }
}

/* NaN or infinity as a pixel or a label trains without a word: refuse it,
 * naming the first record that holds one and how many values do. */
static int nonfinite_error(const char *name, size_t record, size_t bad, size_t first,
                           cnn_error *err)
{
    return cnn_errorf(err, "%s: record %zu holds a non-finite value (NaN or infinity); %zu "
                           "value%s in the file %s", name, first / record, bad,
                      bad > 1 ? "s" : "", bad > 1 ? "are" : "is");
}

static int check_finite(const cnn_idx *x, size_t elems, cnn_error *err)
{
    size_t bad = 0, first = 0;
    count_nonfinite(x->type, x->data, elems, 0, &bad, &first);
    return bad ? nonfinite_error(x->name, x->record, bad, first, err) : 0;
}

/* The cnn_idx a checked header describes, without data (NULL when out of
 * memory, with err set). */
static cnn_idx *header_idx(const char *name, const idx_header *h, cnn_error *err)
{
    cnn_idx *x = calloc(1, sizeof *x);
    if (!x || !(x->name = strdup(name))) {
        cnn_idx_free(x);
        cnn_errorf(err, "%s: out of memory", name);
        return NULL;
    }
    x->type = h->type;
    x->rank = h->rank;
    memcpy(x->dims, h->dims, sizeof(size_t) * (size_t)h->rank);
    x->count = h->dims[0];
    x->record = h->elems / h->dims[0];
    x->elem_size = h->esize;
    return x;
}

/* Reads, checks and decodes a whole IDX stream.  known_size is the plain file's
 * size in bytes, or -1 when unknown (pipes). */
static int idx_decode(reader *r, long long known_size, size_t max_bytes, cnn_idx **out,
                      cnn_error *err)
{
    const char *name = r->name;
    idx_header h;
    if (read_header(r, known_size, max_bytes, &h, err)) return -1;

    /* Header is sound: the caller checks it, then exactly what it claims is
     * allocated and read. */
    cnn_idx *x = header_idx(name, &h, err);
    if (!x) return -1;
    /* The caller's check (the shape against the model) before the data is read:
     * a small gzip file can decompress to a gigabyte of the wrong shape. */
    if (r->check && r->check(x, r->check_ctx, err) != 0) goto fail;
    if (r->header_only) {
        *out = x;
        return 0;
    }
    if (read_data(r, &h, x, err)) goto fail;
    to_host(x->data, h.elems, h.esize);
    if (check_finite(x, h.elems, err)) goto fail;
    *out = x;
    return 0;
fail:
    cnn_idx_free(x);
    return -1;
}

/* Reads the first two bytes to choose plain or gzip; a gzip stream's size is
 * not known (*known_size -1). */
static int reader_begin(reader *r, long long *known_size, cnn_error *err)
{
    size_t got = 0;
    if (raw_read(r, r->peek, 2, &got, err) != 0) return -1;
    r->npeek = got;
    r->peek_pos = 0;
    r->raw_total = 0;
    if (got == 2 && r->peek[0] == 0x1f && r->peek[1] == 0x8b) {
        r->gzip = 1;
        if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK)
            return cnn_errorf(err, "%s: cannot start the gzip decoder", r->name);
        r->z_init = 1;
        *known_size = -1;
    }
    return 0;
}

/* Chooses plain or gzip, then decodes. */
static int idx_start(reader *r, long long known_size, size_t max_bytes, cnn_idx **out,
                     cnn_error *err)
{
    int rc = reader_begin(r, &known_size, err);
    if (!rc) rc = idx_decode(r, known_size, max_bytes, out, err);
    reader_close(r);
    return rc;
}

int cnn_idx_load_mem(const void *buf, size_t len, const char *name, size_t max_bytes,
                     cnn_idx **out, cnn_error *err)
{
    *out = NULL;
    reader r;
    memset(&r, 0, sizeof r);
    r.name = name ? name : "(memory)";
    r.mem = buf;
    r.mem_len = len;
    return idx_start(&r, (long long)len, max_bytes, out, err);
}

static int idx_load_file(const char *path, size_t max_bytes, cnn_idx_check_fn check,
                         void *ctx, int header_only, cnn_idx **out, cnn_error *err)
{
    *out = NULL;
    /* max_bytes bounds the decoded data (idx_start), not the (compressed) file */
    long long size;
    FILE *fp = cnn_open_input(path, SIZE_MAX, &size, err);
    if (!fp) return -1;
    reader r;
    memset(&r, 0, sizeof r);
    r.name = path;
    r.fp = fp;
    r.check = check;
    r.check_ctx = ctx;
    r.header_only = header_only;
    int rc = idx_start(&r, size, max_bytes, out, err);
    fclose(fp);
    return rc;
}

int cnn_idx_load(const char *path, size_t max_bytes, cnn_idx **out, cnn_error *err)
{
    return idx_load_file(path, max_bytes, NULL, NULL, 0, out, err);
}

int cnn_idx_load_checked(const char *path, size_t max_bytes, cnn_idx_check_fn check, void *ctx,
                         cnn_idx **out, cnn_error *err)
{
    return idx_load_file(path, max_bytes, check, ctx, 0, out, err);
}

int cnn_idx_read_header(const char *path, size_t max_bytes, cnn_idx **out, cnn_error *err)
{
    return idx_load_file(path, max_bytes, NULL, NULL, 1, out, err);
}

/* ------------------------------------------------------------- streams */

struct cnn_idx_stream {
    reader r;
    FILE *fp;
    idx_header h;
    cnn_idx *x;                 /* the header, data NULL */
    struct stat st;
    size_t done;                /* data bytes read */
    size_t bad, first_bad;      /* non-finite elements so far, the first one */
};

int cnn_idx_stream_open(const char *path, size_t max_bytes, cnn_idx_check_fn check, void *ctx,
                        cnn_idx_stream **out, cnn_error *err)
{
    *out = NULL;
    cnn_idx_stream *s = calloc(1, sizeof *s);
    if (!s) return cnn_errorf(err, "%s: out of memory", path);
    long long size;
    s->r.name = path;
    s->r.sum = 1;
    s->r.crc = crc32_z(0, NULL, 0);
    s->r.fp = s->fp = cnn_open_input(path, SIZE_MAX, &size, err);
    int bad = !s->fp;
    if (!bad && fstat(fileno(s->fp), &s->st) != 0)
        bad = cnn_errorf(err, "%s: %s", path, strerror(errno));
    if (bad || reader_begin(&s->r, &size, err) || read_header(&s->r, size, max_bytes, &s->h, err) ||
        !(s->x = header_idx(path, &s->h, err)) || (check && check(s->x, ctx, err))) {
        cnn_idx_stream_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

const cnn_idx *cnn_idx_stream_header(const cnn_idx_stream *s)
{
    return s->x;
}

const struct stat *cnn_idx_stream_stat(const cnn_idx_stream *s)
{
    return &s->st;
}

/* The next `bytes` data bytes into dst, or through a small buffer and dropped
 * when dst is NULL; in host order, non-finite values counted. */
static int stream_data(cnn_idx_stream *s, unsigned char *dst, size_t bytes, cnn_error *err)
{
    unsigned char scratch[1 << 14];
    size_t esize = s->h.esize;
    while (bytes) {
        unsigned char *p = dst ? dst : scratch;
        size_t want = dst || bytes < sizeof scratch ? bytes : sizeof scratch, got = 0;
        if (rd(&s->r, p, want, &got, err) != 0) return -1;
        if (got < want) return data_short(&s->r, &s->h, s->done + got, err);
        to_host(p, want / esize, esize);
        count_nonfinite(s->h.type, p, want / esize, s->done / esize, &s->bad, &s->first_bad);
        s->done += want;
        bytes -= want;
        if (dst) dst += want;
    }
    return 0;
}

int cnn_idx_stream_read(cnn_idx_stream *s, void *dst, size_t n, cnn_error *err)
{
    size_t rec = s->x->record * s->h.esize, left = (s->h.bytes - s->done) / rec;
    if (n > left)
        return cnn_errorf(err, "%s: %zu records asked for, %zu left", s->r.name, n, left);
    return stream_data(s, dst, n * rec, err);
}

int cnn_idx_stream_finish(cnn_idx_stream *s, uint32_t *crc, cnn_error *err)
{
    if (stream_data(s, NULL, s->h.bytes - s->done, err) || data_end(&s->r, &s->h, err))
        return -1;
    if (s->bad) return nonfinite_error(s->r.name, s->x->record, s->bad, s->first_bad, err);
    if (crc) *crc = (uint32_t)s->r.crc;
    return 0;
}

void cnn_idx_stream_close(cnn_idx_stream *s)
{
    if (!s) return;
    reader_close(&s->r);
    if (s->fp) fclose(s->fp);
    cnn_idx_free(s->x);
    free(s);
}

void cnn_idx_free(cnn_idx *x)
{
    if (!x) return;
    free(x->name);
    free(x->data);
    free(x);
}

/* ------------------------------------------------------------- access */

static double elem_at(const cnn_idx *x, size_t k)
{
    const unsigned char *p = (const unsigned char *)x->data + k * x->elem_size;
    switch (x->type) {
    case CNN_IDX_U8: return p[0];
    case CNN_IDX_I8: return (int8_t)p[0];
    case CNN_IDX_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case CNN_IDX_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case CNN_IDX_F32: { float v; memcpy(&v, p, 4); return v; }
    case CNN_IDX_F64: { double v; memcpy(&v, p, 8); return v; }
    default: return 0;
    }
}

int cnn_idx_record_float(const cnn_idx *x, size_t i, float *dst)
{
    if (!x || !dst || i >= x->count) return -1;
    size_t base = i * x->record;
    if (x->type == CNN_IDX_U8) {
        const unsigned char *p = (const unsigned char *)x->data + base;
        for (size_t k = 0; k < x->record; k++) dst[k] = (float)p[k] / 255.0f;
        return 0;
    }
    for (size_t k = 0; k < x->record; k++) dst[k] = (float)elem_at(x, base + k);
    return 0;
}

int cnn_idx_label(const cnn_idx *x, size_t i, long *out, cnn_error *err)
{
    if (x->record != 1)
        return cnn_errorf(err, "%s: not a label file: records have %zu elements, expected 1",
                          x->name, x->record);
    if (i >= x->count)
        return cnn_errorf(err, "%s: label %zu out of range, the file has %zu", x->name, i,
                          x->count);
    double v = elem_at(x, i);
    /* (double)LONG_MAX rounds up to 2^63, itself out of range: compare with
     * -(double)LONG_MIN = 2^63, exact, before converting. */
    if (v != v || v < (double)LONG_MIN || v >= -(double)LONG_MIN || v != (double)(long)v)
        return cnn_errorf(err, "%s: label %zu is %g, expected an integer", x->name, i, v);
    *out = (long)v;
    return 0;
}

/* -------------------------------------------------------------- writing */

typedef struct sink {
    cnn_atomic_file af;
    int gzip;
    z_stream zs;
    unsigned char *zbuf;
} sink;

static int sink_put(sink *s, const void *data, size_t n, int finish, cnn_error *err)
{
    if (!s->gzip) {
        if (n && fwrite(data, 1, n, s->af.fp) != n)
            return cnn_errorf(err, "%s: write failed: %s", s->af.path, strerror(errno));
        return 0;
    }
    s->zs.next_in = (Bytef *)data;
    s->zs.avail_in = (uInt)n;  /* callers pass at most CHUNK bytes */
    int ret;
    do {
        s->zs.next_out = s->zbuf;
        s->zs.avail_out = CHUNK;
        ret = deflate(&s->zs, finish ? Z_FINISH : Z_NO_FLUSH);
        if (ret == Z_STREAM_ERROR)
            return cnn_errorf(err, "%s: gzip compression failed", s->af.path);
        size_t have = CHUNK - s->zs.avail_out;
        if (have && fwrite(s->zbuf, 1, have, s->af.fp) != have)
            return cnn_errorf(err, "%s: write failed: %s", s->af.path, strerror(errno));
    } while (s->zs.avail_out == 0 || (finish && ret != Z_STREAM_END));
    return 0;
}

int cnn_idx_write(const char *path, int type, int rank, const size_t *dims, const void *data,
                  int gzip, cnn_error *err)
{
    size_t esize = cnn_idx_type_size(type);
    if (!esize)
        return cnn_errorf(err, "%s: cannot write unknown IDX type code 0x%02x", path, type);
    if (rank < 1 || rank > CNN_IDX_MAX_RANK)
        return cnn_errorf(err, "%s: cannot write rank %d, expected 1 to %d", path, rank,
                          CNN_IDX_MAX_RANK);
    unsigned char hdr[4 + 4 * CNN_IDX_MAX_RANK] = {0, 0, (unsigned char)type, (unsigned char)rank};
    size_t elems = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1 || dims[i] > UINT32_MAX)
            return cnn_errorf(err, "%s: cannot write dimension %d = %zu, expected 1 to %u", path,
                              i + 1, dims[i], (unsigned)UINT32_MAX);
        if (elems > SIZE_MAX / esize / dims[i])
            return cnn_errorf(err, "%s: dimensions overflow the size of memory", path);
        elems *= dims[i];
        uint32_t d = (uint32_t)dims[i];
        unsigned char *p = hdr + 4 + 4 * i;
        p[0] = (unsigned char)(d >> 24);
        p[1] = (unsigned char)(d >> 16);
        p[2] = (unsigned char)(d >> 8);
        p[3] = (unsigned char)d;
    }

    sink s;
    memset(&s, 0, sizeof s);
    s.gzip = gzip;
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return cnn_errorf(err, "%s: out of memory", path);
    if (gzip) {
        s.zbuf = malloc(CHUNK);
        /* Window bits 16+15: a gzip wrapper whose header zlib writes with mtime 0
         * and no name, so the output depends only on the data. */
        if (!s.zbuf || deflateInit2(&s.zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                    Z_DEFAULT_STRATEGY) != Z_OK) {
            free(s.zbuf);
            free(buf);
            return cnn_errorf(err, "%s: cannot start the gzip compressor", path);
        }
    }
    if (cnn_atomic_open(&s.af, path, err) != 0) goto fail;
    if (sink_put(&s, hdr, 4 + 4 * (size_t)rank, 0, err) != 0) goto fail;

    /* Elements to big-endian, one chunk at a time. */
    const unsigned char *src = data;
    size_t per = CHUNK / esize, done = 0;
    while (done < elems) {
        size_t n = elems - done < per ? elems - done : per;
        for (size_t k = 0; k < n; k++) {
            const unsigned char *e = src + (done + k) * esize;
            unsigned char *o = buf + k * esize;
            uint64_t v = 0;
            if (esize == 1) v = e[0];
            else if (esize == 2) { uint16_t t; memcpy(&t, e, 2); v = t; }
            else if (esize == 4) { uint32_t t; memcpy(&t, e, 4); v = t; }
            else memcpy(&v, e, 8);
            for (size_t b = 0; b < esize; b++) o[b] = (unsigned char)(v >> (8 * (esize - 1 - b)));
        }
        if (sink_put(&s, buf, n * esize, 0, err) != 0) goto fail;
        done += n;
    }
    if (gzip && sink_put(&s, NULL, 0, 1, err) != 0) goto fail;
    if (gzip) deflateEnd(&s.zs);
    free(s.zbuf);
    free(buf);
    return cnn_atomic_commit(&s.af, err);
fail:
    cnn_atomic_abort(&s.af);
    if (gzip) deflateEnd(&s.zs);
    free(s.zbuf);
    free(buf);
    return -1;
}
