/* CPU-vs-CUDA parity of every operation of include/dsq/backend.h, then of the
 * whole model (check_model.c): each operation runs on the CPU backend (the
 * reference) and on the CUDA backend on the same fresh random inputs
 * (never zeros), with overwritten outputs poisoned with NaN first and
 * accumulated (+=) outputs starting from the same random values.  One line
 * per check: "PASS name: rel E ..." or "FAIL name: ...", rel being
 * ||cuda - cpu|| / ||cpu||.  Tolerances: 1e-5 pointwise and reductions,
 * 1e-4 with a matrix product, 1e-6 for dropout and normal draws and for
 * the formulas both sides take from kernels/numerics.h (bitwise
 * expected), 1e-2 for a GEMM with bf16 / fp16 operands (set_precision,
 * both sides rounding; the operations built on GEMMs stay at 1e-4, see
 * tol_gemm); a NaN or Inf never passes.
 *
 * usage: check_ops [ops|model]   (default both)
 * exit: 0 all passed, 1 a failure, 77 skipped (no CUDA build or no GPU).
 * DSQ_CUDA_DEVICE picks the device (0); DSQ_CUDA_SYNC defaults to 1 here
 * so that a failing kernel is reported at its own file:line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cuda.h"
#include "err.h"
#include "pair.h"
#include "philox.h"
#include "sample.h"
#include "util.h"
#ifdef DSQ_HAVE_CUDA
#include "cuda_device.h"
#endif

void check_model(void);  /* check_model.c */

static char nm[256];
#define NAME(...) (snprintf(nm, sizeof nm, __VA_ARGS__), nm)

static uint64_t stream_id = 1000;  /* a fresh input stream per tensor */
static uint64_t fresh(void) { return stream_id++; }

/* ---- memory ---------------------------------------------------------------- */

static void check_memory(void) {
    size_t n = 1000;
    pair p = pr_new(n);
    float *z = pr_get(gpu, p);
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= z[i] == 0.0f;
    free(z);
    check_true("alloc: zero-filled", zero, "a fresh buffer holds non-zero bytes");
    pr_randn(p, 1.0f, fresh());
    check_pair("upload / download round trip", p, 0.0);
    cpu->copy(cpu, p.c + 10, p.c, 500 * sizeof(float));
    gpu->copy(gpu, p.g + 10, p.g, 500 * sizeof(float));
    check_pair("copy, overlapping forwards (memmove)", p, 0.0);
    cpu->copy(cpu, p.c, p.c + 7, 600 * sizeof(float));
    gpu->copy(gpu, p.g, p.g + 7, 600 * sizeof(float));
    check_pair("copy, overlapping backwards (memmove)", p, 0.0);
    cpu->zero(cpu, p.c + 3, 100 * sizeof(float));
    gpu->zero(gpu, p.g + 3, 100 * sizeof(float));
    check_pair("zero of a range", p, 0.0);
    gpu->sync(gpu);
    pr_free(&p);
}

/* ---- GEMM ---------------------------------------------------------------------- */

/* GEMM arithmetic of both backends (set_precision) and the tolerance that
 * goes with it: with bf16 / fp16 operands the two sides round the same
 * inputs the same way (to nearest even) but may sum in another order, and
 * an input that differs in its last fp32 bit can round to a neighbouring
 * 16-bit number. */
static int prec = DSQ_PREC_FP32;
static const char *prec_names[] = {"", " [bf16]", " [fp16]"};
static double tol_gemm(void) { return prec == DSQ_PREC_FP32 ? TOL_GEMM : TOL_LOWP; }
/* The operations with products inside (attention, masked attention,
 * linear_fixed_fwd, xent) are held to TOL_GEMM under bf16 / fp16 as under
 * fp32: both backends round the same operands the same way (the CPU
 * rounds qkv, dout, att and d scores, z, W and the logits' gradient
 * before its sgemm calls; cuBLAS down-converts them), and what can differ
 * is the order of fp32 sums and so the rare 16-bit neighbour an
 * intermediate (att, d scores, the gradient) rounds to.  Measured in the
 * emulation (check_lowp's cases): attention forward and backward and
 * masked attention bitwise equal in both formats; xent loss up to 7.7e-8,
 * dz 6.2e-7 (bf16) and 7.4e-6 (fp16), dW 4.0e-7 and 4.3e-6, dbias 3.6e-7;
 * linear_fixed_fwd 5.7e-8.  When the CPU ran attention in fp32 (the
 * contract bug: CPU fp32 against CUDA bf16), attention differed by 2.2e-3
 * to 3.3e-3 forward and 9.2e-4 backward (fp16: 2.7e-4 to 4.1e-4, 1.4e-4):
 * above TOL_GEMM, so this catches it; TOL_LOWP (1e-2) did not. */
static void set_prec(int p) {
    prec = p;
    cpu->set_precision(cpu, p);
    gpu->set_precision(gpu, p);
}

static void check_gemm1(int ta, int tb, int M, int N, int K, int batch, float alpha, float beta,
                        int pad) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    long long sa = (long long)lda * (ta ? K : M), sb = (long long)ldb * (tb ? N : K);
    long long sc = (long long)ldc * M;
    pair A = pr_new(sa * batch), B = pr_new(sb * batch), C = pr_new(sc * batch);
    pr_randn(A, 1.0f, fresh());
    pr_randn(B, 1.0f, fresh());
    if (beta == 0.0f) pr_nan(C);  /* beta = 0 must ignore C, NaNs included */
    else pr_randn(C, 1.0f, fresh());
    float *c0 = pr_get(cpu, C);
    cpu->gemm(cpu, ta, tb, M, N, K, alpha, A.c, lda, sa, B.c, ldb, sb, beta, C.c, ldc, sc, batch);
    gpu->gemm(gpu, ta, tb, M, N, K, alpha, A.g, lda, sa, B.g, ldb, sb, beta, C.g, ldc, sc, batch);
    float *r = pr_get(cpu, C), *g = pr_get(gpu, C);
    size_t nl = (size_t)batch * M * N, k = 0;
    float *rl = xmalloc(nl * sizeof *rl), *gl = xmalloc(nl * sizeof *gl);
    int pad_ok = 1;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) {
                size_t at = (size_t)b * sc + (size_t)i * ldc + j;
                if (j < N) {
                    rl[k] = r[at];
                    gl[k++] = g[at];
                } else {
                    pad_ok &= !memcmp(&g[at], &c0[at], sizeof(float));
                }
            }
    check_vec(NAME("gemm%s ta=%d tb=%d %dx%dx%d batch %d alpha %g beta %g ld+%d",
                   prec_names[prec], ta, tb, M, N, K, batch, alpha, beta, pad), rl, gl, nl,
              tol_gemm());
    if (pad)
        check_true(NAME("gemm ta=%d tb=%d batch %d: padding of C untouched", ta, tb, batch),
                   pad_ok, "wrote outside the m x n block");
    free(rl); free(gl); free(r); free(g); free(c0);
    pr_free(&A); pr_free(&B); pr_free(&C);
}

