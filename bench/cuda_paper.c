/* Rates of the CUDA backend at the paper's shape (make bench-cuda,
 * bench/gpu/bench-cuda.sh): the device's GEMM rate, training throughput
 * and model FLOP utilisation, decoding rates.  One JSON object per line on
 * stdout; progress on stderr.
 *
 *   gemm    the backend's GEMM on square products of size G, in fp32
 *           (cuBLAS SGEMM, no TF32) and in bf16 (tensor cores, fp32
 *           accumulation, fp32 buffers as --precision bf16 runs them): the
 *           device's practical ceilings.
 *   train   dsq_trainer_step on a bert-base encoder (12 x 768, 12 heads,
 *           I 3072), d 128, V 30,522, L 128, microbatch 64, batch 4 x 64
 *           (gradients added over the microbatches, clipping, AdamW, EMA),
 *           random ids, half of each row the target: tokens/s over the
 *           timed steps after one warm-up, and model FLOPs/s divided by the
 *           GEMM rate of the same precision (MFU); in fp32, then in bf16.  Model FLOPs per token as bench/train.sh
 *           counts them: 3 x the forward GEMMs (projections, attention
 *           products, the decoder_nll vocabulary product).
 *   decode  the same network (random weights: speed does not depend on
 *           them) decoding 2,500 sentences of L 128, timed on a slice of
 *           D sentences (one batch): ddpm over the full T = 2000 chain,
 *           rounding every step, timed over a few steps and EXTRAPOLATED
 *           to 2000 steps and to 2,500 sentences; dpm++ 10 and 20 steps
 *           run in full on the slice and EXTRAPOLATED to 2,500 sentences
 *           (2500 / D batches).  The JSON says which.
 *
 * usage: cuda_paper [layers [train_batch [L [G [D]]]]]
 *   defaults 12 256 128 8192 250; smaller values make a smoke run under
 *   the emulation (tests/cuda/emu/run.sh paper 1 4 16 64 2).
 * Exit 77 without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cuda.h"
#include "diffusion.h"
#include "err.h"
#include "model.h"
#include "sample.h"
#include "train.h"
#include "util.h"
#ifdef DSQ_HAVE_CUDA
#include "cuda_device.h"
#endif

enum { SENTENCES = 2500, DDPM_T = 2000, DDPM_TIMED = 3 };

static dsq_backend *gpu;

static const char *prec_name[] = {"fp32", "bf16", "fp16"};

/* TFLOP/s of the backend's GEMM on G x G x G under precision prec, best
 * of 5 after a warm-up. */
static double gemm_rate(int G, int prec) {
    size_t n = (size_t)G * G;
    gpu->set_precision(gpu, prec);
    float *a = gpu->alloc(gpu, n * 4), *b = gpu->alloc(gpu, n * 4), *c = gpu->alloc(gpu, n * 4);
    gpu->randn(gpu, a, n, 1, 1);
    gpu->randn(gpu, b, n, 1, 2);
    gpu->gemm(gpu, 0, 1, G, G, G, 1.0f, a, G, 0, b, G, 0, 0.0f, c, G, 0, 1);
    gpu->sync(gpu);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = dsq_now_s();
        gpu->gemm(gpu, 0, 1, G, G, G, 1.0f, a, G, 0, b, G, 0, 0.0f, c, G, 0, 1);
        gpu->sync(gpu);
        double t = dsq_now_s() - t0;
        if (t < best) best = t;
    }
    gpu->free(gpu, a), gpu->free(gpu, b), gpu->free(gpu, c);
    gpu->set_precision(gpu, DSQ_PREC_FP32);
    double tf = 2.0 * G * G * (double)G / best / 1e12;
    printf("{\"bench\": \"cuda_gemm\", \"precision\": \"%s\", \"shape\": \"%dx%dx%d\", "
           "\"TFLOP_per_s\": %.2f}\n", prec_name[prec], G, G, G, tf);
    fflush(stdout);
    return tf;
}

/* Forward GEMM FLOPs per token: encoder, up/down projections, and the
 * vocabulary product (bench/train.sh's formula without the factor 3). */
static double fwd_flops_per_token(const dsq_model_config *c, int L, int with_vocab) {
    double H = c->H, I = c->I, d = c->d;
    double f = c->n_layers * (2 * 3 * H * H + 2 * H * H + 2 * 2 * H * I + 2 * 2 * L * H);
    if (c->d != c->H) f += 2 * (d * H + H * H) + 2 * (H * H + H * d);
    return f + (with_vocab ? 2.0 * c->vocab * d : 0.0);
}

static void fill_batch(int32_t *ids, uint8_t *mask, int64_t *index, int B, int L, int V) {
    for (size_t i = 0; i < (size_t)B * L; i++) {
        ids[i] = (int32_t)((i * 7919 + 104729) % (size_t)V);
        mask[i] = (i % L) >= (size_t)(L / 2);
    }
    for (int b = 0; b < B; b++) index[b] = b;
}

