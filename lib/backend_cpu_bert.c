/* CPU backend: inference operations of the BERTScore encoder (lib/metrics/bert.c)
 * whose results do not depend on the thread count: the work is cut into
 * pieces fixed by the shapes alone, each computed by one single-threaded
 * sgemm call (OpenBLAS's results depend on the call's shape).
 *
 * Attention with a key padding mask: one (sequence, head) pair per task,
 * its scores in a per-thread [L, L] scratch, so nothing of size B*nh*L*L is
 * ever held. */
#include "backend_cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Softmax of s[j] / scale_div over the unmasked j of one row (in place);
 * masked entries become exactly 0, as exp(score + float_min) does in
 * BERT.  A row without any key is all zeros. */
static void masked_softmax_row(float *s, const float *mask, int L, float scale_div) {
    float mx = -INFINITY;
    for (int j = 0; j < L; j++) {
        if (mask[j] == 0.0f) continue;
        s[j] = s[j] / scale_div;  /* PyTorch divides by sqrt(head size) */
        if (s[j] > mx) mx = s[j];
    }
    if (mx == -INFINITY) {
        for (int j = 0; j < L; j++) s[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = 0; j < L; j++) {
        if (mask[j] == 0.0f) { s[j] = 0.0f; continue; }
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    for (int j = 0; j < L; j++) s[j] /= sum;
}

void cpu_attention_masked_fwd(dsq_backend *be, float *out, const float *qkv,
                              const float *mask, int B, int L, int nh, int H) {
    (void)be;
    int hs = H / nh;
    float div = sqrtf((float)hs);
    long long tasks = (long long)B * nh;
#pragma omp parallel
    {
        float *s = xmalloc((size_t)L * L * sizeof *s);
#pragma omp for schedule(dynamic, 1)
        for (long long t = 0; t < tasks; t++) {
            int b = (int)(t / nh), h = (int)(t % nh);
            const float *q = qkv + (size_t)b * L * 3 * H + (size_t)h * hs;
            const float *k = q + H, *v = q + 2 * H;
            const float *m = mask + (size_t)b * L;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, hs, 1.0f, q, 3 * H, k,
                        3 * H, 0.0f, s, L);
            for (int i = 0; i < L; i++) masked_softmax_row(s + (size_t)i * L, m, L, div);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, hs, L, 1.0f, s, L, v,
                        3 * H, 0.0f, out + (size_t)b * L * H + (size_t)h * hs, H);
        }
        free(s);
    }
}

/* Blocks of 128 rows of inp, one sgemm each; then bias and activation per
 * row while the block is in cache. */
void cpu_linear_fixed_fwd(dsq_backend *be, float *out, const float *inp,
                          const float *weight, const float *bias, int N, int C, int OC,
                          int act) {
    (void)be;
    enum { ROWS = 128 };
    int nb = (N + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(dynamic, 1)
    for (int blk = 0; blk < nb; blk++) {
        int r0 = blk * ROWS, m = N - r0 < ROWS ? N - r0 : ROWS;
        float *o = out + (size_t)r0 * OC;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, OC, C, 1.0f,
                    inp + (size_t)r0 * C, C, weight, C, 0.0f, o, OC);
        for (int i = 0; i < m; i++) {
            float *row = o + (size_t)i * OC;
            if (bias)
                for (int j = 0; j < OC; j++) row[j] += bias[j];
            if (act == 1) cpu_gelu_as_torch(row, row, (size_t)OC);
        }
    }
}
