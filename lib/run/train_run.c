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
#include <fcntl.h>
#include <sys/file.h>

#include "checkpoint.h"
#include "diffusion_schedule.h"
#include "outfile.h"
#include "plm.h"
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

void dsq_train_run_opts_default(dsq_train_run_opts *o) {
    memset(o, 0, sizeof *o);
    dsq_model_config_default(&o->model, 0, 128);
    o->config_name = "bert-base";
    o->T = 2000;
    o->schedule = "sqrt";
    o->schedule_sampler = "lossaware";
    o->dopts.denoise_rate = 0.2f;
    o->dopts.reg_rate = 0.01f;
    o->topts = (dsq_train_opts){.lr = 1e-4f, .learning_steps = 50000, .microbatch = 64,
                                .n_ema = 1, .ema = {0.9999f}, .seed = 102};
    snprintf(o->ema_names[0], sizeof o->ema_names[0], "0.9999");
    o->bsz = 2048;
    o->save_interval = 10000;
    o->log_interval = 20;
    o->eval_interval = 1000;
    o->progress = DSQ_PROGRESS_NONE;
}

static json_t *make_config(const dsq_train_run_opts *o, const dsq_model_config *c,
                           const dsq_tokenizer *tok, int L) {
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
    json_object_set_new(j, "config_name", json_string(o->init_plm ? o->init_plm : o->config_name));
    if (o->init_plm) json_object_set_new(j, "use_plm_init", json_string("bert"));
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
    size_t n;
    char *buf = dsq_read_file(src, NULL, &n, e);
    if (!buf) return e->code;
    int rc = write_text(dst, buf, n, e);
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

/* Everything one run holds, from setup to the last checkpoint. */
typedef struct {
    const dsq_train_run_opts *o;
    int W, rank0;             /* processes; whether this one is rank 0 */
    dsq_tokenizer *tok;
    dsq_model_config mc;      /* o->model with the vocabulary's size */
    dsq_schedule sch;
    dsq_tsampler ts;
    dsq_train_data data, valid;
    int L, mb;                /* the data's seq_len; microbatch per process */
    dsq_backend *be;
    dsq_model m;
    dsq_diffusion df;
    dsq_trainer tr;
    json_t *cfg;              /* config.json */
    char *config;             /* cfg as JSON text */
    FILE *log;                /* log.jsonl (rank 0; elsewhere /dev/null) */
    int32_t *ids;             /* the batch, [bsz, L] */
    uint8_t *mask;
    int64_t *perm;            /* the epoch's example order, [data.n] */
    int64_t epoch, pos;       /* where the next batch starts */
    int eval_rows;            /* evaluation batch (rank 0 with --valid), [eval_rows, L] */
    int32_t *eval_ids;
    uint8_t *eval_mask;
    int64_t eval_pos;
    int64_t start, end;       /* the steps this run takes */
    dsq_train_stats st;       /* sums over the log interval */
    double t0, t_int, tok_int;  /* run start; interval start and its tokens */
    char last_saved[1024];
    char last_state[1024];
    int lock_fd;              /* rank 0: the run directory's lock, held to the end */
    int made_dir;             /* rank 0 created o->out (removed again on a failed setup) */
} run_ctx;

/* model_<step>, ema_<rate>_<step>, state_<step> (the older state removed
 * once the new one is in place). */
static int save_all_rank0(run_ctx *x, dsq_err *e);

/* Rank 0 writes; every rank learns whether it worked.  A failed save
 * says what the run can go on from. */
static int save_all(run_ctx *x, dsq_err *e) {
    int rc = x->rank0 ? save_all_rank0(x, e) : 0;
    if (any_rank(x->o, rc != 0) && !rc)
        rc = dsq_err_set(e, DSQ_EIO, "rank 0 failed to write a checkpoint");
    if (rc) {
        char was[sizeof e->msg];
        memcpy(was, e->msg, sizeof was);
        if (x->last_state[0])
            dsq_err_set(e, rc, "%s; the last complete state is %s: once there is room (or the "
                        "cause is fixed), continue with --resume %s", was, x->last_state,
                        x->last_state);
        else
            dsq_err_set(e, rc, "%s; no state was saved yet: once there is room (or the cause is "
                        "fixed), run again with --overwrite", was);
    }
    return rc;
}

static int save_all_rank0(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    dsq_model *m = &x->m;
    int64_t step = x->tr.step;
    char p[1024];
    snprintf(p, sizeof p, "%s/model_%06" PRId64 ".safetensors", o->out, step);
    int rc = dsq_ckpt_write(p, m, m->params, x->config, e);
    for (int i = 0; i < o->topts.n_ema && !rc; i++) {
        snprintf(p, sizeof p, "%s/ema_%s_%06" PRId64 ".safetensors", o->out, o->ema_names[i], step);
        rc = dsq_ckpt_write(p, m, x->tr.ema[i], x->config, e);
    }
    if (rc) return rc;
    dsq_train_state s = {.step = step, .updates = x->tr.updates,
                         .lg_loss_scale = x->tr.lg_loss_scale,
                         .epoch = x->epoch, .pos = x->pos, .n_ema = o->topts.n_ema,
                         .params = m->params, .adam_m = x->tr.adam_m, .adam_v = x->tr.adam_v,
                         .T = x->ts.T, .history = x->ts.history, .counts = x->ts.counts};
    for (int i = 0; i < o->topts.n_ema; i++) s.ema[i] = x->tr.ema[i];
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
                                     "the directory: nothing to resume (a run saves its state "
                                     "every --save-interval steps; start it without --resume)",
                                     path);
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

/* ---- the run directory's owner ------------------------------------------- */

/* The lock file of a run directory: flock'ed for the run's lifetime, the
 * holder's pid written in it for the message of the next one. */
#define LOCK_NAME ".dsq-train.lock"

/* Whether name is one of the files a run writes (and --overwrite removes):
 * config.json, vocab.txt, log.jsonl, model_*, ema_* and state_*
 * .safetensors, and their temporaries (.NAME.tmp.PID). */
static int is_run_file(const char *name) {
    char base[256];
    const char *t = name[0] == '.' ? strstr(name, ".tmp.") : NULL;
    if (t && (size_t)(t - name - 1) < sizeof base) {  /* a temporary: its final name */
        snprintf(base, sizeof base, "%.*s", (int)(t - name - 1), name + 1);
        name = base;
    }
    size_t k = strlen(name);
    int st = k > 12 && !strcmp(name + k - 12, ".safetensors") &&
             (!strncmp(name, "model_", 6) || !strncmp(name, "ema_", 4) ||
              !strncmp(name, "state_", 6));
    return st || !strcmp(name, "config.json") || !strcmp(name, "vocab.txt") ||
           !strcmp(name, "log.jsonl");
}

/* How many run files dir holds (*found), the first of them (into first)
 * and, with rm, every one removed. */
static int run_files(const char *dir, int rm, int *found, char *first, size_t n, dsq_err *e) {
    DIR *d = opendir(dir);
    if (!d) return dsq_err_set(e, DSQ_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    *found = 0;
    while ((de = readdir(d)) && !rc) {
        if (!is_run_file(de->d_name)) continue;
        if (!(*found)++) snprintf(first, n, "%s", de->d_name);
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (rm && unlink(p) != 0 && errno != ENOENT)
            rc = dsq_err_set(e, DSQ_EIO, "--overwrite: cannot remove %s: %s", p, strerror(errno));
    }
    closedir(d);
    return rc;
}

/* An exclusive flock on dir's lock file, with this process's pid in it;
 * the lock file must still be the one at its path once locked (a run
 * that failed in a directory it created removes it).  Fails at once when
 * another process holds it, naming that process. */
static int lock_run_dir(run_ctx *x, dsq_err *e) {
    const char *dir = x->o->out;
    char p[1100];
    snprintf(p, sizeof p, "%s/" LOCK_NAME, dir);
    for (;;) {
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return dsq_err_set(e, DSQ_EIO, "%s: cannot create: %s", p, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            char pid[32] = "";
            ssize_t k = pread(fd, pid, sizeof pid - 1, 0);
            pid[k > 0 ? k : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            if (err != EWOULDBLOCK)
                return dsq_err_set(e, DSQ_EIO, "%s: cannot lock: %s", p, strerror(err));
            return dsq_err_set(e, DSQ_EFAIL, "--out %s is in use by another dsq-train (pid %s, "
                               "holding %s): wait for it to finish, or choose another --out",
                               dir, pid[0] ? pid : "unknown", p);
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char pid[32];
            int k = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)k, 0) != k) {
                close(fd);
                return dsq_err_set(e, DSQ_EIO, "%s: write error: %s", p, strerror(errno));
            }
            x->lock_fd = fd;
            return 0;
        }
        close(fd);  /* removed while we waited for it: take the new one */
    }
}

