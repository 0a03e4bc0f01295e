/* The training step: microbatches, clipping, annealing, AdamW, EMA. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dsq_trainer_init(dsq_trainer *tr, dsq_model *m, dsq_diffusion *df, dsq_tsampler *ts,
                     const dsq_train_opts *o, dsq_err *e) {
    memset(tr, 0, sizeof *tr);
    if (o->microbatch <= 0)
        return dsq_err_set(e, DSQ_EUSAGE, "microbatch %d must be positive", o->microbatch);
    if (o->n_ema < 0 || o->n_ema > DSQ_MAX_EMA)
        return dsq_err_set(e, DSQ_EUSAGE, "at most %d EMA rates", DSQ_MAX_EMA);
    for (int i = 0; i < o->n_ema; i++)
        if (!(o->ema[i] >= 0 && o->ema[i] <= 1))
            return dsq_err_set(e, DSQ_EUSAGE, "EMA rate %g is not in [0, 1]", o->ema[i]);
    if (!(o->lr >= 0) || !(o->weight_decay >= 0) || o->learning_steps < 0)
        return dsq_err_set(e, DSQ_EUSAGE, "lr %g, weight decay %g and learning steps %lld "
                           "must not be negative", o->lr, o->weight_decay,
                           (long long)o->learning_steps);
    dsq_backend *be = m->be;
    size_t bytes = m->n_params * sizeof(float);
    tr->m = m;
    tr->df = df;
    tr->ts = ts;
    tr->o = *o;
    tr->adam_m = be->alloc(be, bytes);
    tr->adam_v = be->alloc(be, bytes);
    for (int i = 0; i < o->n_ema; i++) {
        tr->ema[i] = be->alloc(be, bytes);
        be->copy(be, tr->ema[i], m->params, bytes);
    }
    tr->scratch = be->alloc(be, sizeof(float));
    tr->lg_loss_scale = DSQ_FP16_INITIAL_LG_LOSS_SCALE;
    be->set_precision(be, o->precision);
    return 0;
}

int dsq_trainer_connect(dsq_trainer *tr, dsq_err *e) {
    dsq_backend *be = tr->m->be;
    tr->device_sum = 0;
    if (!tr->dist || tr->dist->size <= 1) return 0;
    const char *env = getenv("DSQ_NCCL");
    int lacks = !be->comm_init || (env && !strcmp(env, "0"));
    dsq_dist_max_int(tr->dist, &lacks, 1);  /* the device path only if every rank has it */
    if (lacks) return 0;
    int id[DSQ_COMM_ID_BYTES / sizeof(int)] = {0}, bad = 0;
    if (tr->dist->rank == 0) bad = be->comm_id(be, id, e) != 0;
    dsq_dist_bcast_int(tr->dist, &bad, 1);
    if (bad)
        return tr->dist->rank == 0 ? e->code : dsq_err_set(e, DSQ_EFAIL, "rank 0 could not "
                                                           "make the NCCL communicator's id");
    dsq_dist_bcast_int(tr->dist, id, sizeof id / sizeof *id);
    int rc = be->comm_init(be, id, tr->dist->rank, tr->dist->size, e);
    bad = rc != 0;
    dsq_dist_max_int(tr->dist, &bad, 1);
    if (bad) return rc ? rc : dsq_err_set(e, DSQ_EFAIL, "another rank could not set up NCCL");
    tr->device_sum = 1;
    return 0;
}

const char *dsq_trainer_grad_sum(const dsq_trainer *tr) {
    if (!tr->dist || tr->dist->size <= 1) return "none";
    return tr->device_sum ? tr->m->be->comm_name : "mpi";
}

void dsq_trainer_free(dsq_trainer *tr) {
    if (!tr->m) return;
    dsq_backend *be = tr->m->be;
    be->free(be, tr->adam_m);
    be->free(be, tr->adam_v);
    for (int i = 0; i < tr->o.n_ema; i++) be->free(be, tr->ema[i]);
    be->free(be, tr->scratch);
    free(tr->host_grads);
    memset(tr, 0, sizeof *tr);
}

float dsq_trainer_lr(const dsq_trainer *tr, int64_t step) {
    if (!tr->o.learning_steps) return tr->o.lr;
    double frac = (double)step / (double)tr->o.learning_steps;
    return (float)(tr->o.lr * (1.0 - frac));
}

/* Each microbatch owns a block of streams: the t draw, the noises, then
 * the model's dropout streams. */
