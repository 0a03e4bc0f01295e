/* --precision on the CPU backend: the roundings to bfloat16 and half, the
 * GEMM with rounded operands (set_precision) and the products inside
 * attention, xent and the inference operations, bf16 training against fp32,
 * and fp16 dynamic loss scaling (a step skipped on an injected overflow,
 * the scale lowered, nothing updated; recovery afterwards). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cpu.h"
#include "check.h"
#include "device.h"
#include "err.h"
#include "philox.h"
#include "train.h"

static dsq_backend *be;

static void test_rounding(void) {
    struct { float x, bf, h; } c[] = {
        {1.0f, 1.0f, 1.0f},
        {1.0f + 0x1p-8f, 1.0f, 1.0f + 0x1p-8f},              /* bf16: a tie, to even */
        {1.0f + 0x1p-7f + 0x1p-8f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f + 0x1p-8f},  /* tie, up */
        {1.0f + 0x1p-8f + 0x1p-20f, 1.0f + 0x1p-7f, 1.0f + 0x1p-8f},
        {1.0f + 0x1p-11f, 1.0f, 1.0f},                       /* half: a tie, to even */
        {-3.14159265f, -3.140625f, -3.140625f},
        {65504.0f, 65536.0f, 65504.0f},                      /* the largest half */
        {65520.0f, 65536.0f, INFINITY},                      /* half: a tie, to inf */
        {0x1p-25f, 0x1p-25f, 0.0f},                          /* half: a tie with 0 */
        {0x1.8p-25f, 0x1.8p-25f, 0x1p-24f},                  /* the smallest subnormal */
        {3.4e38f, INFINITY, INFINITY},                       /* bf16 overflow */
        {-INFINITY, -INFINITY, -INFINITY},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        EXPECT(dsq_round_bf16(c[i].x) == c[i].bf, "bf16(%a) = %a, want %a", c[i].x,
               dsq_round_bf16(c[i].x), c[i].bf);
        EXPECT(dsq_round_fp16(c[i].x) == c[i].h, "fp16(%a) = %a, want %a", c[i].x,
               dsq_round_fp16(c[i].x), c[i].h);
    }
    EXPECT(isnan(dsq_round_bf16(NAN)) && isnan(dsq_round_fp16(NAN)), "NaN stays NaN");
    int p = -1;
    EXPECT(dsq_precision_parse("bf16", &p) == 0 && p == DSQ_PREC_BF16, "parse bf16");
    EXPECT(dsq_precision_parse("fp16", &p) == 0 && p == DSQ_PREC_FP16, "parse fp16");
    EXPECT(dsq_precision_parse("fp32", &p) == 0 && p == DSQ_PREC_FP32, "parse fp32");
    EXPECT(dsq_precision_parse("tf32", &p) == -1, "tf32 is not an option");
    EXPECT(!strcmp(dsq_precision_name(DSQ_PREC_FP16), "fp16"), "name");
}

/* gemm under bf16 / fp16 = the fp32 gemm of the rounded operands, bit for
 * bit, for every transpose, a batch and padded leading dimensions; C's
 * padding untouched; fp32 again after set_precision(FP32). */
