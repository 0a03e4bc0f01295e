/* Private to the CPU backend (kernels/cpu/): the operations its files
 * implement, gathered into the dsq_backend table by core.c, and the helpers
 * they share.  One file per family of operations, the same stems as the
 * CUDA backend's (kernels/cuda/).  Model code uses backend.h. */
#ifndef DSQ_BACKEND_CPU_H
#define DSQ_BACKEND_CPU_H

#include <stdint.h>

#include "backend.h"
#include "numerics.h"

/* For loops of float math: GCC 12 vectorises them only when told that
 * float operations do not trap (so a select may be if-converted) and with
 * the dynamic cost model (the Makefile's, but not -O2's "very cheap" one,
 * which leaves loops of unknown trip count scalar).  Helpers they call
 * need the same attribute, or GCC will not inline them: the shared
 * formulas of numerics.h carry it. */
#define VEC_MATH DSQ_VEC_MATH

/* Row loops that are most of an operation's non-GEMM time also get AVX2
 * and AVX-512 versions, chosen at load time for the CPU (GCC function
 * multi-versioning): a default build targets baseline x86-64, whose SSE2
 * vectors hold only 4 floats.  The clones add no FMA, so elementwise
 * results are the same in every version. */
#if defined(__x86_64__) && defined(__GNUC__)
#define VEC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VEC_CLONES
#endif

/* Long elementwise loops run as blocks of CPU_BLK floats in parallel, one
 * call of a VEC_CLONES VEC_MATH range function per block (the body of an
 * OpenMP loop is a function of its own, without the attributes). */
#define CPU_BLK ((size_t)1 << 14)
static inline size_t cpu_nblk(size_t n) { return (n + CPU_BLK - 1) / CPU_BLK; }
static inline size_t cpu_blk_len(size_t b, size_t n) {
    return n - b * CPU_BLK < CPU_BLK ? n - b * CPU_BLK : CPU_BLK;
}

/* core.c: scratch buffers that live as long as the backend, so a
 * training step allocates nothing.  Returns slot's buffer grown to at least
 * n floats (contents undefined).  One user per slot at a time: the
 * operations that use one are not called concurrently.  The _LOWP slots
 * hold operands rounded for 16-bit GEMM arithmetic (prec.c), used only
 * under bf16 / fp16. */
enum {
    CPU_SCRATCH_XENT,       /* [chunk, V] logits, then their gradient */
    CPU_SCRATCH_XENT_BIAS,  /* per-thread bias gradients */
    CPU_SCRATCH_LOWP_A,     /* xent: W; attention: qkv */
    CPU_SCRATCH_LOWP_B,     /* xent: a chunk of z; attention: dout */
    CPU_SCRATCH_LOWP_T,     /* attention: per-thread [L, L] */
    CPU_SCRATCH_SLOTS
};
float *cpu_scratch(dsq_backend *be, int slot, size_t n);

/* The backend's state (be->impl). */
typedef struct {
    float *buf[CPU_SCRATCH_SLOTS];
    size_t cap[CPU_SCRATCH_SLOTS];
    int prec;  /* DSQ_PREC_*: the GEMM arithmetic (set_precision) */
} cpu_state;

/* core.c: the fp32 GEMM (the table's gemm by default). */
void cpu_gemm(dsq_backend *be, int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, long long stride_a, const float *b, int ldb,
              long long stride_b, float beta, float *c, int ldc, long long stride_c, int batch);

/* sum.c: bias, pointwise sums, the sum of squares. */
void cpu_bias_add(dsq_backend *be, float *out, const float *bias, int N, int C);
void cpu_bias_grad(dsq_backend *be, float *dbias, const float *dout, int N, int C);
void cpu_add(dsq_backend *be, float *out, const float *a, const float *b, size_t n);
void cpu_axpy(dsq_backend *be, float *dst, float alpha, const float *src, size_t n);
void cpu_scale(dsq_backend *be, float *x, float s, size_t n);
void cpu_sumsq(dsq_backend *be, float *out, const float *x, size_t n);

/* nn.c: normalisation, nonlinearities, softmax, dropout, fixed-block linear. */
void cpu_layernorm_fwd(dsq_backend *be, float *out, float *mean, float *rstd,
                       const float *inp, const float *weight, const float *bias,
                       int N, int C, float eps);
void cpu_layernorm_bwd(dsq_backend *be, float *dinp, float *dweight, float *dbias,
                       const float *dout, const float *inp, const float *weight,
                       const float *mean, const float *rstd, int N, int C);
void cpu_gelu_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
/* The GELU of gelu_fwd and linear_fixed_fwd's act 1 on n floats, single
 * threaded (out may alias inp). */
void cpu_gelu_as_torch(float *out, const float *inp, size_t n);
void cpu_gelu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
void cpu_tanh_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
void cpu_tanh_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout, size_t n);
void cpu_silu_fwd(dsq_backend *be, float *out, const float *inp, size_t n);
void cpu_silu_bwd(dsq_backend *be, float *dinp, const float *inp, const float *dout, size_t n);
void cpu_softmax_fwd(dsq_backend *be, float *out, const float *inp, int rows, int cols,
                     float scale);
void cpu_softmax_bwd(dsq_backend *be, float *dinp, const float *out, const float *dout,
                     int rows, int cols, float scale);