static uint64_t rng_stride(const dsq_trainer *tr) {
    return 1 + DSQ_DIFFUSION_RNG_STREAMS + dsq_model_rng_streams(&tr->m->cfg);
}

uint64_t dsq_trainer_rng_offset(const dsq_trainer *tr, int64_t step, int micro) {
    return (((uint64_t)step << 20) + (uint64_t)micro) * rng_stride(tr);
}

static int fp16(const dsq_trainer *tr) { return tr->o.precision == DSQ_PREC_FP16; }

void dsq_trainer_begin(dsq_trainer *tr) {
    dsq_model_zero_grad(tr->m);
    tr->df->grad_scale = fp16(tr) ? (float)exp2(tr->lg_loss_scale) : 1.0f;
}

static void add_stats(dsq_train_stats *st, const dsq_seq_terms *q, const int *t,
                      const float *w, int B, int L, int T) {
    for (int b = 0; b < B; b++) {
        st->n += 1;
        st->loss += (double)q[b].loss * w[b];
        st->mse += (double)q[b].mse * w[b];
        st->decoder_nll += (double)q[b].decoder_nll * w[b];
        st->tT += (double)q[b].tT * w[b];
        if (!isnan(q[b].nll)) { st->nll += (double)q[b].nll * w[b]; st->n_nll += 1; }
        int k = (int)(4LL * t[b] / T);
        st->q_loss[k] += (double)q[b].loss * w[b];
        st->q_n[k] += 1;
    }
    st->tokens += (double)B * L;
}

void dsq_trainer_micro(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, const int *t,
                       const float *w, int B, int L, int want_nll, dsq_seq_terms *terms,
                       dsq_train_stats *st) {
    dsq_seq_terms *q = terms ? terms : xmalloc((size_t)B * sizeof *q);
    double *ls = xmalloc((size_t)B * sizeof *ls);
    dsq_diffusion_loss(tr->df, ids, mask, t, w, B, L, want_nll, 1, q);
    /* the loss-aware history takes the unweighted per-sequence losses */
    for (int b = 0; b < B; b++) ls[b] = q[b].loss;
    dsq_tsampler_update(tr->ts, t, ls, B);
    if (st) add_stats(st, q, t, w, B, L, tr->df->sch->T);
    if (q != terms) free(q);
    free(ls);
}

int dsq_trainer_update(dsq_trainer *tr, dsq_train_stats *st) {
    dsq_model *m = tr->m;
    dsq_backend *be = m->be;
    float s;
    be->sumsq(be, tr->scratch, m->grads, m->n_params);
    be->download(be, &s, tr->scratch, sizeof s);
    double norm = sqrt((double)s);
    if (!isfinite(norm)) {
        if (!fp16(tr) || tr->lg_loss_scale <= 0) return -1;
        tr->lg_loss_scale -= 1;  /* overflow: a smaller scale next step */
        tr->step++;
        return 1;
    }
    if (fp16(tr)) {  /* unscale */
        float gs = tr->df->grad_scale;
        be->scale(be, m->grads, 1.0f / gs, m->n_params);
        norm /= gs;
    }
    if (tr->o.grad_clip > 0) {
        /* torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6)
         * when that is below 1 */
        float coef = (float)(tr->o.grad_clip / (norm + 1e-6));
        if (coef < 1.0f) {
            be->scale(be, m->grads, coef, m->n_params);
            norm *= coef;
        }
    }
    float lr = dsq_trainer_lr(tr, tr->step);
    be->adamw(be, m->params, m->grads, tr->adam_m, tr->adam_v, m->n_params, lr, 0.9f,
              0.999f, 1e-8f, tr->o.weight_decay, (int)(tr->updates + 1));
    for (int i = 0; i < tr->o.n_ema; i++) be->ema(be, tr->ema[i], m->params, m->n_params,
                                                  tr->o.ema[i]);
    tr->last_lr = lr;
    tr->step++;
    tr->updates++;
    if (fp16(tr)) tr->lg_loss_scale += DSQ_FP16_SCALE_GROWTH;
    if (st) { st->grad_norm += norm; st->n_steps += 1; }
    return 0;
}

