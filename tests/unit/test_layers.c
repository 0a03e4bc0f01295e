/* Finite-difference gradient checks of every backward operation of the
 * CPU backend (and the linear layer), plus accumulation (+=) semantics.
 *
 * The layer functions are float-only, so the check runs in float: the
 * scalar loss sum(out * w) (w fixed random weights) is accumulated in
 * double, central differences use step h = 1e-2 on inputs of order 1, and
 * the analytic gradient must match with max|fd - g| <= 2e-3 * max|g| (plus
 * a small absolute floor).  This catches wrong formulas; tight numerical
 * parity is the PyTorch oracle's job (test_model). Every gradient buffer
 * is pre-filled with 0.25 before the backward and the 0.25 subtracted
 * afterwards, which checks that backwards accumulate rather than
 * overwrite. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "err.h"
#include "layers.h"
#include "philox.h"

static dsq_backend *be;

#define MAXIN 4
typedef struct {
    const char *name;
    int nin;
    float *in[MAXIN];       /* inputs perturbed by the check */
    size_t n_in[MAXIN];
    float *din[MAXIN];      /* their analytic gradients */
    float *out;
    size_t n_out;
    void (*fwd)(void);
    void (*bwd)(const float *dout);  /* accumulates into din[] */
    float h;
} fd_case;

static float *rnd(size_t n, uint64_t off, float scale) {
    float *x = xmalloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * dsq_philox_normal_at(7, off, i);
    return x;
}

static double loss_of(const fd_case *c, const float *w) {
    c->fwd();
    double s = 0;
    for (size_t i = 0; i < c->n_out; i++) s += (double)c->out[i] * w[i];
    return s;
}

static void fd_run(fd_case *c) {
    float *w = rnd(c->n_out, 1000, 1.0f);
    for (int k = 0; k < c->nin; k++)
        for (size_t i = 0; i < c->n_in[k]; i++) c->din[k][i] = 0.25f;
    c->fwd();
    c->bwd(w);
    for (int k = 0; k < c->nin; k++) {
        double maxg = 0, maxerr = 0;
        for (size_t i = 0; i < c->n_in[k]; i++) {
            c->din[k][i] -= 0.25f;
            if (fabs(c->din[k][i]) > maxg) maxg = fabs(c->din[k][i]);
        }
        /* At most 300 coordinates, spread over the tensor. */
        size_t stride = c->n_in[k] > 300 ? c->n_in[k] / 300 : 1;
        for (size_t i = 0; i < c->n_in[k]; i += stride) {
            float save = c->in[k][i];
            c->in[k][i] = save + c->h;
            double lp = loss_of(c, w);
            c->in[k][i] = save - c->h;
            double lm = loss_of(c, w);
            c->in[k][i] = save;
            double fd = (lp - lm) / (2.0 * c->h);
            double err = fabs(fd - c->din[k][i]);
            if (err > maxerr) maxerr = err;
        }
        double rel = maxerr / (maxg + 1e-3);
        printf("  %-22s input %d: max|g| %.3e  max|fd-g| %.3e  rel %.2e\n", c->name, k,
               maxg, maxerr, rel);
        EXPECT(rel <= 2e-3, "%s input %d: relative FD error %.3e", c->name, k, rel);
        EXPECT(maxg > 0, "%s input %d: gradient is all zero", c->name, k);
    }
    c->fwd();
    free(w);
}

/* ---- operations under test (globals keep the callbacks simple) ------- */
enum { N = 6, C = 16, OC = 10 };
static float *X, *W, *Bv, *OUT, *MEAN, *RSTD, *DX, *DW, *DB;

static void ln_fwd(void) { be->layernorm_fwd(be, OUT, MEAN, RSTD, X, W, Bv, N, C, 1e-5f); }
static void ln_bwd(const float *g) {
    be->layernorm_bwd(be, DX, DW, DB, g, X, W, MEAN, RSTD, N, C);
}
static void test_layernorm(void) {
    X = rnd(N * C, 1, 1.0f); W = rnd(C, 2, 1.0f); Bv = rnd(C, 3, 1.0f);
    OUT = xmalloc(N * C * 4); MEAN = xmalloc(N * 4); RSTD = xmalloc(N * 4);
    DX = xmalloc(N * C * 4); DW = xmalloc(C * 4); DB = xmalloc(C * 4);
    /* Forward against a double-precision LayerNorm. */
    ln_fwd();
    double maxe = 0;
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0;
        for (int j = 0; j < C; j++) m += X[i * C + j];
        m /= C;
        for (int j = 0; j < C; j++) v += (X[i * C + j] - m) * (X[i * C + j] - m);
        v /= C;
        for (int j = 0; j < C; j++) {
            double y = (X[i * C + j] - m) / sqrt(v + 1e-5) * W[j] + Bv[j];
            if (fabs(y - OUT[i * C + j]) > maxe) maxe = fabs(y - OUT[i * C + j]);
        }
    }
    EXPECT(maxe < 1e-5, "layernorm forward error %.3e", maxe);
    fd_case c = {"layernorm", 3, {X, W, Bv}, {N * C, C, C}, {DX, DW, DB}, OUT, N * C,
                 ln_fwd, ln_bwd, 1e-2f};
    fd_run(&c);
    free(X); free(W); free(Bv); free(OUT); free(MEAN); free(RSTD); free(DX); free(DW); free(DB);
}

