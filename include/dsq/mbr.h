/* Candidate sets: k decodes of one example.  The DiffuSeq script's
 * selectBest (MBR by sentence BLEU) and dsq-mbr's streaming driver (the
 * per-example diversity, self-BLEU and div-4, is in metrics.h).
 *
 * Direction, as the script really calls nltk: its get_bleu(a, b) scores
 * hypothesis b against reference a.  So
 *   selectBest: M[a][b] = BLEU(hyp = c_b, ref = c_a), M[a][a] = 0,
 *               pick argmax_a of numpy's pairwise sum of row a, first on ties. */
#ifndef DSQ_MBR_H
#define DSQ_MBR_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "decfile.h"
#include "metrics.h"

typedef enum { DSQ_MBR_BLEU, DSQ_MBR_ROUGE_L } dsq_mbr_utility;

/* selectBest with BLEU utility over prepared candidates. work: k*k doubles. */
size_t dsq_mbr_select_bleu(dsq_bleu_sent *const *c, size_t k, double *work);
/* The same with ROUGE-L F (hyp = c_b, ref = c_a) as the utility. */
size_t dsq_mbr_select_rouge(const char *const *c, const size_t *len, size_t k, double *work);

typedef struct {
    dsq_fields fields;
    dsq_mbr_utility utility;
    const char *index_field;  /* "mbr_index" */
    size_t chunk;             /* examples read per file before selecting (0: 1024) */
} dsq_mbr_opts;

/* Reads the k JSONL files in lockstep, checks that line i of every file has
 * the same cleaned reference and source (where present), and writes for
 * each line the chosen file's object with index_field set to the chosen
 * file's 0-based position in paths. *nlines gets the count.
 * Errors: DSQ_EIO (open/read), DSQ_EDATA (bad line, missing field,
 * mismatch, unequal lengths). */
int dsq_mbr_run(char *const *paths, size_t k, const dsq_mbr_opts *o, FILE *out, size_t *nlines,
                dsq_err *e);

#endif
