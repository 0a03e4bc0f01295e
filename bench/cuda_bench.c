/* GPU timings of the CUDA backend (bench/gpu-check.sh): every main
 * operation at the bert-base training shape (B 64, L 128, H 768, I 3072,
 * 12 heads, d 128, V 30522), then whole-model steps: a training step
 * (dsq_trainer_step: loss, backward, clipping, AdamW, EMA), an inference
 * forward, and a sampler step (DDPM respaced, rounding every step).
 * Prints one JSON object per measurement on stdout, then a summary table.
 * usage: cuda_bench [ops|model|all] [B] [L] [P] [layers]
 *   defaults: all 64 128 91225274 12 (P: parameters of the optimiser
 *   timings; smaller values make a quick smoke run, e.g. under the
 *   emulation of tests/cuda/emu). 
 * Exit 77 when there is no CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cuda.h"
#include "diffusion.h"
#include "err.h"
#include "model.h"
#include "philox.h"
#include "sample.h"
#include "train.h"
#include "util.h"
#ifdef DSQ_HAVE_CUDA
#include "cuda_device.h"
#endif

static dsq_backend *gpu;

/* ---- summary rows ---- */
typedef struct {
    char name[80];
    double ms, gbs, tflops;
} row;
static row rows[64];
static int n_rows;

static void report(const char *kind, const char *name, double s, double bytes, double flops) {
    row *r = &rows[n_rows < 64 ? n_rows++ : 63];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->ms = s * 1e3;
    r->gbs = bytes > 0 ? bytes / s / 1e9 : 0;
    r->tflops = flops > 0 ? flops / s / 1e12 : 0;
    printf("{\"bench\": \"%s\", \"name\": \"%s\", \"ms\": %.4f", kind, name, r->ms);
    if (bytes > 0) printf(", \"GB_per_s\": %.1f", r->gbs);
    if (flops > 0) printf(", \"TFLOP_per_s\": %.2f", r->tflops);
    printf("}\n");
    fflush(stdout);
}

/* Times `stmt`: two warm-ups, one timed call to size the run, then as
 * many calls as fill about 0.2 s (3..500), synchronised once. */
#define TIME_OP(name, bytes, flops, stmt)                                     \
    do {                                                                      \
        for (int w_ = 0; w_ < 2; w_++) { stmt; }                              \
        gpu->sync(gpu);                                                       \
        double t0_ = dsq_now_s();                                                 \
        { stmt; }                                                             \
        gpu->sync(gpu);                                                       \
        double one_ = dsq_now_s() - t0_;                                          \
        int it_ = one_ > 0 ? (int)(0.2 / one_) : 500;                         \
        it_ = it_ < 3 ? 3 : it_ > 500 ? 500 : it_;                            \
        t0_ = dsq_now_s();                                                        \
        for (int i_ = 0; i_ < it_; i_++) { stmt; }                            \
        gpu->sync(gpu);                                                       \
        report("cuda_op", name, (dsq_now_s() - t0_) / it_, bytes, flops);         \
    } while (0)

static float *dev_randn(size_t n, float scale, uint64_t off) {
    float *p = gpu->alloc(gpu, n * sizeof(float));
    gpu->randn(gpu, p, n, 1, off);
    if (scale != 1.0f) gpu->scale(gpu, p, scale, n);
    return p;
}

