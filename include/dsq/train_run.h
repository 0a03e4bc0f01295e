/* dsq-train's run: data, model, the step loop, logging, evaluation,
 * checkpoints and exact resume (doc/formats.md §3).  The tool's
 * main only parses options into dsq_train_run_opts. */
#ifndef DSQ_TRAIN_RUN_H
#define DSQ_TRAIN_RUN_H

#include <signal.h>
#include <stdint.h>

#include "device.h"
#include "diffusion.h"
#include "dist.h"
#include "err.h"
#include "model.h"
#include "tokenizer.h"
#include "train.h"
#include "util.h"

typedef struct {
    const char *data, *valid, *vocab, *out, *resume;
    const char *init;          /* --init: weights only, from a checkpoint (.safetensors or .pt) */
    int overwrite;             /* --overwrite: empty an existing run in out first */
    const char *init_plm;      /* --init-plm: a HuggingFace BERT directory (lib/run/plm.h):
                                  its shape always, its weights at step 0 (not on --resume) */
    int vocab_kind_set;
    dsq_tok_kind vocab_kind;
    dsq_model_config model;    /* vocab is filled from the vocabulary */
    const char *config_name;   /* preset name (or init_plm), for config.json */
    int T;
    const char *schedule, *schedule_sampler;
    dsq_diffusion_opts dopts;
    dsq_train_opts topts;
    char ema_names[DSQ_MAX_EMA][32];  /* the rates as written ("0.9999") */
    int bsz, seq_len;          /* seq_len 0: the data's */
    int64_t save_interval, log_interval, eval_interval;
    int64_t stop_at;           /* 0: run to learning_steps */
    dsq_progress progress;     /* LINES: a line per log interval; NONE also
                                  leaves out the start, resume and end lines */
    dsq_device device;         /* zero: the CPU */
    const dsq_dist *dist;      /* NULL: one process.  Rank 0 writes every file
                                  and all output; bsz is the global batch */
} dsq_train_run_opts;

/* Set by a SIGINT/SIGTERM handler: the run finishes the current step,
 * writes a resumable checkpoint and returns DSQ_EFAIL. */
extern volatile sig_atomic_t dsq_train_stop_signal;

/* dsq-train's defaults (dsq-train(1)): the bert-base encoder with d = 128,
 * T 2000, sqrt schedule, lossaware schedule sampler, lr 1e-4 over 50000
 * steps, batch 2048 in microbatches of 64, EMA 0.9999, seed 102, saves
 * every 10000 steps, a log line every 20, evaluation every 1000, the CPU,
 * one process, no progress output.  data, vocab and out stay NULL. */
void dsq_train_run_opts_default(dsq_train_run_opts *o);

/* Checks the settings (before any file is read: DSQ_EUSAGE for bad ones),
 * takes the run directory o->out (created when missing; an exclusive lock
 * for the run's lifetime: DSQ_EFAIL at once, naming the holder's pid, when
 * another run has it; DSQ_EUSAGE when it already holds a run and neither
 * o->resume nor o->overwrite is set), loads the vocabulary and the data,
 * then trains from scratch or from o->resume. */
int dsq_train_run(const dsq_train_run_opts *o, dsq_err *e);

#endif
