/* The backend interface: a table of operations on device buffers.
 *
 * Model code (lib/model/: layers, model, diffusion, training, sampling) is
 * written once against this table; kernels/cpu/ implements it with
 * OpenBLAS and OpenMP, kernels/cuda/ with cuBLAS and CUDA kernels, one file
 * per family of operations with the same name on both.
 * Buffers are device pointers: model code passes them around and never
 * dereferences them (on the CPU backend they happen to be host memory,
 * which only tests exploit).  Host data crosses only through upload /
 * download.  Operations are issued in order on one implicit stream; a
 * download is synchronous with respect to everything issued before it.
 *
 * Conventions, as in llm.c: outputs first, then inputs, then weights, then
 * sizes.  Every backward operation ACCUMULATES (+=) into all of its
 * gradient outputs (parameters and activations alike), so callers zero
 * gradient buffers once and residual branches simply add up.  A NULL
 * gradient output means "not wanted".  Shapes are row-major; [N, C] means
 * N rows of C contiguous floats.  Forward outputs are overwritten, and an
 * output may alias its input only where a comment says so.
 *
 * Random numbers (dropout, Gaussian noise) come from Philox4x32-10 keyed by
 * (seed, offset) with the element index as counter (lib/base/philox.h), so they
 * do not depend on threads or launch shapes; the backward of a dropout
 * regenerates its mask from the same (seed, offset). */
#ifndef DSQ_BACKEND_H
#define DSQ_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct dsq_backend dsq_backend;

/* Arithmetic of matrix products (set_precision): fp32, or operands in a
 * 16-bit format with fp32 accumulation. */
enum { DSQ_PREC_FP32 = 0, DSQ_PREC_BF16 = 1, DSQ_PREC_FP16 = 2 };

struct dsq_backend {
    const char *name;  /* "cpu", "cuda" */
    void *impl;        /* backend-private state */

