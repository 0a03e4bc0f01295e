#include "stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "safetensors.h"

/* ---- writer ------------------------------------------------------------- */

struct dsq_stream_writer {
    FILE *f;
    char *name;
    ZSTD_CCtx *cctx;
    void *out;
    size_t out_cap;
    long nrec;
};

dsq_stream_writer *dsq_stream_writer_open(FILE *f, const char *name, int level) {
    dsq_stream_writer *w = xcalloc(1, sizeof *w);
    w->f = f;
    w->name = xstrdup(!name || strcmp(name, "-") == 0 ? "<stdout>" : name);
    w->cctx = ZSTD_createCCtx();
    DSQ_CHECK(w->cctx != NULL);
    DSQ_CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level)));
    /* The frame checksum lets readers tell corrupt data from a bad record. */
    DSQ_CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)));
    w->out_cap = ZSTD_CStreamOutSize();
    w->out = xmalloc(w->out_cap);
    return w;
}

/* Feeds n bytes (n may be 0) with the given directive; writes what comes
 * out.  For flush/end, loops until zstd reports nothing left. */
static int compress_feed(dsq_stream_writer *w, const void *p, size_t n, ZSTD_EndDirective mode,
                         dsq_err *e) {
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {w->out, w->out_cap, 0};
        size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
        if (ZSTD_isError(left))
            return dsq_err_set(e, DSQ_EFAIL, "%s: zstd compression failed: %s", w->name,
                               ZSTD_getErrorName(left));
        if (out.pos && fwrite(w->out, 1, out.pos, w->f) != out.pos)
            return dsq_err_set(e, DSQ_EIO, "%s: write error: %s", w->name, strerror(errno));
        if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0) return 0;
    }
}

int dsq_stream_write(dsq_stream_writer *w, const dsq_record *r, dsq_err *e) {
    void *hdr;
    size_t hn;
    int *ord;
    long rec = w->nrec + 1;
    if (dsq_st_encode_header(r, &hdr, &hn, &ord, e))
        return dsq_err_prefix(e, "%s: record %ld", w->name, rec);
    /* The blob goes in piece by piece (header, then each tensor), never
     * assembled in memory. */
    int rc = compress_feed(w, hdr, hn, ZSTD_e_continue, e);
    for (int k = 0; !rc && k < r->n_tensors; k++) {
        const dsq_tensor *t = &r->tensors[ord[k]];
        rc = compress_feed(w, t->data, t->nbytes, ZSTD_e_continue, e);
    }
    /* One flush per record: readers downstream get it now. */
    if (!rc) rc = compress_feed(w, NULL, 0, ZSTD_e_flush, e);
    if (!rc && fflush(w->f) != 0)
        rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", w->name, strerror(errno));
    free(hdr);
    free(ord);
    if (!rc) w->nrec = rec;
    return rc;
}

int dsq_stream_writer_close(dsq_stream_writer *w, dsq_err *e) {
    if (!w) return 0;
    int rc = compress_feed(w, NULL, 0, ZSTD_e_end, e);
    if (!rc && (fflush(w->f) != 0 || ferror(w->f)))
        rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", w->name, strerror(errno));
    ZSTD_freeCCtx(w->cctx);
    free(w->out);
    free(w->name);
    free(w);
    return rc;
}

/* ---- reader ------------------------------------------------------------- */

struct dsq_stream_reader {
    FILE *f;
    char *name;
    uint64_t max_record;
    ZSTD_DCtx *dctx;
    unsigned char *in;
    size_t in_cap;
    ZSTD_inBuffer ib;
    int at_boundary;     /* between frames: the last frame ended cleanly */
    size_t hint;         /* zstd's next input size when inside a frame */
    int eof;
    uint64_t consumed;   /* compressed bytes handed to zstd so far */
    long nrec;
    long frame_first;    /* the first record (1-based) with bytes in the current frame */
    unsigned char *blob; /* the current record's bytes */
    size_t blob_cap;
    int failed;          /* errors are sticky: the position is lost */
    dsq_err err;
};

