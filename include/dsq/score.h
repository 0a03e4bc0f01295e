/* dsq-score's figures: the DiffuSeq evaluation script's per-file figures
 * and diversity over decodes read by include/dsq/decfile.h.  Definitions:
 * doc/metrics.md and dsq-score(1): the reference's scripts/eval_seq2seq.py
 * as it really computes, e.g. its get_bleu(recover, reference) passes
 * `recover` to nltk as the reference and `reference` as the hypothesis.
 *
 * Every figure is computed per line in parallel (OpenMP) into an array and
 * reduced in line order with numpy's pairwise mean, so the numbers are the
 * same bits for any thread count. */
#ifndef DSQ_SCORE_H
#define DSQ_SCORE_H

#include <stddef.h>

#include "decfile.h"
#include "err.h"
#include "metrics.h"

/* The figures of one file. */
typedef struct {
    size_t n;
    double bleu;      /* mean sentence BLEU, the script's argument order */
    double rouge_l;   /* mean ROUGE-L F (float32 per sentence) */
    double distinct1;     /* mean per-sentence distinct unigrams */
    double avg_len;   /* mean len(recover.split(' ')) */
    int has_sacrebleu;        /* 0 when skipped (--no-sacrebleu) */
    dsq_sacrebleu sacrebleu;  /* corpus BLEU, hyp = recover, ref = reference */
    dsq_chrf chrf;
    /* BERTScore: dsq-score --bertscore fills these and sets the flag; the
     * report then adds bertscore_p / bertscore_r / bertscore_f1 to the
     * file's object (dsq_score_write_json). */
    int has_bertscore;
    double bertscore_p, bertscore_r, bertscore_f1;
} dsq_file_scores;

/* Diversity over k >= 2 decodes of the same inputs, in the order given
 * (the script's: sorted file names). */
typedef struct {
    size_t k, n;
    double self_bleu;  /* mean over examples of the mean pair BLEU */
    double div4;       /* mean over examples of distinct/all pooled 4-grams */
} dsq_diversity;

typedef struct {
    int sacrebleu;  /* compute sacreBLEU's BLEU and chrF per file */
    int diversity;  /* with k >= 2: check the files share their inputs, then diversity */
} dsq_score_opts;

/* Checks that the k files have the same number of lines and, line by line,
 * the same (cleaned) reference and, where both have one, source. */
int dsq_decodes_same_inputs(dsq_decodes *const *d, size_t k, dsq_err *e);

/* Scores k files in one pass over the lines (in parallel): each text is
 * tokenised and prepared for BLEU once, for its file's figures and for the
 * diversity of its line. div->k is 0 when diversity was not computed.
 * Errors (DSQ_EDATA): an empty file; files that do not share their inputs. */
int dsq_score_run(dsq_decodes *const *d, size_t k, const dsq_score_opts *o, dsq_file_scores *out,
                  dsq_diversity *div, dsq_err *e);
/* One file, with sacreBLEU. */
int dsq_score_file(const dsq_decodes *d, dsq_file_scores *out, dsq_err *e);

#endif
