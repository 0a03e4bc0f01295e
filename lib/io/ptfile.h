/* PyTorch checkpoint files (torch.save of a state dict) read into a
 * dsq_record, and records written as such files.
 *
 * Two containers:
 *   zip (torch >= 1.6, the default): PREFIX/data.pkl (the pickle, with
 *     persistent ids naming storages), PREFIX/data/KEY (each storage's raw
 *     little-endian bytes), PREFIX/version.  torch's writer stores every
 *     entry uncompressed (method 0, 64-byte aligned data, zip64 end
 *     records), so this reader takes stored entries only: no inflater, so
 *     no decompression bomb; a compressed entry (the file re-zipped by
 *     another tool) is refused naming the entry.  Entries must lie
 *     side by side without overlapping, inside the file, with the CRC-32
 *     the central directory gives.
 *   legacy (torch < 1.6, or _use_new_zipfile_serialization=False): five
 *     pickles in a row (magic number, protocol 1001, system info, the
 *     object, the storage keys), then each storage as an int64 element
 *     count and its bytes.
 * The pickle is run by pickle.h's machine (allowed globals only).  The top
 * object must be a dict of tensors; each becomes a contiguous tensor of
 * the record (F32, F16, BF16 or I64, shape as saved), views (offsets,
 * strides, broadcast strides of 0) copied element by element after the
 * view is checked to lie inside its storage.  The tensors' total size may
 * not exceed twice the file's (a state dict's views share storages at
 * most that much), so a small hostile file cannot ask for gigabytes. */
#ifndef DSQ_PTFILE_H
#define DSQ_PTFILE_H

#include <stddef.h>

#include "err.h"
#include "tensor.h"

typedef enum { DSQ_PT_NONE, DSQ_PT_ZIP, DSQ_PT_LEGACY } dsq_pt_format;

/* The container that the first n bytes of a file announce (8 are enough):
 * DSQ_PT_NONE for anything else (a safetensors file starts with its header
 * length). */
dsq_pt_format dsq_pt_sniff(const void *head, size_t n);
const char *dsq_pt_format_name(dsq_pt_format f);   /* "zip", "legacy" */

/* Decodes a whole file held in memory into r (cleared first). `where`
 * names it in messages.  DSQ_EDATA with the entry, opcode offset or
 * tensor named. */
int dsq_pt_decode(dsq_record *r, const void *buf, size_t n, const char *where, dsq_err *e);

/* Reads path (mapped, not copied) into r; *fmt (may be NULL) gets the
 * container. */
int dsq_pt_read_file(const char *path, dsq_record *r, dsq_pt_format *fmt, dsq_err *e);

/* Writes r as torch.save would write the OrderedDict of its tensors (zip
 * container, protocol 2 pickle, archive/version 3, data 64-byte aligned):
 * torch.load returns every tensor by name.  A tensor whose dtype, size and
 * bytes equal an earlier one's shares its storage (as tied weights do in a
 * model's state dict).  F32, F16, BF16 and I64 only; files up to 4 GiB
 * (no zip64 records).  Written to a temporary and renamed into place. */
int dsq_pt_write_file(const char *path, const dsq_record *r, dsq_err *e);

#endif