    /* ---- memory ---------------------------------------------------- */
    /* Zero-filled device buffer of `bytes` bytes (64-byte aligned); never
     * returns NULL (allocation failure is fatal, like xmalloc). */
    void *(*alloc)(dsq_backend *be, size_t bytes);
    void (*free)(dsq_backend *be, void *p);
    void (*upload)(dsq_backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(dsq_backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(dsq_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(dsq_backend *be, void *p, size_t bytes);
    void (*sync)(dsq_backend *be);
    /* Releases the backend itself (after all buffers are freed). */
    void (*destroy)(dsq_backend *be);

    /* ---- GEMM -------------------------------------------------------- */
    /* Row-major, strided batched: for i in 0..batch-1,
     *   C_i[m,n] = alpha * op(A_i)[m,k] @ op(B_i)[k,n] + beta * C_i
     * with X_i = X + i * stride_x and op(X) = X^T when trans_x is set
     * (A is then stored [k, m], lda >= m).  beta = 0 ignores C's contents. */
    void (*gemm)(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k,
                 float alpha, const float *a, int lda, long long stride_a,
                 const float *b, int ldb, long long stride_b,
                 float beta, float *c, int ldc, long long stride_c, int batch);

    /* The arithmetic of every later gemm call (model code's, and those
     * inside attention, xent and the inference operations): DSQ_PREC_FP32
     * (the default: true fp32), DSQ_PREC_BF16 or DSQ_PREC_FP16: op(A) and
     * op(B) rounded to that format (to nearest, ties to even; fp16
     * overflows to inf; an intermediate such as attention's probabilities
     * where a product reads it), products accumulated in fp32 (tensor
     * cores on a GPU); C, alpha, beta and every buffer stay fp32, and so
     * does everything that is not a GEMM.  For training and decoding
     * (--precision); BERTScore's inference operations are not meant to
     * run under it. */
    void (*set_precision)(dsq_backend *be, int prec);

    /* ---- bias and sums -------------------------------------------------- */
    /* out[N,C] += bias[C] (broadcast over rows). */
    void (*bias_add)(dsq_backend *be, float *out, const float *bias, int N, int C);
    /* dbias[C] += sum over rows of dout[N,C]. */
    void (*bias_grad)(dsq_backend *be, float *dbias, const float *dout, int N, int C);
    /* out[n] = a[n] + b[n] (out may alias a or b). */
    void (*add)(dsq_backend *be, float *out, const float *a, const float *b, size_t n);
    /* dst[n] += alpha * src[n]. */
    void (*axpy)(dsq_backend *be, float *dst, float alpha, const float *src, size_t n);
    /* x[n] *= s. */
    void (*scale)(dsq_backend *be, float *x, float s, size_t n);
    /* out[0] = sum of x[i]^2, accumulated in double, stored as float. */
    void (*sumsq)(dsq_backend *be, float *out, const float *x, size_t n);

    /* ---- normalisation and pointwise nonlinearities ------------------- */
    /* PyTorch LayerNorm over the last dim: biased variance, eps inside the
     * square root.  out[N,C], mean[N], rstd[N] (saved for backward),
     * inp[N,C], weight[C], bias[C]. */
    void (*layernorm_fwd)(dsq_backend *be, float *out, float *mean, float *rstd,
                          const float *inp, const float *weight, const float *bias,
                          int N, int C, float eps);
    /* dinp[N,C] +=, dweight[C] +=, dbias[C] +=. */
    void (*layernorm_bwd)(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                          const float *dout, const float *inp, const float *weight,
                          const float *mean, const float *rstd, int N, int C);
    /* Pointwise forwards below (GELU, tanh, SiLU) allow out == inp.
     * Exact GELU, x/2 (1 + erf(x/sqrt 2)). */
    void (*gelu_fwd)(dsq_backend *be, float *out, const float *inp, size_t n);
    void (*gelu_bwd)(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
    /* tanh; the backward uses the forward OUTPUT (1 - y^2). */
    void (*tanh_fwd)(dsq_backend *be, float *out, const float *inp, size_t n);
    void (*tanh_bwd)(dsq_backend *be, float *dinp, const float *out, const float *dout, size_t n);
    /* SiLU x * sigmoid(x); the backward uses the forward INPUT. */
    void (*silu_fwd)(dsq_backend *be, float *out, const float *inp, size_t n);
    void (*silu_bwd)(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
    /* Row softmax of scale * inp: out[rows,cols]. */
    void (*softmax_fwd)(dsq_backend *be, float *out, const float *inp, int rows, int cols,
                        float scale);
    /* dinp[rows,cols] += d/d inp, from the forward output. */
    void (*softmax_bwd)(dsq_backend *be, float *dinp, const float *out, const float *dout,
                        int rows, int cols, float scale);

    /* ---- attention ------------------------------------------------------ */
    /* Multi-head self-attention without mask, BERT layout.  qkv[B,L,3H]
     * holds q | k | v per position (head h uses columns h*hs..(h+1)*hs-1 of
     * each, hs = H/nh).  att[B,nh,L,L] = softmax(q k^T / sqrt(hs)) is saved;
     * when p > 0, attd[B,nh,L,L] = dropout(att) with Philox stream
     * (seed, off) over the att elements in order (attd may be NULL when
     * p == 0).  out[B,L,H] = attd v, heads concatenated. */
    void (*attention_fwd)(dsq_backend *be, float *out, float *att, float *attd,
                          const float *qkv, int B, int L, int nh, int H,
                          float p, uint64_t seed, uint64_t off);
    /* dqkv[B,L,3H] +=; datt[B,nh,L,L] is scratch (overwritten). */
    void (*attention_bwd)(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                          const float *qkv, const float *att, const float *attd,
                          int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off);

    /* BERT self-attention with a key padding mask, forward only (inference:
     * nothing is saved, no dropout).  qkv[B,L,3H] and out[B,L,H] as in
     * attention_fwd; mask[B,L] (floats on the device): key l of sequence b
     * takes part where mask[b,l] != 0 and gets probability exactly 0
     * elsewhere, as BERT's additive mask of the float minimum does once
     * exp underflows.  Rows of padded queries are computed like the others.
     * May be NULL in a backend that lacks it (kernels/cpu/attn.c). */
    void (*attention_masked_fwd)(dsq_backend *be, float *out, const float *qkv,
                                 const float *mask, int B, int L, int nh, int H);
    /* DeBERTa v1's disentangled self-attention: attention_masked_fwd with
     * the scores, per head (hs = H / nh columns of each operand),
     *   s(i,j) = (q_i.k_j + q_i.pk[r] + k_j.pq[r]) / sqrt(hs * (1 + c2p + p2c)),
     *   r = clamp(i - j + S, 0, 2S - 1)
     * where pk[2S, H] / pq[2S, H] are the position keys (c2p) / queries
     * (p2c) of the relative distances -S..S-1 (DebertaModel's rel_embeddings
     * rows max_rel - S .. max_rel + S - 1 through pos_proj / pos_q_proj);
     * either may be NULL (its term is off: c2p / p2c = 0).  May be NULL in
     * a backend that lacks it. */
    void (*attention_rel_fwd)(dsq_backend *be, float *out, const float *qkv, const float *pk,
                              const float *pq, const float *mask, int B, int L, int nh, int H,
                              int S);
    /* out[N,OC] = act(inp[N,C] @ weight[OC,C]^T + bias[OC]) (torch Linear;
     * bias may be NULL; act 0: none, 1: exact GELU as PyTorch's vectorised
     * CPU kernel computes it, erf by Abramowitz-Stegun 7.1.26, within 2e-7
     * of erff), cut into blocks of rows fixed by N alone, so that the result
     * does not depend on the thread count (gemm's split does).  Inference
     * only; may be NULL (layers.h's linear and gelu_fwd are used then). */
    void (*linear_fixed_fwd)(dsq_backend *be, float *out, const float *inp,
                             const float *weight, const float *bias, int N, int C, int OC,
                             int act);

    /* ---- embeddings and model inputs --------------------------------------- */
    /* out[N,C] = table[ids[n], :]; ids[N] int32 in [0, V). */
    void (*embedding_fwd)(dsq_backend *be, float *out, const int32_t *ids,
                          const float *table, int N, int C, int V);
    /* dtable[V,C] += scatter of dout[N,C] by ids, deterministic (each row
     * sums its contributions in increasing n). */
    void (*embedding_bwd)(dsq_backend *be, float *dtable, const int32_t *ids,
                          const float *dout, int N, int C, int V);
    /* Sinusoidal time embedding, the reference's timestep_embedding in
     * float32: half = dim/2, f_j = exp(-ln(10000) * j / half),
     * out[b] = [cos(t_b f), sin(t_b f)] (a zero column when dim is odd).
     * t[B] are the (rescaled) timesteps as floats. */
    void (*timestep_embedding)(dsq_backend *be, float *out, const float *t, int B, int dim);
    /* out[B,L,C] = x[B,L,C] + tv[B,C] (broadcast over L) + pos[L,C]
     * (broadcast over B).  out may alias x. */
    void (*add_time_pos_fwd)(dsq_backend *be, float *out, const float *x, const float *tv,
                             const float *pos, int B, int L, int C);
    /* dx[B,L,C] +=, dtv[B,C] +=, dpos[L,C] += (each may be NULL). */
    void (*add_time_pos_bwd)(dsq_backend *be, float *dx, float *dtv, float *dpos,
                             const float *dout, int B, int L, int C);

    /* ---- vocabulary cross-entropy ------------------------------------------ */
    /* Fused, chunked CE of logits = z[N,d] @ W[V,d]^T + bias[V] against
     * ids[N] (PyTorch CrossEntropyLoss per row, reduction none): the [N, V]
     * logits are never held, only [chunk, V] at a time (chunk rows; 0 = the
     * backend's choice).  loss[N] is overwritten (may be NULL).  When gscale
     * is non-NULL, the gradient of sum_n gscale[n] * loss[n] (gscale[N] on
     * the device) is accumulated into dz[N,d], dW[V,d], dbias[V] (each may
     * be NULL). */
    void (*xent)(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias,
                 const float *z, const float *W, const float *bias, const int32_t *ids,
                 const float *gscale, int N, int d, int V, int chunk);

    /* ---- vocabulary search ----------------------------------------------- */
    /* Running row-wise best of a block of scores, for searches over the
     * vocabulary in chunks of columns (lib/model/sample_round.c: nearest
     * embedding, add = |E_v|^2 and scores = -2 z.E_v; logits argmax, add =
     * the bias).  For each row r < N, over val[c] = scores[r, c] + add[c]
     * (scores[N, C], add[C]; the block's columns are global indices
     * col0 .. col0 + C - 1):
     *   sign < 0: the smallest val, sign > 0: the largest;
     * best[N] (float) and idx[N] (int32) carry the best so far from block
     * to block: col0 == 0 starts them afresh (their contents ignored),
     * col0 > 0 replaces them only by a strictly better val.  So the lowest
     * index wins ties, the result does not depend on how the vocabulary is
     * cut, and NaN counts as the worst value (a row of only NaN gets index
     * 0).  Deterministic. */
    void (*row_best)(dsq_backend *be, float *best, int32_t *idx, const float *scores,
                     const float *add, int N, int C, int col0, int sign);

    /* ---- diffusion losses ------------------------------------------------ */
    /* Partial noising of B sequences of L positions of width d
     * (doc/model-and-training.md §3, steps 3-5).  Per position (b, l):
     *   v = ca[b] * x0 + cb[b] * eps                       (mean == NULL)
     *   v = ca[b] * (x0 - mean) + cb[b] * eps + mean        (v2 mean embedding)
     *   v = mean where dmask[b,l] != 0                      (v2 --denoise)
     *   xt = x0 where mask[b,l] == 0 (source), else v.
     * ca[B], cb[B] per-sequence coefficients, mask[B,L] and dmask[B,L]
     * (may be NULL) floats, mean[d]; all on the device. */
    void (*q_sample_fwd)(dsq_backend *be, float *xt, const float *x0, const float *eps,
                         const float *mean, const float *ca, const float *cb,
                         const float *mask, const float *dmask, int B, int L, int d);
    /* dx0[B,L,d] +=, dmean[d] += (may be NULL), from dxt[B,L,d]. */
    void (*q_sample_bwd)(dsq_backend *be, float *dx0, float *dmean, const float *dxt,
                         const float *ca, const float *mask, const float *dmask,
                         int B, int L, int d);
    /* Per-sequence mean squared error: loss[b] = mean over the n entries of
     * row b of (sx * x - y)^2, y == NULL meaning 0; x, y [B, n]. */
    void (*sqerr_fwd)(dsq_backend *be, float *loss, const float *x, const float *y,
                      float sx, int B, int n);
    /* Gradient of sum_b gscale[b] * loss[b]: dx[B,n] +=, dy[B,n] += (either
     * may be NULL). */
    void (*sqerr_bwd)(dsq_backend *be, float *dx, float *dy, const float *gscale,
                      const float *x, const float *y, float sx, int B, int n);

    /* ---- randomness ---------------------------------------------------- */
    /* Inverted dropout: out[i] = inp[i] / (1-p) if u_i >= p else 0, with u_i
     * element i of Philox stream (seed, off).  out may alias inp. */
    void (*dropout_fwd)(dsq_backend *be, float *out, const float *inp, size_t n,
                        float p, uint64_t seed, uint64_t off);
    /* dinp[i] += dout[i] / (1-p) where kept. */
    void (*dropout_bwd)(dsq_backend *be, float *dinp, const float *dout, size_t n,
                        float p, uint64_t seed, uint64_t off);
    /* out[i] = element i of the normal stream (seed, off) (philox.h). */
    void (*randn)(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off);

    /* ---- optimiser ------------------------------------------------------ */
    /* One PyTorch AdamW step (torch.optim.AdamW, single-tensor path) on n
     * parameters; step is the 1-based step count after increment:
     *   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
     *   p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). */
    void (*adamw)(dsq_backend *be, float *param, const float *grad, float *m, float *v,
                  size_t n, float lr, float beta1, float beta2, float eps, float wd, int step);
    /* ema = rate * ema + (1 - rate) * param. */
    void (*ema)(dsq_backend *be, float *ema, const float *param, size_t n, float rate);

    /* ---- collectives among data-parallel processes (optional) -------- */
    /* NULL where the backend has none (the CPU; CUDA built without NCCL):
     * the caller then sums through host memory (dist.h).  comm_name says
     * what they use ("nccl 2.28.3").  Set-up is collective: rank 0's
     * comm_id fills DSQ_COMM_ID_BYTES bytes that the caller gives every
     * rank, then every rank calls comm_init with it, its rank and the number
     * of ranks (0, or an error in e).  comm_sum: x (n floats of device
     * memory) becomes the sum over the ranks, in place; it runs after the
     * work queued before it and before the work queued after.  A failure
     * there, this rank's or another's, stops this process (DSQ_EFAIL) with
     * a message naming its rank: every rank stops, none waits forever. */
    const char *comm_name;
    int (*comm_id)(dsq_backend *be, void *id, dsq_err *e);
    int (*comm_init)(dsq_backend *be, const void *id, int rank, int size, dsq_err *e);
    void (*comm_sum)(dsq_backend *be, float *x, size_t n);
};

/* The size of a communicator's id (ncclUniqueId's). */
enum { DSQ_COMM_ID_BYTES = 128 };

/* The CPU backend (OpenBLAS + OpenMP).  Free with be->destroy(be). */
dsq_backend *dsq_backend_cpu(void);

#endif