static void bench_ops(int B, int L, size_t P) {
    const int H = 768, I = 3072, nh = 12, d = 128, V = 30522;
    const size_t N = (size_t)B * L;
    double f4 = 4.0;
    float *x = dev_randn(N * I, 1.0f, 1), *y = dev_randn(N * I, 1.0f, 2);
    float *w = dev_randn((size_t)I * H, 0.02f, 3), *z = dev_randn(N * I, 1.0f, 4);
    float *bias = dev_randn(I, 0.1f, 5), *db = dev_randn(I, 0.1f, 6);
    TIME_OP("gemm qkv N x 2304 x 768", 0, 2.0 * N * 2304 * H,
            gpu->gemm(gpu, 0, 1, (int)N, 3 * H, H, 1.0f, x, H, 0, w, H, 0, 0.0f, y, 3 * H, 0, 1));
    TIME_OP("gemm fc N x 3072 x 768", 0, 2.0 * N * I * H,
            gpu->gemm(gpu, 0, 1, (int)N, I, H, 1.0f, x, H, 0, w, H, 0, 0.0f, y, I, 0, 1));
    TIME_OP("gemm fc-proj N x 768 x 3072", 0, 2.0 * N * H * I,
            gpu->gemm(gpu, 0, 1, (int)N, H, I, 1.0f, x, I, 0, w, I, 0, 0.0f, y, H, 0, 1));
    TIME_OP("gemm dW 3072 x 768 x N", 0, 2.0 * N * H * I,
            gpu->gemm(gpu, 1, 0, I, H, (int)N, 1.0f, x, I, 0, z, H, 0, 1.0f, y, H, 0, 1));
    TIME_OP("bias_add N x 3072", f4 * 2 * N * I, 0, gpu->bias_add(gpu, y, bias, (int)N, I));
    TIME_OP("bias_grad N x 3072", f4 * N * I, 0, gpu->bias_grad(gpu, db, y, (int)N, I));
    TIME_OP("gelu_fwd N x 3072", f4 * 2 * N * I, 0, gpu->gelu_fwd(gpu, y, x, N * I));
    TIME_OP("gelu_bwd N x 3072", f4 * 4 * N * I, 0, gpu->gelu_bwd(gpu, z, x, y, N * I));
    TIME_OP("add N x 768", f4 * 3 * N * H, 0, gpu->add(gpu, z, x, y, N * H));
    TIME_OP("dropout_fwd N x 768", f4 * 2 * N * H, 0,
            gpu->dropout_fwd(gpu, y, x, N * H, 0.1f, 3, 4));
    float *mean = gpu->alloc(gpu, N * 4), *rstd = gpu->alloc(gpu, N * 4);
    float *lw = dev_randn(H, 0.1f, 7), *lb = dev_randn(H, 0.1f, 8);
    float *dlw = gpu->alloc(gpu, H * 4), *dlb = gpu->alloc(gpu, H * 4);
    TIME_OP("layernorm_fwd N x 768", f4 * 2 * N * H, 0,
            gpu->layernorm_fwd(gpu, y, mean, rstd, x, lw, lb, (int)N, H, 1e-12f));
    TIME_OP("layernorm_bwd N x 768", f4 * 4 * N * H, 0,
            gpu->layernorm_bwd(gpu, z, dlw, dlb, y, x, lw, mean, rstd, (int)N, H));
    size_t natt = (size_t)B * nh * L * L;
    float *qkv = dev_randn(N * 3 * H, 1.0f, 9), *att = gpu->alloc(gpu, natt * 4);
    float *attd = gpu->alloc(gpu, natt * 4), *datt = gpu->alloc(gpu, natt * 4);
    float *ctx = gpu->alloc(gpu, N * H * 4), *dqkv = gpu->alloc(gpu, N * 3 * H * 4);
    double attf = 2.0 * 2 * B * nh * (double)L * L * (H / nh);
    TIME_OP("softmax_fwd (B nh L) x L", f4 * 2 * natt, 0,
            gpu->softmax_fwd(gpu, att, attd, B * nh * L, L, 0.125f));
    TIME_OP("attention_fwd p 0.1", 0, attf,
            gpu->attention_fwd(gpu, ctx, att, attd, qkv, B, L, nh, H, 0.1f, 5, 6));
    TIME_OP("attention_bwd p 0.1", 0, 2 * attf,
            gpu->attention_bwd(gpu, dqkv, datt, ctx, qkv, att, attd, B, L, nh, H, 0.1f, 5, 6));
    float *mask = gpu->alloc(gpu, N * 4);
    {
        float *h = xmalloc(N * sizeof *h);
        for (size_t i = 0; i < N; i++) h[i] = (i % L) < (size_t)(L * 3 / 4) ? 1.0f : 0.0f;
        gpu->upload(gpu, mask, h, N * 4);
        free(h);
    }
    TIME_OP("attention_masked_fwd", 0, attf,
            gpu->attention_masked_fwd(gpu, ctx, qkv, mask, B, L, nh, H));
    TIME_OP("linear_fixed_fwd gelu N x 3072 x 768", 0, 2.0 * N * I * H,
            gpu->linear_fixed_fwd(gpu, y, x, w, bias, (int)N, H, I, 1));
    /* embeddings, half the positions padding (id 0) */
    int32_t *ids = gpu->alloc(gpu, N * 4);
    {
        int32_t *h = xmalloc(N * sizeof *h);
        for (size_t i = 0; i < N; i++)
            h[i] = (i % L) >= (size_t)(L / 2) ? 0 : (int32_t)(dsq_philox_uniform_at(1, 2, i) * V);
        for (size_t i = 0; i < N; i++) h[i] = h[i] >= V ? V - 1 : h[i];
        gpu->upload(gpu, ids, h, N * 4);
        free(h);
    }
    float *E = dev_randn((size_t)V * d, 1.0f, 10), *dE = gpu->alloc(gpu, (size_t)V * d * 4);
    float *lmb = dev_randn(V, 0.1f, 11), *dlmb = gpu->alloc(gpu, V * 4);
    float *gs = gpu->alloc(gpu, N * 4), *loss = gpu->alloc(gpu, N * 4);
    {
        float *h = xmalloc(N * sizeof *h);
        for (size_t i = 0; i < N; i++) h[i] = 1.0f / N;
        gpu->upload(gpu, gs, h, N * 4);
        free(h);
    }
    TIME_OP("embedding_fwd N x 128", f4 * 2 * N * d, 0,
            gpu->embedding_fwd(gpu, y, ids, E, (int)N, d, V));
    TIME_OP("embedding_bwd N x 128, V 30522, 50% pad", f4 * (N * d + 2.0 * V * d), 0,
            gpu->embedding_bwd(gpu, dE, ids, y, (int)N, d, V));
    TIME_OP("xent N x 128 x 30522 with gradients", 0, 3 * 2.0 * N * V * d,
            gpu->xent(gpu, loss, z, dE, dlmb, x, E, lmb, ids, gs, (int)N, d, V, 0));
    TIME_OP("xent N x 128 x 30522 loss only", 0, 2.0 * N * V * d,
            gpu->xent(gpu, loss, NULL, NULL, NULL, x, E, lmb, ids, NULL, (int)N, d, V, 0));
    TIME_OP("randn N x 128", f4 * N * d, 0, gpu->randn(gpu, y, N * d, 7, 8));
    float *tv = dev_randn((size_t)B * H, 1.0f, 12), *pos = dev_randn((size_t)L * H, 1.0f, 13);
    TIME_OP("add_time_pos_bwd N x 768", f4 * 2 * N * H, 0,
            gpu->add_time_pos_bwd(gpu, z, tv, pos, y, B, L, H));
    gpu->free(gpu, x); gpu->free(gpu, y); gpu->free(gpu, z); gpu->free(gpu, w);
    float *p = dev_randn(P, 0.02f, 14), *g = dev_randn(P, 0.001f, 15);
    float *m = gpu->alloc(gpu, P * 4), *v = gpu->alloc(gpu, P * 4), *s = gpu->alloc(gpu, 4);
    TIME_OP("adamw all parameters", f4 * 7 * P, 0,
            gpu->adamw(gpu, p, g, m, v, P, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 3));
    TIME_OP("ema all parameters", f4 * 3 * P, 0, gpu->ema(gpu, m, p, P, 0.9999f));
    TIME_OP("sumsq all parameters", f4 * P, 0, gpu->sumsq(gpu, s, g, P));
    void *all[] = {p, g, m, v, s, bias, db, mean, rstd, lw, lb, dlw, dlb, qkv, att, attd, datt,
                   ctx, dqkv, mask, ids, E, dE, lmb, dlmb, gs, loss, tv, pos};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gpu->free(gpu, all[i]);
}

