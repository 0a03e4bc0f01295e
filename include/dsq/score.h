/* dsq-score's library side: reading decodes (JSONL or plain text), the
 * DiffuSeq evaluation script's per-file figures and diversity, and the
 * JSON / table report.  Definitions: doc/metrics.md and dsq-score(1): the
 * reference's scripts/eval_seq2seq.py as it really computes, e.g. its
 * get_bleu(recover, reference) passes `recover` to nltk as the reference
 * and `reference` as the hypothesis.
 *
 * Every figure is computed per line in parallel (OpenMP) into an array and
 * reduced in line order with numpy's pairwise mean, so the numbers are the
 * same bits for any thread count. */
#ifndef DSQ_SCORE_H
#define DSQ_SCORE_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "jsonl.h"
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
/* The same for k files at once: lines are read in order, then parsed and
 * cleaned in parallel; an error is the first in (file, line) order. */
int dsq_decodes_read_jsonl_many(char *const *paths, size_t k, const dsq_fields *f,
                                dsq_decodes *out, dsq_err *e);
/* Plain text: one sentence a line (an empty line is an empty sentence);
 * line i of hyp_path pairs with line i of ref_path. */
int dsq_decodes_read_text(const char *hyp_path, const char *ref_path, const dsq_fields *f,
                          dsq_decodes *out, dsq_err *e);
void dsq_decodes_free(dsq_decodes *d);

/* Lines of a file read in order (UTF-8 checked, newline removed) into one
 * buffer, so that they can be parsed in parallel. Line i is
 * buf[off[i] .. off[i+1]-1), NUL-terminated; lineno[i] its line number. */
typedef struct {
    char *buf;
    size_t len, cap;
    size_t *off;
    long *lineno;
    size_t n, ncap;
} dsq_rawlines;

/* Appends up to max lines (0: all) of r. Returns 0 or an error code. */
int dsq_rawlines_read(dsq_jsonl_reader *r, size_t max, dsq_rawlines *out, dsq_err *e);
void dsq_rawlines_clear(dsq_rawlines *rl);
void dsq_rawlines_free(dsq_rawlines *rl);
static inline const char *dsq_rawline(const dsq_rawlines *rl, size_t i, size_t *len) {
    *len = rl->off[i + 1] - rl->off[i] - 1;
    return rl->buf + rl->off[i];
}

/* One line's cleaned fields (ref / src NULL when absent). */
typedef struct {
    char *hyp, *ref, *src;
    size_t hyp_len, ref_len, src_len;
    /* With an extra key asked for: whether the line has it, and where its
     * value's bytes are in the line (dsq-mbr rewrites it in place). */
    int extra_present;
    size_t extra_start, extra_end;
} dsq_example;

/* Parses one JSONL line (lib/jsonscan.h: no tree is built) and cleans its
 * fields; the hyp field is required, the ref field too when need_ref.
 * extra_key (may be NULL): a further key to locate. On error nothing is
 * left allocated. */
int dsq_example_parse(const char *name, long lineno, const char *line, size_t len,
                      const dsq_fields *f, int need_ref, dsq_example *ex, const char *extra_key,
                      dsq_err *e);
void dsq_example_free(dsq_example *ex);

/* The figures of one file. */
typedef struct {
    size_t n;
    double bleu;      /* mean sentence BLEU, the script's argument order */
    double rouge_l;   /* mean ROUGE-L F (float32 per sentence) */
    double dist1;     /* mean per-sentence distinct unigrams */
    double avg_len;   /* mean len(recover.split(' ')) */
    int has_sacrebleu;        /* 0 when skipped (--no-sacrebleu) */
    dsq_sacrebleu sacrebleu;  /* corpus BLEU, hyp = recover, ref = reference */
    dsq_chrf chrf;
    /* BERTScore slot: a later --bertscore fills these and sets the flag;
     * the report then adds bertscore_p / bertscore_r / bertscore_f1 to the
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
