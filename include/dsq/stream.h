/* Tensor streams (man 5 dsq-stream): a zstd stream (one or more frames,
 * so `cat a.dsq b.dsq` is a stream) whose decompressed bytes are a
 * sequence of complete safetensors blobs, one per record.
 *
 * The writer flushes a zstd block after every record (downstream tools see
 * records as they are made) and ends the frame on close: a stream cut off
 * by a killed producer ends mid-frame, and the reader reports it as
 * truncated instead of taking it for complete. */
#ifndef DSQ_STREAM_H
#define DSQ_STREAM_H

#include <stdio.h>

#include "err.h"
#include "tensor.h"

typedef struct dsq_stream_writer dsq_stream_writer;
typedef struct dsq_stream_reader dsq_stream_reader;

/* `name` is used in messages ("-" → "<stdout>"). level: zstd level (3). */
dsq_stream_writer *dsq_stream_writer_open(FILE *f, const char *name, int level);
int dsq_stream_write(dsq_stream_writer *w, const dsq_record *r, dsq_err *e);
/* Ends the frame and flushes f (does not fclose it); frees w. */
int dsq_stream_writer_close(dsq_stream_writer *w, dsq_err *e);

/* Memory stays bounded by the largest record (max_record bytes, default
 * DSQ_STREAM_MAX_RECORD when 0), whatever the stream length. */
#define DSQ_STREAM_MAX_RECORD ((uint64_t)1 << 32)
dsq_stream_reader *dsq_stream_reader_open(FILE *f, const char *name, uint64_t max_record);
/* Checks every frame checksum of a stream in a regular file (from f's
 * position to the end, then back), so that a tool writing records out as
 * it reads them writes nothing from a corrupt frame: DSQ_EDATA on a
 * checksum mismatch.  Other damage is left to the reader, which names the
 * record; a pipe cannot be read twice and is not checked (the reader
 * then names the records it delivered from a frame whose checksum
 * failed). */
int dsq_stream_verify(FILE *f, const char *name, dsq_err *e);
/* Reads the next record into r (cleared first).
 * Returns 1: a record; 0: clean end of stream; -1: error (e filled,
 * e->code DSQ_EDATA for corrupt/truncated data, DSQ_EIO for read errors).
 * Messages name the stream and the record number (1-based). */
int dsq_stream_read(dsq_stream_reader *rd, dsq_record *r, dsq_err *e);
long dsq_stream_records_read(const dsq_stream_reader *rd);
void dsq_stream_reader_close(dsq_stream_reader *rd);  /* does not fclose */

#endif