static void check_gemm(void) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm1(ta, tb, 37, 29, 41, 1, 1.0f, 0.0f, 3);
            check_gemm1(ta, tb, 37, 29, 41, 3, 0.5f, 2.0f, 3);
            check_gemm1(ta, tb, 37, 29, 41, 3, 1.0f, 0.0f, 0);
        }
    check_gemm1(0, 1, 257, 300, 513, 1, 1.0f, 1.0f, 0);
    check_gemm1(1, 0, 300, 257, 513, 2, -2.0f, 0.0f, 1);
}

/* The GPU's 16-bit GEMM against the CPU's fp32 one: within TOL_LOWP, and
 * not equal to it (the setting is in effect). */
static void check_lowp_vs_fp32(int p, int M, int N, int K) {
    pair A = pr_new((size_t)M * K), B = pr_new((size_t)K * N), C = pr_new((size_t)M * N);
    pr_randn(A, 1.0f, fresh());
    pr_randn(B, 1.0f, fresh());
    pr_nan(C);
    cpu->set_precision(cpu, DSQ_PREC_FP32);
    gpu->set_precision(gpu, p);
    cpu->gemm(cpu, 0, 1, M, N, K, 1.0f, A.c, K, 0, B.c, K, 0, 0.0f, C.c, N, 0, 1);
    gpu->gemm(gpu, 0, 1, M, N, K, 1.0f, A.g, K, 0, B.g, K, 0, 0.0f, C.g, N, 0, 1);
    double rel = check_pair(NAME("gemm%s %dx%dx%d against the fp32 GEMM", prec_names[p], M, N, K),
                            C, TOL_LOWP);
    check_true(NAME("gemm%s %dx%dx%d: rounded (differs from fp32)", prec_names[p], M, N, K),
               rel > 1e-6, "equal to the fp32 product: the precision setting has no effect");
    set_prec(DSQ_PREC_FP32);
    pr_free(&A); pr_free(&B); pr_free(&C);
}

/* Every operation built on GEMMs under bf16 and fp16 arithmetic. */
static void check_attention1(int B, int L, int nh, int H, float p);
static void check_xent1(int N, int d, int V, int chunk, int grads);
static void check_masked1(int B, int L, int nh, int H, const int *lens);
static void check_linear_fixed1(int N, int C, int OC, int act, int with_bias);
static void check_lowp(void) {
    for (int p = DSQ_PREC_BF16; p <= DSQ_PREC_FP16; p++) {
        set_prec(p);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) check_gemm1(ta, tb, 37, 29, 41, 3, 0.5f, 2.0f, 3);
        check_gemm1(0, 1, 257, 300, 513, 1, 1.0f, 1.0f, 0);
        check_attention1(3, 19, 4, 64, 0.1f);
        check_attention1(2, 128, 12, 768, 0.1f);
        int lens[] = {19, 11, 0};
        check_masked1(3, 19, 4, 64, lens);
        check_linear_fixed1(300, 64, 96, 1, 1);
        check_xent1(50, 24, 1003, 7, 1);
        check_xent1(300, 128, 30522, 0, 1);
        set_prec(DSQ_PREC_FP32);
        check_lowp_vs_fp32(p, 257, 300, 513);
    }
}

/* ---- bias, sums, pointwise arithmetic -------------------------------------------- */

static void check_bias_sums(void) {
    int shapes[][2] = {{37, 75}, {1000, 75}, {300, 1003}};
    for (int s = 0; s < 3; s++) {
        int N = shapes[s][0], C = shapes[s][1];
        pair out = pr_new((size_t)N * C), bias = pr_new(C), db = pr_new(C);
        pr_randn(out, 1.0f, fresh());
        pr_randn(bias, 1.0f, fresh());
        cpu->bias_add(cpu, out.c, bias.c, N, C);
        gpu->bias_add(gpu, out.g, bias.g, N, C);
        check_pair(NAME("bias_add %dx%d", N, C), out, TOL_F32);
        pr_randn(db, 1.0f, fresh());
        cpu->bias_grad(cpu, db.c, out.c, N, C);
        gpu->bias_grad(gpu, db.g, out.g, N, C);
        check_pair(NAME("bias_grad %dx%d", N, C), db, TOL_F32);
        pr_free(&out); pr_free(&bias); pr_free(&db);
    }
    size_t n = 100003;
    pair a = pr_new(n), b = pr_new(n), o = pr_new(n), s = pr_new(1);
    pr_randn(a, 1.0f, fresh());
    pr_randn(b, 1.0f, fresh());
    pr_nan(o);
    cpu->add(cpu, o.c, a.c, b.c, n);
    gpu->add(gpu, o.g, a.g, b.g, n);
    check_pair("add", o, TOL_F32);
    cpu->add(cpu, a.c, a.c, b.c, n);
    gpu->add(gpu, a.g, a.g, b.g, n);
    check_pair("add, out aliasing a", a, TOL_F32);
    cpu->axpy(cpu, a.c, -0.37f, b.c, n);
    gpu->axpy(gpu, a.g, -0.37f, b.g, n);
    check_pair("axpy", a, TOL_F32);
    cpu->scale(cpu, a.c, 0.123f, n);
    gpu->scale(gpu, a.g, 0.123f, n);
    check_pair("scale", a, TOL_F32);
    size_t lens[] = {1, 1000, n, 4 * 65536 + 17};
    for (int i = 0; i < 4; i++) {
        pair x = pr_new(lens[i]);
        pr_randn(x, 1.0f, fresh());
        pr_nan(s);
        cpu->sumsq(cpu, s.c, x.c, lens[i]);
        gpu->sumsq(gpu, s.g, x.g, lens[i]);
        check_pair(NAME("sumsq n=%zu", lens[i]), s, TOL_F32);
        pr_free(&x);
    }
    pr_free(&a); pr_free(&b); pr_free(&o); pr_free(&s);
}

