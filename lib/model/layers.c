/* Linear layers on the backend's GEMM. */
#include "layers.h"

void layer_linear_fwd(dsq_backend *be, float *out, const float *inp,
                      const float *weight, const float *bias, int N, int C, int OC) {
    be->gemm(be, 0, 1, N, OC, C, 1.0f, inp, C, 0, weight, C, 0, 0.0f, out, OC, 0, 1);
    if (bias) be->bias_add(be, out, bias, N, OC);
}

void layer_linear_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                      const float *dout, const float *inp, const float *weight,
                      int N, int C, int OC) {
    if (dinp)
        be->gemm(be, 0, 0, N, C, OC, 1.0f, dout, OC, 0, weight, C, 0, 1.0f, dinp, C, 0, 1);
    if (dweight)
        be->gemm(be, 1, 0, OC, C, N, 1.0f, dout, OC, 0, inp, C, 0, 1.0f, dweight, C, 0, 1);
    if (dbias) be->bias_grad(be, dbias, dout, N, OC);
}