static void test_gemm_rounded(void) {
    enum { M = 19, N = 23, K = 37, BATCH = 3 };
    float (*rnd[])(float) = {NULL, dsq_round_bf16, dsq_round_fp16};
    for (int p = DSQ_PREC_FP32; p <= DSQ_PREC_FP16; p++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
                long long sa = (long long)lda * (ta ? K : M), sb = (long long)ldb * (tb ? N : K);
                long long sc = (long long)ldc * M;
                size_t na = sa * BATCH, nb = sb * BATCH, nc = sc * BATCH;
                float *A = xmalloc(na * 4), *B = xmalloc(nb * 4), *C = xmalloc(nc * 4);
                float *Ar = xmalloc(na * 4), *Br = xmalloc(nb * 4), *Cr = xmalloc(nc * 4);
                for (size_t i = 0; i < na; i++) A[i] = dsq_philox_normal_at(2, 1, i);
                for (size_t i = 0; i < nb; i++) B[i] = dsq_philox_normal_at(2, 2, i) * 300.0f;
                for (size_t i = 0; i < nc; i++) C[i] = Cr[i] = dsq_philox_normal_at(2, 3, i);
                for (size_t i = 0; i < na; i++) Ar[i] = rnd[p] ? rnd[p](A[i]) : A[i];
                for (size_t i = 0; i < nb; i++) Br[i] = rnd[p] ? rnd[p](B[i]) : B[i];
                be->set_precision(be, p);
                be->gemm(be, ta, tb, M, N, K, 0.5f, A, lda, sa, B, ldb, sb, 2.0f, C, ldc, sc,
                         BATCH);
                be->set_precision(be, DSQ_PREC_FP32);
                be->gemm(be, ta, tb, M, N, K, 0.5f, Ar, lda, sa, Br, ldb, sb, 2.0f, Cr, ldc, sc,
                         BATCH);
                EXPECT(!memcmp(C, Cr, nc * 4), "prec %d ta %d tb %d: not the product of the "
                       "rounded operands", p, ta, tb);
                if (p) {  /* and not the fp32 product */
                    for (size_t i = 0; i < nc; i++) Cr[i] = dsq_philox_normal_at(2, 3, i);
                    be->gemm(be, ta, tb, M, N, K, 0.5f, A, lda, sa, B, ldb, sb, 2.0f, Cr, ldc,
                             sc, BATCH);
                    EXPECT(memcmp(C, Cr, nc * 4), "prec %d: equal to the fp32 product", p);
                }
                free(A), free(B), free(C), free(Ar), free(Br), free(Cr);
            }
}

/* ---- the products inside operations ------------------------------------------ */

static float *randn(size_t n, float scale, uint64_t stream) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * dsq_philox_normal_at(4, stream, i);
    return x;
}

static float *dup(const float *x, size_t n) {
    float *y = xmalloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

static float *rounded_copy(const float *x, size_t n, int p) {
    float *y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) y[i] = p == DSQ_PREC_BF16 ? dsq_round_bf16(x[i])
                                                             : dsq_round_fp16(x[i]);
    return y;
}

/* ||got - ref|| / ||ref|| */
static double rel(const float *got, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return sqrt(d / r);
}

/* A result under 16-bit arithmetic against fp32's: rounded (not equal),
 * and within tol; prints the relative difference. */
static void expect_lowp(const char *what, int p, const float *got, const float *ref, size_t n,
                        double tol) {
    double e = rel(got, ref, n);
    printf("  %s %s: rel %.2e from fp32\n", dsq_precision_name(p), what, e);
    EXPECT(memcmp(got, ref, n * sizeof *got), "%s %s: equal to fp32 (not rounded)",
           dsq_precision_name(p), what);
    EXPECT(e < tol, "%s %s: rel %.2e from fp32", dsq_precision_name(p), what, e);
}

/* Attention under bf16 / fp16 (backend.h: set_precision governs the GEMMs
 * inside it): forward and backward differ from fp32 and stay close; the
 * scores come from qkv rounded (att equals fp32's on the rounded qkv,
 * bit for bit), at 1 and 2 threads.  Measured (bf16 / fp16, rel from
 * fp32): out 2.6e-3 / 3.6e-4, att 1.5e-3 / 1.9e-4, dqkv 2.8e-3 / 3.9e-4;
 * within 2e-2 / 3e-3 (bf16 keeps 8 significant bits, fp16 11). */
