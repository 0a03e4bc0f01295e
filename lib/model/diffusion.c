/* The DiffuSeq training loss: forward process, loss terms, gradients. */
#include "diffusion.h"

#include <math.h>
#include <string.h>

#include "philox.h"

int dsq_diffusion_opts_check(const dsq_diffusion_opts *o, int mean_embed, dsq_err *e) {
    if (o->denoise && !mean_embed)
        return dsq_err_set(e, DSQ_EUSAGE, "--denoise needs --learned-mean-embed (the "
                           "replaced positions take the mean embedding)");
    if (!(o->denoise_rate >= 0) || !(o->reg_rate >= 0))
        return dsq_err_set(e, DSQ_EUSAGE, "denoise rate %g and reg rate %g must be >= 0",
                           o->denoise_rate, o->reg_rate);
    return 0;
}

int dsq_diffusion_init(dsq_diffusion *df, dsq_model *m, const dsq_schedule *sch,
                       const dsq_diffusion_opts *o, dsq_err *e) {
    memset(df, 0, sizeof *df);
    int rc = dsq_diffusion_opts_check(o, m->cfg.mean_embed, e);
    if (rc) return rc;
    df->m = m;
    df->sch = sch;
    df->o = *o;
    df->grad_scale = 1.0f;
    df->sa = xmalloc((size_t)sch->T * sizeof *df->sa);
    df->s1 = xmalloc((size_t)sch->T * sizeof *df->s1);
    /* _extract_into_tensor: float64 arrays indexed, then .float() */
    for (int i = 0; i < sch->T; i++) {
        df->sa[i] = (float)sch->sqrt_alphas_cumprod[i];
        df->s1[i] = (float)sch->sqrt_one_minus_alphas_cumprod[i];
    }
    return 0;
}

static void free_bufs(dsq_diffusion *df) {
    dsq_backend *be = df->m->be;
    void *bufs[] = {df->ids, df->mask, df->dmask, df->ca, df->cb, df->tsc, df->gseq,
                    df->gtok, df->eps0, df->eps, df->x0mean, df->x0, df->xt, df->target,
                    df->dx0, df->dxt, df->dout, df->mse, df->tT, df->tok, df->nll_rows,
                    df->nll_ids, df->nll_z};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(be, bufs[i]);
    free(df->h_tok);
    free(df->h_rows);
}

void dsq_diffusion_free(dsq_diffusion *df) {
    if (!df->m) return;
    free_bufs(df);
    free(df->sa);
    free(df->s1);
    memset(df, 0, sizeof *df);
}

int dsq_diffusion_reserve(dsq_diffusion *df, int B, int L, dsq_err *e) {
    int rc = dsq_model_reserve(df->m, B, L, e);
    if (rc) return rc;
    if (df->ids && B <= df->cap_B && L == df->L) return 0;
    if (df->ids) free_bufs(df);
    dsq_backend *be = df->m->be;
    size_t N = (size_t)B * L, X = N * df->m->cfg.d * sizeof(float);
    df->ids = be->alloc(be, N * sizeof(int32_t));
    df->mask = be->alloc(be, N * sizeof(float));
    df->dmask = be->alloc(be, N * sizeof(float));
    df->ca = be->alloc(be, B * sizeof(float));
    df->cb = be->alloc(be, B * sizeof(float));
    df->tsc = be->alloc(be, B * sizeof(float));
    df->gseq = be->alloc(be, B * sizeof(float));
    df->gtok = be->alloc(be, N * sizeof(float));
    df->eps0 = be->alloc(be, X);
    df->eps = be->alloc(be, X);
    df->x0mean = be->alloc(be, X);
    df->x0 = be->alloc(be, X);
    df->xt = be->alloc(be, X);
    df->target = be->alloc(be, X);
    df->dx0 = be->alloc(be, X);
    df->dxt = be->alloc(be, X);
    df->dout = be->alloc(be, X);
    df->mse = be->alloc(be, B * sizeof(float));
    df->tT = be->alloc(be, B * sizeof(float));
    df->tok = be->alloc(be, N * sizeof(float));
    df->nll_rows = be->alloc(be, N * sizeof(int32_t));
    df->nll_ids = be->alloc(be, N * sizeof(int32_t));
    df->nll_z = be->alloc(be, X);
    df->h_tok = xmalloc(N * sizeof(float));
    df->h_rows = xmalloc(2 * N * sizeof(int32_t));
    df->cap_B = B;
    df->L = L;
    return 0;
}

