/* dsq-score's library side: reading decodes (JSONL or plain text), the
 * DiffuSeq evaluation script's per-file figures and diversity, and the
 * JSON / table report.  Definitions: spec/metrics.md and dsq-score(1); where
 * the two differ, the script (scripts/eval_seq2seq.py) is followed, e.g.
 * its get_bleu(recover, reference) passes `recover` to nltk as the
 * reference and `reference` as the hypothesis.
 *
 * Every figure is computed per line in parallel (OpenMP) into an array and
 * reduced in line order with numpy's pairwise mean, so the numbers are the
 * same bits for any thread count. */
#ifndef DSQ_SCORE_H
#define DSQ_SCORE_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "metrics.h"

/* Which fields hold what, and how they are cleaned. */
typedef struct {
    const char *hyp_field;  /* "recover" */
    const char *ref_field;  /* "reference" */
    const char *src_field;  /* "source" */
    dsq_markers markers;    /* --sos --eos --sep --pad */
    int clean;              /* 1: the script's strip + marker removal; 0: as is */
} dsq_fields;

void dsq_fields_default(dsq_fields *f);

/* Cleans one field's text as the script does (or copies it when
 * f->clean is 0). Returns a malloc'ed string, its length in *out_len. */
char *dsq_fields_clean(const dsq_fields *f, dsq_clean_field which, const char *s, size_t n,
                       size_t *out_len);

/* One file of decodes, cleaned. src[i] is NULL where the line has no
 * source field (it is only used to check that files share their inputs). */
typedef struct {
    char *name;      /* as shown in the report */
    char *ref_name;  /* plain-text mode: the reference file; else NULL */
    size_t n;
    char **hyp, **ref, **src;
    size_t *hyp_len, *ref_len, *src_len;
} dsq_decodes;

/* JSONL: hyp and ref fields required, src optional. "-" = stdin. */
int dsq_decodes_read_jsonl(const char *path, const dsq_fields *f, dsq_decodes *out, dsq_err *e);
/* Plain text: one sentence a line (an empty line is an empty sentence);
 * line i of hyp_path pairs with line i of ref_path. */
int dsq_decodes_read_text(const char *hyp_path, const char *ref_path, const dsq_fields *f,
                          dsq_decodes *out, dsq_err *e);
void dsq_decodes_free(dsq_decodes *d);

/* The figures of one file. */
typedef struct {
    size_t n;
    double bleu;      /* mean sentence BLEU, the script's argument order */
    double rouge_l;   /* mean ROUGE-L F (float32 per sentence) */
    double dist1;     /* mean per-sentence distinct unigrams */
    double avg_len;   /* mean len(recover.split(' ')) */
    dsq_sacrebleu sacrebleu;  /* corpus BLEU, hyp = recover, ref = reference */
    dsq_chrf chrf;
    /* BERTScore slot: a later --bertscore fills these and sets the flag;
     * the report then adds bertscore_p / bertscore_r / bertscore_f1 to the
     * file's object (dsq_score_write_json). */
    int has_bertscore;
    double bertscore_p, bertscore_r, bertscore_f1;
} dsq_file_scores;

/* Fails (DSQ_EDATA) only on an empty file. */
int dsq_score_file(const dsq_decodes *d, dsq_file_scores *out, dsq_err *e);

/* Diversity over k >= 2 decodes of the same inputs, in the order given
 * (the script's: sorted file names). */
typedef struct {
    size_t k, n;
    double self_bleu;  /* mean over examples of the mean pair BLEU */
    double div4;       /* mean over examples of distinct/all pooled 4-grams */
} dsq_diversity;

/* Checks that the k files have the same number of lines and, line by line,
 * the same (cleaned) reference and, where both have one, source. */
int dsq_decodes_same_inputs(dsq_decodes *const *d, size_t k, dsq_err *e);
void dsq_score_diversity(dsq_decodes *const *d, size_t k, dsq_diversity *out);

/* The report. One input: its keys are also copied to the top level, so
 * `jq .bleu` works on a single file. div may be NULL. */
typedef struct {
    size_t nfiles;
    dsq_decodes *const *files;
    const dsq_file_scores *scores;
    const dsq_diversity *div;
} dsq_score_report;

void dsq_score_write_json(FILE *f, const dsq_score_report *r);
void dsq_score_write_table(FILE *f, const dsq_score_report *r);

/* Writes x as %.17g (reads back as the same double), null if not finite. */
void dsq_put_double(FILE *f, double x);

/* Input lists shared with dsq-mbr: every argument that is a directory is
 * replaced by its *.json and *.jsonl files in byte order (the script globs
 * "*json" and sorts); then, when sort is set, the whole list is sorted by
 * byte order (Python's sorted() on the names). Returns 0, or DSQ_EIO for an
 * unreadable directory, DSQ_EDATA for one without such files. */
int dsq_expand_inputs(char *const *args, size_t nargs, int sort, char ***out, size_t *nout,
                      dsq_err *e);
void dsq_free_inputs(char **v, size_t n);

#endif
