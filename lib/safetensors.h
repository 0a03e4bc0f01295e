/* safetensors blobs: u64 LE header length, JSON header, raw data.
 * https://github.com/huggingface/safetensors — the rules every reader of a
 * dsq record or checkpoint relies on.  Decoding validates every field
 * (dtype names, shapes, offsets, overflow, overlap/gaps, header size)
 * before trusting it. */
#ifndef DSQ_SAFETENSORS_H
#define DSQ_SAFETENSORS_H

#include "err.h"
#include "tensor.h"

/* Largest accepted JSON header (the safetensors library's own limit). */
#define DSQ_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* Serialises r into a newly malloc'ed blob (*out, *out_size). Tensors are
 * laid out in name order, header padded with spaces to a multiple of 8. */
int dsq_st_encode(const dsq_record *r, void **out, size_t *out_size, dsq_err *e);

/* Parses a complete blob into r (r is cleared first; data is copied).
 * `where` names the blob in messages ("train.dsq: record 3"). */
int dsq_st_decode(dsq_record *r, const void *blob, size_t size,
                  const char *where, dsq_err *e);

/* Parses just the 8-byte length prefix + JSON header length check: returns
 * the total blob size implied by a header (header + data), validating the
 * header. Used by the stream reader to know how much to read. */
int dsq_st_header_total(const void *prefix_and_header, size_t avail,
                        uint64_t *total_size, const char *where, dsq_err *e);

/* Whole files. Writing goes to a temporary name in the same directory and
 * is renamed into place only when complete. */
int dsq_st_write_file(const char *path, const dsq_record *r, dsq_err *e);
int dsq_st_read_file(const char *path, dsq_record *r, dsq_err *e);

#endif
