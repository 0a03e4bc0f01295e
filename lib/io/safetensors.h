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

/* Serialises r into a newly malloc'ed blob (*out, *out_size). Header: the
 * "__metadata__" map first (in r's order), then the tensors in data order;
 * JSON compact, padded with spaces so the data starts at a multiple of 8.
 * Data order is the Python library's: by dtype (U64 I64 F64 F32 U32 I32
 * BF16 F16 U16 I16 I8 U8 BOOL, i.e. widest first, so every tensor is
 * naturally aligned), then by name (bytewise).  A record with at most one
 * metadata key encodes byte-identically to safetensors.save().
 * Fails (DSQ_EDATA) on names or metadata that are not valid UTF-8, a tensor
 * named "__metadata__" or two tensors of the same name. */
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

/* The header part of dsq_st_encode alone: *hdr (8-byte length + padded
 * JSON, *hdr_size bytes) and *order, r->n_tensors indices into r->tensors
 * in data order; the blob is hdr followed by those tensors' bytes.  Lets
 * writers stream large records without assembling them.  Caller frees
 * *hdr and *order. */
int dsq_st_encode_header(const dsq_record *r, void **hdr, size_t *hdr_size,
                         int **order, dsq_err *e);

/* Whole files. Writing goes to a temporary name in the same directory and
 * is renamed into place only when complete. */
int dsq_st_write_file(const char *path, const dsq_record *r, dsq_err *e);
/* Reading validates like dsq_st_decode (the data section is the rest of
 * the file: no bytes may follow the last tensor) and checks the header
 * against the file size before allocating anything. */
int dsq_st_read_file(const char *path, dsq_record *r, dsq_err *e);

#endif