/* Rank 0, before anything is read: --out created (or found), locked, and
 * either new to dsq, continued (--resume) or emptied (--overwrite). */
static int claim_run_dir(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    if (o->overwrite && o->resume)
        return dsq_err_set(e, DSQ_EUSAGE, "--overwrite and --resume exclude each other "
                           "(--resume continues the run in --out, --overwrite starts it again)");
    struct stat st;
    if (o->resume && stat(o->resume, &st) != 0)  /* before --out is made from it */
        return dsq_err_set(e, DSQ_EIO, "--resume %s: %s (give a state_*.safetensors file, or the "
                           "run directory that holds one)", o->resume, strerror(errno));
    if (mkdir(o->out, 0777) == 0)
        x->made_dir = 1;
    else if (errno != EEXIST)
        return dsq_err_set(e, DSQ_EIO, "%s: %s", o->out, strerror(errno));
    int rc = lock_run_dir(x, e);
    if (rc) return rc;
    /* a run killed during a save left its temporary (as large as the
     * state): gone once no process of that pid is alive */
    dsq_out_remove_stale(o->out);
    char first[256];
    int found = 0;
    if ((rc = run_files(o->out, o->overwrite, &found, first, sizeof first, e))) return rc;
    if (found && !o->overwrite && !o->resume)
        return dsq_err_set(e, DSQ_EUSAGE, "--out %s already holds a run (%s): continue it with "
                           "--resume %s, or start it again with --overwrite (removes its "
                           "checkpoints, states, log and config)", o->out, first, o->out);
    return 0;
}