static void test_attention_lowp(void) {
    enum { AB = 2, AL = 9, NH = 2, AH = 16 };
    size_t nq = (size_t)AB * AL * 3 * AH, no = (size_t)AB * AL * AH,
           na = (size_t)AB * NH * AL * AL;
    float *qkv = randn(nq, 1.0f, 11), *dout = randn(no, 1.0f, 12), *dq0 = randn(nq, 0.1f, 13);
    int nt0 = omp_get_max_threads();
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        for (int p = DSQ_PREC_BF16; p <= DSQ_PREC_FP16; p++) {
            float *out[2], *att[2], *attd[2], *dqkv[2], *datt = xmalloc(na * sizeof *datt);
            for (int lp = 0; lp < 2; lp++) {  /* fp32, then p */
                out[lp] = xmalloc(no * 4), att[lp] = xmalloc(na * 4), attd[lp] = xmalloc(na * 4);
                dqkv[lp] = dup(dq0, nq);
                be->set_precision(be, lp ? p : DSQ_PREC_FP32);
                be->attention_fwd(be, out[lp], att[lp], attd[lp], qkv, AB, AL, NH, AH, 0.1f, 3, 7);
                be->attention_bwd(be, dqkv[lp], datt, dout, qkv, att[lp], attd[lp], AB, AL, NH,
                                  AH, 0.1f, 3, 7);
            }
            double tol = p == DSQ_PREC_BF16 ? 2e-2 : 3e-3;
            if (nt == 1) {
                expect_lowp("attention_fwd out", p, out[1], out[0], no, tol);
                expect_lowp("attention_fwd att", p, att[1], att[0], na, tol);
                expect_lowp("attention_bwd dqkv", p, dqkv[1], dqkv[0], nq, tol);
            } else {
                EXPECT(memcmp(out[1], out[0], no * 4) && memcmp(dqkv[1], dqkv[0], nq * 4),
                       "%d threads: equal to fp32", nt);
            }
            /* the scores are those of the rounded q and k */
            float *rq = rounded_copy(qkv, nq, p);
            be->set_precision(be, DSQ_PREC_FP32);
            be->attention_fwd(be, out[0], att[0], attd[0], rq, AB, AL, NH, AH, 0.1f, 3, 7);
            EXPECT(!memcmp(att[1], att[0], na * 4), "%s, %d threads: att is not that of the "
                   "rounded qkv", dsq_precision_name(p), nt);
            for (int lp = 0; lp < 2; lp++)
                free(out[lp]), free(att[lp]), free(attd[lp]), free(dqkv[lp]);
            free(datt), free(rq);
        }
    }
    omp_set_num_threads(nt0);
    be->set_precision(be, DSQ_PREC_FP32);
    free(qkv), free(dout), free(dq0);
}

/* The vocabulary cross-entropy under bf16 / fp16: loss and every gradient
 * differ from fp32 and stay close, at 1 thread and 2 (where dz and dW are
 * computed together, grad_gemms); the loss is that of z and W rounded,
 * bit for bit; and at 2 threads dz and dW computed together equal those
 * computed one at a time (at this size each is one sgemm call either way:
 * both read the rounded gradient).  Measured (bf16 / fp16, rel from
 * fp32): loss 6.7e-4 / 1.2e-4, dz 2.7e-3 / 3.3e-4, dW 2.8e-3 / 3.7e-4,
 * dbias 1.7e-3 / 2.5e-4; within 2e-2 / 3e-3. */