static void lin_fwd(void) { layer_linear_fwd(be, OUT, X, W, Bv, N, C, OC); }
static void lin_bwd(const float *g) { layer_linear_bwd(be, DX, DW, DB, g, X, W, N, C, OC); }
static void test_linear(void) {
    X = rnd(N * C, 4, 1.0f); W = rnd(OC * C, 5, 0.3f); Bv = rnd(OC, 6, 1.0f);
    OUT = xmalloc(N * OC * 4);
    DX = xmalloc(N * C * 4); DW = xmalloc(OC * C * 4); DB = xmalloc(OC * 4);
    fd_case c = {"linear", 3, {X, W, Bv}, {N * C, OC * C, OC}, {DX, DW, DB}, OUT, N * OC,
                 lin_fwd, lin_bwd, 1e-2f};
    fd_run(&c);
    free(X); free(W); free(Bv); free(OUT); free(DX); free(DW); free(DB);
}

/* Pointwise: gelu, tanh, silu share buffers; `which` selects. */
static int which;
static void pw_fwd(void) {
    if (which == 0) be->gelu_fwd(be, OUT, X, N * C);
    else if (which == 1) be->tanh_fwd(be, OUT, X, N * C);
    else be->silu_fwd(be, OUT, X, N * C);
}
static void pw_bwd(const float *g) {
    if (which == 0) be->gelu_bwd(be, DX, X, g, N * C);
    else if (which == 1) be->tanh_bwd(be, DX, OUT, g, N * C);
    else be->silu_bwd(be, DX, X, g, N * C);
}
static void test_pointwise(void) {
    static const char *names[] = {"gelu", "tanh", "silu"};
    X = rnd(N * C, 8, 1.5f); OUT = xmalloc(N * C * 4); DX = xmalloc(N * C * 4);
    for (which = 0; which < 3; which++) {
        fd_case c = {names[which], 1, {X}, {N * C}, {DX}, OUT, N * C, pw_fwd, pw_bwd, 1e-2f};
        fd_run(&c);
    }
    /* Exact-erf GELU and the in-place forward. */
    double maxe = 0;
    which = 0;
    pw_fwd();
    for (int i = 0; i < N * C; i++) {
        double x = X[i], y = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        if (fabs(y - OUT[i]) > maxe) maxe = fabs(y - OUT[i]);
    }
    EXPECT(maxe < 1e-6, "gelu is not the exact erf form: error %.3e", maxe);
    memcpy(DX, X, N * C * 4);
    be->gelu_fwd(be, DX, DX, N * C);
    EXPECT(!memcmp(DX, OUT, N * C * 4), "gelu in place differs");
    free(X); free(OUT); free(DX);
}

static void sm_fwd(void) { be->softmax_fwd(be, OUT, X, N, C, 0.7f); }
static void sm_bwd(const float *g) { be->softmax_bwd(be, DX, OUT, g, N, C, 0.7f); }
static void test_softmax(void) {
    X = rnd(N * C, 9, 2.0f); OUT = xmalloc(N * C * 4); DX = xmalloc(N * C * 4);
    fd_case c = {"softmax", 1, {X}, {N * C}, {DX}, OUT, N * C, sm_fwd, sm_bwd, 1e-2f};
    fd_run(&c);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < C; j++) s += OUT[i * C + j];
        EXPECT(fabs(s - 1) < 1e-6, "softmax row %d sums to %.8f", i, s);
    }
    free(X); free(OUT); free(DX);
}