static void bench_train(dsq_model *m, const dsq_schedule *sch, int B, int L, double gemm_tf,
                        int prec) {
    dsq_err e = {0};
    int mb = B < 64 ? B : 64;
    dsq_diffusion df;
    dsq_tsampler ts;
    dsq_trainer tr;
    dsq_diffusion_opts o = {0, 0.0f, 0.0f};
    dsq_train_opts to = {.lr = 1e-4f, .learning_steps = 50000, .weight_decay = 0.0f,
                         .grad_clip = -1.0f, .microbatch = mb, .n_ema = 1, .ema = {0.9999f},
                         .seed = 102, .precision = prec};
    if (dsq_diffusion_init(&df, m, sch, &o, &e) || dsq_diffusion_reserve(&df, mb, L, &e) ||
        dsq_tsampler_init(&ts, "lossaware", sch->T, &e) ||
        dsq_trainer_init(&tr, m, &df, &ts, &to, &e)) {
        fprintf(stderr, "cuda_paper: training set-up: %s\n", e.msg);
        exit(1);
    }
    int32_t *ids = xmalloc((size_t)B * L * sizeof *ids);
    uint8_t *mask = xmalloc((size_t)B * L);
    int64_t *index = xmalloc((size_t)B * sizeof *index);
    fill_batch(ids, mask, index, B, L, m->cfg.vocab);
    dsq_trainer_step(&tr, ids, mask, B, L, 0, NULL);  /* warm-up */
    gpu->sync(gpu);
    int steps = 3;
    double t0 = dsq_now_s(), loss = 0;
    for (int i = 0; i < steps; i++) loss = dsq_trainer_step(&tr, ids, mask, B, L, 0, NULL);
    gpu->sync(gpu);
    double st = (dsq_now_s() - t0) / steps, tps = (double)B * L / st;
    double fpt = 3 * fwd_flops_per_token(&m->cfg, L, 1), tf = tps * fpt / 1e12;
    const char *pn = prec_name[prec];
    printf("{\"bench\": \"cuda_train\", \"config\": \"bert-base d%d V%d\", \"layers\": %d, "
           "\"precision\": \"%s\", \"batch\": %d, \"microbatch\": %d, \"seq_len\": %d, "
           "\"timed_steps\": %d, \"s_per_step\": %.4f, \"tokens_per_s\": %.0f, "
           "\"model_gflop_per_token\": %.4f, \"model_TFLOP_per_s\": %.2f, "
           "\"gemm_%s_TFLOP_per_s\": %.2f, \"mfu_vs_%s_gemm\": %.4f, \"loss\": %.4f}\n",
           m->cfg.d, m->cfg.vocab, m->cfg.n_layers, pn, B, mb, L, steps, st, tps, fpt / 1e9, tf,
           pn, gemm_tf, pn, tf / gemm_tf, loss);
    fflush(stdout);
    free(ids), free(mask), free(index);
    dsq_trainer_free(&tr);
    dsq_tsampler_free(&ts);
    dsq_diffusion_free(&df);
    gpu->set_precision(gpu, DSQ_PREC_FP32);
}

/* Progress callback: the time after each model call (the sampler has
 * downloaded that step's result, so the device is done with it); stops
 * after `stop` calls when stop > 0. */
typedef struct {
    double t[64];
    int stop;
} clock_ctx;

static int on_call(void *ctx, int done, int total) {
    (void)total;
    clock_ctx *c = ctx;
    if (done < 64) c->t[done] = dsq_now_s();
    return c->stop > 0 && done >= c->stop;
}