void dsq_diffusion_draw_noise(dsq_diffusion *df, const int *t, int B, int L,
                              uint64_t seed, uint64_t off) {
    dsq_backend *be = df->m->be;
    DSQ_CHECK(B <= df->cap_B && L == df->L);
    size_t n = (size_t)B * L * df->m->cfg.d;
    be->randn(be, df->eps0, n, seed, off);
    be->randn(be, df->eps, n, seed, off + 1);
    if (!df->o.denoise) return;
    /* torch.bernoulli(sqrt(1 - abar_t) * rate) per position, from a Philox
     * uniform; small ([B, L]), so drawn on the host. */
    float *h = xmalloc((size_t)B * L * sizeof *h);
    for (int b = 0; b < B; b++) {
        float p = df->s1[t[b]] * df->o.denoise_rate;
        for (int l = 0; l < L; l++) {
            size_t i = (size_t)b * L + l;
            h[i] = dsq_philox_uniform_at(seed, off + 2, i) < p ? 1.0f : 0.0f;
        }
    }
    be->upload(be, df->dmask, h, (size_t)B * L * sizeof *h);
    free(h);
}

void dsq_diffusion_set_noise(dsq_diffusion *df, const float *eps0, const float *eps,
                             const float *dmask, int B, int L) {
    dsq_backend *be = df->m->be;
    DSQ_CHECK(B <= df->cap_B && L == df->L);
    size_t n = (size_t)B * L * df->m->cfg.d * sizeof(float);
    be->upload(be, df->eps0, eps0, n);
    be->upload(be, df->eps, eps, n);
    if (dmask) be->upload(be, df->dmask, dmask, (size_t)B * L * sizeof(float));
    else be->zero(be, df->dmask, (size_t)B * L * sizeof(float));
}

/* ||mean_embed||_2 from the device copy (d floats); the tT buffer, already
 * read back, is the scratch. */
static double mean_norm(dsq_diffusion *df) {
    dsq_model *m = df->m;
    float s;
    m->be->sumsq(m->be, df->tT, m->p.mean_emb, (size_t)m->cfg.d);
    m->be->download(m->be, &s, df->tT, sizeof s);
    return sqrt((double)s);
}

/* The logged nll, mean CE(logits(out)) over each sequence's target
 * positions: only those rows of out are gathered (embedding_fwd is a row
 * gather) and go through the vocabulary product. */
static void logged_nll(dsq_diffusion *df, const float *out, const int32_t *ids,
                       const uint8_t *mask, int B, int L, dsq_seq_terms *terms) {
    dsq_model *m = df->m;
    dsq_backend *be = m->be;
    int N = B * L, d = m->cfg.d, n = 0;
    int32_t *rows = df->h_rows, *lab = df->h_rows + N;
    for (int i = 0; i < N; i++)
        if (mask[i]) { rows[n] = i; lab[n] = ids[i]; n++; }
    if (n) {
        be->upload(be, df->nll_rows, rows, (size_t)n * sizeof *rows);
        be->upload(be, df->nll_ids, lab, (size_t)n * sizeof *lab);
        be->embedding_fwd(be, df->nll_z, df->nll_rows, out, n, d, N);
        be->xent(be, df->tok, NULL, NULL, NULL, df->nll_z, m->p.wemb, m->p.lm_bias,
                 df->nll_ids, NULL, n, d, m->cfg.vocab, 0);
        be->download(be, df->h_tok, df->tok, (size_t)n * sizeof(float));
    }
    for (int b = 0, k = 0; b < B; b++) {  /* target rows are in sequence order */
        double s = 0;
        int k0 = k;
        for (int l = 0; l < L; l++)
            if (mask[(size_t)b * L + l]) s += df->h_tok[k++];
        terms[b].nll = k > k0 ? (float)(s / (k - k0)) : NAN;
    }
}