/* ---- LayerNorm, nonlinearities, softmax -------------------------------------------- */

static void check_layernorm1(int N, int C, float eps, int all_grads) {
    size_t n = (size_t)N * C;
    pair x = pr_new(n), w = pr_new(C), b = pr_new(C), out = pr_new(n), mean = pr_new(N),
         rstd = pr_new(N);
    pr_randn(x, 2.0f, fresh());
    pr_randn(w, 1.0f, fresh());
    pr_randn(b, 1.0f, fresh());
    pr_nan(out); pr_nan(mean); pr_nan(rstd);
    cpu->layernorm_fwd(cpu, out.c, mean.c, rstd.c, x.c, w.c, b.c, N, C, eps);
    gpu->layernorm_fwd(gpu, out.g, mean.g, rstd.g, x.g, w.g, b.g, N, C, eps);
    check_pair(NAME("layernorm_fwd %dx%d eps %g: out", N, C, eps), out, TOL_F32);
    check_pair(NAME("layernorm_fwd %dx%d: mean", N, C), mean, TOL_F32);
    check_pair(NAME("layernorm_fwd %dx%d: rstd", N, C), rstd, TOL_F32);
    pr_sync_from_cpu(mean);  /* the backward from the same saved statistics */
    pr_sync_from_cpu(rstd);
    pair dout = pr_new(n), dx = pr_new(n), dw = pr_new(C), db = pr_new(C);
    pr_randn(dout, 1.0f, fresh());
    pr_randn(dx, 1.0f, fresh());
    pr_randn(dw, 1.0f, fresh());
    pr_randn(db, 1.0f, fresh());
    cpu->layernorm_bwd(cpu, all_grads ? dx.c : NULL, dw.c, all_grads ? db.c : NULL, dout.c, x.c,
                       w.c, mean.c, rstd.c, N, C);
    gpu->layernorm_bwd(gpu, all_grads ? dx.g : NULL, dw.g, all_grads ? db.g : NULL, dout.g, x.g,
                       w.g, mean.g, rstd.g, N, C);
    if (all_grads) {
        check_pair(NAME("layernorm_bwd %dx%d: dinp", N, C), dx, TOL_F32);
        check_pair(NAME("layernorm_bwd %dx%d: dbias", N, C), db, TOL_F32);
    } else {
        check_pair(NAME("layernorm_bwd %dx%d, dinp and dbias NULL: dinp untouched", N, C), dx,
                   0.0);
    }
    check_pair(NAME("layernorm_bwd %dx%d: dweight", N, C), dw, TOL_F32);
    pair *all[] = {&x, &w, &b, &out, &mean, &rstd, &dout, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pr_free(all[i]);
}

/* Pointwise forward (kind 0 GELU, 1 tanh, 2 SiLU) of be. */
static void pw_fwd(dsq_backend *be, int kind, float *out, const float *inp, size_t n) {
    if (kind == 0) be->gelu_fwd(be, out, inp, n);
    else if (kind == 1) be->tanh_fwd(be, out, inp, n);
    else be->silu_fwd(be, out, inp, n);
}

/* Its backward; `a` is the forward input (GELU, SiLU) or output (tanh). */
static void pw_bwd(dsq_backend *be, int kind, float *dinp, const float *a, const float *dout,
                   size_t n) {
    if (kind == 0) be->gelu_bwd(be, dinp, a, dout, n);
    else if (kind == 1) be->tanh_bwd(be, dinp, a, dout, n);
    else be->silu_bwd(be, dinp, a, dout, n);
}

/* Forward into a poisoned output and in place; backward accumulating.
 * GELU and its derivative are kernels/numerics.h's on both sides (the CPU's
 * erf; CUDA's erff before): bitwise equal in the emulation, all 100,003
 * values forward and backward (with erff, rel 7.5e-8 forward, 6.2e-8
 * backward, 32% and 61% equal).  tanh and SiLU use each side's libm. */
static void check_pointwise(int kind) {
    static const char *names[] = {"gelu", "tanh", "silu"};
    const char *name = names[kind];
    double tol = kind == 0 ? TOL_SAME : TOL_F32;
    size_t n = 100003;
    pair x = pr_new(n), y = pr_new(n), g = pr_new(n), dx = pr_new(n);
    pr_randn(x, 2.0f, fresh());
    pr_nan(y);
    pw_fwd(cpu, kind, y.c, x.c, n);
    pw_fwd(gpu, kind, y.g, x.g, n);
    check_pair(NAME("%s_fwd", name), y, tol);
    pr_sync_from_cpu(y);
    pr_randn(g, 1.0f, fresh());
    pr_randn(dx, 1.0f, fresh());
    pw_bwd(cpu, kind, dx.c, kind == 1 ? y.c : x.c, g.c, n);
    pw_bwd(gpu, kind, dx.g, kind == 1 ? y.g : x.g, g.g, n);
    check_pair(NAME("%s_bwd", name), dx, tol);
    pw_fwd(cpu, kind, x.c, x.c, n);
    pw_fwd(gpu, kind, x.g, x.g, n);
    check_pair(NAME("%s_fwd in place", name), x, tol);
    pr_free(&x); pr_free(&y); pr_free(&g); pr_free(&dx);
}

static void check_softmax1(int rows, int cols, float scale) {
    size_t n = (size_t)rows * cols;
    pair x = pr_new(n), y = pr_new(n), g = pr_new(n), dx = pr_new(n);
    pr_randn(x, 3.0f, fresh());
    pr_nan(y);
    cpu->softmax_fwd(cpu, y.c, x.c, rows, cols, scale);
    gpu->softmax_fwd(gpu, y.g, x.g, rows, cols, scale);
    check_pair(NAME("softmax_fwd %dx%d scale %g", rows, cols, scale), y, TOL_F32);
    pr_sync_from_cpu(y);
    pr_randn(g, 1.0f, fresh());
    pr_randn(dx, 1.0f, fresh());
    cpu->softmax_bwd(cpu, dx.c, y.c, g.c, rows, cols, scale);
    gpu->softmax_bwd(gpu, dx.g, y.g, g.g, rows, cols, scale);
    check_pair(NAME("softmax_bwd %dx%d", rows, cols), dx, TOL_F32);
    cpu->softmax_fwd(cpu, x.c, x.c, rows, cols, scale);
    gpu->softmax_fwd(gpu, x.g, x.g, rows, cols, scale);
    check_pair(NAME("softmax_fwd %dx%d in place", rows, cols), x, TOL_F32);
    pr_free(&x); pr_free(&y); pr_free(&g); pr_free(&dx);
}

static void check_nn(void) {
    check_layernorm1(37, 768, 1e-12f, 1);
    check_layernorm1(37, 75, 1e-5f, 1);
    check_layernorm1(1000, 128, 1e-12f, 0);
    for (int kind = 0; kind < 3; kind++) check_pointwise(kind);
    check_softmax1(37, 75, 0.3f);
    check_softmax1(5, 3000, 1.0f);
    check_softmax1(300, 128, 0.125f);
}

/* ---- attention and the BERT inference operations ------------------------------------- */

static void check_attention1(int B, int L, int nh, int H, float p) {
    size_t natt = (size_t)B * nh * L * L, nq = (size_t)B * L * 3 * H, no = (size_t)B * L * H;
    pair qkv = pr_new(nq), out = pr_new(no), att = pr_new(natt), attd = pr_new(natt);
    pr_randn(qkv, 1.0f, fresh());
    pr_nan(out); pr_nan(att); pr_nan(attd);
    cpu->attention_fwd(cpu, out.c, att.c, p > 0 ? attd.c : NULL, qkv.c, B, L, nh, H, p, 5, 9);
    gpu->attention_fwd(gpu, out.g, att.g, p > 0 ? attd.g : NULL, qkv.g, B, L, nh, H, p, 5, 9);
    const char *pn = prec_names[prec];
    check_pair(NAME("attention_fwd%s B%d L%d nh%d H%d p%g: out", pn, B, L, nh, H, p), out,
               TOL_GEMM);
    check_pair(NAME("attention_fwd%s B%d L%d nh%d H%d p%g: att", pn, B, L, nh, H, p), att,
               TOL_GEMM);
    if (p > 0)
        check_pair(NAME("attention_fwd%s B%d L%d nh%d H%d p%g: attd", pn, B, L, nh, H, p), attd,
                   TOL_GEMM);
    pr_sync_from_cpu(att);
    if (p > 0) pr_sync_from_cpu(attd);
    pair dout = pr_new(no), dqkv = pr_new(nq), datt = pr_new(natt);
    pr_randn(dout, 1.0f, fresh());
    pr_randn(dqkv, 1.0f, fresh());
    pr_nan(datt);
    cpu->attention_bwd(cpu, dqkv.c, datt.c, dout.c, qkv.c, att.c, p > 0 ? attd.c : NULL, B, L,
                       nh, H, p, 5, 9);
    gpu->attention_bwd(gpu, dqkv.g, datt.g, dout.g, qkv.g, att.g, p > 0 ? attd.g : NULL, B, L,
                       nh, H, p, 5, 9);
    check_pair(NAME("attention_bwd%s B%d L%d nh%d H%d p%g: dqkv", pn, B, L, nh, H, p), dqkv,
               TOL_GEMM);
    pair *all[] = {&qkv, &out, &att, &attd, &dout, &dqkv, &datt};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pr_free(all[i]);
}

static void check_masked1(int B, int L, int nh, int H, const int *lens) {
    size_t nq = (size_t)B * L * 3 * H, no = (size_t)B * L * H;
    pair qkv = pr_new(nq), out = pr_new(no), mask = pr_new((size_t)B * L);
    pr_randn(qkv, 1.0f, fresh());
    pr_nan(out);
    float *hm = xmalloc((size_t)B * L * sizeof *hm);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) hm[b * L + l] = l < lens[b] ? 1.0f : 0.0f;
    pr_put(mask, hm);
    free(hm);
    cpu->attention_masked_fwd(cpu, out.c, qkv.c, mask.c, B, L, nh, H);
    gpu->attention_masked_fwd(gpu, out.g, qkv.g, mask.g, B, L, nh, H);
    check_pair(NAME("attention_masked_fwd%s B%d L%d nh%d H%d", prec_names[prec], B, L, nh, H),
               out, TOL_GEMM);
    pr_free(&qkv); pr_free(&out); pr_free(&mask);
}

