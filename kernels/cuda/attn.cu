// CUDA backend: multi-head self-attention (training, BERT layout) and the
// masked inference attention of the BERTScore encoder, plain or with
// DeBERTa's relative-position terms (kernels/cpu/attn.c).
// The per-head products are one batched cuBLAS call over all (sequence,
// head) pairs.
#include <math.h>

#include "backend_cuda_impl.h"
#include "numerics.h"

// Head h of q, k, v of sequence b starts at qkv + b*L*3H + {0, H, 2H} + h*hs.
void cu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd, const float *qkv,
                      int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    long long LL = (long long)L * L, Lq = (long long)L * 3 * H;
    // att[b,h] = q k^T
    cu_gemm_bh(be, 0, 1, L, L, hs, 1.0f, qkv, 3 * H, Lq, hs, qkv + H, 3 * H, Lq, hs, 0.0f, att,
               L, nh * LL, LL, B, nh);
    cu_softmax_fwd(be, att, att, B * nh * L, L, scale);
    const float *use = att;
    if (p > 0.0f) {
        cu_dropout_fwd(be, attd, att, (size_t)B * nh * LL, p, seed, off);
        use = attd;
    }
    // out[b, :, h*hs..] = attd[b,h] v
    cu_gemm_bh(be, 0, 0, L, hs, L, 1.0f, use, L, nh * LL, LL, qkv + 2 * H, 3 * H, Lq, hs, 0.0f,
               out, H, (long long)L * H, hs, B, nh);
}

void cu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                      const float *qkv, const float *att, const float *attd, int B, int L,
                      int nh, int H, float p, uint64_t seed, uint64_t off) {
    int hs = H / nh;
    float scale = 1.0f / sqrtf((float)hs);
    long long LL = (long long)L * L, Lq = (long long)L * 3 * H, LH = (long long)L * H;
    size_t natt = (size_t)B * nh * LL;
    const float *use = p > 0.0f ? attd : att;
    // d attd = g v^T (overwrites datt);  dv += attd^T g
    cu_gemm_bh(be, 0, 1, L, L, hs, 1.0f, dout, H, LH, hs, qkv + 2 * H, 3 * H, Lq, hs, 0.0f, datt,
               L, nh * LL, LL, B, nh);
    cu_gemm_bh(be, 1, 0, L, hs, L, 1.0f, use, L, nh * LL, LL, dout, H, LH, hs, 1.0f,
               dqkv + 2 * H, 3 * H, Lq, hs, B, nh);
    // through the dropout: the forward's mask applied to the gradient
    if (p > 0.0f) cu_dropout_fwd(be, datt, datt, natt, p, seed, off);
    // through the softmax, in place: datt becomes d scores (scale folded)
    cu_softmax_bwd_rows(be, datt, att, datt, B * nh * L, L, scale, 0);
    // dq += ds k;  dk += ds^T q
    cu_gemm_bh(be, 0, 0, L, hs, L, 1.0f, datt, L, nh * LL, LL, qkv + H, 3 * H, Lq, hs, 1.0f,
               dqkv, 3 * H, Lq, hs, B, nh);
    cu_gemm_bh(be, 1, 0, L, hs, L, 1.0f, datt, L, nh * LL, LL, qkv, 3 * H, Lq, hs, 1.0f,
               dqkv + H, 3 * H, Lq, hs, B, nh);
}

// ---- masked attention (inference) ----------------------------------------------