dsq_stream_reader *dsq_stream_reader_open(FILE *f, const char *name, uint64_t max_record) {
    dsq_stream_reader *rd = xcalloc(1, sizeof *rd);
    rd->f = f;
    rd->name = xstrdup(!name || strcmp(name, "-") == 0 ? "<stdin>" : name);
    rd->max_record = max_record ? max_record : DSQ_STREAM_MAX_RECORD;
    rd->dctx = ZSTD_createDCtx();
    DSQ_CHECK(rd->dctx != NULL);
    rd->in_cap = ZSTD_DStreamInSize();
    rd->in = xmalloc(rd->in_cap);
    rd->ib.src = rd->in;
    rd->at_boundary = 1;
    return rd;
}

void dsq_stream_reader_close(dsq_stream_reader *rd) {
    if (!rd) return;
    ZSTD_freeDCtx(rd->dctx);
    free(rd->in);
    free(rd->blob);
    free(rd->name);
    free(rd);
}

long dsq_stream_records_read(const dsq_stream_reader *rd) { return rd->nrec; }

/* Sets e and returns -1, the reader's error status. */
static int fail(dsq_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(dsq_err *e, int code, const char *fmt, ...) {
    char msg[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dsq_err_set(e, code, "%s", msg);
    return -1;
}

static int zstd_error(dsq_stream_reader *rd, size_t ret, uint64_t at, int frame_start, dsq_err *e) {
    long rec = rd->nrec + 1;
    ZSTD_ErrorCode c = ZSTD_getErrorCode(ret);
    if (c == ZSTD_error_prefix_unknown && frame_start && at == 0)
        return fail(e, DSQ_EDATA, "%s: not a zstd stream (no zstd magic number at the start;"
                           " a tensor stream is zstd-compressed)", rd->name);
    if (c == ZSTD_error_prefix_unknown && frame_start)
        return fail(e, DSQ_EDATA, "%s: record %ld: bytes after the zstd frame ending at "
                           "compressed byte %" PRIu64 " are not a zstd frame", rd->name, rec, at);
    if (c == ZSTD_error_checksum_wrong && rd->frame_first <= rd->nrec) {
        char recs[64];
        if (rd->frame_first == rd->nrec) snprintf(recs, sizeof recs, "record %ld", rd->nrec);
        else snprintf(recs, sizeof recs, "records %ld to %ld", rd->frame_first, rd->nrec);
        return fail(e, DSQ_EDATA, "%s: corrupt zstd data: the checksum of the frame ending near "
                    "compressed byte %" PRIu64 " does not match; %s came from it and %s read "
                    "before the check (a stream from a pipe cannot be checked first)",
                    rd->name, at, recs, rd->frame_first == rd->nrec ? "was" : "were");
    }
    if (c == ZSTD_error_checksum_wrong)
        return fail(e, DSQ_EDATA, "%s: record %ld: corrupt zstd data (frame checksum "
                           "mismatch, near compressed byte %" PRIu64 ")", rd->name, rec, at);
    return fail(e, DSQ_EDATA, "%s: record %ld: corrupt zstd data near compressed byte %"
                       PRIu64 ": %s", rd->name, rec, at, ZSTD_getErrorName(ret));
}

/* Decompresses up to n bytes into dst; *got < n only at the end of input.
 * Reads the input no further than zstd needs to make progress (its size
 * hint never goes past the current block), so a reader on a pipe gets
 * each record as soon as the writer's flush delivers it. */
static int fill(dsq_stream_reader *rd, void *dst, size_t n, size_t *got, dsq_err *e) {
    *got = 0;
    int stalls = 0;
    while (*got < n) {
        if (rd->ib.pos < rd->ib.size || !rd->at_boundary) {
            ZSTD_outBuffer ob = {(char *)dst + *got, n - *got, 0};
            size_t before = rd->ib.pos;
            int frame_start = rd->at_boundary;
            size_t ret = ZSTD_decompressStream(rd->dctx, &ob, &rd->ib);
            if (ZSTD_isError(ret)) return zstd_error(rd, ret, rd->consumed, frame_start, e);
            rd->consumed += rd->ib.pos - before;
            *got += ob.pos;
            int progress = ob.pos > 0 || rd->ib.pos > before;
            if (frame_start && progress) rd->frame_first = rd->nrec + 1;
            if (ret == 0) rd->at_boundary = 1;
            else if (progress) rd->at_boundary = 0, rd->hint = ret;
            if (progress) { stalls = 0; continue; }
            /* No progress with input left would loop forever. */
            if (rd->ib.pos < rd->ib.size && ++stalls > 2)
                return fail(e, DSQ_EDATA, "%s: record %ld: zstd decoder makes no progress "
                                   "near compressed byte %" PRIu64, rd->name, rd->nrec + 1,
                                   rd->consumed);
            if (rd->ib.pos < rd->ib.size) continue;
        }
        if (rd->eof) break;
        /* Never ask for more than is sure to come: a read on a pipe whose
         * writer paused after a record would block.  Between frames: 4
         * bytes (no frame is shorter).  Inside one: zstd's hint, less the
         * 3 bytes of the next block's header it adds while a block body is
         * awaited (it may not exist yet; asking 3 bytes short otherwise
         * only costs another call). */
        size_t want = rd->at_boundary ? 4 : rd->hint > 3 ? rd->hint - 3 : rd->hint;
        if (want == 0) want = 1;
        if (want > rd->in_cap) want = rd->in_cap;
        size_t k = fread(rd->in, 1, want, rd->f);
        rd->ib.pos = 0;
        rd->ib.size = k;
        if (k < want) {
            if (ferror(rd->f))
                return fail(e, DSQ_EIO, "%s: read error: %s", rd->name, strerror(errno));
            rd->eof = 1;
        }
    }
    return 0;
}

/* Makes room for need bytes of the current record. */
static void blob_reserve(dsq_stream_reader *rd, size_t need) {
    if (need <= rd->blob_cap) return;
    size_t cap = rd->blob_cap ? rd->blob_cap : 4096;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
    rd->blob = xrealloc(rd->blob, cap);
    rd->blob_cap = cap;
}

/* The error for input that ends after `have` of a record's `total` bytes
 * (total 0: not yet known). */
static int truncated(dsq_stream_reader *rd, uint64_t have, uint64_t total, dsq_err *e) {
    const char *in = rd->at_boundary ? "" : " inside a zstd frame";
    const char *why = rd->at_boundary ? "" : " (was the writer killed?)";
    if (total)
        return fail(e, DSQ_EDATA, "%s: record %ld: truncated stream: input ends%s after %" PRIu64
                    " of the record's %" PRIu64 " bytes%s", rd->name, rd->nrec + 1, in, have,
                    total, why);
    return fail(e, DSQ_EDATA, "%s: record %ld: truncated stream: input ends%s after %" PRIu64
                " bytes of the record%s", rd->name, rd->nrec + 1, in, have, why);
}

/* Reads bytes [from, to) of the current record, growing the buffer as
 * data actually arrives: a header that promises gigabytes cannot make the
 * reader allocate them before they exist. */
static int read_part(dsq_stream_reader *rd, uint64_t from, uint64_t to, uint64_t total,
                     dsq_err *e) {
    const uint64_t step = (uint64_t)1 << 24;
    while (from < to) {
        uint64_t end = to - from > step ? from + step : to;
        if (end > rd->blob_cap) blob_reserve(rd, (size_t)end);
        size_t got;
        if (fill(rd, rd->blob + from, (size_t)(end - from), &got, e)) return -1;
        from += got;
        if (from < end) return truncated(rd, from, total, e);
    }
    return 0;
}

static int read_record(dsq_stream_reader *rd, dsq_record *r, dsq_err *e) {
    long rec = rd->nrec + 1;
    char where[600];
    snprintf(where, sizeof where, "%s: record %ld", rd->name, rec);
    blob_reserve(rd, 8);
    size_t got;
    if (fill(rd, rd->blob, 8, &got, e)) return -1;
    if (got == 0 && rd->at_boundary) return 0;  /* clean end */
    if (got == 0 && rd->nrec == 0)
        return fail(e, DSQ_EDATA, "%s: truncated stream: input ends inside a zstd frame, "
                    "before any record (was the writer killed?)", rd->name);
    if (got == 0)
        return fail(e, DSQ_EDATA, "%s: truncated stream: input ends inside a zstd frame "
                    "after record %ld (was the writer killed?)", rd->name, rd->nrec);
    if (got < 8) return truncated(rd, got, 0, e);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | rd->blob[i];
    if (n > DSQ_ST_MAX_HEADER)
        return fail(e, DSQ_EDATA, "%s: header length %" PRIu64 " exceeds the limit of %"
                           PRIu64 " bytes", where, n, DSQ_ST_MAX_HEADER);
    if (8 + n > rd->max_record)
        return fail(e, DSQ_EDATA, "%s: header length %" PRIu64 " exceeds the record size "
                           "limit of %" PRIu64 " bytes", where, n, rd->max_record);
    if (read_part(rd, 8, 8 + n, 0, e)) return -1;
    uint64_t total;
    if (dsq_st_header_total(rd->blob, (size_t)(8 + n), &total, where, e)) return -1;
    if (total > rd->max_record || total > SIZE_MAX)
        return fail(e, DSQ_EDATA, "%s: record of %" PRIu64 " bytes exceeds the record "
                           "size limit of %" PRIu64 " bytes", where, total, rd->max_record);
    if (read_part(rd, 8 + n, total, total, e)) return -1;
    if (dsq_st_decode(r, rd->blob, (size_t)total, where, e)) return -1;
    rd->nrec = rec;
    return 1;
}

int dsq_stream_read(dsq_stream_reader *rd, dsq_record *r, dsq_err *e) {
    dsq_record_clear(r);
    if (rd->failed) {
        if (e) *e = rd->err;
        return -1;
    }
    dsq_err mine = {0};
    int rc = read_record(rd, r, &mine);
    if (rc < 0) {
        dsq_record_clear(r);
        rd->failed = 1;
        rd->err = mine;
        if (e) *e = mine;
    }
    return rc;
}

int dsq_stream_verify(FILE *f, const char *name, dsq_err *e) {
    struct stat st;
    off_t start = ftello(f);
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || start < 0) return 0;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    DSQ_CHECK(d != NULL);
    size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize(), k;
    unsigned char *in = xmalloc(in_cap), *out = xmalloc(out_cap);
    uint64_t at = 0;
    int rc = 0, stop = 0;  /* stop: damage the reader will name */
    while (!rc && !stop && (k = fread(in, 1, in_cap, f)) > 0) {
        ZSTD_inBuffer ib = {in, k, 0};
        while (!rc && !stop && ib.pos < ib.size) {
            ZSTD_outBuffer ob = {out, out_cap, 0};
            size_t before = ib.pos, ret = ZSTD_decompressStream(d, &ob, &ib);
            if (ZSTD_isError(ret) && ZSTD_getErrorCode(ret) == ZSTD_error_checksum_wrong)
                rc = dsq_err_set(e, DSQ_EDATA, "%s: corrupt zstd data: the checksum of the frame "
                                 "ending within compressed bytes %" PRIu64 "..%" PRIu64 " does "
                                 "not match (checked before any record was used)", name, at,
                                 at + k);
            else if (ZSTD_isError(ret) || (ib.pos == before && ob.pos == 0))
                stop = 1;
        }
        at += k;
    }
    if (!rc && ferror(f)) rc = dsq_err_set(e, DSQ_EIO, "%s: read error: %s", name, strerror(errno));
    ZSTD_freeDCtx(d);
    free(in);
    free(out);
    clearerr(f);
    if (!rc && fseeko(f, start, SEEK_SET) != 0)
        rc = dsq_err_set(e, DSQ_EIO, "%s: cannot seek back: %s", name, strerror(errno));
    return rc;
}