/* A run that failed before it wrote anything leaves no directory behind
 * when it created it. */
static void release_run_dir(run_ctx *x, int rc) {
    if (x->lock_fd < 0) return;
    if (rc && x->made_dir) {
        char p[1100];
        snprintf(p, sizeof p, "%s/" LOCK_NAME, x->o->out);
        unlink(p);
        rmdir(x->o->out);
    }
    close(x->lock_fd);
}

/* ---- setup ---------------------------------------------------------------- */

/* The settings' own checks, before any file is read. */
static int check_settings(const dsq_train_run_opts *o, int W, dsq_err *e) {
    if (o->valid && !strcmp(o->data, "-") && !strcmp(o->valid, "-"))
        return dsq_err_set(e, DSQ_EUSAGE, "--data and --valid cannot both be standard input");
    int per = o->bsz / W, mb = o->topts.microbatch;
    if (W == 1 && o->bsz % mb && o->bsz > mb)
        return dsq_err_set(e, DSQ_EUSAGE, "--bsz %d is not a multiple of --microbatch %d",
                           o->bsz, mb);
    if (o->bsz % W || (per % mb && per > mb))
        return dsq_err_set(e, DSQ_EUSAGE, "--bsz %d over %d processes: each takes %d, not a "
                           "multiple of --microbatch %d", o->bsz, W, per, mb);
    return dsq_diffusion_opts_check(&o->dopts, o->model.mean_embed, e);
}

/* The vocabulary (of --vocab-kind, else of the kind the data names) and
 * the model's shape with its size. */
static int load_vocab(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    dsq_tok_kind kind = o->vocab_kind;
    int rc;
    if (!o->vocab_kind_set && (rc = dsq_train_data_peek_kind(o->data, &kind, e))) return rc;
    if ((rc = dsq_tokenizer_load(&x->tok, o->vocab, kind, e))) {
        if (!o->vocab_kind_set && rc == DSQ_EDATA)  /* the kind came from the data */
            dsq_err_prefix(e, "%s was tokenized with another vocabulary, a %s one (--vocab is "
                           "read as that kind; give the vocabulary the stream was made with)",
                           o->data, dsq_tokenizer_kind_name(kind));
        return rc;
    }
    x->mc = o->model;
    x->mc.vocab = dsq_tokenizer_vocab_size(x->tok);
    if (o->init_plm && (rc = dsq_plm_shape(o->init_plm, &x->mc, e))) return rc;
    return dsq_model_config_check(&x->mc, e);
}