static void bench_decode(dsq_model *m, const dsq_schedule *sch, int D, int L) {
    dsq_err e = {0};
    int32_t *ids = xmalloc((size_t)D * L * sizeof *ids), *tok = xmalloc((size_t)D * L * 4);
    uint8_t *mask = xmalloc((size_t)D * L);
    int64_t *index = xmalloc((size_t)D * sizeof *index);
    fill_batch(ids, mask, index, D, L, m->cfg.vocab);
    double batches = (double)SENTENCES / D;
    int steps[] = {DDPM_T, 10, 20};
    for (int k = 0; k < 3; k++) {
        dsq_sample_opts so;
        dsq_sample_opts_default(&so);
        if (k > 0) so.kind = DSQ_SAMPLER_DPMPP;
        so.steps = steps[k];
        so.act_budget = (size_t)16 << 30;  /* the whole slice in one forward */
        dsq_sampler *s;
        if (dsq_sampler_create(&s, m, sch, &so, D, L, &e)) {
            fprintf(stderr, "cuda_paper: sampler: %s\n", e.msg);
            exit(1);
        }
        clock_ctx c = {{0}, k == 0 ? DDPM_TIMED + 1 : 0};
        dsq_sampler_set_progress(s, on_call, &c);
        double t0 = dsq_now_s();
        int rc = dsq_sampler_run(s, ids, mask, index, D, tok, &e);
        double t = dsq_now_s() - t0;
        if (k == 0) {
            /* interrupted after DDPM_TIMED + 1 calls: time the calls after the first */
            if (rc != DSQ_EFAIL) fprintf(stderr, "cuda_paper: ddpm was not interrupted\n");
            double per = (c.t[DDPM_TIMED + 1] - c.t[1]) / DDPM_TIMED;
            double total = per * DDPM_T * batches;
            printf("{\"bench\": \"cuda_decode\", \"sampler\": \"ddpm\", \"steps\": %d, "
                   "\"rounding\": \"every step\", \"sentences\": %d, \"seq_len\": %d, "
                   "\"batch\": %d, \"s_per_step\": %.4f, \"sentences_per_s\": %.3f, "
                   "\"s_for_%d\": %.0f, \"extrapolated\": \"timed %d steps of one batch of %d; "
                   "x %d steps x %.1f batches\"}\n",
                   DDPM_T, SENTENCES, L, D, per, D / (per * DDPM_T), SENTENCES, total,
                   DDPM_TIMED, D, DDPM_T, batches);
        } else {
            if (rc) fprintf(stderr, "cuda_paper: dpm++: %s\n", e.msg);
            printf("{\"bench\": \"cuda_decode\", \"sampler\": \"dpm++\", \"steps\": %d, "
                   "\"rounding\": \"none (argmax at the end)\", \"sentences\": %d, "
                   "\"seq_len\": %d, \"batch\": %d, \"s_per_batch\": %.4f, "
                   "\"sentences_per_s\": %.2f, \"s_for_%d\": %.1f, \"extrapolated\": "
                   "\"one batch of %d timed in full; x %.1f batches\"}\n",
                   steps[k], SENTENCES, L, D, t, D / t, SENTENCES, t * batches, D, batches);
        }
        fflush(stdout);
        dsq_sampler_free(s);
    }
    free(ids), free(tok), free(mask), free(index);
}

int main(int argc, char **argv) {
    int layers = argc > 1 ? atoi(argv[1]) : 12, B = argc > 2 ? atoi(argv[2]) : 256;
    int L = argc > 3 ? atoi(argv[3]) : 128, G = argc > 4 ? atoi(argv[4]) : 8192;
    int D = argc > 5 ? atoi(argv[5]) : 250;
    if (layers < 1 || B < 1 || L < 2 || G < 1 || D < 1 || (B > 64 && B % 64)) {
        fprintf(stderr, "usage: cuda_paper [layers [train_batch (a multiple of 64 above 64) "
                        "[L [G [D]]]]]\n");
        return 2;
    }
    dsq_err e = {0};
    gpu = dsq_backend_cuda(0, &e);
    if (!gpu) {
        printf("{\"bench\": \"cuda_paper\", \"skipped\": \"%s\"}\n", e.msg);
        return 77;
    }
#ifdef DSQ_HAVE_CUDA
    char desc[256];
    dsq_cuda_device_describe(0, desc, sizeof desc);
    fprintf(stderr, "cuda_paper: %s\n", desc);
#endif
    double t0 = dsq_now_s();
    double tf = gemm_rate(G, DSQ_PREC_FP32), tf16 = gemm_rate(G, DSQ_PREC_BF16);
    dsq_model_config c;
    dsq_model_config_default(&c, 30522, 128);
    c.n_layers = layers;
    dsq_model m;
    dsq_schedule sch;
    if (dsq_model_create(&m, &c, gpu, &e) || dsq_schedule_init(&sch, "sqrt", DDPM_T, &e)) {
        fprintf(stderr, "cuda_paper: model: %s\n", e.msg);
        return 1;
    }
    dsq_model_init_params(&m, 1);
    fprintf(stderr, "cuda_paper: training, batch %d, L %d ...\n", B, L);
    bench_train(&m, &sch, B, L, tf, DSQ_PREC_FP32);
    fprintf(stderr, "cuda_paper: training in bf16 ...\n");
    bench_train(&m, &sch, B, L, tf16, DSQ_PREC_BF16);
    fprintf(stderr, "cuda_paper: decoding, batch %d ...\n", D);
    bench_decode(&m, &sch, D, L);  /* after training: decoding frees the gradients */
    dsq_schedule_free(&sch);
    dsq_model_destroy(&m);
    fprintf(stderr, "cuda_paper: %.1f s\n", dsq_now_s() - t0);
    gpu->destroy(gpu);
    return 0;
}