/* One row of the softmax backward, single threaded: dx[cols] (=, or +=
 * when accumulate) d/d x of softmax(scale * x) from its output y and the
 * gradient g; dx may alias g (attention's backward uses it in place). */
void cpu_softmax_row_bwd(float *dx, int accumulate, const float *y, const float *g, int cols,
                         float scale);
void cpu_dropout_fwd(dsq_backend *be, float *out, const float *inp, size_t n,
                     float p, uint64_t seed, uint64_t off);
void cpu_dropout_bwd(dsq_backend *be, float *dinp, const float *dout, size_t n,
                     float p, uint64_t seed, uint64_t off);
void cpu_linear_fixed_fwd(dsq_backend *be, float *out, const float *inp,
                          const float *weight, const float *bias, int N, int C, int OC,
                          int act);

/* attn.c: attention (training), masked attention (BERTScore inference). */
void cpu_attention_fwd(dsq_backend *be, float *out, float *att, float *attd,
                       const float *qkv, int B, int L, int nh, int H,
                       float p, uint64_t seed, uint64_t off);
void cpu_attention_bwd(dsq_backend *be, float *dqkv, float *datt, const float *dout,
                       const float *qkv, const float *att, const float *attd,
                       int B, int L, int nh, int H, float p, uint64_t seed, uint64_t off);
void cpu_attention_masked_fwd(dsq_backend *be, float *out, const float *qkv,
                              const float *mask, int B, int L, int nh, int H);
void cpu_attention_rel_fwd(dsq_backend *be, float *out, const float *qkv, const float *pk,
                           const float *pq, const float *mask, int B, int L, int nh, int H,
                           int S);

/* xent.c: fused chunked vocabulary cross-entropy. */
void cpu_xent(dsq_backend *be, float *loss, float *dz, float *dW, float *dbias,
              const float *z, const float *W, const float *bias, const int32_t *ids,
              const float *gscale, int N, int d, int V, int chunk);

/* inputs.c: embeddings and the model inputs. */
void cpu_embedding_fwd(dsq_backend *be, float *out, const int32_t *ids,
                       const float *table, int N, int C, int V);
void cpu_embedding_bwd(dsq_backend *be, float *dtable, const int32_t *ids,
                       const float *dout, int N, int C, int V);
void cpu_timestep_embedding(dsq_backend *be, float *out, const float *t, int B, int dim);
void cpu_add_time_pos_fwd(dsq_backend *be, float *out, const float *x, const float *tv,
                          const float *pos, int B, int L, int C);
void cpu_add_time_pos_bwd(dsq_backend *be, float *dx, float *dtv, float *dpos,
                          const float *dout, int B, int L, int C);

/* optim.c: AdamW and the EMA. */
void cpu_adamw(dsq_backend *be, float *param, const float *grad, float *m, float *v,
               size_t n, float lr, float beta1, float beta2, float eps, float wd, int step);
void cpu_ema(dsq_backend *be, float *ema, const float *param, size_t n, float rate);

/* prec.c: 16-bit GEMM arithmetic by rounding the operands (set_precision
 * swaps the table's gemm), and the roundings themselves. */
void cpu_set_precision(dsq_backend *be, int prec);
float dsq_round_bf16(float x);  /* to nearest bfloat16, ties to even */
float dsq_round_fp16(float x);  /* to nearest IEEE half, ties to even, inf beyond */
/* The GEMM arithmetic set by set_precision (DSQ_PREC_*).  The operations
 * that call sgemm themselves (attention, xent, linear_fixed_fwd) round
 * their operands with the functions below when it is not DSQ_PREC_FP32,
 * each buffer once where several products read it; under fp32 they run
 * the plain products. */
static inline int cpu_prec(dsq_backend *be) { return ((cpu_state *)be->impl)->prec; }
/* dst[n] = src[n] rounded to prec's 16-bit format (dst may be src):
 * cpu_round single-threaded (inside parallel loops), cpu_round_par over
 * the threads (whole buffers). */
void cpu_round(int prec, float *dst, const float *src, size_t n);
void cpu_round_par(int prec, float *dst, const float *src, size_t n);
/* dst[rows, cols] (contiguous) = src[rows, cols] (rows ld apart), rounded;
 * single-threaded. */
void cpu_round_mat(int prec, float *dst, const float *src, int rows, int cols, int ld);

/* round.c: the running row-wise best of vocabulary scores. */
void cpu_row_best(dsq_backend *be, float *best, int32_t *idx, const float *scores,
                  const float *add, int N, int C, int col0, int sign);

/* diff.c: Gaussian noise, partial noising, per-sequence squared errors. */
void cpu_randn(dsq_backend *be, float *out, size_t n, uint64_t seed, uint64_t off);
void cpu_q_sample_fwd(dsq_backend *be, float *xt, const float *x0, const float *eps,
                      const float *mean, const float *ca, const float *cb,
                      const float *mask, const float *dmask, int B, int L, int d);
void cpu_q_sample_bwd(dsq_backend *be, float *dx0, float *dmean, const float *dxt,
                      const float *ca, const float *mask, const float *dmask,
                      int B, int L, int d);
void cpu_sqerr_fwd(dsq_backend *be, float *loss, const float *x, const float *y,
                   float sx, int B, int n);
void cpu_sqerr_bwd(dsq_backend *be, float *dx, float *dy, const float *gscale,
                   const float *x, const float *y, float sx, int B, int n);

#endif
