/* CPU backend: Philox known-answer vectors and stream mapping, GEMM in all
 * transpose/batch forms, dropout statistics, AdamW and EMA against a
 * double-precision restatement of torch.optim.AdamW, sum of squares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "err.h"
#include "philox.h"

static dsq_backend *be;

/* Random123's kat_vectors for philox4x32 with 10 rounds. */
static void test_philox_kat(void) {
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {~0u, ~0u, ~0u, ~0u, ~0u, ~0u, 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        dsq_philox4x32_10(v[i], v[i] + 4, out);
        EXPECT(!memcmp(out, v[i] + 6, sizeof out), "KAT %d: got %08x %08x %08x %08x", i,
               out[0], out[1], out[2], out[3]);
    }
    /* Block g of (seed, off) is counter {g, off} under key seed. */
    uint32_t a[4], b[4];
    dsq_philox_block(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, a);
    EXPECT(!memcmp(a, v[2] + 6, sizeof a), "block mapping of seed/offset/index");
    dsq_philox_block(1, 2, 3, a);
    dsq_philox_block(1, 2, 4, b);
    EXPECT(memcmp(a, b, sizeof a), "neighbouring blocks differ");
}

static void test_philox_distributions(void) {
    enum { n = 200003 };
    float *x = xmalloc(n * sizeof *x);
    be->randn(be, x, n, 42, 7);
    double s = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) { s += x[i]; s2 += (double)x[i] * x[i]; s4 += pow(x[i], 4); }
    s /= n; s2 /= n; s4 /= n;
    EXPECT(fabs(s) < 0.01 && fabs(s2 - 1) < 0.02 && fabs(s4 - 3) < 0.1,
           "normal moments: mean %.4f var %.4f m4 %.4f", s, s2, s4);
    int same = 1;
    for (int i = 0; i < n; i += 997) same &= x[i] == dsq_philox_normal_at(42, 7, (uint64_t)i);
    same &= x[n - 1] == dsq_philox_normal_at(42, 7, n - 1);
    EXPECT(same, "randn element i is dsq_philox_normal_at(i)");
    /* Box-Muller mapping spelled out for block 0. */
    uint32_t w[4];
    dsq_philox_block(42, 7, 0, w);
    double r = sqrt(-2 * log((w[0] + 1.0) / 4294967296.0)), th = 2 * M_PI * (w[1] / 4294967296.0);
    EXPECT(x[0] == (float)(r * cos(th)) && x[1] == (float)(r * sin(th)), "Box-Muller pair");
    /* Uniform mapping: exact 24-bit fractions. */
    EXPECT(dsq_philox_uniform(0) == 0.0f && dsq_philox_uniform(~0u) == 1.0f - 0x1p-24f &&
           dsq_philox_uniform(0x80000000u) == 0.5f, "uniform mapping");
    free(x);
}

static void test_dropout(void) {
    enum { n = 100000 };
    float *x = xmalloc(n * 4), *y = xmalloc(n * 4), *y2 = xmalloc(n * 4), *d = xcalloc(n, 4);
    for (int i = 0; i < n; i++) x[i] = 1.0f + (float)(i % 7);
    be->dropout_fwd(be, y, x, n, 0.1f, 3, 4);
    be->dropout_fwd(be, y2, x, n, 0.1f, 3, 4);
    EXPECT(!memcmp(y, y2, n * 4), "dropout is deterministic");
    int kept = 0, ok = 1;
    for (int i = 0; i < n; i++) {
        if (y[i] != 0) { kept++; ok &= y[i] == x[i] * (1.0f / 0.9f); }
        ok &= (y[i] != 0) == (dsq_philox_uniform_at(3, 4, i) >= 0.1f);
    }
    EXPECT(ok, "kept values scaled by 1/(1-p), mask from the uniform stream");
    EXPECT(fabs(kept / (double)n - 0.9) < 0.005, "kept fraction %.4f", kept / (double)n);
    be->dropout_fwd(be, y2, x, n, 0.1f, 3, 5);
    EXPECT(memcmp(y, y2, n * 4), "another offset gives another mask");
    memcpy(y2, x, n * 4);
    be->dropout_fwd(be, y2, y2, n, 0.1f, 3, 4);
    EXPECT(!memcmp(y, y2, n * 4), "in place");
    free(x); free(y); free(y2); free(d);
}