/* Attention: B=2, L=5, nh=2, H=8 (hs=4); with and without dropout. */
enum { AB = 2, AL = 5, ANH = 2, AH = 8 };
static float *ATT, *ATTD, *DATT, ap;
static void at_fwd(void) {
    be->attention_fwd(be, OUT, ATT, ATTD, X, AB, AL, ANH, AH, ap, 11, 3);
}
static void at_bwd(const float *g) {
    be->attention_bwd(be, DX, DATT, g, X, ATT, ATTD, AB, AL, ANH, AH, ap, 11, 3);
}
static void test_attention(void) {
    size_t nq = AB * AL * 3 * AH, no = AB * AL * AH, na = AB * ANH * AL * AL;
    X = rnd(nq, 10, 1.0f); OUT = xmalloc(no * 4); DX = xmalloc(nq * 4);
    ATT = xmalloc(na * 4); ATTD = xmalloc(na * 4); DATT = xmalloc(na * 4);
    for (int pi = 0; pi < 2; pi++) {
        ap = pi ? 0.3f : 0.0f;
        fd_case c = {pi ? "attention (p=0.3)" : "attention", 1, {X}, {nq}, {DX}, OUT, no,
                     at_fwd, at_bwd, 1e-2f};
        fd_run(&c);
    }
    /* Forward against a direct evaluation (p = 0). */
    ap = 0;
    at_fwd();
    double maxe = 0;
    int hs = AH / ANH;
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < ANH; h++)
            for (int i = 0; i < AL; i++) {
                double s[AL], mx = -1e30, z = 0;
                for (int j = 0; j < AL; j++) {
                    s[j] = 0;
                    for (int e = 0; e < hs; e++)
                        s[j] += (double)X[(b * AL + i) * 3 * AH + h * hs + e] *
                                X[(b * AL + j) * 3 * AH + AH + h * hs + e];
                    s[j] /= sqrt((double)hs);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < AL; j++) { s[j] = exp(s[j] - mx); z += s[j]; }
                for (int e = 0; e < hs; e++) {
                    double o = 0;
                    for (int j = 0; j < AL; j++)
                        o += s[j] / z * X[(b * AL + j) * 3 * AH + 2 * AH + h * hs + e];
                    double got = OUT[(b * AL + i) * AH + h * hs + e];
                    if (fabs(o - got) > maxe) maxe = fabs(o - got);
                }
            }
    EXPECT(maxe < 1e-5, "attention forward error %.3e", maxe);
    free(X); free(OUT); free(DX); free(ATT); free(ATTD); free(DATT);
}

/* out[B,L,C] = x + tv[b] + pos[l] */
enum { TB = 3, TL = 4, TC = 5 };
static float *TV, *POS, *DTV, *DPOS;
static void tp_fwd(void) { be->add_time_pos_fwd(be, OUT, X, TV, POS, TB, TL, TC); }
static void tp_bwd(const float *g) { be->add_time_pos_bwd(be, DX, DTV, DPOS, g, TB, TL, TC); }
static void test_add_time_pos(void) {
    X = rnd(TB * TL * TC, 12, 1.0f); TV = rnd(TB * TC, 13, 1.0f); POS = rnd(TL * TC, 14, 1.0f);
    OUT = xmalloc(TB * TL * TC * 4); DX = xmalloc(TB * TL * TC * 4);
    DTV = xmalloc(TB * TC * 4); DPOS = xmalloc(TL * TC * 4);
    fd_case c = {"add_time_pos", 3, {X, TV, POS}, {TB * TL * TC, TB * TC, TL * TC},
                 {DX, DTV, DPOS}, OUT, TB * TL * TC, tp_fwd, tp_bwd, 1e-2f};
    fd_run(&c);
    free(X); free(TV); free(POS); free(OUT); free(DX); free(DTV); free(DPOS);
}

/* Embedding with repeated ids; dropout as a function of its input. */
enum { EV = 7, EN = 9 };
static int32_t ids[EN] = {3, 1, 3, 0, 6, 3, 1, 5, 2};
static void emb_fwd(void) { be->embedding_fwd(be, OUT, ids, X, EN, C, EV); }
static void emb_bwd(const float *g) { be->embedding_bwd(be, DX, ids, g, EN, C, EV); }
static void dr_fwd(void) { be->dropout_fwd(be, OUT, X, N * C, 0.4f, 5, 9); }
static void dr_bwd(const float *g) { be->dropout_bwd(be, DX, g, N * C, 0.4f, 5, 9); }
static void test_embedding_dropout(void) {
    X = rnd(EV * C, 15, 1.0f); OUT = xmalloc(EN * C * 4); DX = xmalloc(EV * C * 4);
    fd_case c = {"embedding", 1, {X}, {EV * C}, {DX}, OUT, EN * C, emb_fwd, emb_bwd, 1e-2f};
    fd_run(&c);
    free(X); free(OUT); free(DX);
    X = rnd(N * C, 16, 1.0f); OUT = xmalloc(N * C * 4); DX = xmalloc(N * C * 4);
    fd_case d = {"dropout", 1, {X}, {N * C}, {DX}, OUT, N * C, dr_fwd, dr_bwd, 1e-2f};
    fd_run(&d);
    free(X); free(OUT); free(DX);
}

