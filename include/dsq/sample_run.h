/* dsq-sample's run: checkpoint, configuration and vocabulary, the input
 * stream, batching, the sampler, and JSONL or id-stream output in input
 * order (doc/sampling.md §5).  The tool's main only parses options. */
#ifndef DSQ_SAMPLE_RUN_H
#define DSQ_SAMPLE_RUN_H

#include <signal.h>

#include "device.h"
#include "dist.h"
#include "err.h"
#include "sample.h"
#include "tokenizer.h"
#include "util.h"

typedef struct {
    const char *model;        /* checkpoint (.safetensors) */
    const char *config;       /* config JSON; NULL: the checkpoint's metadata,
                                 else config.json beside it */
    const char *vocab;        /* NULL: the config's "vocab" beside the checkpoint */
    int vocab_kind_set;
    dsq_tok_kind vocab_kind;
    const char *input;        /* tensor stream, "-" = stdin */
    const char *output;       /* "-" = stdout */
    int ids_out;              /* write an ids stream instead of JSONL */
    dsq_join join;
    dsq_sample_opts so;
    int mean_start;           /* -1: on for models with a mean embedding (ddpm) */
    float denoise_rate;       /* < 0: the config's (denoise_rate when denoise) */
    int batch;
    dsq_progress progress;    /* LINES: a plain line every 30 s */
    const dsq_dist *dist;     /* mpirun ranks; NULL: one process */
    dsq_device device;        /* zero: the CPU */
    int precision;            /* DSQ_PREC_*: GEMM arithmetic (zero: fp32) */
} dsq_sample_run_opts;

/* Set by the tool's SIGINT/SIGTERM handler: the run stops after the
 * current denoising step, flushes what is complete and fails. */
extern volatile sig_atomic_t dsq_sample_stop_signal;

/* dsq-sample's defaults (dsq-sample(1)): stdin to stdout as JSONL, modern
 * joining, dsq_sample_opts_default's sampler, mean start and denoise rate
 * from the model, batches of 64, the CPU in fp32, one process, no progress
 * output.  model stays NULL. */
void dsq_sample_run_opts_default(dsq_sample_run_opts *o);

/* Returns 0 with *n_done examples written, or an error code (e names the
 * problem and, for a failed or interrupted run, what was written where). */
int dsq_sample_main(const dsq_sample_run_opts *o, long *n_done, dsq_err *e);

#endif