/* Forward FLOPs per token of the DiffuSeq network (bench/sample.sh). */
static double fwd_flops_per_token(const dsq_model_config *c, int L) {
    double H = c->H, I = c->I, d = c->d;
    double f = c->n_layers * (2 * 3 * H * H + 2 * H * H + 2 * 2 * H * I + 2 * 2 * L * H);
    if (c->d != c->H) f += 2 * (d * H + H * H) + 2 * (H * H + H * d);
    return f;
}

static void bench_model(int B, int L, int layers) {
    dsq_err e = {0};
    dsq_model_config c;
    dsq_model_config_default(&c, 30522, 128);
    c.n_layers = layers;
    dsq_model m;
    dsq_schedule sch;
    dsq_diffusion df;
    dsq_tsampler ts;
    dsq_trainer tr;
    dsq_diffusion_opts o = {0, 0.0f, 0.0f};
    dsq_train_opts to = {.lr = 1e-4f, .learning_steps = 50000, .weight_decay = 0.0f,
                         .grad_clip = 1.0f, .microbatch = B, .n_ema = 1, .ema = {0.9999f},
                         .seed = 102};
    if (dsq_model_create(&m, &c, gpu, &e) || dsq_schedule_init(&sch, "sqrt", 2000, &e) ||
        dsq_diffusion_init(&df, &m, &sch, &o, &e) || dsq_diffusion_reserve(&df, B, L, &e) ||
        dsq_tsampler_init(&ts, "lossaware", 2000, &e) ||
        dsq_trainer_init(&tr, &m, &df, &ts, &to, &e)) {
        fprintf(stderr, "cuda_bench: model set-up: %s\n", e.msg);
        return;
    }
    dsq_model_init_params(&m, 1);
    size_t N = (size_t)B * L;
    int32_t *ids = xmalloc(N * sizeof *ids), *tok = xmalloc(N * sizeof *tok);
    uint8_t *mask = xmalloc(N);
    int64_t *index = xmalloc((size_t)B * sizeof *index);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int32_t)((i * 7919 + 104729) % 30522);
        mask[i] = (i % L) >= (size_t)(L / 2);
    }
    for (int b = 0; b < B; b++) index[b] = b;
    double ft = fwd_flops_per_token(&c, L) * N, xf = 2.0 * N * c.vocab * c.d;
    /* training: forward + backward = 3 forwards, plus the two CE passes
     * (loss with gradients: 3 GEMMs; the logged nll is off) */
    double train_flops = 3 * ft + 3 * xf;
    for (int i = 0; i < 2; i++) dsq_trainer_step(&tr, ids, mask, B, L, 0, NULL);
    gpu->sync(gpu);
    int steps = 5;
    double t0 = dsq_now_s();
    for (int i = 0; i < steps; i++) dsq_trainer_step(&tr, ids, mask, B, L, 0, NULL);
    gpu->sync(gpu);
    double st = (dsq_now_s() - t0) / steps;
    char name[80];
    snprintf(name, sizeof name, "train step bert-base%s B%d L%d", layers == 12 ? "" : " (fewer layers)", B, L);
    report("cuda_model", name, st, 0, train_flops);
    printf("{\"bench\": \"cuda_model\", \"name\": \"train tokens per s\", \"value\": %.0f}\n",
           N / st);
    /* inference forward */
    m.training = 0;
    float *xin = gpu->alloc(gpu, N * c.d * 4), *tin = gpu->alloc(gpu, B * 4);
    gpu->randn(gpu, xin, N * c.d, 3, 4);
    for (int i = 0; i < 2; i++) dsq_model_forward(&m, xin, tin, B, L);
    gpu->sync(gpu);
    t0 = dsq_now_s();
    for (int i = 0; i < 10; i++) dsq_model_forward(&m, xin, tin, B, L);
    gpu->sync(gpu);
    snprintf(name, sizeof name, "model forward B%d L%d", B, L);
    report("cuda_model", name, (dsq_now_s() - t0) / 10, 0, ft);
    gpu->free(gpu, xin);
    gpu->free(gpu, tin);
    /* sampler: DDPM respaced to S steps, rounding every step */
    dsq_sample_opts so;
    dsq_sample_opts_default(&so);
    so.steps = 20;
    so.act_budget = (size_t)8 << 30;
    dsq_sampler *s;
    if (dsq_sampler_create(&s, &m, &sch, &so, B, L, &e)) {
        fprintf(stderr, "cuda_bench: sampler: %s\n", e.msg);
    } else {
        if (dsq_sampler_run(s, ids, mask, index, B, tok, &e)) fprintf(stderr, "%s\n", e.msg);
        t0 = dsq_now_s();
        if (dsq_sampler_run(s, ids, mask, index, B, tok, &e)) fprintf(stderr, "%s\n", e.msg);
        snprintf(name, sizeof name, "sample step (ddpm, rounding) B%d L%d", B, L);
        report("cuda_model", name, (dsq_now_s() - t0) / so.steps, 0, ft + xf);
        dsq_sampler_free(s);
    }
    free(ids); free(tok); free(mask); free(index);
    dsq_trainer_free(&tr);
    dsq_tsampler_free(&ts);
    dsq_diffusion_free(&df);
    dsq_schedule_free(&sch);
    dsq_model_destroy(&m);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "all";
    int B = argc > 2 ? atoi(argv[2]) : 64, L = argc > 3 ? atoi(argv[3]) : 128;
    size_t P = argc > 4 ? (size_t)atol(argv[4]) : 91225274;  /* QQP bert-base */
    int layers = argc > 5 ? atoi(argv[5]) : 12;
    dsq_err e = {0};
    gpu = dsq_backend_cuda(0, &e);
    if (!gpu) {
        printf("SKIP cuda_bench: %s\n", e.msg);
        return 77;
    }
#ifdef DSQ_HAVE_CUDA
    char desc[256];
    dsq_cuda_device_describe(0, desc, sizeof desc);
    fprintf(stderr, "cuda_bench: %s, B %d, L %d\n", desc, B, L);
#endif
    double t0 = dsq_now_s();
    if (!strcmp(what, "all") || !strcmp(what, "ops")) bench_ops(B, L, P);
    if (!strcmp(what, "all") || !strcmp(what, "model")) bench_model(B, L, layers);
    printf("\n%-44s %10s %9s %9s\n", "cuda_bench (fp32)", "ms", "GB/s", "TFLOP/s");
    for (int i = 0; i < n_rows; i++) {
        printf("%-44s %10.3f", rows[i].name, rows[i].ms);
        if (rows[i].gbs > 0) printf(" %9.1f", rows[i].gbs);
        else printf(" %9s", "");
        if (rows[i].tflops > 0) printf(" %9.2f", rows[i].tflops);
        printf("\n");
    }
    fprintf(stderr, "cuda_bench: %.1f s\n", dsq_now_s() - t0);
    gpu->destroy(gpu);
    return 0;
}
