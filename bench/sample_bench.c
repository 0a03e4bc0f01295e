/* Decoding speed of dsq's sampler (bench/sample.sh): a randomly
 * initialised model of the given shape, the reference's DDPM step
 * (model call, rounding to the nearest embedding, posterior update, noise,
 * anchoring), respaced to S steps of T = 2000, timed over a whole run
 * (start, S steps, final argmax) after a warm-up run.
 * usage: sample_bench V d dt H nh I layers L B S [act_budget_MB] → one JSON object */
#include <stdio.h>
#include <stdlib.h>

#include "diffusion_schedule.h"
#include "model.h"
#include "sample.h"
#include "util.h"

int main(int argc, char **argv) {
    if (argc != 11 && argc != 12) {
        fprintf(stderr, "usage: sample_bench V d dt H nh I layers L B S [act_budget_MB]\n");
        return 2;
    }
    int a[10];
    for (int i = 0; i < 10; i++) a[i] = atoi(argv[i + 1]);
    int L = a[7], B = a[8], S = a[9];
    dsq_err e = {0};
    dsq_model_config c;
    dsq_model_config_default(&c, a[0], a[1]);
    c.dt = a[2], c.H = a[3], c.nh = a[4], c.I = a[5], c.n_layers = a[6];
    c.hidden_dropout = c.attn_dropout = 0.0f;  /* inference, as dsq-sample builds it */
    dsq_backend *be = dsq_backend_cpu();
    dsq_model m;
    dsq_schedule sch;
    if (dsq_model_create(&m, &c, be, &e) || dsq_schedule_init(&sch, "sqrt", 2000, &e)) dsq_die_err(&e);
    dsq_model_init_params(&m, 1);
    dsq_sample_opts o;
    dsq_sample_opts_default(&o);
    o.steps = S;
    if (argc == 12) o.act_budget = (size_t)atol(argv[11]) << 20;
    dsq_sampler *s;
    if (dsq_sampler_create(&s, &m, &sch, &o, B, L, &e)) dsq_die_err(&e);
    int32_t *ids = xmalloc((size_t)B * L * sizeof *ids), *tok = xmalloc((size_t)B * L * sizeof *tok);
    uint8_t *mask = xmalloc((size_t)B * L);
    int64_t *index = xmalloc((size_t)B * sizeof *index);
    for (int b = 0; b < B; b++) {
        index[b] = b;
        for (int l = 0; l < L; l++) {
            ids[b * L + l] = (b * 7919 + l * 104729) % c.vocab;
            mask[b * L + l] = l >= L / 2;
        }
    }
    if (dsq_sampler_run(s, ids, mask, index, B, tok, &e)) dsq_die_err(&e);  /* warm-up */
    double t0 = dsq_now_s();
    if (dsq_sampler_run(s, ids, mask, index, B, tok, &e)) dsq_die_err(&e);
    double dt = dsq_now_s() - t0;
    printf("{\"s_per_step\": %.6g, \"steps\": %d}\n", dt / S, S);
    dsq_sampler_free(s);
    dsq_model_destroy(&m);
    dsq_schedule_free(&sch);
    be->destroy(be);
    return 0;
}