static void test_xent_lowp(void) {
    enum { XN = 40, XD = 24, XV = 301, CHUNK = 16 };
    float *z = randn((size_t)XN * XD, 1.0f, 21), *W = randn((size_t)XV * XD, 0.5f, 22);
    float *bias = randn(XV, 0.3f, 23), *gs = xmalloc(XN * sizeof *gs);
    int32_t xids[XN];
    for (int i = 0; i < XN; i++) {
        xids[i] = (int32_t)(dsq_philox_uniform_at(4, 24, i) * XV) % XV;
        gs[i] = 0.1f + dsq_philox_uniform_at(4, 25, i);
    }
    size_t nz = (size_t)XN * XD, nw = (size_t)XV * XD;
    int nt0 = omp_get_max_threads();
    for (int nt = 1; nt <= 2; nt++) {
        omp_set_num_threads(nt);
        for (int p = DSQ_PREC_BF16; p <= DSQ_PREC_FP16; p++) {
            float loss[2][XN], *dz[2], *dW[2], *db[2];
            for (int lp = 0; lp < 2; lp++) {
                dz[lp] = xcalloc(nz, 4), dW[lp] = xcalloc(nw, 4), db[lp] = xcalloc(XV, 4);
                be->set_precision(be, lp ? p : DSQ_PREC_FP32);
                be->xent(be, loss[lp], dz[lp], dW[lp], db[lp], z, W, bias, xids, gs, XN, XD, XV,
                         CHUNK);
            }
            double tol = p == DSQ_PREC_BF16 ? 2e-2 : 3e-3;
            char what[64];
            const char *pre = nt == 1 ? "xent" : "xent, 2 threads,";
            snprintf(what, sizeof what, "%s loss", pre);
            expect_lowp(what, p, loss[1], loss[0], XN, tol);
            snprintf(what, sizeof what, "%s dz", pre);
            expect_lowp(what, p, dz[1], dz[0], nz, tol);
            snprintf(what, sizeof what, "%s dW", pre);
            expect_lowp(what, p, dW[1], dW[0], nw, tol);
            snprintf(what, sizeof what, "%s dbias", pre);
            expect_lowp(what, p, db[1], db[0], XV, tol);
            if (nt == 2) {  /* grad_gemms against the products one at a time */
                float *dz1 = xcalloc(nz, 4), *dW1 = xcalloc(nw, 4);
                be->set_precision(be, p);
                be->xent(be, NULL, dz1, NULL, NULL, z, W, bias, xids, gs, XN, XD, XV, CHUNK);
                be->xent(be, NULL, NULL, dW1, NULL, z, W, bias, xids, gs, XN, XD, XV, CHUNK);
                EXPECT(!memcmp(dz1, dz[1], nz * 4) && !memcmp(dW1, dW[1], nw * 4),
                       "%s: dz and dW together differ from one at a time", dsq_precision_name(p));
                free(dz1), free(dW1);
            }
            /* the logits are those of the rounded z and W */
            float *rz = rounded_copy(z, nz, p), *rW = rounded_copy(W, nw, p);
            be->set_precision(be, DSQ_PREC_FP32);
            be->xent(be, loss[0], NULL, NULL, NULL, rz, rW, bias, xids, NULL, XN, XD, XV, CHUNK);
            EXPECT(!memcmp(loss[1], loss[0], sizeof loss[0]), "%s, %d threads: the loss is not "
                   "that of the rounded z and W", dsq_precision_name(p), nt);
            for (int lp = 0; lp < 2; lp++) free(dz[lp]), free(dW[lp]), free(db[lp]);
            free(rz), free(rW);
        }
    }
    omp_set_num_threads(nt0);
    be->set_precision(be, DSQ_PREC_FP32);
    free(z), free(W), free(bias), free(gs);
}

/* The inference operations' products too (BERTScore does not run them so,
 * but the contract is every GEMM): masked attention and linear_fixed_fwd
 * differ from fp32 and stay close. */
static void test_inference_lowp(void) {
    enum { MB = 2, ML = 9, NH = 2, MH = 16, LN = 37, LC = 24, LOC = 20 };
    size_t nq = (size_t)MB * ML * 3 * MH, no = (size_t)MB * ML * MH;
    float *qkv = randn(nq, 1.0f, 31), mask[MB * ML];
    for (int i = 0; i < MB * ML; i++) mask[i] = i % ML < (i < ML ? ML : 5);
    float *x = randn((size_t)LN * LC, 1.0f, 32), *w = randn((size_t)LOC * LC, 0.3f, 33),
          *b = randn(LOC, 0.3f, 34);
    for (int p = DSQ_PREC_BF16; p <= DSQ_PREC_FP16; p++) {
        float *out[2], *lin[2];
        for (int lp = 0; lp < 2; lp++) {
            out[lp] = xmalloc(no * 4), lin[lp] = xmalloc((size_t)LN * LOC * 4);
            be->set_precision(be, lp ? p : DSQ_PREC_FP32);
            be->attention_masked_fwd(be, out[lp], qkv, mask, MB, ML, NH, MH);
            be->linear_fixed_fwd(be, lin[lp], x, w, b, LN, LC, LOC, 1);
        }
        double tol = p == DSQ_PREC_BF16 ? 2e-2 : 3e-3;
        expect_lowp("attention_masked_fwd", p, out[1], out[0], no, tol);
        expect_lowp("linear_fixed_fwd", p, lin[1], lin[0], (size_t)LN * LOC, tol);
        for (int lp = 0; lp < 2; lp++) free(out[lp]), free(lin[lp]);
    }
    be->set_precision(be, DSQ_PREC_FP32);
    free(qkv), free(x), free(w), free(b);
}

/* ---- training ------------------------------------------------------------------ */

typedef struct {
    dsq_model m;
    dsq_schedule sch;
    dsq_diffusion df;
    dsq_tsampler ts;
    dsq_trainer tr;
} run;

enum { B = 8, L = 12, V = 40, STEPS = 20 };
static int32_t ids[B * L];
static uint8_t mask[B * L];

