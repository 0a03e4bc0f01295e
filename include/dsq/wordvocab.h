/* DiffuSeq's custom word-level vocabulary (doc/tokenizer.md §3) and the word
 * counter behind `dsq-tokenize --build-vocab`.
 *
 * Encoding is Python's text.split(): runs of Python whitespace
 * (str.isspace) separate words, no other normalisation; an unknown word is
 * [UNK].  Loading lives in tokenizer.c (dsq_tokenizer_load with
 * DSQ_TOK_WORD). */
#ifndef DSQ_WORDVOCAB_H
#define DSQ_WORDVOCAB_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"


/* Word list building.  Counts every word of text.split() over the strings
 * given; the list is written by descending count, ties in order of first
 * occurrence (so the output depends only on the input order), one
 * "word count" line per word (DiffuSeq's loader reads the first
 * space-separated field).  Words with count < min_count are left out, and
 * so are the reserved names [START] [END] [UNK] [PAD], which the vocabulary
 * always has. */
typedef struct dsq_wordcount dsq_wordcount;
dsq_wordcount *dsq_wordcount_new(void);
void dsq_wordcount_free(dsq_wordcount *w);
/* Invalid UTF-8 -> DSQ_EDATA "invalid UTF-8 at byte N" (nothing counted). */
int dsq_wordcount_add(dsq_wordcount *w, const char *text, size_t len, dsq_err *e);
size_t dsq_wordcount_distinct(const dsq_wordcount *w);
/* Writes the list to f ("name" in messages); *written = lines written.
 * DSQ_EIO on a write error. */
int dsq_wordcount_write(const dsq_wordcount *w, FILE *f, const char *name, long min_count,
                        size_t *written, dsq_err *e);

#endif
