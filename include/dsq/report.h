/* dsq-score's report of the figures of include/dsq/score.h: one JSON object
 * (dsq-score(1) lists its keys) or a human-readable table. */
#ifndef DSQ_REPORT_H
#define DSQ_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "score.h"

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

#endif