static void run_make(run *r, int prec) {
    dsq_err e = {0};
    dsq_model_config c;
    dsq_model_config_default(&c, V, 16);
    c.dt = 16; c.H = 32; c.nh = 2; c.I = 64; c.n_layers = 2; c.max_pos = 16;
    dsq_diffusion_opts o = {0, 0.0f, 0.0f};
    dsq_train_opts to = {.lr = 1e-3f, .learning_steps = STEPS, .microbatch = 4, .n_ema = 1,
                         .ema = {0.99f}, .seed = 5, .precision = prec};
    int rc = dsq_model_create(&r->m, &c, be, &e);
    rc = rc ? rc : dsq_schedule_init(&r->sch, "sqrt", 100, &e);
    rc = rc ? rc : dsq_diffusion_init(&r->df, &r->m, &r->sch, &o, &e);
    rc = rc ? rc : dsq_diffusion_reserve(&r->df, 4, L, &e);
    rc = rc ? rc : dsq_tsampler_init(&r->ts, "uniform", 100, &e);
    rc = rc ? rc : dsq_trainer_init(&r->tr, &r->m, &r->df, &r->ts, &to, &e);
    EXPECT(rc == 0, "set-up: %s", e.msg);
    dsq_model_init_params(&r->m, 9);
}

static void run_free(run *r) {
    dsq_trainer_free(&r->tr);
    dsq_tsampler_free(&r->ts);
    dsq_diffusion_free(&r->df);
    dsq_schedule_free(&r->sch);
    dsq_model_destroy(&r->m);
    be->set_precision(be, DSQ_PREC_FP32);
}

static void make_batch(void) {
    for (int i = 0; i < B * L; i++) {
        ids[i] = 1 + (int32_t)(dsq_philox_uniform_at(6, 0, i) * (V - 1)) % (V - 1);
        mask[i] = i % L >= L / 2;
    }
}

/* bf16 (and fp16) training: every step's loss within 1e-2 of fp32's, and
 * not identical to it. */
static void test_train_lowp(void) {
    make_batch();
    double loss[3][STEPS];
    for (int p = DSQ_PREC_FP32; p <= DSQ_PREC_FP16; p++) {
        run r;
        run_make(&r, p);
        for (int k = 0; k < STEPS; k++) loss[p][k] = dsq_trainer_step(&r.tr, ids, mask, B, L, 0, NULL);
        EXPECT(r.tr.step == STEPS, "steps %lld", (long long)r.tr.step);
        run_free(&r);
    }
    for (int p = DSQ_PREC_BF16; p <= DSQ_PREC_FP16; p++) {
        double worst = 0, diff = 0;
        for (int k = 0; k < STEPS; k++) {
            EXPECT(isfinite(loss[p][k]), "prec %d step %d: loss %g", p, k, loss[p][k]);
            double rel = fabs(loss[p][k] - loss[0][k]) / fabs(loss[0][k]);
            worst = fmax(worst, rel);
            diff += loss[p][k] != loss[0][k];
        }
        printf("  %s: %d steps, losses within %.2e of fp32\n", dsq_precision_name(p), STEPS,
               worst);
        EXPECT(worst < 1e-2, "%s: loss %.2e from fp32's", dsq_precision_name(p), worst);
        EXPECT(diff > 0, "%s: losses identical to fp32 (no rounding?)", dsq_precision_name(p));
    }
}

/* fp16: a step applies with the scale 2^20 and raises lg_loss_scale by
 * 1e-3; an overflowing scale (2^140 is inf in float: every gradient
 * non-finite) skips the update (parameters, moments, EMA unchanged; step
 * counted, AdamW steps not) and lowers lg_loss_scale by 1; a sane scale
 * applies again; an infinite gradient injected between the microbatch
 * and the update skips it too, but stops (-1) once the scale is 1 (lg 0);
 * a forward that overflows (non-finite loss) stops the run as in fp32. */