/* DeBERTa's disentangled attention (float32 only: BERTScore's encoder runs
 * in float32): both terms, each alone; S below L (clamped distances) and
 * at L. */
static void check_rel1(int B, int L, int nh, int H, int S, const int *lens, int c2p, int p2c) {
    if (prec != DSQ_PREC_FP32) return;
    size_t nq = (size_t)B * L * 3 * H, no = (size_t)B * L * H, np = (size_t)2 * S * H;
    pair qkv = pr_new(nq), out = pr_new(no), mask = pr_new((size_t)B * L), pk = pr_new(np),
         pq = pr_new(np);
    pr_randn(qkv, 1.0f, fresh());
    pr_randn(pk, 1.0f, fresh());
    pr_randn(pq, 1.0f, fresh());
    pr_nan(out);
    float *hm = xmalloc((size_t)B * L * sizeof *hm);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) hm[b * L + l] = l < lens[b] ? 1.0f : 0.0f;
    pr_put(mask, hm);
    free(hm);
    cpu->attention_rel_fwd(cpu, out.c, qkv.c, c2p ? pk.c : NULL, p2c ? pq.c : NULL, mask.c, B, L,
                           nh, H, S);
    gpu->attention_rel_fwd(gpu, out.g, qkv.g, c2p ? pk.g : NULL, p2c ? pq.g : NULL, mask.g, B, L,
                           nh, H, S);
    check_pair(NAME("attention_rel_fwd B%d L%d nh%d H%d S%d c2p%d p2c%d", B, L, nh, H, S, c2p,
                    p2c),
               out, TOL_GEMM);
    pr_free(&qkv); pr_free(&out); pr_free(&mask); pr_free(&pk); pr_free(&pq);
}

static void check_linear_fixed1(int N, int C, int OC, int act, int with_bias) {
    pair x = pr_new((size_t)N * C), w = pr_new((size_t)OC * C), b = pr_new(OC),
         out = pr_new((size_t)N * OC);
    pr_randn(x, 1.0f, fresh());
    pr_randn(w, 0.2f, fresh());
    pr_randn(b, 0.5f, fresh());
    pr_nan(out);
    cpu->linear_fixed_fwd(cpu, out.c, x.c, w.c, with_bias ? b.c : NULL, N, C, OC, act);
    gpu->linear_fixed_fwd(gpu, out.g, x.g, w.g, with_bias ? b.g : NULL, N, C, OC, act);
    check_pair(NAME("linear_fixed_fwd%s %dx%d->%d act %d bias %d", prec_names[prec], N, C, OC,
                    act, with_bias),
               out, TOL_GEMM);
    pr_free(&x); pr_free(&w); pr_free(&b); pr_free(&out);
}