/* C = alpha op(A) op(B) + beta C for all transposes, batch 3, padded lds. */
static void test_gemm(void) {
    enum { M = 5, Nn = 7, K = 4, BATCH = 3 };
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + 2, ldb = (tb ? K : Nn) + 1, ldc = Nn + 3;
            long long sa = (long long)lda * (ta ? K : M), sb = (long long)ldb * (tb ? Nn : K);
            long long sc = (long long)ldc * M;
            float *A = xmalloc(sa * BATCH * 4), *B = xmalloc(sb * BATCH * 4);
            float *Cm = xmalloc(sc * BATCH * 4);
            for (long long i = 0; i < sa * BATCH; i++) A[i] = dsq_philox_normal_at(1, 1, i);
            for (long long i = 0; i < sb * BATCH; i++) B[i] = dsq_philox_normal_at(1, 2, i);
            for (long long i = 0; i < sc * BATCH; i++) Cm[i] = dsq_philox_normal_at(1, 3, i);
            float *C0 = xmalloc(sc * BATCH * 4);
            memcpy(C0, Cm, sc * BATCH * 4);
            be->gemm(be, ta, tb, M, Nn, K, 0.5f, A, lda, sa, B, ldb, sb, 2.0f, Cm, ldc, sc, BATCH);
            double maxe = 0;
            for (int b = 0; b < BATCH; b++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < Nn; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            double av = ta ? A[b * sa + k * lda + i] : A[b * sa + i * lda + k];
                            double bv = tb ? B[b * sb + j * ldb + k] : B[b * sb + k * ldb + j];
                            s += av * bv;
                        }
                        double want = 0.5 * s + 2.0 * C0[b * sc + i * ldc + j];
                        maxe = fmax(maxe, fabs(want - Cm[b * sc + i * ldc + j]));
                    }
            EXPECT(maxe < 1e-5, "gemm ta=%d tb=%d error %.3e", ta, tb, maxe);
            /* Padding columns untouched. */
            EXPECT(Cm[ldc - 1] == C0[ldc - 1], "gemm wrote outside C");
            free(A); free(B); free(Cm); free(C0);
        }
}

/* Three AdamW steps with weight decay against double-precision torch
 * arithmetic; EMA; sum of squares; bias ops. */
static void test_optimizer(void) {
    enum { n = 1000 };
    float *p = xmalloc(n * 4), *g = xmalloc(n * 4), *m = xcalloc(n, 4), *v = xcalloc(n, 4);
    double *pd = xmalloc(n * 8), *md = xcalloc(n, 8), *vd = xcalloc(n, 8);
    for (int i = 0; i < n; i++) pd[i] = p[i] = dsq_philox_normal_at(2, 1, i);
    double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01, maxrel = 0;
    for (int step = 1; step <= 3; step++) {
        for (int i = 0; i < n; i++) g[i] = dsq_philox_normal_at(2, 10 + step, i) * (i % 5);
        be->adamw(be, p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd, step);
        for (int i = 0; i < n; i++) {
            pd[i] *= 1 - lr * wd;
            md[i] = b1 * md[i] + (1 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
            double den = sqrt(vd[i]) / sqrt(1 - pow(b2, step)) + eps;
            pd[i] -= lr / (1 - pow(b1, step)) * md[i] / den;
        }
    }
    for (int i = 0; i < n; i++) maxrel = fmax(maxrel, fabs(pd[i] - p[i]) / lr);
    EXPECT(maxrel < 1e-3, "adamw: max |dp| error %.3e lr", maxrel);
    /* Zero gradient, zero moments: only the decay acts. */
    float q = 2.0f, z = 0.0f, mz = 0.0f, vz = 0.0f;
    be->adamw(be, &q, &z, &mz, &vz, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1);
    EXPECT(fabs(q - 2.0f * 0.95f) < 1e-6, "decoupled weight decay: %.8f", q);

    float e[4] = {1, 2, 3, 4}, s[4] = {5, 6, 7, 8};
    be->ema(be, e, s, 4, 0.75f);
    EXPECT(e[0] == 2.0f && e[3] == 5.0f, "ema: %g %g", e[0], e[3]);

    float ss;
    be->sumsq(be, &ss, p, n);
    double want = 0;
    for (int i = 0; i < n; i++) want += (double)p[i] * p[i];
    EXPECT(fabs(ss - want) < 1e-5 * want, "sumsq %.6f vs %.6f", ss, want);
    free(p); free(g); free(m); free(v); free(pd); free(md); free(vd);
}

static void test_memory_and_sums(void) {
    float host[100], back[100];
    for (int i = 0; i < 100; i++) host[i] = (float)i;
    float *d = be->alloc(be, sizeof host), *d2 = be->alloc(be, sizeof host);
    EXPECT(((uintptr_t)d & 63) == 0, "64-byte aligned");
    be->download(be, back, d, sizeof back);
    EXPECT(back[0] == 0 && back[99] == 0, "alloc zero-fills");
    be->upload(be, d, host, sizeof host);
    be->copy(be, d2, d, sizeof host);
    be->axpy(be, d2, 2.0f, d, 100);
    be->scale(be, d2, 0.5f, 100);
    be->add(be, d2, d2, d, 100);
    be->download(be, back, d2, sizeof back);
    EXPECT(back[10] == 25.0f, "copy/axpy/scale/add: %g", back[10]);
    /* bias over 10 rows of 10, then its gradient. */
    float bias[10], db[10] = {0};
    for (int j = 0; j < 10; j++) bias[j] = (float)j;
    be->bias_add(be, d, bias, 10, 10);
    be->bias_grad(be, db, d, 10, 10);
    EXPECT(db[3] == 10 * 3 + (3 + 13 + 23 + 33 + 43 + 53 + 63 + 73 + 83 + 93), "bias_grad %g", db[3]);
    be->zero(be, d, sizeof host);
    be->download(be, back, d, sizeof back);
    EXPECT(back[50] == 0, "zero");
    be->free(be, d);
    be->free(be, d2);
}

int main(void) {
    be = dsq_backend_cpu();
    RUN_TEST(test_philox_kat);
    RUN_TEST(test_philox_distributions);
    RUN_TEST(test_dropout);
    RUN_TEST(test_gemm);
    RUN_TEST(test_optimizer);
    RUN_TEST(test_memory_and_sums);
    be->destroy(be);
    TEST_MAIN_END();
}