/* The training (and validation) examples, checked against the settings. */
static int load_data(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    int V = x->mc.vocab, rc;
    if ((rc = dsq_train_data_load(&x->data, o->data, x->tok, V, e))) return rc;
    if (o->valid && (rc = dsq_train_data_load(&x->valid, o->valid, x->tok, V, e))) return rc;
    int L = x->L = x->data.L;
    if (o->seq_len > o->model.max_pos)
        return dsq_err_set(e, DSQ_EUSAGE, "--seq-len %d exceeds the model's %d position "
                           "embeddings (at most %d)", o->seq_len, o->model.max_pos,
                           o->model.max_pos);
    if (o->seq_len && o->seq_len != L)
        return dsq_err_set(e, DSQ_EDATA, "%s: examples are packed to seq_len %d, --seq-len is "
                           "%d (tokenize with --seq-len %d)", o->data, L, o->seq_len, o->seq_len);
    if (o->valid && x->valid.L != L)
        return dsq_err_set(e, DSQ_EDATA, "%s: seq_len %d, the training data's is %d", o->valid,
                           x->valid.L, L);
    if (L > x->mc.max_pos)
        return dsq_err_set(e, DSQ_EUSAGE, "%s: seq_len %d exceeds the %d position embeddings "
                           "(tokenize with --seq-len %d or less)", o->data, L, x->mc.max_pos,
                           x->mc.max_pos);
    if (o->bsz > x->data.n) {
        int64_t mb = o->topts.microbatch, fit = x->data.n >= mb ? x->data.n / mb * mb : x->data.n;
        return dsq_err_set(e, DSQ_EDATA, "%s: %" PRId64 " examples, fewer than one batch "
                           "(--bsz %d): give --bsz %" PRId64 " or less (a multiple of "
                           "--microbatch), or more data", o->data, x->data.n, o->bsz, fit);
    }
    return 0;
}

/* --init: the weights of a checkpoint (either container, the reference's
 * EMA layout as dsq-sample reads it); Adam moments start at zero, the EMA
 * copies at these weights, the step at 0, as the reference's
 * --resume_checkpoint of a model file does. */
static int init_weights(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    dsq_ckpt_info info;
    if (dsq_ckpt_read(o->init, &x->m, x->m.params, &info, e))
        return dsq_err_prefix(e, "--init");
    if (info.untied && x->rank0 && o->progress != DSQ_PROGRESS_NONE)
        fprintf(stderr, "dsq-train: %s: lm_head.weight differs from word_embedding.weight (a "
                "reference EMA file); starting from lm_head.weight for both, as the reference's "
                "loader does\n", o->init);
    return 0;
}

/* Backend, model (initialised from the seed, then --init's weights or
 * --init-plm's pretrained tensors at step 0), diffusion and trainer. */
static int build_trainer(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    int rc;
    if (!(x->be = dsq_device_backend(&o->device, e))) return e->code;
    if ((rc = dsq_model_create(&x->m, &x->mc, x->be, e))) return rc;
    dsq_model_init_params(&x->m, o->topts.seed);
    if (o->init && (rc = init_weights(x, e))) return rc;
    if (o->init_plm && !o->resume && (rc = dsq_plm_load(o->init_plm, &x->m, x->tok, e)))
        return rc;
    if ((rc = dsq_diffusion_init(&x->df, &x->m, &x->sch, &o->dopts, e))) return rc;
    int per = o->bsz / x->W;
    x->mb = o->topts.microbatch < per ? o->topts.microbatch : per;
    if ((rc = dsq_diffusion_reserve(&x->df, x->mb, x->L, e))) return rc;
    if ((rc = dsq_trainer_init(&x->tr, &x->m, &x->df, &x->ts, &o->topts, e))) return rc;
    x->tr.dist = o->dist;
    return dsq_trainer_connect(&x->tr, e);
}

/* Settings checked first, then the schedule and schedule sampler (their
 * names), the data and the trainer. */
static int setup(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    int rc;
    if ((rc = check_settings(o, x->W, e))) return rc;
    rc = x->rank0 ? claim_run_dir(x, e) : 0;
    if (any_rank(o, rc != 0))
        return rc ? rc : dsq_err_set(e, DSQ_EFAIL, "rank 0 could not take the run directory %s",
                                     o->out);
    if ((rc = load_vocab(x, e))) return rc;
    if ((rc = dsq_schedule_init(&x->sch, o->schedule, o->T, e))) return rc;
    if ((rc = dsq_tsampler_init(&x->ts, o->schedule_sampler, o->T, e))) return rc;
    if ((rc = load_data(x, e))) return rc;
    return build_trainer(x, e);
}

