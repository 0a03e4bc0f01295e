/* The training run: setup, the step loop, logs, evaluation, checkpoints. */
#include "train_run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "checkpoint.h"
#include "diffusion_schedule.h"
#include "outfile.h"
#include "schedule_sampler.h"
#include "train_data.h"
#include "util.h"
#include "version.h"

volatile sig_atomic_t dsq_train_stop_signal;

/* Model shape and diffusion settings: a resumed state must agree. */
static const char *const shape_keys[] = {
    "vocab_size", "vocab_digest", "seq_len", "hidden_dim", "hidden_t_dim", "hidden_size",
    "num_attention_heads", "intermediate_size", "num_hidden_layers",
    "max_position_embeddings", "learned_mean_embed", "diffusion_steps", "noise_schedule",
    "schedule_sampler", "seed", "batch_size", "microbatch", "ema_rate", NULL};

static json_t *make_config(const dsq_train_run_opts *o, const dsq_tokenizer *tok, int L) {
    const dsq_model_config *c = &o->model;
    char ema[DSQ_MAX_EMA * 33] = "";
    for (int i = 0; i < o->topts.n_ema; i++) {
        if (i) strcat(ema, ",");
        strcat(ema, o->ema_names[i]);
    }
    json_t *j = json_object();
    json_object_set_new(j, "dsq_version", json_string(DSQ_VERSION));
    json_object_set_new(j, "vocab", json_string("vocab.txt"));
    json_object_set_new(j, "vocab_kind", json_string(dsq_tokenizer_kind_name(dsq_tokenizer_kind(tok))));
    json_object_set_new(j, "vocab_size", json_integer(dsq_tokenizer_vocab_size(tok)));
    json_object_set_new(j, "vocab_digest", json_string(dsq_tokenizer_digest(tok)));
    json_object_set_new(j, "seq_len", json_integer(L));
    json_object_set_new(j, "config_name", json_string(o->config_name));
    json_object_set_new(j, "hidden_dim", json_integer(c->d));
    json_object_set_new(j, "hidden_t_dim", json_integer(c->dt));
    json_object_set_new(j, "hidden_size", json_integer(c->H));
    json_object_set_new(j, "num_attention_heads", json_integer(c->nh));
    json_object_set_new(j, "intermediate_size", json_integer(c->I));
    json_object_set_new(j, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(j, "max_position_embeddings", json_integer(c->max_pos));
    json_object_set_new(j, "layer_norm_eps", json_real(c->ln_eps));
    json_object_set_new(j, "dropout", json_real(c->hidden_dropout));
    json_object_set_new(j, "attention_probs_dropout_prob", json_real(c->attn_dropout));
    json_object_set_new(j, "learned_mean_embed", json_boolean(c->mean_embed));
    json_object_set_new(j, "denoise", json_boolean(o->dopts.denoise));
    json_object_set_new(j, "denoise_rate", json_real(o->dopts.denoise_rate));
    json_object_set_new(j, "reg_rate", json_real(o->dopts.reg_rate));
    json_object_set_new(j, "diffusion_steps", json_integer(o->T));
    json_object_set_new(j, "noise_schedule", json_string(o->schedule));
    json_object_set_new(j, "schedule_sampler", json_string(o->schedule_sampler));
    json_object_set_new(j, "predict_xstart", json_true());
    json_object_set_new(j, "rescale_timesteps", json_true());
    json_object_set_new(j, "logits_mode", json_integer(1));
    json_object_set_new(j, "lr", json_real(o->topts.lr));
    json_object_set_new(j, "learning_steps", json_integer(o->topts.learning_steps));
    json_object_set_new(j, "weight_decay", json_real(o->topts.weight_decay));
    json_object_set_new(j, "gradient_clipping", json_real(o->topts.grad_clip > 0 ?
                                                          o->topts.grad_clip : -1.0));
    json_object_set_new(j, "batch_size", json_integer(o->bsz));
    json_object_set_new(j, "microbatch", json_integer(o->topts.microbatch));
    json_object_set_new(j, "ema_rate", json_string(ema));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->topts.seed));
    json_object_set_new(j, "precision", json_string(dsq_precision_name(o->topts.precision)));
    json_object_set_new(j, "use_fp16", json_boolean(o->topts.precision == DSQ_PREC_FP16));
    json_object_set_new(j, "save_interval", json_integer(o->save_interval));
    json_object_set_new(j, "log_interval", json_integer(o->log_interval));
    json_object_set_new(j, "eval_interval", json_integer(o->eval_interval));
    return j;
}