static void check_attention(void) {
    check_attention1(3, 19, 4, 64, 0.0f);
    check_attention1(3, 19, 4, 64, 0.1f);
    check_attention1(2, 128, 12, 768, 0.1f);
    int l1[] = {19, 11, 0};
    check_masked1(3, 19, 4, 64, l1);
    int l2[] = {128, 77};
    check_masked1(2, 128, 12, 768, l2);
    check_rel1(3, 19, 4, 64, 19, l1, 1, 1);
    check_rel1(3, 19, 4, 64, 8, l1, 1, 1);
    check_rel1(3, 19, 4, 64, 8, l1, 1, 0);
    check_rel1(3, 19, 4, 64, 8, l1, 0, 1);
    check_rel1(2, 128, 12, 768, 128, l2, 1, 1);
    for (int act = 0; act < 2; act++)
        for (int wb = 0; wb < 2; wb++) check_linear_fixed1(300, 64, 96, act, wb);
}

/* ---- embeddings and model inputs ---------------------------------------------------------- */

static void random_ids(int32_t *ids, int N, int V, double pad_frac, uint64_t stream) {
    for (int i = 0; i < N; i++) {
        double u = dsq_philox_uniform_at(97, stream, 2 * (uint64_t)i);
        float v = dsq_philox_uniform_at(97, stream, 2 * (uint64_t)i + 1);
        int id = (int)(v * V);
        ids[i] = u < pad_frac ? 0 : id < V ? id : V - 1;
    }
}

static void check_embedding1(int N, int C, int V, double pad_frac) {
    ipair ids = ip_new(N);
    int32_t *h = xmalloc((size_t)N * sizeof *h);
    random_ids(h, N, V, pad_frac, fresh());
    ip_put(ids, h);
    free(h);
    pair table = pr_new((size_t)V * C), out = pr_new((size_t)N * C), dt = pr_new((size_t)V * C);
    pr_randn(table, 1.0f, fresh());
    pr_nan(out);
    cpu->embedding_fwd(cpu, out.c, ids.c, table.c, N, C, V);
    gpu->embedding_fwd(gpu, out.g, ids.g, table.g, N, C, V);
    check_pair(NAME("embedding_fwd N%d C%d V%d", N, C, V), out, TOL_F32);
    pr_randn(out, 1.0f, fresh());
    pr_randn(dt, 1.0f, fresh());
    cpu->embedding_bwd(cpu, dt.c, ids.c, out.c, N, C, V);
    gpu->embedding_bwd(gpu, dt.g, ids.g, out.g, N, C, V);
    check_pair(NAME("embedding_bwd N%d C%d V%d pad %.0f%%", N, C, V, 100 * pad_frac), dt,
               TOL_F32);
    ip_free(&ids); pr_free(&table); pr_free(&out); pr_free(&dt);
}

static void check_inputs(void) {
    check_embedding1(37, 75, 50, 0.0);
    check_embedding1(1000, 75, 50, 0.0);
    check_embedding1(4096, 128, 30522, 0.8);
    check_embedding1(50, 12000, 7, 0.3);  /* wider than one block's columns */
    int dims[] = {128, 7, 1};
    for (int k = 0; k < 3; k++) {
        int B = 6, dim = dims[k];
        pair t = pr_new(B), out = pr_new((size_t)B * dim);
        float ht[6] = {0.0f, 1.0f, 250.5f, 999.0f, 500.0f, 0.5f};
        pr_put(t, ht);
        pr_nan(out);
        cpu->timestep_embedding(cpu, out.c, t.c, B, dim);
        gpu->timestep_embedding(gpu, out.g, t.g, B, dim);
        check_pair(NAME("timestep_embedding B%d dim %d", B, dim), out, TOL_F32);
        pr_free(&t); pr_free(&out);
    }
    int B = 3, L = 19, C = 64;
    size_t n = (size_t)B * L * C;
    pair x = pr_new(n), tv = pr_new((size_t)B * C), pos = pr_new((size_t)L * C), out = pr_new(n);
    pr_randn(x, 1.0f, fresh());
    pr_randn(tv, 1.0f, fresh());
    pr_randn(pos, 1.0f, fresh());
    pr_nan(out);
    cpu->add_time_pos_fwd(cpu, out.c, x.c, tv.c, pos.c, B, L, C);
    gpu->add_time_pos_fwd(gpu, out.g, x.g, tv.g, pos.g, B, L, C);
    check_pair("add_time_pos_fwd", out, TOL_F32);
    cpu->add_time_pos_fwd(cpu, x.c, x.c, tv.c, pos.c, B, L, C);
    gpu->add_time_pos_fwd(gpu, x.g, x.g, tv.g, pos.g, B, L, C);
    check_pair("add_time_pos_fwd in place", x, TOL_F32);
    for (int v = 0; v < 4; v++) {  /* all gradients, then each one NULL */
        pair dx = pr_new(n), dtv = pr_new((size_t)B * C), dpos = pr_new((size_t)L * C);
        pr_randn(out, 1.0f, fresh());
        pr_randn(dx, 1.0f, fresh());
        pr_randn(dtv, 1.0f, fresh());
        pr_randn(dpos, 1.0f, fresh());
        cpu->add_time_pos_bwd(cpu, v == 1 ? NULL : dx.c, v == 2 ? NULL : dtv.c,
                              v == 3 ? NULL : dpos.c, out.c, B, L, C);
        gpu->add_time_pos_bwd(gpu, v == 1 ? NULL : dx.g, v == 2 ? NULL : dtv.g,
                              v == 3 ? NULL : dpos.g, out.g, B, L, C);
        check_pair(NAME("add_time_pos_bwd dx (variant %d)", v), dx, TOL_F32);
        check_pair(NAME("add_time_pos_bwd dtv (variant %d)", v), dtv, TOL_F32);
        check_pair(NAME("add_time_pos_bwd dpos (variant %d)", v), dpos, TOL_F32);
        pr_free(&dx); pr_free(&dtv); pr_free(&dpos);
    }
    pr_free(&x); pr_free(&tv); pr_free(&pos); pr_free(&out);
}