/* Fused chunked CE: loss values against a direct log-softmax, gradients
 * of sum gscale * loss by FD, chunked (3 rows of 7) and unchunked equal. */
enum { XN = 7, XD = 5, XV = 13 };
static int32_t xids[XN] = {0, 12, 5, 5, 7, 1, 12};
static float *XW, *XB, *XG, *DXW, *DXB;
static void xe_fwd(void) {
    be->xent(be, OUT, NULL, NULL, NULL, X, XW, XB, xids, NULL, XN, XD, XV, 3);
}
static void xe_bwd(const float *g) {
    be->xent(be, NULL, DX, DXW, DXB, X, XW, XB, xids, g, XN, XD, XV, 3);
}
static void test_xent(void) {
    X = rnd(XN * XD, 30, 1.0f); XW = rnd(XV * XD, 31, 1.0f); XB = rnd(XV, 32, 0.5f);
    OUT = xmalloc(XN * 4); DX = xmalloc(XN * XD * 4); DXW = xmalloc(XV * XD * 4);
    DXB = xmalloc(XV * 4);
    xe_fwd();
    double maxe = 0;
    for (int i = 0; i < XN; i++) {
        double l[XV], mx = -1e30, s = 0;
        for (int v = 0; v < XV; v++) {
            l[v] = XB[v];
            for (int k = 0; k < XD; k++) l[v] += (double)X[i * XD + k] * XW[v * XD + k];
            mx = fmax(mx, l[v]);
        }
        for (int v = 0; v < XV; v++) s += exp(l[v] - mx);
        maxe = fmax(maxe, fabs(mx + log(s) - l[xids[i]] - OUT[i]));
    }
    EXPECT(maxe < 1e-5, "cross-entropy values error %.3e", maxe);
    fd_case c = {"xent", 3, {X, XW, XB}, {XN * XD, XV * XD, XV}, {DX, DXW, DXB}, OUT, XN,
                 xe_fwd, xe_bwd, 1e-2f};
    fd_run(&c);
    /* chunk 3 vs one chunk: same gradients up to summation order */
    XG = rnd(XN, 33, 1.0f);
    float *a = xcalloc(XV * XD, 4), *b = xcalloc(XV * XD, 4), la[XN], lb[XN];
    be->xent(be, la, NULL, a, NULL, X, XW, XB, xids, XG, XN, XD, XV, 3);
    be->xent(be, lb, NULL, b, NULL, X, XW, XB, xids, XG, XN, XD, XV, 0);
    double d = 0;
    for (int i = 0; i < XV * XD; i++) d = fmax(d, fabs(a[i] - b[i]));
    EXPECT(d < 1e-5 && !memcmp(la, lb, sizeof la), "chunking changes results: %.3e", d);
    free(a); free(b); free(XG);
    free(X); free(XW); free(XB); free(OUT); free(DX); free(DXW); free(DXB);
}

/* The sinusoid against the reference formula in double. */
static void test_timestep_embedding(void) {
    float t[3] = {0.0f, 0.5f * 1000.0f / 2000.0f * 2.0f, 999.5f};
    enum { D = 10 };
    float out[3 * D];
    be->timestep_embedding(be, out, t, 3, D);
    double maxe = 0;
    for (int b = 0; b < 3; b++)
        for (int j = 0; j < D / 2; j++) {
            double f = exp(-log(10000.0) * j / (D / 2));
            double ec = cos(t[b] * f), es = sin(t[b] * f);
            maxe = fmax(maxe, fabs(ec - out[b * D + j]));
            maxe = fmax(maxe, fabs(es - out[b * D + D / 2 + j]));
        }
    EXPECT(maxe < 2e-4, "timestep embedding error %.3e", maxe);
    float odd[7];
    be->timestep_embedding(be, odd, t + 2, 1, 7);
    EXPECT(odd[6] == 0.0f && fabs(odd[0] - cos(999.5)) < 1e-3, "odd width: zero last column");
}

/* Partial noising: x0 and the mean embedding, with source positions,
 * denoised positions and per-sequence coefficients all present. */