static int write_text(const char *path, const char *text, size_t n, dsq_err *e) {
    dsq_out out;
    int rc = dsq_out_open(&out, path, e);
    if (rc) return rc;
    if (fwrite(text, 1, n, out.f) != n) {
        dsq_out_abort(&out);
        return dsq_err_set(e, DSQ_EIO, "%s: write error: %s", path, strerror(errno));
    }
    return dsq_out_commit(&out, e);
}

static int copy_file(const char *src, const char *dst, dsq_err *e) {
    FILE *f = fopen(src, "rb");
    if (!f) return dsq_err_set(e, DSQ_EIO, "%s: %s", src, strerror(errno));
    size_t cap = 1 << 16, n = 0, k;
    char *buf = xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = xrealloc(buf, cap *= 2);
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? dsq_err_set(e, DSQ_EIO, "%s: read error", src) : write_text(dst, buf, n, e);
    free(buf);
    return rc;
}

/* On resume, log.jsonl keeps only the lines of steps before the resumed
 * one, so the log reads as if the run had never stopped. */
static int trim_log(const char *path, int64_t step, dsq_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char *line = NULL, *keep = NULL;
    size_t cap = 0, nk = 0;
    ssize_t k;
    while ((k = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *s = j ? json_object_get(j, "step") : NULL;
        int ok = s && json_integer_value(s) < step;
        json_decref(j);
        if (!ok) continue;
        keep = xrealloc(keep, nk + (size_t)k + 1);
        memcpy(keep + nk, line, (size_t)k);
        nk += (size_t)k;
    }
    fclose(f);
    free(line);
    int rc = write_text(path, keep ? keep : "", nk, e);
    free(keep);
    return rc;
}

/* Collective: 1 on every rank when any rank has `bad` set. */
static int any_rank(const dsq_train_run_opts *o, int bad) {
    if (o->dist) dsq_dist_max_int(o->dist, &bad, 1);
    return bad;
}

typedef struct {
    const dsq_train_run_opts *o;
    dsq_model *m;
    dsq_trainer *tr;
    dsq_tsampler *ts;
    char *config;          /* JSON text */
    int64_t epoch, pos;
    char last_saved[1024];
    char last_state[1024];
} run_ctx;

/* model_<step>, ema_<rate>_<step>, state_<step> (the older state removed
 * once the new one is in place). */
static int save_all_rank0(run_ctx *x, dsq_err *e);

/* Rank 0 writes; every rank learns whether it worked. */
static int save_all(run_ctx *x, dsq_err *e) {
    int rank = x->o->dist ? x->o->dist->rank : 0;
    int rc = rank == 0 ? save_all_rank0(x, e) : 0;
    if (any_rank(x->o, rc != 0) && !rc)
        rc = dsq_err_set(e, DSQ_EIO, "rank 0 failed to write a checkpoint");
    return rc;
}

static int save_all_rank0(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    dsq_model *m = x->m;
    int64_t step = x->tr->step;
    char p[1024];
    snprintf(p, sizeof p, "%s/model_%06" PRId64 ".safetensors", o->out, step);
    int rc = dsq_ckpt_write(p, m, m->params, x->config, e);
    for (int i = 0; i < o->topts.n_ema && !rc; i++) {
        snprintf(p, sizeof p, "%s/ema_%s_%06" PRId64 ".safetensors", o->out, o->ema_names[i], step);
        rc = dsq_ckpt_write(p, m, x->tr->ema[i], x->config, e);
    }
    if (rc) return rc;
    dsq_train_state s = {.step = step, .updates = x->tr->updates,
                         .lg_loss_scale = x->tr->lg_loss_scale,
                         .epoch = x->epoch, .pos = x->pos, .n_ema = o->topts.n_ema,
                         .params = m->params, .adam_m = x->tr->adam_m, .adam_v = x->tr->adam_v,
                         .T = x->ts->T, .history = x->ts->history, .counts = x->ts->counts};
    for (int i = 0; i < o->topts.n_ema; i++) s.ema[i] = x->tr->ema[i];
    snprintf(p, sizeof p, "%s/state_%06" PRId64 ".safetensors", o->out, step);
    rc = dsq_state_write(p, m, &s, x->config, e);
    if (rc) return rc;
    if (x->last_state[0] && strcmp(x->last_state, p)) unlink(x->last_state);
    snprintf(x->last_state, sizeof x->last_state, "%s", p);
    snprintf(x->last_saved, sizeof x->last_saved, "%s/model_%06" PRId64 ".safetensors", o->out,
             step);
    return 0;
}

/* The newest state_*.safetensors of a run directory, or path itself. */
static int resolve_resume(const char *path, char *out, size_t n, dsq_err *e) {
    struct stat st;
    if (stat(path, &st) != 0) return dsq_err_set(e, DSQ_EIO, "--resume %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) { snprintf(out, n, "%s", path); return 0; }
    DIR *d = opendir(path);
    if (!d) return dsq_err_set(e, DSQ_EIO, "--resume %s: %s", path, strerror(errno));
    struct dirent *de;
    char best[512] = "";
    while ((de = readdir(d))) {
        size_t k = strlen(de->d_name);
        if (!strncmp(de->d_name, "state_", 6) && k > 18 &&
            !strcmp(de->d_name + k - 12, ".safetensors") && strcmp(de->d_name, best) > 0 &&
            strlen(de->d_name) < sizeof best)
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(d);
    if (!best[0]) return dsq_err_set(e, DSQ_EDATA, "--resume %s: no state_*.safetensors in "
                                     "the directory", path);
    snprintf(out, n, "%s/%s", path, best);
    return 0;
}

static int check_resume_config(const char *state_path, const char *saved, json_t *now,
                               dsq_err *e) {
    json_t *old = json_loads(saved, 0, NULL);
    if (!old) return dsq_err_set(e, DSQ_EDATA, "%s: config metadata is not JSON", state_path);
    int rc = 0;
    for (int i = 0; shape_keys[i] && !rc; i++) {
        json_t *a = json_object_get(old, shape_keys[i]), *b = json_object_get(now, shape_keys[i]);
        if (!json_equal(a, b)) {
            char *sa = a ? json_dumps(a, JSON_ENCODE_ANY) : xstrdup("(none)");
            char *sb = b ? json_dumps(b, JSON_ENCODE_ANY) : xstrdup("(none)");
            rc = dsq_err_set(e, DSQ_EUSAGE, "--resume %s: %s is %s there but %s now (model "
                             "shape, diffusion and batch settings must stay the same)",
                             state_path, shape_keys[i], sa, sb);
            free(sa);
            free(sb);
        }
    }
    json_decref(old);
    return rc;
}

static void log_stats(FILE *log, int64_t step, const dsq_train_run_opts *o, float lr,
                      double lg_loss_scale, const dsq_train_stats *s, double tok_s,
                      double elapsed, const char *prefix) {
    json_t *j = json_object();
    json_object_set_new(j, "step", json_integer(step));
    if (!*prefix) {
        json_object_set_new(j, "samples", json_integer((step + 1) * (json_int_t)o->bsz));
        json_object_set_new(j, "lr", json_real(lr));
    }
    char k[64];
#define PUT(name, v) do { snprintf(k, sizeof k, "%s%s", prefix, name); \
        json_object_set_new(j, k, json_real(v)); } while (0)
    PUT("loss", s->loss / s->n);
    PUT("mse", s->mse / s->n);
    if (s->n_nll) PUT("nll", s->nll / s->n_nll);
    PUT("tT", s->tT / s->n);
    PUT("decoder_nll", s->decoder_nll / s->n);
    for (int q = 0; q < 4; q++)
        if (s->q_n[q]) {
            char nm[16];
            snprintf(nm, sizeof nm, "loss_q%d", q);
            PUT(nm, s->q_loss[q] / s->q_n[q]);
        }
#undef PUT
    if (!*prefix) {
        if (s->n_steps)  /* fp16: none when every step of the interval was skipped */
            json_object_set_new(j, "grad_norm", json_real(s->grad_norm / s->n_steps));
        if (o->topts.precision == DSQ_PREC_FP16)  /* as the reference logs it */
            json_object_set_new(j, "lg_loss_scale", json_real(lg_loss_scale));
        json_object_set_new(j, "tokens_per_s", json_real(tok_s));
        json_object_set_new(j, "elapsed_s", json_real(elapsed));
    }
    char *txt = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    fprintf(log, "%s\n", txt);
    fflush(log);
    free(txt);
    json_decref(j);
}

int dsq_train_run(const dsq_train_run_opts *o, dsq_err *e) {
    int rc = 0;
    dsq_tokenizer *tok = NULL;
    dsq_train_data data = {0}, valid = {0};
    dsq_backend *be = NULL;
    dsq_model m = {0};
    dsq_schedule sch = {0};
    dsq_diffusion df = {0};
    dsq_tsampler ts = {0};
    dsq_trainer tr = {0};
    json_t *cfg = NULL;
    FILE *log = NULL;
    int32_t *bids = NULL;
    uint8_t *bmask = NULL;
    int64_t *perm = NULL;
    run_ctx x = {0};
    char path[1024], state_path[1024];

    dsq_tok_kind kind = o->vocab_kind;
    if (!o->vocab_kind_set && (rc = dsq_train_data_peek_kind(o->data, &kind, e))) goto out;
    if ((rc = dsq_tokenizer_load(&tok, o->vocab, kind, e))) goto out;
    int V = dsq_tokenizer_vocab_size(tok);
    if ((rc = dsq_train_data_load(&data, o->data, tok, V, e))) goto out;
    if (o->valid && (rc = dsq_train_data_load(&valid, o->valid, tok, V, e))) goto out;
    int L = data.L;
    if (o->seq_len && o->seq_len != L) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: examples are packed to seq_len %d, --seq-len is %d "
                         "(tokenize with --seq-len %d)", o->data, L, o->seq_len, o->seq_len);
        goto out;
    }
    if (o->valid && valid.L != L) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: seq_len %d, the training data's is %d", o->valid,
                         valid.L, L);
        goto out;
    }
    if (L > o->model.max_pos) {
        rc = dsq_err_set(e, DSQ_EUSAGE, "seq_len %d exceeds the %d position embeddings", L,
                         o->model.max_pos);
        goto out;
    }
    int W = o->dist ? o->dist->size : 1, rank0 = !o->dist || o->dist->rank == 0;
    if (o->bsz % W || ((o->bsz / W) % o->topts.microbatch && o->bsz / W > o->topts.microbatch)) {
        rc = dsq_err_set(e, DSQ_EUSAGE, "--bsz %d over %d processes: each takes %d, not a "
                         "multiple of --microbatch %d", o->bsz, W, o->bsz / W,
                         o->topts.microbatch);
        goto out;
    }
    if (o->bsz > data.n) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: %" PRId64 " examples, fewer than one batch (--bsz %d)",
                         o->data, data.n, o->bsz);
        goto out;
    }

    dsq_model_config mc = o->model;
    mc.vocab = V;
    if (!(be = dsq_device_backend(&o->device, e))) {
        rc = e->code;
        goto out;
    }
    if ((rc = dsq_model_create(&m, &mc, be, e))) goto out;
    dsq_model_init_params(&m, o->topts.seed);
    if ((rc = dsq_schedule_init(&sch, o->schedule, o->T, e))) goto out;
    if ((rc = dsq_diffusion_init(&df, &m, &sch, &o->dopts, e))) goto out;
    int mb = o->topts.microbatch < o->bsz / W ? o->topts.microbatch : o->bsz / W;
    if ((rc = dsq_diffusion_reserve(&df, mb, L, e))) goto out;
    if ((rc = dsq_tsampler_init(&ts, o->schedule_sampler, o->T, e))) goto out;
    if ((rc = dsq_trainer_init(&tr, &m, &df, &ts, &o->topts, e))) goto out;
    tr.dist = o->dist;

    cfg = make_config(o, tok, L);
    x.config = json_dumps(cfg, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    x.o = o; x.m = &m; x.tr = &tr; x.ts = &ts;

    if (rank0 && mkdir(o->out, 0777) != 0 && errno != EEXIST)
        rc = dsq_err_set(e, DSQ_EIO, "%s: %s", o->out, strerror(errno));
    if (any_rank(o, rc != 0)) {
        if (!rc) rc = dsq_err_set(e, DSQ_EIO, "rank 0 could not create %s", o->out);
        goto out;
    }
    snprintf(path, sizeof path, "%s/log.jsonl", o->out);
    if (o->resume) {
        if ((rc = resolve_resume(o->resume, state_path, sizeof state_path, e))) goto out;
        dsq_train_state s = {.n_ema = o->topts.n_ema, .params = m.params, .adam_m = tr.adam_m,
                             .adam_v = tr.adam_v, .T = o->T, .history = ts.history,
                             .counts = ts.counts};
        for (int i = 0; i < o->topts.n_ema; i++) s.ema[i] = tr.ema[i];
        char *saved = NULL;  /* the settings first: a clearer message than sizes */
        if ((rc = dsq_ckpt_read_config(state_path, &saved, e))) goto out;
        rc = check_resume_config(state_path, saved, cfg, e);
        free(saved);
        if (rc || (rc = dsq_state_read(state_path, &m, &s, NULL, e))) goto out;
        tr.step = s.step;
        tr.updates = s.updates;
        if (isfinite(s.lg_loss_scale)) tr.lg_loss_scale = s.lg_loss_scale;
        x.epoch = s.epoch;
        x.pos = s.pos;
        snprintf(x.last_state, sizeof x.last_state, "%s", state_path);
        if (rank0 && (rc = trim_log(path, s.step, e))) goto out;
        if (o->progress >= 0)
            fprintf(stderr, "%s: resuming from %s at step %" PRId64 "\n", dsq_progname, state_path,
                s.step);
    }
    if (rank0) {
        snprintf(state_path, sizeof state_path, "%s/config.json", o->out);
        rc = write_text(state_path, x.config, strlen(x.config), e);
        snprintf(state_path, sizeof state_path, "%s/vocab.txt", o->out);
        if (!rc) rc = copy_file(o->vocab, state_path, e);
        if (!rc && !(log = fopen(path, o->resume ? "ab" : "wb")))
            rc = dsq_err_set(e, DSQ_EIO, "%s: %s", path, strerror(errno));
    } else {
        log = fopen("/dev/null", "wb");  /* other ranks log nowhere */
    }
    if (any_rank(o, rc != 0)) {
        if (!rc) rc = dsq_err_set(e, DSQ_EIO, "rank 0 could not write the run directory");
        goto out;
    }

    int B = o->bsz;
    bids = xmalloc((size_t)B * L * sizeof *bids);
    bmask = xmalloc((size_t)B * L);
    perm = xmalloc((size_t)data.n * sizeof *perm);
    dsq_train_data_order(data.n, o->topts.seed, x.epoch, perm);
    int64_t end = o->topts.learning_steps;
    if (o->stop_at > 0 && o->stop_at < end) end = o->stop_at;
    int64_t vpos = 0, total = o->topts.learning_steps;
    dsq_train_stats st = {0};
    double t0 = dsq_now_s(), t_int = t0, tok_int = 0;
    int saved_now = 0;
    int64_t start = tr.step;
    if (o->progress >= 0)
        fprintf(stderr, "%s: %zu parameters, %" PRId64 " examples of %d tokens, batch %d "
            "(microbatch %d), steps %" PRId64 "..%" PRId64 "\n", dsq_progname,
            dsq_model_num_params(&m), data.n, L, B, mb, tr.step, end);
    while (tr.step < end) {
        if (x.pos + B > data.n) {
            x.epoch++;
            x.pos = 0;
            dsq_train_data_order(data.n, o->topts.seed, x.epoch, perm);
        }
        for (int b = 0; b < B; b++) {
            int64_t r = perm[x.pos + b];
            memcpy(bids + (size_t)b * L, data.ids + r * L, (size_t)L * sizeof *bids);
            memcpy(bmask + (size_t)b * L, data.mask + r * L, (size_t)L);
        }
        int64_t k = tr.step;
        int want_log = k % o->log_interval == 0 || k + 1 == total;
        double loss = dsq_trainer_step(&tr, bids, bmask, B, L, want_log, &st);
        if (isnan(loss)) {
            rc = dsq_err_set(e, DSQ_EFAIL, "step %" PRId64 ": the loss or its gradient is not "
                             "finite (NaN or infinite); stopping without an update. The last "
                             "good checkpoint is %s", k, x.last_saved[0] ? x.last_saved :
                             "none (nothing saved yet)");
            goto out;
        }
        x.pos += B;
        saved_now = 0;
        tok_int += (double)B * L;
        if (want_log) {
            double t = dsq_now_s();
            log_stats(log, k, o, tr.last_lr, tr.lg_loss_scale, &st,
                      tok_int / fmax(t - t_int, 1e-9), t - t0, "");
            if (o->progress == 0)  /* plain lines when stderr is not a terminal */
                fprintf(stderr, "%s: step %" PRId64 "/%" PRId64 " loss %.4f %.0f tokens/s\n",
                        dsq_progname, k, total, st.loss / st.n, tok_int / fmax(t - t_int, 1e-9));
            memset(&st, 0, sizeof st);
            t_int = t;
            tok_int = 0;
        }
        if (rank0 && valid.n && k % o->eval_interval == 0) {
            int vb = B < valid.n ? B : (int)valid.n;
            int32_t *vi = xmalloc((size_t)vb * L * sizeof *vi);
            uint8_t *vm = xmalloc((size_t)vb * L);
            for (int b = 0; b < vb; b++) {
                int64_t r = (vpos + b) % valid.n;
                memcpy(vi + (size_t)b * L, valid.ids + r * L, (size_t)L * sizeof *vi);
                memcpy(vm + (size_t)b * L, valid.mask + r * L, (size_t)L);
            }
            vpos = (vpos + vb) % valid.n;
            dsq_train_stats es = {0};
            /* a stream block of its own, past every training one */
            dsq_trainer_eval(&tr, vi, vm, vb, L, dsq_trainer_rng_offset(&tr, k, (1 << 20) - 1),
                             &es);
            log_stats(log, k, o, 0, 0, &es, 0, 0, "eval_");
            free(vi);
            free(vm);
        }
        if (o->progress == 1) {  /* one line, rewritten in place */
            double el = dsq_now_s() - t0, per = el / (double)(tr.step - start);
            long eta = (long)(per * (double)(end - tr.step));
            fprintf(stderr, "\r%s: step %" PRId64 "/%" PRId64 " loss %.4f %.0f tokens/s "
                    "ETA %ld:%02ld:%02ld ", dsq_progname, tr.step, end, loss,
                    (double)B * L / per, eta / 3600, eta / 60 % 60, eta % 60);
            if (tr.step == end) fputc('\n', stderr);
        }
        if (tr.step % o->save_interval == 0 || tr.step == total) {
            if ((rc = save_all(&x, e))) goto out;
            saved_now = 1;
        }
        if (any_rank(o, dsq_train_stop_signal != 0)) break;
    }
    if (!saved_now && (rc = save_all(&x, e))) goto out;
    if (tr.step < end) {  /* stopped by a signal (on some rank) */
        rc = dsq_err_set(e, DSQ_EFAIL, "stopped by signal %d after step %" PRId64 "; resume with "
                         "--resume %s", (int)dsq_train_stop_signal, tr.step, x.last_state);
        goto out;
    }
    if (o->progress >= 0)
        fprintf(stderr, "%s: done: %" PRId64 " steps, %s\n", dsq_progname, tr.step, x.last_saved);
out:
    if (log && fclose(log) != 0 && !rc) rc = dsq_err_set(e, DSQ_EIO, "log.jsonl: write error");
    free(bids);
    free(bmask);
    free(perm);
    free(x.config);
    json_decref(cfg);
    dsq_trainer_free(&tr);
    dsq_tsampler_free(&ts);
    dsq_diffusion_free(&df);
    dsq_schedule_free(&sch);
    dsq_model_destroy(&m);
    if (be) be->destroy(be);
    dsq_train_data_free(&data);
    dsq_train_data_free(&valid);
    dsq_train_data_release_stdin();
    if (tok) dsq_tokenizer_free(tok);
    return rc;
}