/* ---- vocabulary cross-entropy ---------------------------------------------------------------- */

/* grads: 0 none (loss only), 1 all, 2 dW NULL, 3 loss NULL and dz NULL */
static void check_xent1(int N, int d, int V, int chunk, int grads) {
    pair z = pr_new((size_t)N * d), W = pr_new((size_t)V * d), bias = pr_new(V),
         gs = pr_new(N), loss = pr_new(N), dz = pr_new((size_t)N * d), dW = pr_new((size_t)V * d),
         db = pr_new(V);
    ipair ids = ip_new(N);
    int32_t *h = xmalloc((size_t)N * sizeof *h);
    random_ids(h, N, V, 0.1, fresh());
    ip_put(ids, h);
    free(h);
    pr_randn(z, 1.0f, fresh());
    pr_randn(W, 0.5f, fresh());
    pr_randn(bias, 0.3f, fresh());
    pr_uniform(gs, 0.1f, 1.0f, fresh());
    pr_nan(loss);
    pr_randn(dz, 0.1f, fresh());
    pr_randn(dW, 0.1f, fresh());
    pr_randn(db, 0.1f, fresh());
    int g = grads != 0;
#define XARGS(s)                                                                              \
    grads == 3 ? NULL : loss.s, g && grads != 3 ? dz.s : NULL, g && grads != 2 ? dW.s : NULL,  \
        g ? db.s : NULL, z.s, W.s, bias.s, ids.s, g ? gs.s : NULL, N, d, V, chunk
    cpu->xent(cpu, XARGS(c));
    gpu->xent(gpu, XARGS(g));
#undef XARGS
    char base[128];
    snprintf(base, sizeof base, "xent%s N%d d%d V%d chunk %d grads %d", prec_names[prec], N, d,
             V, chunk, grads);
    if (grads != 3) check_pair(NAME("%s: loss", base), loss, TOL_GEMM);
    if (g) {
        check_pair(NAME("%s: dz", base), dz, TOL_GEMM);
        check_pair(NAME("%s: dW", base), dW, TOL_GEMM);
        check_pair(NAME("%s: dbias", base), db, TOL_GEMM);
    }
    pair *all[] = {&z, &W, &bias, &gs, &loss, &dz, &dW, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pr_free(all[i]);
    ip_free(&ids);
}

static void check_xent(void) {
    check_xent1(50, 24, 1003, 0, 1);
    check_xent1(50, 24, 1003, 7, 1);
    check_xent1(50, 24, 1003, 0, 0);
    check_xent1(50, 24, 1003, 13, 2);
    check_xent1(50, 24, 1003, 0, 3);
    check_xent1(300, 128, 30522, 0, 1);
}

/* ---- vocabulary search ------------------------------------------------------------------------ */

/* Small integers (many ties), some NaN when nan_frac > 0. */
static void host_ints(float *h, size_t n, int span, double nan_frac, uint64_t stream) {
    for (size_t i = 0; i < n; i++) {
        double u = dsq_philox_uniform_at(95, stream, 2 * (uint64_t)i);
        float v = dsq_philox_uniform_at(95, stream, 2 * (uint64_t)i + 1);
        h[i] = u < nan_frac ? NAN : (float)((int)(v * span) - span / 2);
    }
}

static int32_t *ip_get(dsq_backend *be, ipair p) {
    int32_t *h = xmalloc(p.n * sizeof *h + 1);
    be->download(be, h, be == cpu ? p.c : p.g, p.n * sizeof(int32_t));
    return h;
}

/* Exact equality of two id arrays: one PASS / FAIL line. */
static void check_ids(const char *name, const int32_t *ref, const int32_t *got, size_t n) {
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (ref[i] != got[i]) bad++, first = first < n ? first : i;
    char why[160];
    snprintf(why, sizeof why, "%zu of %zu differ (first at %zu: cpu %d, cuda %d)", bad, n, first,
             first < n ? ref[first] : 0, first < n ? got[first] : 0);
    check_true(name, bad == 0, why);
}

/* row_best over the N x V scores cut into blocks of `chunk` columns, on the
 * same inputs (integers: ties everywhere; NaN at nan_frac): ids exactly
 * equal, best values exactly equal. */
static void check_row_best1(int N, int V, int chunk, int sign, double nan_frac) {
    float *h = xmalloc((size_t)N * V * sizeof *h), *ha = xmalloc((size_t)V * sizeof *ha);
    host_ints(h, (size_t)N * V, 16, nan_frac, fresh());
    host_ints(ha, (size_t)V, 4, 0.0, fresh());
    pair sc = pr_new((size_t)N * chunk), add = pr_new(V), best = pr_new(N);
    ipair idx = ip_new(N);
    pr_put(add, ha);
    float *blk = xmalloc((size_t)N * chunk * sizeof *blk);
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int nc = V - v0 < chunk ? V - v0 : chunk;
        for (int r = 0; r < N; r++) memcpy(blk + (size_t)r * nc, h + (size_t)r * V + v0, nc * 4);
        cpu->upload(cpu, sc.c, blk, (size_t)N * nc * 4);
        gpu->upload(gpu, sc.g, blk, (size_t)N * nc * 4);
        cpu->row_best(cpu, best.c, idx.c, sc.c, add.c + v0, N, nc, v0, sign);
        gpu->row_best(gpu, best.g, idx.g, sc.g, add.g + v0, N, nc, v0, sign);
    }
    int32_t *ic = ip_get(cpu, idx), *ig = ip_get(gpu, idx);
    check_ids(NAME("row_best N%d V%d chunk %d sign %+d NaN %.0f%%: ids", N, V, chunk, sign,
                   100 * nan_frac), ic, ig, (size_t)N);
    /* a NaN-free row has a finite best, the same on both */
    check_pair(NAME("row_best N%d V%d chunk %d sign %+d: values", N, V, chunk, sign), best, 0.0);
    free(ic); free(ig); free(h); free(ha); free(blk);
    pr_free(&sc); pr_free(&add); pr_free(&best); ip_free(&idx);
}

/* The samplers' searches (lib/model/sample_round.c) end to end on each backend:
 * z and E of small integers make every score exact whatever the GEMM's
 * order of operations, so nearest and argmax ids must be equal, ties
 * included. */
