/* Layer functions composed from backend operations, llm.c style: outputs
 * first, then inputs, weights, sizes; backward passes accumulate (+=) into
 * every gradient (NULL = not wanted).  All pointers are device buffers.
 * Inline (a few backend calls each), so that the library exports no
 * layer_* symbol: its users are the model and the BERT encoder. */
#ifndef DSQ_LAYERS_H
#define DSQ_LAYERS_H

#include "backend.h"

/* out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC] (bias may be NULL):
 * torch.nn.Linear with PyTorch's [out_features, in_features] weights. */
static inline void layer_linear_fwd(dsq_backend *be, float *out, const float *inp,
                                    const float *weight, const float *bias, int N, int C,
                                    int OC) {
    be->gemm(be, 0, 1, N, OC, C, 1.0f, inp, C, 0, weight, C, 0, 0.0f, out, OC, 0, 1);
    if (bias) be->bias_add(be, out, bias, N, OC);
}

/* dinp[N,C] += dout @ weight; dweight[OC,C] += dout^T @ inp;
 * dbias[OC] += column sums of dout[N,OC]. */
static inline void layer_linear_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                                    const float *dout, const float *inp, const float *weight,
                                    int N, int C, int OC) {
    if (dinp)
        be->gemm(be, 0, 0, N, C, OC, 1.0f, dout, OC, 0, weight, C, 0, 1.0f, dinp, C, 0, 1);
    if (dweight)
        be->gemm(be, 1, 0, OC, C, N, 1.0f, dout, OC, 0, inp, C, 0, 1.0f, dweight, C, 0, 1);
    if (dbias) be->bias_grad(be, dbias, dout, N, OC);
}

#endif