// Softmax of s[j] / div over the keys j with mask != 0, in place; masked
// keys get exactly 0 and a row without any key is all zeros (as the CPU's
// masked_softmax_row).  One warp per row; row r of the chunk belongs to
// sequence b0 + r / (nh * L).
static __global__ void masked_softmax_kernel(float *s, const float *__restrict__ mask, int rows,
                                             int L, int nh, int b0, float div) {
    int row = blockIdx.x * 8 + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    float *x = s + (size_t)row * L;
    const float *m = mask + (size_t)(b0 + row / (nh * L)) * L;
    float mx = -INFINITY;
    for (int j = lane; j < L; j += 32) {
        if (m[j] == 0.0f) continue;
        float v = x[j] / div;  // PyTorch divides by sqrt(head size)
        x[j] = v;
        mx = fmaxf(mx, v);
    }
    mx = cu_warp_max(mx);
    if (mx == -INFINITY) {
        for (int j = lane; j < L; j += 32) x[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = lane; j < L; j += 32) {
        float e = m[j] == 0.0f ? 0.0f : expf(x[j] - mx);
        x[j] = e;
        sum += e;
    }
    sum = cu_warp_sum(sum);
    for (int j = lane; j < L; j += 32) x[j] /= sum;
}

// Scores of a chunk of sequences at a time, at most this many bytes.
#define MASKED_SCRATCH_BYTES ((size_t)256 << 20)

void cu_attention_masked_fwd(dsq_backend *be, float *out, const float *qkv, const float *mask,
                             int B, int L, int nh, int H) {
    if (B <= 0 || L <= 0) return;
    int hs = H / nh;
    float div = sqrtf((float)hs);
    long long LL = (long long)L * L, Lq = (long long)L * 3 * H, LH = (long long)L * H;
    size_t per_seq = (size_t)nh * LL * sizeof(float);
    int chunk = (int)(MASKED_SCRATCH_BYTES / per_seq);
    if (chunk < 1) chunk = 1;
    if (chunk > B) chunk = B;
    float *s = (float *)cu_ws(be, CU_WS_SCRATCH, (size_t)chunk * per_seq);
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        const float *q = qkv + (size_t)b0 * Lq;
        cu_gemm_bh(be, 0, 1, L, L, hs, 1.0f, q, 3 * H, Lq, hs, q + H, 3 * H, Lq, hs, 0.0f, s, L,
                   nh * LL, LL, nb, nh);
        int rows = nb * nh * L;
        masked_softmax_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, cu_stream(be)>>>(
            s, mask, rows, L, nh, b0, div);
        CU_AFTER(be);
        cu_gemm_bh(be, 0, 0, L, hs, L, 1.0f, s, L, nh * LL, LL, q + 2 * H, 3 * H, Lq, hs, 0.0f,
                   out + (size_t)b0 * LH, H, LH, hs, nb, nh);
    }
}

// s[row, j] += qp[row, r(i, j)] + kp[b, h, j, r(i, j)] for the rows of a
// chunk (row = (b * nh + h) * L + i); qp / kp NULL: that term is off.
__global__ static void add_rel_kernel(float *s, const float *qp, const float *kp, long long n,
                                      int L, int S) {
    long long x = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (x >= n) return;
    int j = (int)(x % L);
    long long row = x / L;
    int i = (int)(row % L);
    long long bh = row / L;
    int R = 2 * S, r = dsq_rel_row(i, j, S);
    float v = s[x];
    if (qp) v += qp[row * R + r];
    if (kp) v += kp[(bh * L + j) * R + r];
    s[x] = v;
}

void cu_attention_rel_fwd(dsq_backend *be, float *out, const float *qkv, const float *pk,
                          const float *pq, const float *mask, int B, int L, int nh, int H,
                          int S) {
    if (B <= 0 || L <= 0) return;
    int hs = H / nh, R = 2 * S;
    float div = sqrtf((float)hs * (float)(1 + (pk != NULL) + (pq != NULL)));
    long long LL = (long long)L * L, LR = (long long)L * R, Lq = (long long)L * 3 * H,
              LH = (long long)L * H;
    size_t per_seq = (size_t)nh * (LL + 2 * LR) * sizeof(float);
    int chunk = (int)(MASKED_SCRATCH_BYTES / per_seq);
    if (chunk < 1) chunk = 1;
    if (chunk > B) chunk = B;
    float *s = (float *)cu_ws(be, CU_WS_SCRATCH, (size_t)chunk * per_seq);
    float *qp = s + (size_t)chunk * nh * LL, *kp = qp + (size_t)chunk * nh * LR;
    for (int b0 = 0; b0 < B; b0 += chunk) {
        int nb = B - b0 < chunk ? B - b0 : chunk;
        const float *q = qkv + (size_t)b0 * Lq;
        cu_gemm_bh(be, 0, 1, L, L, hs, 1.0f, q, 3 * H, Lq, hs, q + H, 3 * H, Lq, hs, 0.0f, s, L,
                   nh * LL, LL, nb, nh);
        // q pk^T and k pq^T: [L, 2S] per (sequence, head); pk is shared by the sequences
        if (pk)
            cu_gemm_bh(be, 0, 1, L, R, hs, 1.0f, q, 3 * H, Lq, hs, pk, H, 0, hs, 0.0f, qp, R,
                       nh * LR, LR, nb, nh);
        if (pq)
            cu_gemm_bh(be, 0, 1, L, R, hs, 1.0f, q + H, 3 * H, Lq, hs, pq, H, 0, hs, 0.0f, kp, R,
                       nh * LR, LR, nb, nh);
        long long n = (long long)nb * nh * LL;
        add_rel_kernel<<<cu_grid((size_t)n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
            s, pk ? qp : NULL, pq ? kp : NULL, n, L, S);
        CU_AFTER(be);
        int rows = nb * nh * L;
        masked_softmax_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, cu_stream(be)>>>(
            s, mask, rows, L, nh, b0, div);
        CU_AFTER(be);
        cu_gemm_bh(be, 0, 0, L, hs, L, 1.0f, s, L, nh * LL, LL, q + 2 * H, 3 * H, Lq, hs, 0.0f,
                   out + (size_t)b0 * LH, H, LH, hs, nb, nh);
    }
}