double dsq_trainer_step(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, int B,
                        int L, int want_nll, dsq_train_stats *st) {
    int W = tr->dist ? tr->dist->size : 1, r = tr->dist ? tr->dist->rank : 0;
    DSQ_CHECK(B % W == 0);
    int Bl = B / W, mb = tr->o.microbatch < Bl ? tr->o.microbatch : Bl;
    DSQ_CHECK(Bl % mb == 0);
    int M = Bl / mb;
    ids += (size_t)r * Bl * L;
    mask += (size_t)r * Bl * L;
    int *t = xmalloc((size_t)mb * sizeof *t), *t_all = xmalloc((size_t)W * mb * sizeof *t_all);
    float *w = xmalloc((size_t)mb * sizeof *w);
    double *ls = xmalloc((size_t)mb * sizeof *ls), *ls_all = xmalloc((size_t)W * mb * sizeof *ls_all);
    dsq_seq_terms *q = xmalloc((size_t)mb * sizeof *q);
    dsq_train_stats local = {0};
    dsq_trainer_begin(tr);
    tr->m->training = 1;
    tr->m->seed = tr->o.seed;
    for (int k = 0; k < M; k++) {
        uint64_t off = dsq_trainer_rng_offset(tr, tr->step, r * M + k);
        dsq_tsampler_sample(tr->ts, mb, tr->o.seed, off, t, w);
        dsq_diffusion_draw_noise(tr->df, t, mb, L, tr->o.seed, off + 1);
        tr->m->rng_offset = off + 1 + DSQ_DIFFUSION_RNG_STREAMS;
        dsq_diffusion_loss(tr->df, ids + (size_t)k * mb * L, mask + (size_t)k * mb * L, t, w,
                           mb, L, want_nll, 1, q);
        /* the loss-aware history takes the unweighted per-sequence losses */
        for (int b = 0; b < mb; b++) ls[b] = q[b].loss;
        if (W > 1) {
            dsq_dist_gather_tl(tr->dist, t, ls, mb, t_all, ls_all);
            dsq_tsampler_update(tr->ts, t_all, ls_all, W * mb);
        } else {
            dsq_tsampler_update(tr->ts, t, ls, mb);
        }
        add_stats(&local, q, t, w, mb, L, tr->df->sch->T);
    }
    if (W > 1) {  /* average the gradients, add up the stats */
        /* One sum of the whole flat buffer after the last microbatch's
         * backward (not overlapped with it). */
        dsq_model *m = tr->m;
        if (tr->device_sum) {
            m->be->comm_sum(m->be, m->grads, m->n_params);
        } else {
            if (!tr->host_grads) tr->host_grads = xmalloc(m->n_params * sizeof(float));
            m->be->download(m->be, tr->host_grads, m->grads, m->n_params * sizeof(float));
            dsq_dist_sum_float(tr->dist, tr->host_grads, m->n_params);
            m->be->upload(m->be, m->grads, tr->host_grads, m->n_params * sizeof(float));
        }
        m->be->scale(m->be, m->grads, 1.0f / (float)W, m->n_params);
        dsq_dist_sum_double(tr->dist, (double *)&local, sizeof local / sizeof(double));
    }
    double loss = local.loss / local.n;
    int bad = !isfinite(loss) || dsq_trainer_update(tr, &local) < 0;
    free(t);
    free(t_all);
    free(w);
    free(ls);
    free(ls_all);
    free(q);
    if (bad) return NAN;
    if (st) {
        double *a = (double *)st;
        const double *b = (const double *)&local;
        for (size_t k = 0; k < sizeof local / sizeof(double); k++) a[k] += b[k];
    }
    return loss;
}

void dsq_trainer_eval(dsq_trainer *tr, const int32_t *ids, const uint8_t *mask, int B, int L,
                      uint64_t off, dsq_train_stats *st) {
    int mb = tr->o.microbatch < B ? tr->o.microbatch : B;
    int *t = xmalloc((size_t)mb * sizeof *t);
    float *w = xmalloc((size_t)mb * sizeof *w);
    dsq_seq_terms *q = xmalloc((size_t)mb * sizeof *q);
    tr->m->training = 0;
    for (int i = 0; i * mb < B; i++) {
        int n = B - i * mb < mb ? B - i * mb : mb;
        uint64_t o = off + (uint64_t)i * (1 + DSQ_DIFFUSION_RNG_STREAMS);
        dsq_tsampler_sample(tr->ts, n, tr->o.seed, o, t, w);
        dsq_diffusion_draw_noise(tr->df, t, n, L, tr->o.seed, o + 1);
        dsq_diffusion_loss(tr->df, ids + (size_t)i * mb * L, mask + (size_t)i * mb * L, t, w,
                           n, L, 1, 0, q);
        add_stats(st, q, t, w, n, L, tr->df->sch->T);
    }
    tr->m->training = 1;
    free(t);
    free(w);
    free(q);
}