/* ---- the run directory ---------------------------------------------------- */

/* The state of --resume: weights, moments, EMA, schedule-sampler history,
 * step and data position; log.jsonl cut back to the steps before it. */
static int resume(run_ctx *x, const char *log_path, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    char state_path[1024], *saved = NULL;
    int rc = resolve_resume(o->resume, state_path, sizeof state_path, e);
    if (rc) return rc;
    /* the settings first: a clearer message than sizes */
    if ((rc = dsq_ckpt_read_config(state_path, &saved, NULL, e))) return rc;
    rc = check_resume_config(state_path, saved, x->cfg, e);
    free(saved);
    if (rc) return rc;
    dsq_train_state s = {.n_ema = o->topts.n_ema, .params = x->m.params,
                         .adam_m = x->tr.adam_m, .adam_v = x->tr.adam_v, .T = o->T,
                         .history = x->ts.history, .counts = x->ts.counts};
    for (int i = 0; i < o->topts.n_ema; i++) s.ema[i] = x->tr.ema[i];
    if ((rc = dsq_state_read(state_path, &x->m, &s, NULL, e))) return rc;
    if (s.step > o->topts.learning_steps)
        return dsq_err_set(e, DSQ_EDATA, "%s: step %" PRId64 " is past --learning-steps %" PRId64
                           ": that run is already complete (to train further, raise "
                           "--learning-steps to more than %" PRId64 ")", state_path, s.step,
                           (int64_t)o->topts.learning_steps, s.step);
    x->tr.step = s.step;
    x->tr.updates = s.updates;
    if (isfinite(s.lg_loss_scale)) x->tr.lg_loss_scale = s.lg_loss_scale;
    x->epoch = s.epoch;
    x->pos = s.pos;
    snprintf(x->last_state, sizeof x->last_state, "%s", state_path);
    /* the last good checkpoint until this run saves one: the resumed
     * step's model file, else the state itself */
    snprintf(x->last_saved, sizeof x->last_saved, "%s/model_%06" PRId64 ".safetensors", o->out,
             s.step);
    if (access(x->last_saved, R_OK) != 0)
        snprintf(x->last_saved, sizeof x->last_saved, "%s", state_path);
    if (x->rank0 && (rc = trim_log(log_path, s.step, e))) return rc;
    if (o->progress != DSQ_PROGRESS_NONE)
        fprintf(stderr, "%s: resuming from %s at step %" PRId64 "%s\n", dsq_progname, state_path,
                s.step, o->init_plm ? " (--init-plm: only its config.json read, for the shape; "
                "the weights are the state's)" : "");
    return 0;
}

/* Rank 0: config.json, vocab.txt and log.jsonl (appended to on resume). */
static int write_run_files(run_ctx *x, const char *log_path, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", o->out);
    int rc = write_text(p, x->config, strlen(x->config), e);
    snprintf(p, sizeof p, "%s/vocab.txt", o->out);
    if (!rc) rc = copy_file(o->vocab, p, e);
    if (!rc && !(x->log = fopen(log_path, o->resume ? "ab" : "wb")))
        rc = dsq_err_set(e, DSQ_EIO, "%s: %s", log_path, strerror(errno));
    return rc;
}

/* The run directory: created by rank 0, resumed from, its files written;
 * every rank learns whether rank 0 managed. */
