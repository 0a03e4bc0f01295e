/* dsq-convert: checkpoints between safetensors (dsq's) and PyTorch .pt
 * (the reference's), in either direction, tensors unchanged.
 *
 * IN is read by content (lib/io/ptfile.h: torch.save's zip or legacy
 * container, else safetensors); OUT's container follows its name: *.pt,
 * *.pth or *.bin is a PyTorch zip file (what torch.load and the
 * reference's load_state_dict take, strictly, for a dsq checkpoint), any
 * other name safetensors.  Converting to safetensors keeps the "config"
 * metadata; a .pt carries none, so for one in a reference run directory
 * the configuration of its training_args.json is put there (refrun.h),
 * else the file has no configuration and dsq-sample needs --config. */
#ifndef DSQ_CONVERT_H
#define DSQ_CONVERT_H

#include "err.h"

typedef struct {
    int tensors;              /* converted */
    int pytorch_in;           /* IN was a PyTorch file */
    int config;               /* OUT (safetensors) got a configuration */
} dsq_convert_info;

int dsq_convert(const char *in, const char *out, dsq_convert_info *info, dsq_err *e);

/* 1 when OUT's name asks for a PyTorch file. */
int dsq_convert_wants_pt(const char *out);

#endif