static void test_fp16_loss_scaling(void) {
    make_batch();
    run r;
    run_make(&r, DSQ_PREC_FP16);
    dsq_trainer *tr = &r.tr;
    EXPECT(tr->lg_loss_scale == DSQ_FP16_INITIAL_LG_LOSS_SCALE, "initial lg_loss_scale");
    dsq_train_stats st = {0};
    double l0 = dsq_trainer_step(tr, ids, mask, B, L, 0, &st);
    EXPECT(isfinite(l0) && tr->step == 1 && tr->updates == 1 && st.n_steps == 1, "applied");
    EXPECT(fabs(tr->lg_loss_scale - 20.001) < 1e-12, "lg_loss_scale %.6f", tr->lg_loss_scale);
    size_t n = r.m.n_params * sizeof(float);
    float *p = xmalloc(n), *mo = xmalloc(n), *em = xmalloc(n);
    memcpy(p, r.m.params, n), memcpy(mo, tr->adam_m, n), memcpy(em, tr->ema[0], n);
    tr->lg_loss_scale = 140;  /* the injected overflow */
    memset(&st, 0, sizeof st);
    double l1 = dsq_trainer_step(tr, ids, mask, B, L, 0, &st);
    EXPECT(isfinite(l1), "a skipped step returns its (finite) loss: %g", l1);
    EXPECT(tr->lg_loss_scale == 139, "lowered to %g", tr->lg_loss_scale);
    EXPECT(tr->step == 2 && tr->updates == 1, "step %lld counted, updates %lld",
           (long long)tr->step, (long long)tr->updates);
    EXPECT(!memcmp(p, r.m.params, n) && !memcmp(mo, tr->adam_m, n) && !memcmp(em, tr->ema[0], n),
           "a skipped step changed parameters, moments or EMA");
    EXPECT(st.n == B && st.n_steps == 0, "stats: the loss counted, no gradient norm");
    tr->lg_loss_scale = 16;
    double l2 = dsq_trainer_step(tr, ids, mask, B, L, 0, NULL);
    EXPECT(isfinite(l2) && tr->step == 3 && tr->updates == 2 && memcmp(p, r.m.params, n),
           "applied again after the overflow");
    EXPECT(fabs(tr->lg_loss_scale - 16.001) < 1e-12, "raised to %.6f", tr->lg_loss_scale);
    int t[4] = {3, 50, 70, 99};
    float w[4] = {1, 1, 1, 1};
    for (int lg = 16; lg >= 0; lg -= 16) {
        tr->lg_loss_scale = lg;
        int64_t step = tr->step;
        dsq_trainer_begin(tr);
        EXPECT(r.df.grad_scale == (float)exp2(lg), "gradient scale %g", r.df.grad_scale);
        r.m.training = 1;
        dsq_diffusion_draw_noise(&r.df, t, 4, L, 5, 1000);
        dsq_trainer_micro(tr, ids, mask, t, w, 4, L, 0, NULL, NULL);
        r.m.grads[7] = INFINITY;  /* the injected overflow */
        int rc = dsq_trainer_update(tr, NULL);
        if (lg) EXPECT(rc == 1 && tr->lg_loss_scale == 15 && tr->step == step + 1,
                       "skipped: rc %d, lg %g", rc, tr->lg_loss_scale);
        else EXPECT(rc == -1 && tr->lg_loss_scale == 0 && tr->step == step,
                    "scale 1: rc %d, lg %g", rc, tr->lg_loss_scale);
    }
    EXPECT(tr->updates == 2, "no update applied");
    tr->lg_loss_scale = 20;
    int64_t step = tr->step;
    /* the forward overflows: no scale helps (the output layer's bias, so
     * that nothing non-finite reaches the cross-entropy of x0) */
    r.m.params[dsq_model_param(&r.m, "output_down_proj.2.bias")->offset] = INFINITY;
    double l3 = dsq_trainer_step(tr, ids, mask, B, L, 0, NULL);
    EXPECT(isnan(l3) && tr->step == step && tr->lg_loss_scale == 20,
           "non-finite loss: NaN (stop), not skipped");
    free(p), free(mo), free(em);
    run_free(&r);
}

int main(void) {
    be = dsq_backend_cpu();
    RUN_TEST(test_rounding);
    RUN_TEST(test_gemm_rounded);
    RUN_TEST(test_attention_lowp);
    RUN_TEST(test_xent_lowp);
    RUN_TEST(test_inference_lowp);
    RUN_TEST(test_train_lowp);
    RUN_TEST(test_fp16_loss_scaling);
    be->destroy(be);
    TEST_MAIN_END();
}