static void check_vocab_search1(int N, int d, int V, int rows, int chunk) {
    float *hz = xmalloc((size_t)N * d * 4), *hE = xmalloc((size_t)V * d * 4);
    float *hn = xmalloc((size_t)V * 4), *hb = xmalloc((size_t)V * 4);
    host_ints(hz, (size_t)N * d, 4, 0.0, fresh());
    host_ints(hE, (size_t)V * d, 3, 0.0, fresh());
    host_ints(hb, (size_t)V, 4, 0.0, fresh());
    for (int v = 0; v < V; v++) {
        float acc = 0;
        for (int k = 0; k < d; k++) acc += hE[(size_t)v * d + k] * hE[(size_t)v * d + k];
        hn[v] = acc;
    }
    pair z = pr_new((size_t)N * d), E = pr_new((size_t)V * d), en = pr_new(V), b = pr_new(V);
    pr_put(z, hz); pr_put(E, hE); pr_put(en, hn); pr_put(b, hb);
    int32_t *tc[2], *tg[2];
    for (int k = 0; k < 2; k++) tc[k] = xmalloc((size_t)N * 4), tg[k] = xmalloc((size_t)N * 4);
    dsq_vocab_search sc, sg;
    dsq_vocab_search_init(&sc, cpu, rows, chunk);
    dsq_vocab_search_init(&sg, gpu, rows, chunk);
    dsq_vocab_nearest(&sc, tc[0], z.c, E.c, en.c, N, d, V);
    dsq_vocab_nearest(&sg, tg[0], z.g, E.g, en.g, N, d, V);
    dsq_vocab_argmax(&sc, tc[1], z.c, E.c, b.c, N, d, V);
    dsq_vocab_argmax(&sg, tg[1], z.g, E.g, b.g, N, d, V);
    dsq_vocab_search_free(&sc);
    dsq_vocab_search_free(&sg);
    check_ids(NAME("vocab nearest N%d d%d V%d blocks %dx%d", N, d, V, rows, chunk), tc[0],
              tg[0], (size_t)N);
    check_ids(NAME("vocab argmax N%d d%d V%d blocks %dx%d", N, d, V, rows, chunk), tc[1], tg[1],
              (size_t)N);
    for (int k = 0; k < 2; k++) free(tc[k]), free(tg[k]);
    free(hz); free(hE); free(hn); free(hb);
    pr_free(&z); pr_free(&E); pr_free(&en); pr_free(&b);
}

static void check_vocab(void) {
    for (int sign = -1; sign <= 1; sign += 2) {
        check_row_best1(37, 75, 75, sign, 0.0);
        check_row_best1(37, 75, 16, sign, 0.0);    /* blocks narrower than a warp */
        check_row_best1(37, 75, 7, sign, 0.3);
        check_row_best1(300, 30522, 4096, sign, 0.01);
    }
    check_vocab_search1(37, 24, 1003, 5, 7);
    check_vocab_search1(37, 24, 1003, 37, 1003);
    check_vocab_search1(300, 128, 30522, 128, 8192);
}

/* ---- diffusion losses -------------------------------------------------------------------------- */