double dsq_diffusion_loss(dsq_diffusion *df, const int32_t *ids, const uint8_t *mask,
                          const int *t, const float *w, int B, int L, int want_nll,
                          int backward, dsq_seq_terms *terms) {
    dsq_model *m = df->m;
    dsq_backend *be = m->be;
    const dsq_model_config *c = &m->cfg;
    DSQ_CHECK(B <= df->cap_B && L == df->L);
    int N = B * L, d = c->d, V = c->vocab, T = df->sch->T;
    size_t X = (size_t)N * d, row = (size_t)L * d;

    /* host-side inputs: mask as floats, per-sequence coefficients */
    float *hm = xmalloc((size_t)N * sizeof *hm), *hb = xmalloc((size_t)4 * B * sizeof *hb);
    float *ca = hb, *cb = hb + B, *tsc = hb + 2 * B, *gs = hb + 3 * B;
    for (int i = 0; i < N; i++) hm[i] = mask[i] ? 1.0f : 0.0f;
    for (int b = 0; b < B; b++) {
        DSQ_CHECK(t[b] >= 0 && t[b] < T);
        ca[b] = df->sa[t[b]];
        cb[b] = df->s1[t[b]];
        tsc[b] = dsq_model_rescale_t(t[b], T);
        gs[b] = w[b] / (float)B * df->grad_scale;  /* d(mean_b w_b loss_b)/d loss_b */
    }
    be->upload(be, df->ids, ids, (size_t)N * sizeof *ids);
    be->upload(be, df->mask, hm, (size_t)N * sizeof *hm);
    be->upload(be, df->ca, ca, B * sizeof *ca);
    be->upload(be, df->cb, cb, B * sizeof *cb);
    be->upload(be, df->tsc, tsc, B * sizeof *tsc);
    be->upload(be, df->gseq, gs, B * sizeof *gs);

    /* x0 = E[ids] + sqrt(1 - abar_0) eps0; x_t; f(x_t, t) */
    be->embedding_fwd(be, df->x0mean, df->ids, m->p.wemb, N, d, V);
    be->copy(be, df->x0, df->x0mean, X * sizeof(float));
    be->axpy(be, df->x0, df->s1[0], df->eps0, X);
    const float *mean = c->mean_embed ? m->p.mean_emb : NULL;
    be->q_sample_fwd(be, df->xt, df->x0, df->eps, mean, df->ca, df->cb, df->mask,
                     df->o.denoise ? df->dmask : NULL, B, L, d);
    const float *out = dsq_model_forward(m, df->xt, df->tsc, B, L);

    /* mse target: x0, or x0_mean where t == 0 (both gather E: their
     * gradients go to the same place, dx0) */
    be->copy(be, df->target, df->x0, X * sizeof(float));
    for (int b = 0; b < B; b++)
        if (t[b] == 0)
            be->copy(be, df->target + b * row, df->x0mean + b * row, row * sizeof(float));
    float cT = df->sa[T - 1];
    be->sqerr_fwd(be, df->mse, out, df->target, 1.0f, B, (int)row);
    be->sqerr_fwd(be, df->tT, df->x0, NULL, cT, B, (int)row);

    if (backward) {
        be->zero(be, df->dx0, X * sizeof(float));
        float *ht = xmalloc((size_t)N * sizeof *ht);
        for (int i = 0; i < N; i++) ht[i] = gs[i / L] / (float)L;
        be->upload(be, df->gtok, ht, (size_t)N * sizeof *ht);
        free(ht);
    }
    /* decoder_nll = CE(logits(x0)); gradients into x0, E (tied lm_head)
     * and the bias */
    be->xent(be, df->tok, backward ? df->dx0 : NULL, backward ? m->g.wemb : NULL,
             backward ? m->g.lm_bias : NULL, df->x0, m->p.wemb, m->p.lm_bias, df->ids,
             backward ? df->gtok : NULL, N, d, V, 0);

    float *hmse = xmalloc((size_t)2 * B * sizeof *hmse), *htT = hmse + B;
    be->download(be, hmse, df->mse, B * sizeof(float));
    be->download(be, htT, df->tT, B * sizeof(float));
    be->download(be, df->h_tok, df->tok, (size_t)N * sizeof(float));
    double reg = mean && df->o.reg_rate > 0 ? df->o.reg_rate * mean_norm(df) : 0.0;
    double total = 0, wsum = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int l = 0; l < L; l++) s += df->h_tok[(size_t)b * L + l];
        dsq_seq_terms *q = &terms[b];
        q->mse = hmse[b];
        q->tT = htT[b];
        q->decoder_nll = (float)(s / L);
        q->loss = (float)((double)q->mse + q->decoder_nll + q->tT + reg);
        q->nll = NAN;
        total += (double)w[b] * q->loss;
        wsum += w[b];
    }
    free(hmse);

    if (want_nll) logged_nll(df, out, ids, mask, B, L, terms);

    if (backward) {
        be->zero(be, df->dout, X * sizeof(float));
        be->sqerr_bwd(be, df->dout, df->dx0, df->gseq, out, df->target, 1.0f, B, (int)row);
        be->sqerr_bwd(be, df->dx0, NULL, df->gseq, df->x0, NULL, cT, B, (int)row);
        be->zero(be, df->dxt, X * sizeof(float));
        dsq_model_backward(m, df->dxt, df->dout);
        be->q_sample_bwd(be, df->dx0, mean ? m->g.mean_emb : NULL, df->dxt, df->ca, df->mask,
                         df->o.denoise ? df->dmask : NULL, B, L, d);
        be->embedding_bwd(be, m->g.wemb, df->ids, df->dx0, N, d, V);
        if (reg > 0) {  /* d(reg ||m||)/dm = reg m / ||m||, weighted by mean w */
            double nm = reg / df->o.reg_rate;
            double k = df->o.reg_rate * wsum / B / nm * df->grad_scale;
            be->axpy(be, m->g.mean_emb, (float)k, m->p.mean_emb, (size_t)d);
        }
    }
    free(hm);
    free(hb);
    return total / B;
}
