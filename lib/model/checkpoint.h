/* Checkpoints: safetensors files whose tensors are the reference PyTorch
 * state dict (doc/model-and-training.md §2, doc/formats.md §2), written
 * through the model's parameter table, and the training-state file that
 * makes --resume exact.
 *
 * Model files hold every table tensor (F32, reference name and shape),
 * `lm_head.weight` as a second copy of `word_embedding.weight` (the state
 * dict has both names for the one tied tensor; safetensors cannot alias,
 * so both are stored and a reader requires them to be equal), and the
 * `position_ids` buffer (I64 [1, max_pos], 0..max_pos-1).  __metadata__
 * "config" holds the training configuration as JSON.  Files are written to
 * a temporary name and renamed into place, so a failed write (disk full)
 * leaves any previous file intact. */
#ifndef DSQ_CHECKPOINT_H
#define DSQ_CHECKPOINT_H

#include <stdint.h>

#include "err.h"
#include "model.h"
#include "tensor.h"

/* Writes the parameter-shaped device buffer `src` (m->params or an EMA
 * copy) as a model checkpoint. */
int dsq_ckpt_write(const char *path, const dsq_model *m, const float *src,
                   const char *config_json, dsq_err *e);

/* What dsq_ckpt_read found in a file. */
typedef struct {
    int pytorch;              /* 0 safetensors; else a PyTorch file (dsq_pt_format) */
    int untied;               /* lm_head.weight differed from word_embedding.weight:
                                 its values were loaded for both */
    double untied_max_diff;   /* the largest |difference| then */
} dsq_ckpt_info;

/* Reads a model checkpoint, safetensors or PyTorch (torch.save's zip or
 * legacy container, told apart by content: lib/io/ptfile.h), into the
 * parameter-shaped device buffer dst.  Every table tensor must be present
 * with its shape, as F32, F16 or BF16 (widened exactly to F32); a tensor
 * the table lacks (other than lm_head.weight and position_ids) is an error
 * (DSQ_EDATA, naming the tensor and both shapes).
 *
 * An lm_head.weight that differs from word_embedding.weight is what the
 * reference's EMA files hold: its _master_params_to_state_dict writes EMA
 * values for named_parameters(), which lists the tied tensor once (as
 * word_embedding.weight), so lm_head.weight keeps the raw weights; its
 * load_state_dict copies lm_head.weight last, so the reference decodes
 * with the raw values in both.  Such a file is loaded the same way
 * (lm_head.weight's values for the one tied tensor) and info->untied says
 * so.  info may be NULL. */
int dsq_ckpt_read(const char *path, const dsq_model *m, float *dst, dsq_ckpt_info *info,
                  dsq_err *e);

/* A checkpoint file (either container) as a record, F16/BF16 tensors
 * widened to F32; *pytorch as in dsq_ckpt_info (may be NULL). */
int dsq_ckpt_read_record(const char *path, dsq_record *r, int *pytorch, dsq_err *e);

/* The "config" metadata of a checkpoint or state file (malloc'ed).  A
 * checkpoint without it (a safetensors file without the key, or any
 * PyTorch file): DSQ_EDATA with *no_config set (when no_config is not
 * NULL; 0 for a file that is not a checkpoint at all). */
int dsq_ckpt_read_config(const char *path, char **config_json, int *no_config, dsq_err *e);

/* Training state for exact resume: parameters, Adam moments and EMA
 * copies as flat F32 [n_params] tensors (the table's layout), the
 * loss-aware schedule sampler's history, and the scalars in metadata. */
typedef struct {
    int64_t step;           /* steps done */
    int64_t updates;        /* AdamW steps applied (fp16 skips some); a file
                               without it: step */
    double lg_loss_scale;   /* fp16 loss scale; a file without it: NAN */
    int64_t epoch;          /* data order: current epoch ... */
    int64_t pos;            /* ... and the next example within it */
    int n_ema;
    float *params, *adam_m, *adam_v, *ema[8];  /* device buffers */
    int T;
    double *history;        /* host [T * 10] */
    int32_t *counts;        /* host [T] */
} dsq_train_state;

int dsq_state_write(const char *path, const dsq_model *m, const dsq_train_state *s,
                    const char *config_json, dsq_err *e);
/* Reads into the buffers of s (allocated by the caller, shapes from m,
 * s->n_ema and s->T); checks sizes against the file.  The file's config
 * is returned through config_json when non-NULL. */
int dsq_state_read(const char *path, const dsq_model *m, dsq_train_state *s,
                   char **config_json, dsq_err *e);

#endif