static int open_run_dir(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    char log_path[1024];
    int rc = 0;
    x->cfg = make_config(o, &x->mc, x->tok, x->L);
    /* how this run was spread: not a shape setting, resume may change it */
    json_object_set_new(x->cfg, "ranks", json_integer(x->W));
    json_object_set_new(x->cfg, "gradient_sum", json_string(dsq_trainer_grad_sum(&x->tr)));
    x->config = json_dumps(x->cfg, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", o->out);
    if (o->resume && (rc = resume(x, log_path, e))) return rc;
    if (x->rank0)
        rc = write_run_files(x, log_path, e);
    else
        x->log = fopen("/dev/null", "wb");  /* other ranks log nowhere */
    if (any_rank(o, rc != 0))
        return rc ? rc : dsq_err_set(e, DSQ_EIO, "rank 0 could not write the run directory");
    return 0;
}

/* ---- the step loop ---------------------------------------------------------- */

/* The batch, the evaluation batch and the epoch's order: once per run. */
static void alloc_batches(run_ctx *x) {
    const dsq_train_run_opts *o = x->o;
    size_t B = (size_t)o->bsz, L = (size_t)x->L;
    x->ids = xmalloc(B * L * sizeof *x->ids);
    x->mask = xmalloc(B * L);
    x->perm = xmalloc((size_t)x->data.n * sizeof *x->perm);
    dsq_train_data_order(x->data.n, o->topts.seed, x->epoch, x->perm);
    if (x->rank0 && x->valid.n) {
        x->eval_rows = o->bsz < x->valid.n ? o->bsz : (int)x->valid.n;
        x->eval_ids = xmalloc((size_t)x->eval_rows * L * sizeof *x->eval_ids);
        x->eval_mask = xmalloc((size_t)x->eval_rows * L);
    }
}

/* Example r of d into row b of a batch (ids, mask: rows of d->L). */
static void copy_row(const dsq_train_data *d, int64_t r, int b, int32_t *ids, uint8_t *mask) {
    size_t L = (size_t)d->L;
    memcpy(ids + (size_t)b * L, d->ids + r * d->L, L * sizeof *ids);
    memcpy(mask + (size_t)b * L, d->mask + r * d->L, L);
}

/* The next bsz examples of the epoch's order (a new epoch when they run
 * out). */
static void next_batch(run_ctx *x) {
    const dsq_train_run_opts *o = x->o;
    if (x->pos + o->bsz > x->data.n) {
        x->epoch++;
        x->pos = 0;
        dsq_train_data_order(x->data.n, o->topts.seed, x->epoch, x->perm);
    }
    for (int b = 0; b < o->bsz; b++) copy_row(&x->data, x->perm[x->pos + b], b, x->ids, x->mask);
    x->pos += o->bsz;
}

/* The log.jsonl line of the interval that ends with step k (without a
 * terminal, a line on stderr too); the interval's sums start again. */
static void log_interval(run_ctx *x, int64_t k) {
    const dsq_train_run_opts *o = x->o;
    double t = dsq_now_s(), rate = x->tok_int / fmax(t - x->t_int, 1e-9);
    log_stats(x->log, k, o, x->tr.last_lr, x->tr.lg_loss_scale, &x->st, rate, t - x->t0, "");
    if (o->progress == DSQ_PROGRESS_LINES)
        fprintf(stderr, "%s: step %" PRId64 "/%" PRId64 " loss %.4f %.0f tokens/s\n",
                dsq_progname, k + 1, o->topts.learning_steps, x->st.loss / x->st.n, rate);
    memset(&x->st, 0, sizeof x->st);
    x->t_int = t;
    x->tok_int = 0;
}

/* Forward-only losses of the next eval_rows validation examples (taken
 * in turn, wrapping around), logged with the prefix eval_. */
static void evaluate(run_ctx *x, int64_t k) {
    for (int b = 0; b < x->eval_rows; b++)
        copy_row(&x->valid, (x->eval_pos + b) % x->valid.n, b, x->eval_ids, x->eval_mask);
    x->eval_pos = (x->eval_pos + x->eval_rows) % x->valid.n;
    dsq_train_stats es = {0};
    /* a stream block of its own, past every training one */
    dsq_trainer_eval(&x->tr, x->eval_ids, x->eval_mask, x->eval_rows, x->L,
                     dsq_trainer_rng_offset(&x->tr, k, (1 << 20) - 1), &es);
    log_stats(x->log, k, x->o, 0, 0, &es, 0, 0, "eval_");
}

/* One line on the terminal, rewritten in place after every step. */
static void show_bar(const run_ctx *x, double loss) {
    double el = dsq_now_s() - x->t0, per = el / (double)(x->tr.step - x->start);
    long eta = (long)(per * (double)(x->end - x->tr.step));
    fprintf(stderr, "\r%s: step %" PRId64 "/%" PRId64 " loss %.4f %.0f tokens/s "
            "ETA %ld:%02ld:%02ld ", dsq_progname, x->tr.step, x->end, loss,
            (double)x->o->bsz * x->L / per, eta / 3600, eta / 60 % 60, eta % 60);
    if (x->tr.step == x->end) fputc('\n', stderr);
}

/* One update and what follows it: the log line, evaluation, progress and
 * the checkpoint (*saved: whether this step wrote one). */
static int train_step(run_ctx *x, int *saved, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    int64_t k = x->tr.step, total = o->topts.learning_steps;
    int want_log = k % o->log_interval == 0 || k + 1 == total;
    next_batch(x);
    double loss = dsq_trainer_step(&x->tr, x->ids, x->mask, o->bsz, x->L, want_log, &x->st);
    if (isnan(loss))
        return dsq_err_set(e, DSQ_EFAIL, "step %" PRId64 ": the loss or its gradient is not "
                           "finite (NaN or infinite); stopping without an update. The last "
                           "good checkpoint is %s", k + 1, x->last_saved[0] ? x->last_saved :
                           "none (nothing saved yet)");
    x->tok_int += (double)o->bsz * x->L;
    if (want_log) log_interval(x, k);
    if (x->eval_rows && k % o->eval_interval == 0) evaluate(x, k);
    if (o->progress == DSQ_PROGRESS_BAR) show_bar(x, loss);
    *saved = 0;
    if (x->tr.step % o->save_interval == 0 || x->tr.step == total) {
        int rc = save_all(x, e);
        if (rc) return rc;
        *saved = 1;
    }
    return 0;
}

/* Steps up to learning_steps (or --stop-at, or a signal on any rank), then
 * a checkpoint of the last one. */
static int train_loop(run_ctx *x, dsq_err *e) {
    const dsq_train_run_opts *o = x->o;
    x->start = x->tr.step;
    x->end = o->topts.learning_steps;
    if (o->stop_at > 0 && o->stop_at < x->end) x->end = o->stop_at;
    x->t0 = x->t_int = dsq_now_s();
    if (o->progress != DSQ_PROGRESS_NONE)
        fprintf(stderr, "%s: %zu parameters, %" PRId64 " examples of %d tokens, batch %d "
                "(microbatch %d), steps %" PRId64 "..%" PRId64 "\n", dsq_progname,
                dsq_model_num_params(&x->m), x->data.n, x->L, o->bsz, x->mb, x->start + 1, x->end);
    int saved = 0, rc;
    /* a signal during setup (reading a large stream) stops before the
     * first step */
    while (x->tr.step < x->end && !any_rank(o, dsq_train_stop_signal != 0))
        if ((rc = train_step(x, &saved, e))) return rc;
    if (!saved && (rc = save_all(x, e))) return rc;
    if (x->tr.step < x->end)  /* stopped by a signal (on some rank) */
        return dsq_err_set(e, DSQ_EFAIL, "stopped by signal %d after step %" PRId64 "; resume "
                           "with --resume %s", (int)dsq_train_stop_signal, x->tr.step,
                           x->last_state);
    if (o->progress != DSQ_PROGRESS_NONE)
        fprintf(stderr, "%s: done: %" PRId64 " steps, %s\n", dsq_progname, x->tr.step,
                x->last_saved);
    return 0;
}

/* Releases what the run holds; a failed close of log.jsonl is an error
 * when nothing else failed.  Returns rc. */
static int run_free(run_ctx *x, int rc, dsq_err *e) {
    if (x->log && fclose(x->log) != 0 && !rc)
        rc = dsq_err_set(e, DSQ_EIO, "log.jsonl: write error");
    free(x->ids);
    free(x->mask);
    free(x->eval_ids);
    free(x->eval_mask);
    free(x->perm);
    free(x->config);
    json_decref(x->cfg);
    dsq_trainer_free(&x->tr);
    dsq_tsampler_free(&x->ts);
    dsq_diffusion_free(&x->df);
    dsq_schedule_free(&x->sch);
    dsq_model_destroy(&x->m);
    if (x->be) x->be->destroy(x->be);
    dsq_train_data_free(&x->data);
    dsq_train_data_free(&x->valid);
    dsq_train_data_release_stdin();
    if (x->tok) dsq_tokenizer_free(x->tok);
    release_run_dir(x, rc);
    return rc;
}

int dsq_train_run(const dsq_train_run_opts *o, dsq_err *e) {
    run_ctx x = {.o = o, .W = o->dist ? o->dist->size : 1,
                 .rank0 = !o->dist || o->dist->rank == 0, .lock_fd = -1};
    int rc = setup(&x, e);
    if (!rc) rc = open_run_dir(&x, e);
    if (!rc) {
        alloc_batches(&x);
        rc = train_loop(&x, e);
    }
    return run_free(&x, rc, e);
}