static void check_diffusion_ops(void) {
    int B = 3, L = 19, d = 24;
    size_t n = (size_t)B * L * d, N = (size_t)B * L;
    pair x0 = pr_new(n), eps = pr_new(n), mean = pr_new(d), ca = pr_new(B), cb = pr_new(B),
         mask = pr_new(N), dmask = pr_new(N), xt = pr_new(n);
    pr_randn(x0, 1.0f, fresh());
    pr_randn(eps, 1.0f, fresh());
    pr_randn(mean, 0.3f, fresh());
    pr_uniform(ca, 0.05f, 1.0f, fresh());
    pr_uniform(cb, 0.05f, 1.0f, fresh());
    float *hm = xmalloc(N * sizeof *hm), *hd = xmalloc(N * sizeof *hd);
    for (size_t r = 0; r < N; r++) {
        hm[r] = (r % L) < 7 ? 0.0f : 1.0f;
        hd[r] = dsq_philox_uniform_at(96, 1, r) < 0.3f ? 1.0f : 0.0f;
    }
    pr_put(mask, hm);
    pr_put(dmask, hd);
    free(hm);
    free(hd);
    for (int v = 0; v < 4; v++) {  /* mean and dmask each present or NULL */
        int wm = v & 1, wd = v >> 1;
        if (wd && !wm) continue;  /* the replacement mask needs the mean */
        pr_nan(xt);
        cpu->q_sample_fwd(cpu, xt.c, x0.c, eps.c, wm ? mean.c : NULL, ca.c, cb.c, mask.c,
                          wd ? dmask.c : NULL, B, L, d);
        gpu->q_sample_fwd(gpu, xt.g, x0.g, eps.g, wm ? mean.g : NULL, ca.g, cb.g, mask.g,
                          wd ? dmask.g : NULL, B, L, d);
        check_pair(NAME("q_sample_fwd mean %d dmask %d", wm, wd), xt, TOL_F32);
        pair dx0 = pr_new(n), dmean = pr_new(d);
        pr_randn(xt, 1.0f, fresh());  /* as dxt */
        pr_randn(dx0, 1.0f, fresh());
        pr_randn(dmean, 1.0f, fresh());
        cpu->q_sample_bwd(cpu, dx0.c, wm ? dmean.c : NULL, xt.c, ca.c, mask.c,
                          wd ? dmask.c : NULL, B, L, d);
        gpu->q_sample_bwd(gpu, dx0.g, wm ? dmean.g : NULL, xt.g, ca.g, mask.g,
                          wd ? dmask.g : NULL, B, L, d);
        check_pair(NAME("q_sample_bwd mean %d dmask %d: dx0", wm, wd), dx0, TOL_F32);
        check_pair(NAME("q_sample_bwd mean %d dmask %d: dmean", wm, wd), dmean, TOL_F32);
        pr_free(&dx0); pr_free(&dmean);
    }
    int rn = L * d;
    pair loss = pr_new(B), gsc = pr_new(B), dx = pr_new(n), dy = pr_new(n);
    pr_uniform(gsc, 0.1f, 1.0f, fresh());
    for (int v = 0; v < 3; v++) {  /* y given; y NULL; dx NULL */
        float sx = v == 1 ? 0.7f : 1.0f;
        const float *yc = v == 1 ? NULL : eps.c, *yg = v == 1 ? NULL : eps.g;
        pr_nan(loss);
        cpu->sqerr_fwd(cpu, loss.c, x0.c, yc, sx, B, rn);
        gpu->sqerr_fwd(gpu, loss.g, x0.g, yg, sx, B, rn);
        check_pair(NAME("sqerr_fwd variant %d", v), loss, TOL_F32);
        pr_randn(dx, 1.0f, fresh());
        pr_randn(dy, 1.0f, fresh());
        cpu->sqerr_bwd(cpu, v == 2 ? NULL : dx.c, yc ? dy.c : NULL, gsc.c, x0.c, yc, sx, B, rn);
        gpu->sqerr_bwd(gpu, v == 2 ? NULL : dx.g, yg ? dy.g : NULL, gsc.g, x0.g, yg, sx, B, rn);
        check_pair(NAME("sqerr_bwd variant %d: dx", v), dx, TOL_F32);
        check_pair(NAME("sqerr_bwd variant %d: dy", v), dy, TOL_F32);
    }
    pair *all[] = {&x0, &eps, &mean, &ca, &cb, &mask, &dmask, &xt, &loss, &gsc, &dx, &dy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pr_free(all[i]);
}

/* ---- randomness and the optimiser ----------------------------------------------------------------- */

static void check_random(void) {
    size_t lens[] = {100003, 5, 1 << 20};
    for (int k = 0; k < 3; k++) {
        size_t n = lens[k];
        pair x = pr_new(n), y = pr_new(n), d = pr_new(n);
        pr_randn(x, 1.0f, fresh());
        pr_nan(y);
        cpu->dropout_fwd(cpu, y.c, x.c, n, 0.1f, 3, 4);
        gpu->dropout_fwd(gpu, y.g, x.g, n, 0.1f, 3, 4);
        check_pair(NAME("dropout_fwd n=%zu p 0.1", n), y, TOL_RNG);
        pr_randn(d, 1.0f, fresh());
        cpu->dropout_bwd(cpu, d.c, x.c, n, 0.3f, 0xfedcba9876543210ull, 1ull << 40);
        gpu->dropout_bwd(gpu, d.g, x.g, n, 0.3f, 0xfedcba9876543210ull, 1ull << 40);
        check_pair(NAME("dropout_bwd n=%zu p 0.3, 64-bit seed and offset", n), d, TOL_RNG);
        cpu->dropout_fwd(cpu, x.c, x.c, n, 0.5f, 7, 8);
        gpu->dropout_fwd(gpu, x.g, x.g, n, 0.5f, 7, 8);
        check_pair(NAME("dropout_fwd n=%zu in place", n), x, TOL_RNG);
        pr_nan(y);
        cpu->randn(cpu, y.c, n, 42, 7);
        gpu->randn(gpu, y.g, n, 42, 7);
        check_pair(NAME("randn n=%zu", n), y, TOL_RNG);
        pr_nan(y);
        cpu->randn(cpu, y.c, n, 0x123456789abcdefull, (1ull << 56) | 3);
        gpu->randn(gpu, y.g, n, 0x123456789abcdefull, (1ull << 56) | 3);
        check_pair(NAME("randn n=%zu, 64-bit seed and offset", n), y, TOL_RNG);
        pr_free(&x); pr_free(&y); pr_free(&d);
    }
}

static void check_optim(void) {
    size_t n = 100003;
    int steps[] = {1, 1000};
    for (int k = 0; k < 2; k++) {
        pair p = pr_new(n), g = pr_new(n), m = pr_new(n), v = pr_new(n);
        pr_randn(p, 1.0f, fresh());
        pr_randn(g, 1.0f, fresh());
        pr_randn(m, 0.1f, fresh());
        pr_uniform(v, 1e-6f, 0.01f, fresh());
        cpu->adamw(cpu, p.c, g.c, m.c, v.c, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, steps[k]);
        gpu->adamw(gpu, p.g, g.g, m.g, v.g, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, steps[k]);
        check_pair(NAME("adamw step %d: param", steps[k]), p, TOL_F32);
        check_pair(NAME("adamw step %d: exp_avg", steps[k]), m, TOL_F32);
        check_pair(NAME("adamw step %d: exp_avg_sq", steps[k]), v, TOL_F32);
        cpu->ema(cpu, m.c, p.c, n, 0.9999f);
        gpu->ema(gpu, m.g, p.g, n, 0.9999f);
        check_pair(NAME("ema rate 0.9999 (after adamw step %d)", steps[k]), m, TOL_F32);
        pr_free(&p); pr_free(&g); pr_free(&m); pr_free(&v);
    }
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    setenv("DSQ_CUDA_SYNC", "1", 0);
    dsq_err e = {0};
    const char *dv = getenv("DSQ_CUDA_DEVICE");
    int dev = dv ? atoi(dv) : 0;
    gpu = dsq_backend_cuda(dev, &e);
    if (!gpu) {
        printf("SKIP check_ops: %s\n", e.msg);
        return 77;
    }
#ifdef DSQ_HAVE_CUDA
    char desc[256];
    dsq_cuda_device_describe(dev, desc, sizeof desc);
    printf("check_ops: CPU backend vs CUDA backend on %s (DSQ_CUDA_SYNC=%s)\n", desc,
           getenv("DSQ_CUDA_SYNC"));
#endif
    cpu = dsq_backend_cpu();
    struct { const char *name; void (*fn)(void); int model; } parts[] = {
        {"memory", check_memory, 0},     {"gemm", check_gemm, 0},
        {"bias and sums", check_bias_sums, 0}, {"nn", check_nn, 0},
        {"attention", check_attention, 0}, {"inputs", check_inputs, 0},
        {"xent", check_xent, 0},         {"vocab search", check_vocab, 0},
        {"diffusion ops", check_diffusion_ops, 0},
        {"random", check_random, 0},     {"optimiser", check_optim, 0},
        {"model", check_model, 1},
        /* last: a cuBLAS refusal of a mixed-precision call is fatal */
        {"bf16 and fp16 GEMMs", check_lowp, 0},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (strcmp(what, "all") && strcmp(what, parts[i].model ? "model" : "ops")) continue;
        double t0 = dsq_now_s();
        parts[i].fn();
        fprintf(stderr, "check_ops: %s: %.1f s\n", parts[i].name, dsq_now_s() - t0);
    }
    printf("check_ops: %d passed, %d failed\n", n_pass, n_fail);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return n_fail ? 1 : 0;
}
