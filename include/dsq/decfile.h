/* Decode files as dsq-score and dsq-mbr read them: which JSONL fields hold
 * the generated text, the reference and the source, and how they are
 * cleaned (the DiffuSeq script's strip and marker removal, doc/metrics.md
 * §0); JSONL and plain-text decodes; lines read in order and parsed in
 * parallel, with the first error in input order reported; and the list of
 * input files a command line names. */
#ifndef DSQ_DECFILE_H
#define DSQ_DECFILE_H

#include <stddef.h>

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

/* The options dsq-score and dsq-mbr share to fill a dsq_fields:
 * --hyp-field --ref-field --src-field NAME, --sos --eos --sep --pad STR and
 * --no-clean.  DSQ_FIELDS_LONGOPTS are their getopt_long entries (values
 * from DSQ_FIELDS_OPT up, above any of a tool's own); dsq_fields_option
 * applies getopt's value c with its argument: 1 when c is one of them,
 * else 0 (f untouched). */
enum {
    DSQ_FIELDS_OPT = 0x1000,
    DSQ_FIELDS_OPT_HYP = DSQ_FIELDS_OPT, DSQ_FIELDS_OPT_REF, DSQ_FIELDS_OPT_SRC,
    DSQ_FIELDS_OPT_SOS, DSQ_FIELDS_OPT_EOS, DSQ_FIELDS_OPT_SEP, DSQ_FIELDS_OPT_PAD,
    DSQ_FIELDS_OPT_NOCLEAN,
};
#define DSQ_FIELDS_LONGOPTS                                                              \
    {"hyp-field", 1, 0, DSQ_FIELDS_OPT_HYP}, {"ref-field", 1, 0, DSQ_FIELDS_OPT_REF},     \
    {"src-field", 1, 0, DSQ_FIELDS_OPT_SRC}, {"sos", 1, 0, DSQ_FIELDS_OPT_SOS},           \
    {"eos", 1, 0, DSQ_FIELDS_OPT_EOS}, {"sep", 1, 0, DSQ_FIELDS_OPT_SEP},                 \
    {"pad", 1, 0, DSQ_FIELDS_OPT_PAD}, {"no-clean", 0, 0, DSQ_FIELDS_OPT_NOCLEAN}
int dsq_fields_option(dsq_fields *f, int c, const char *arg);

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

/* The rules dsq-score and dsq-mbr share for their inputs:
 * an input without lines is bad data (DSQ_EDATA naming it: there is
 * nothing to score or select);
 * line i is the same example in every file: a field (reference, source)
 * that both files have must be the same cleaned text, else DSQ_EDATA
 * naming both places (file na line la against nb line lb); a file without
 * the field (a decode without sources) is not checked on it. */
int dsq_decodes_need_lines(const char *name, size_t n, dsq_err *e);
int dsq_decodes_same_field(const char *field, const char *a, size_t an, const char *na, long la,
                           const char *b, size_t bn, const char *nb, long lb, dsq_err *e);

/* The first error in input order of a parallel loop over items 0..n-1,
 * so that the message does not depend on the thread count.  Each thread
 * starts its own at n ({.at = n}) and notes every failing item; at the end
 * of the region every thread merges its own into the shared one, whose
 * .at is then the lowest failing item (n when none failed). */
typedef struct {
    size_t at;
    dsq_err err;
} dsq_first_err;

/* Keeps (at, e) when at comes before what f holds. */
void dsq_first_err_note(dsq_first_err *f, size_t at, const dsq_err *e);
/* Folds a thread's mine into the shared all (a critical section: call it
 * inside the parallel region, once per thread). */
void dsq_first_err_merge(dsq_first_err *all, const dsq_first_err *mine);

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

/* Parses one JSONL line (lib/io/jsonscan.h: no tree is built) and cleans its
 * fields; the hyp field is required, the ref field too when need_ref.
 * extra_key (may be NULL): a further key to locate. On error nothing is
 * left allocated. */
int dsq_example_parse(const char *name, long lineno, const char *line, size_t len,
                      const dsq_fields *f, int need_ref, dsq_example *ex, const char *extra_key,
                      dsq_err *e);
void dsq_example_free(dsq_example *ex);


/* Input lists shared with dsq-mbr: every argument that is a directory is
 * replaced by its *.json and *.jsonl files in byte order (the script globs
 * "*json" and sorts); then, when sort is set, the whole list is sorted by
 * byte order (Python's sorted() on the names). Returns 0, or DSQ_EIO for an
 * unreadable directory, DSQ_EDATA for one without such files. */
int dsq_expand_inputs(char *const *args, size_t nargs, int sort, char ***out, size_t *nout,
                      dsq_err *e);
void dsq_free_inputs(char **v, size_t n);


#endif
