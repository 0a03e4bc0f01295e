/* Layer functions composed from backend operations, llm.c style: outputs
 * first, then inputs, weights, sizes; backward passes accumulate (+=) into
 * every gradient (NULL = not wanted).  All pointers are device buffers. */
#ifndef DSQ_LAYERS_H
#define DSQ_LAYERS_H

#include "backend.h"

/* out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC] (bias may be NULL):
 * torch.nn.Linear with PyTorch's [out_features, in_features] weights. */
void layer_linear_fwd(dsq_backend *be, float *out, const float *inp,
                      const float *weight, const float *bias, int N, int C, int OC);

/* dinp[N,C] += dout @ weight; dweight[OC,C] += dout^T @ inp;
 * dbias[OC] += column sums of dout[N,OC]. */
void layer_linear_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                      const float *dout, const float *inp, const float *weight,
                      int N, int C, int OC);

#endif