enum { QB = 2, QL = 5, QD = 4 };
static float *QX0, *QEPS, *QM, *QCA, *QCB, *QMASK, *QDM, *QDX0, *QDM_G;
static void q_fwd(void) {
    be->q_sample_fwd(be, OUT, QX0, QEPS, QM, QCA, QCB, QMASK, QDM, QB, QL, QD);
}
static void q_bwd(const float *g) {
    be->q_sample_bwd(be, QDX0, QDM_G, g, QCA, QMASK, QDM, QB, QL, QD);
}
static void test_q_sample(void) {
    size_t n = QB * QL * QD;
    QX0 = rnd(n, 40, 1.0f); QEPS = rnd(n, 41, 1.0f); QM = rnd(QD, 42, 1.0f);
    float ca[QB] = {0.9f, 0.3f}, cb[QB] = {0.43f, 0.95f};
    float mask[QB * QL] = {0, 0, 1, 1, 1, 0, 1, 1, 1, 1};
    float dm[QB * QL] = {0, 0, 1, 0, 0, 0, 0, 0, 1, 0};
    QCA = ca; QCB = cb; QMASK = mask; QDM = dm;
    OUT = xmalloc(n * 4); QDX0 = xmalloc(n * 4); QDM_G = xmalloc(QD * 4);
    q_fwd();
    /* spot values: a source position is x0, a denoised one the mean */
    EXPECT(OUT[0] == QX0[0] && OUT[2 * QD + 1] == QM[1], "source keeps x0, denoise takes m");
    float want = ca[1] * (QX0[6 * QD] - QM[0]) + cb[1] * QEPS[6 * QD] + QM[0];
    EXPECT(OUT[6 * QD] == want, "v2 noising %g vs %g", OUT[6 * QD], want);
    fd_case c = {"q_sample", 2, {QX0, QM}, {n, QD}, {QDX0, QDM_G}, OUT, n, q_fwd, q_bwd, 1e-2f};
    fd_run(&c);
    free(QM);
    QM = NULL; QDM = NULL;  /* the v1 form: no mean, no denoising */
    fd_case c1 = {"q_sample v1", 1, {QX0}, {n}, {QDX0}, OUT, n, q_fwd, q_bwd, 1e-2f};
    fd_run(&c1);
    free(QX0); free(QEPS); free(OUT); free(QDX0); free(QDM_G);
}

/* Per-sequence squared error, with and without a target. */
static float *SX, *SY, *SDX, *SDY;
static int s_with_y;
static void se_fwd(void) { be->sqerr_fwd(be, OUT, SX, s_with_y ? SY : NULL, 0.7f, 3, 8); }
static void se_bwd(const float *g) {
    be->sqerr_bwd(be, SDX, s_with_y ? SDY : NULL, g, SX, s_with_y ? SY : NULL, 0.7f, 3, 8);
}
static void test_sqerr(void) {
    SX = rnd(24, 50, 1.0f); SY = rnd(24, 51, 1.0f);
    OUT = xmalloc(3 * 4); SDX = xmalloc(24 * 4); SDY = xmalloc(24 * 4);
    s_with_y = 1;
    se_fwd();
    double m = 0;
    for (int i = 0; i < 8; i++) m += pow(0.7 * SX[8 + i] - SY[8 + i], 2) / 8;
    EXPECT(fabs(OUT[1] - m) < 1e-6 * m, "sqerr row 1: %g vs %g", OUT[1], m);
    fd_case c = {"sqerr", 2, {SX, SY}, {24, 24}, {SDX, SDY}, OUT, 3, se_fwd, se_bwd, 1e-2f};
    fd_run(&c);
    s_with_y = 0;
    fd_case c0 = {"sqerr (no target)", 1, {SX}, {24}, {SDX}, OUT, 3, se_fwd, se_bwd, 1e-2f};
    fd_run(&c0);
    free(SX); free(SY); free(OUT); free(SDX); free(SDY);
}

int main(void) {
    be = dsq_backend_cpu();
    RUN_TEST(test_layernorm);
    RUN_TEST(test_linear);
    RUN_TEST(test_pointwise);
    RUN_TEST(test_softmax);
    RUN_TEST(test_attention);
    RUN_TEST(test_add_time_pos);
    RUN_TEST(test_embedding_dropout);
    RUN_TEST(test_timestep_embedding);
    RUN_TEST(test_xent);
    RUN_TEST(test_q_sample);
    RUN_TEST(test_sqerr);
    be->destroy(be);
    TEST_MAIN_END();
}
