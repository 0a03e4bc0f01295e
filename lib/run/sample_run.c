/* dsq-sample's run: model and vocabulary from a checkpoint, examples from
 * a tensor stream, decoded batch by batch in input order. */
#include "sample_run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "diffusion_schedule.h"
#include "examples.h"
#include "jsonl.h"
#include "outfile.h"
#include "refrun.h"
#include "stream.h"
#include "util.h"

volatile sig_atomic_t dsq_sample_stop_signal;

void dsq_sample_run_opts_default(dsq_sample_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->input = "-";
    o->output = "-";
    o->join = DSQ_JOIN_MODERN;
    dsq_sample_opts_default(&o->so);
    o->mean_start = -1;
    o->denoise_rate = -1.0f;
    o->batch = 64;
    o->progress = DSQ_PROGRESS_NONE;
}

/* ---- configuration ------------------------------------------------------ */

typedef struct {
    dsq_model_config mc;
    int T, seq_len;           /* seq_len 0: not recorded */
    char schedule[64];
    char *vocab_path;         /* resolved */
    int kind_known;
    dsq_tok_kind kind;
    char digest[128];         /* "" when not recorded */
    int denoise;
    double denoise_rate;
} model_setup;

/* Key k of j within the range of limit id (the command line's); dflt
 * when absent.  A value of another type or outside the range sets *rc
 * (DSQ_EDATA, naming src, the key, the value and the range); once *rc is
 * set, later keys are not looked at. */
static int jlim(json_t *j, const char *k, dsq_limit_id id, int dflt, const char *src, int *rc,
                dsq_err *e) {
    json_t *v = json_object_get(j, k);
    if (!v || *rc) return dflt;
    if (!json_is_integer(v)) {
        *rc = dsq_err_set(e, DSQ_EDATA, "%s: %s is not an integer", src, k);
        return dflt;
    }
    json_int_t x = json_integer_value(v);
    if (dsq_limit_check(id, k, (long long)x, src, e)) {
        *rc = e->code;
        return dflt;
    }
    return (int)x;
}

/* A number key within [lo, hi] (finite); dflt when absent. */
static double jnum(json_t *j, const char *k, double dflt, double lo, double hi, const char *src,
                   int *rc, dsq_err *e) {
    json_t *v = json_object_get(j, k);
    if (!v || *rc) return dflt;
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(x >= lo && x <= hi))
        *rc = dsq_err_set(e, DSQ_EDATA, "%s: %s is not a number in [%g, %g]", src, k, lo, hi);
    return *rc ? dflt : x;
}


/* The configuration: --config, else the checkpoint's "config" metadata,
 * else the reference's training_args.json beside it (refrun.h), else
 * config.json beside it.  Keys as dsq-train writes them; absent
 * model keys take the bert-base defaults. */
static int load_setup(const dsq_sample_run_opts *o, model_setup *s, dsq_err *e) {
    memset(s, 0, sizeof *s);
    char *dir = dsq_path_dir(o->model), *text = NULL, *src = NULL;
    int rc = 0;
    if (o->config) {
        src = xstrdup(o->config);
        if (!(text = dsq_read_file(o->config, NULL, NULL, e))) rc = e->code;
    } else if (access(o->model, R_OK) != 0) {
        rc = dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", o->model, strerror(errno));
    } else {
        dsq_err me = {0};
        int no_config;
        if (dsq_ckpt_read_config(o->model, &text, &no_config, &me) == 0 && text) {
            src = xstrdup(o->model);
        } else if (!no_config) {  /* not a safetensors file at all */
            rc = dsq_err_set(e, me.code == DSQ_EIO ? DSQ_EIO : DSQ_EDATA, "%s (--model takes a "
                             "model_*.safetensors or ema_*.safetensors file that dsq-train "
                             "wrote, or a reference run's .pt checkpoint)", me.msg);
        } else {
            free(text);
            text = NULL;
            src = dsq_path_join(dir, "training_args.json");
            if (access(src, F_OK) == 0) {
                if (dsq_refrun_config(src, &text, e)) rc = e->code;
            } else {
                free(src);
                src = dsq_path_join(dir, "config.json");
                if (!(text = dsq_read_file(src, NULL, NULL, e))) {
                    char why[sizeof e->msg];
                    snprintf(why, sizeof why, "%s", e->msg);
                    rc = dsq_err_set(e, DSQ_EDATA, "%s has no configuration in its metadata, "
                                     "no training_args.json beside it, and no config.json "
                                     "(%s); give the training run's config.json with --config",
                                     o->model, why);
                }
            }
        }
    }
    json_error_t je;
    json_t *j = rc ? NULL : json_loads(text, 0, &je);
    if (!rc && !json_is_object(j))
        rc = dsq_err_set(e, DSQ_EDATA, "%s: configuration is not a JSON object (%s)", src, je.text);
    if (!rc) {
        /* every size within the command line's limits before anything is
         * allocated from it */
        if (!json_object_get(j, "vocab_size"))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: configuration lacks vocab_size", src);
        int V = jlim(j, "vocab_size", DSQ_LIM_VOCAB, 0, src, &rc, e);
        int d = jlim(j, "hidden_dim", DSQ_LIM_HIDDEN_DIM, 128, src, &rc, e);
        dsq_model_config_default(&s->mc, V, d);
        s->mc.dt = jlim(j, "hidden_t_dim", DSQ_LIM_HIDDEN_T_DIM, s->mc.dt, src, &rc, e);
        s->mc.H = jlim(j, "hidden_size", DSQ_LIM_HIDDEN, s->mc.H, src, &rc, e);
        s->mc.nh = jlim(j, "num_attention_heads", DSQ_LIM_HEADS, s->mc.nh, src, &rc, e);
        s->mc.I = jlim(j, "intermediate_size", DSQ_LIM_INTER, s->mc.I, src, &rc, e);
        s->mc.n_layers = jlim(j, "num_hidden_layers", DSQ_LIM_LAYERS, s->mc.n_layers, src, &rc, e);
        s->mc.max_pos = jlim(j, "max_position_embeddings", DSQ_LIM_MAX_POS, s->mc.max_pos, src,
                             &rc, e);
        s->mc.ln_eps = (float)jnum(j, "layer_norm_eps", s->mc.ln_eps, 1e-30, 1.0, src, &rc, e);
        s->mc.mean_embed = json_is_true(json_object_get(j, "learned_mean_embed"));
        s->T = jlim(j, "diffusion_steps", DSQ_LIM_DIFF_STEPS, 2000, src, &rc, e);
        s->seq_len = jlim(j, "seq_len", DSQ_LIM_SEQ_LEN, 0, src, &rc, e);
        if (!rc && s->seq_len > s->mc.max_pos)
            rc = dsq_err_set(e, DSQ_EDATA, "%s: seq_len = %d exceeds max_position_embeddings = "
                             "%d", src, s->seq_len, s->mc.max_pos);
        const char *sch = json_string_value(json_object_get(j, "noise_schedule"));
        snprintf(s->schedule, sizeof s->schedule, "%s", sch ? sch : "sqrt");
        const char *dg = json_string_value(json_object_get(j, "vocab_digest"));
        snprintf(s->digest, sizeof s->digest, "%s", dg ? dg : "");
        const char *kind = json_string_value(json_object_get(j, "vocab_kind"));
        s->kind_known = kind && dsq_tokenizer_kind_parse(kind, &s->kind) == 0;
        const char *voc = json_string_value(json_object_get(j, "vocab"));
        s->vocab_path = o->vocab ? xstrdup(o->vocab) : dsq_path_join(dir, voc ? voc : "vocab.txt");
        s->denoise = json_is_true(json_object_get(j, "denoise"));
        s->denoise_rate = jnum(j, "denoise_rate", 0.0, 0.0, 1e6, src, &rc, e);
        if (!rc && dsq_model_config_check(&s->mc, e)) {
            dsq_err_prefix(e, "%s", src);
            rc = e->code = DSQ_EDATA;  /* a file's, not the command line's */
        }
    }
    json_decref(j);
    free(text);
    free(src);
    free(dir);
    return rc;
}

/* ---- output ------------------------------------------------------------- */

typedef struct {
    const dsq_sample_run_opts *o;
    const dsq_tokenizer *tok;
    dsq_out out;
    dsq_stream_writer *w;     /* --ids */
    dsq_str buf;
    int L;
} writer;

static int put(writer *w, const char *key, const int32_t *ids, size_t n, dsq_err *e) {
    if (dsq_tokenizer_decode(w->tok, ids, n, w->o->join, &w->buf, e)) return e->code;
    fprintf(w->out.f, "\"%s\": ", key);
    dsq_json_put_string(w->out.f, w->buf.s, w->buf.n);
    return 0;
}

/* One batch: rows of input ids/mask, their indices and generated tokens. */
static int write_batch(writer *w, const int32_t *ids, const uint8_t *mask, const int64_t *index,
                       const int32_t *tok, int B, dsq_err *e) {
    int L = w->L;
    if (w->w) {
        dsq_record r;
        dsq_record_init(&r);
        int64_t sh[2] = {B, L};
        dsq_record_add(&r, "ids", DSQ_I32, 2, sh, tok);
        dsq_record_add(&r, "input_mask", DSQ_U8, 2, sh, mask);
        dsq_record_add(&r, "index", DSQ_I64, 1, sh, index);
        dsq_record_set_meta(&r, "dsq_kind", "ids");
        char v[32];
        snprintf(v, sizeof v, "%d", L);
        dsq_record_set_meta(&r, "seq_len", v);
        dsq_tokenizer_meta(&r, w->tok);
        dsq_record_set_meta(&r, "sampler", dsq_sampler_name(w->o->so.kind));
        snprintf(v, sizeof v, "%" PRIu64, w->o->so.seed);
        dsq_record_set_meta(&r, "seed", v);
        int rc = dsq_stream_write(w->w, &r, e);
        dsq_record_free(&r);
        return rc;
    }
    for (int b = 0; b < B; b++) {
        const int32_t *row = ids + (size_t)b * L, *gen = tok + (size_t)b * L;
        int len_x = 0;
        while (len_x < L && mask[(size_t)b * L + len_x] == 0) len_x++;
        putc('{', w->out.f);
        if (put(w, "recover", gen + len_x, (size_t)(L - len_x), e)) return e->code;
        fputs(", ", w->out.f);
        if (put(w, "reference", row + len_x, (size_t)(L - len_x), e)) return e->code;
        fputs(", ", w->out.f);
        if (put(w, "source", row, (size_t)len_x, e)) return e->code;
        fputs("}\n", w->out.f);
    }
    if (fflush(w->out.f) || ferror(w->out.f))
        return dsq_err_set(e, DSQ_EIO, "%s: write error: %s", dsq_out_name(&w->out), strerror(errno));
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

typedef struct {
    const dsq_sample_run_opts *o;
    long done;                /* examples finished */
    long total;               /* examples in the input; -1 unknown (a pipe) */
    int batch_rows;
    double t0, last;
    long last_tenth;          /* LINES: the tenth of total of the last line */
} prog;

/* "D/T examples (P%), R examples/s, ETA H:MM:SS" (T, P and ETA when the
 * total is known, the ETA once a rate is). */
static void prog_text(const prog *p, double t, char *s, size_t n) {
    double rate = p->done / (t - p->t0 + 1e-9);
    int k = p->total >= 0 ? snprintf(s, n, "%ld/%ld examples (%.0f%%)", p->done, p->total,
                                     p->total ? 100.0 * p->done / p->total : 100.0)
                          : snprintf(s, n, "%ld examples", p->done);
    k += snprintf(s + k, n - (size_t)k, "; %.2f examples/s", rate);
    if (p->total >= 0 && p->done > 0) {
        long eta = (long)((p->total - p->done) / rate);
        snprintf(s + k, n - (size_t)k, "; ETA %ld:%02ld:%02ld", eta / 3600, eta / 60 % 60,
                 eta % 60);
    }
}

/* On a terminal, one line kept up to date (force: a wave is done);
 * otherwise a line whenever the examples done pass another tenth of the
 * total, or 30 s after the last one (with the step of the batch when in
 * the middle of one). */
static void show(prog *p, int k, int total, int force) {
    double t = dsq_now_s();
    char s[200];
    if (p->o->progress == DSQ_PROGRESS_BAR && (force || t - p->last > 0.2)) {
        prog_text(p, t, s, sizeof s);
        if (force) fprintf(stderr, "\rdsq-sample: %s\x1b[K", s);
        else fprintf(stderr, "\rdsq-sample: %s; batch of %d: step %d/%d\x1b[K", s, p->batch_rows,
                     k, total);
        p->last = t;
    } else if (p->o->progress == DSQ_PROGRESS_LINES) {
        long tenth = p->total > 0 ? p->done * 10 / p->total : -1;
        if (!(force && tenth > p->last_tenth) && t - p->last < 30) return;
        prog_text(p, t, s, sizeof s);
        if (force) fprintf(stderr, "dsq-sample: %s\n", s);
        else fprintf(stderr, "dsq-sample: %s; batch of %d: step %d/%d\n", s, p->batch_rows, k,
                     total);
        p->last = t;
        if (force) p->last_tenth = tenth;
    }
}

static int on_step(void *ctx, int k, int total) {
    prog *p = ctx;
    if (dsq_sample_stop_signal) return 1;
    show(p, k, total, 0);
    return 0;
}

/* ---- input rows (rank 0) -------------------------------------------------- */

typedef struct {
    dsq_stream_reader *rd;
    const char *name;
    const dsq_tokenizer *tok;
    const model_setup *su;
    const char *model;
    dsq_record rec;
    dsq_examples v;
    int64_t next;             /* next unread row of rec */
    int eof;
    int L;                    /* 0 until the first record is read */
} row_source;

/* Reads the next record into s->v; sets s->eof at the end of the stream.
 * The first record fixes L (checked against the model), later ones must
 * agree. */
static int source_next_record(row_source *s, dsq_err *e) {
    int got = dsq_stream_read(s->rd, &s->rec, e);
    if (got < 0) return e->code;
    s->next = 0;
    memset(&s->v, 0, sizeof s->v);
    if (!got) {
        s->eof = 1;
        return 0;
    }
    char where[600];
    snprintf(where, sizeof where, "%s: record %ld", s->name, dsq_stream_records_read(s->rd));
    if (dsq_check_tokenizer_meta(&s->rec, s->tok, where, e)) return e->code;
    if (dsq_examples_view(&s->rec, s->su->mc.vocab, &s->v, where, e)) return e->code;
    int L = (int)s->v.seq_len;
    if (!s->L) {
        if (s->su->seq_len && L != s->su->seq_len)
            return dsq_err_set(e, DSQ_EDATA, "%s: seq_len %d, but the model %s was trained with "
                               "seq_len %d (tokenize with --seq-len %d)", where, L, s->model,
                               s->su->seq_len, s->su->seq_len);
        if (L > s->su->mc.max_pos)
            return dsq_err_set(e, DSQ_EDATA, "%s: seq_len %d exceeds the model's %d positions",
                               where, L, s->su->mc.max_pos);
        s->L = L;
    } else if (L != s->L) {
        return dsq_err_set(e, DSQ_EDATA, "%s: seq_len %d differs from the stream's first record "
                           "(%d)", where, L, s->L);
    }
    return 0;
}

/* Up to cap rows into ids/mask/index ([cap, L], [cap, L], [cap]); *n of
 * them; fewer than cap only at the end of the stream. */
static int source_rows(row_source *s, int32_t *ids, uint8_t *mask, int64_t *index, int cap,
                       int *n, dsq_err *e) {
    int L = s->L;
    *n = 0;
    while (*n < cap) {
        if (s->eof) return 0;
        if (s->next == s->v.n) {
            if (source_next_record(s, e)) return e->code;
            continue;
        }
        int64_t r = s->next++;
        memcpy(ids + (size_t)*n * L, s->v.input_ids + r * L, (size_t)L * sizeof *ids);
        memcpy(mask + (size_t)*n * L, s->v.input_mask + r * L, (size_t)L);
        index[*n] = s->v.index[r];
        (*n)++;
    }
    return 0;
}

/* ---- the run --------------------------------------------------------------- */

/* Everything one decoding run holds. */
typedef struct {
    const dsq_sample_run_opts *o;
    const dsq_dist *d;        /* the ranks (a single process: one) */
    int root;                 /* rank 0: reads the input, writes the output */
    model_setup su;
    dsq_tokenizer *tok;
    dsq_schedule sch;
    int have_sch;
    dsq_backend *be;
    dsq_model m;
    int have_model;
    dsq_sample_opts so;       /* o->so completed from the model's configuration */
    dsq_sampler *smp;
    FILE *in;
    row_source src;
    writer w;
    int out_open;
    int L;                    /* the stream's seq_len (0: an empty stream) */
    int cap;                  /* rows of the buffers: root a wave, others a share */
    int32_t *ids, *gen;       /* [cap, L] input ids, generated tokens */
    uint8_t *mask;            /* [cap, L] */
    int64_t *index;           /* [cap] */
    prog pg;
    long done;                /* examples written */
    long total;               /* rank 0: examples in the input (-1: unknown) */
} sample_ctx;

/* Ranks agree on failure: the maximum of the codes; a rank that did not
 * fail itself learns that another one did. */
static int agree(const dsq_dist *d, int rc, dsq_err *e) {
    int all = rc;
    dsq_dist_max_int(d, &all, 1);
    if (all && !rc)
        rc = dsq_err_set(e, all, "rank %d stopped: another rank failed (see its message)",
                         d->rank);
    return rc;
}

/* The vocabulary the configuration names, checked against the model's. */
static int load_vocab(sample_ctx *x, dsq_err *e) {
    const dsq_sample_run_opts *o = x->o;
    const model_setup *su = &x->su;
    dsq_tok_kind kind = o->vocab_kind_set ? o->vocab_kind
                        : su->kind_known ? su->kind : DSQ_TOK_WORDPIECE;
    int rc = dsq_tokenizer_load(&x->tok, su->vocab_path, kind, e);
    if (rc == DSQ_EIO && !o->vocab) {  /* the vocabulary beside the checkpoint */
        char was[sizeof e->msg];
        memcpy(was, e->msg, sizeof was);
        return dsq_err_set(e, rc, "%s (the model's vocabulary is looked for beside it; for a "
                           "checkpoint moved out of its run directory, give the run's "
                           "vocab.txt with --vocab)", was);
    }
    if (rc) return rc;
    if (dsq_tokenizer_vocab_size(x->tok) != su->mc.vocab)
        return dsq_err_set(e, DSQ_EDATA, "%s: %d tokens, but the model %s has a vocabulary of %d",
                           su->vocab_path, (int)dsq_tokenizer_vocab_size(x->tok), o->model,
                           su->mc.vocab);
    if (su->digest[0] && strcmp(su->digest, dsq_tokenizer_digest(x->tok)))
        return dsq_err_set(e, DSQ_EDATA, "%s (%s) is not the vocabulary the model %s was trained "
                           "with (%s)", su->vocab_path, dsq_tokenizer_digest(x->tok), o->model,
                           su->digest);
    return 0;
}

/* The sampler options: bad ones fail before any input is read; the v2
 * ones (mean start, denoise rate) default from the model. */
static int sampler_options(sample_ctx *x, dsq_err *e) {
    const dsq_sample_run_opts *o = x->o;
    const model_setup *su = &x->su;
    dsq_sample_plan plan;
    int rc = dsq_sample_plan_make(&plan, &x->sch, &o->so, e);
    if (rc) return rc;
    dsq_sample_plan_free(&plan);
    dsq_sample_opts *so = &x->so;
    *so = o->so;
    if (so->kind == DSQ_SAMPLER_DDPM && su->mc.mean_embed)
        so->mean_start = o->mean_start < 0 ? 1 : o->mean_start;
    else
        so->mean_start = o->mean_start > 0;
    so->denoise_rate = o->denoise_rate >= 0 ? o->denoise_rate
                       : su->denoise && su->mc.mean_embed ? (float)su->denoise_rate : 0.0f;
    if (so->kind != DSQ_SAMPLER_DDPM) so->denoise_rate = 0;
    if (!su->mc.mean_embed && (o->mean_start > 0 || o->denoise_rate > 0))
        return dsq_err_set(e, DSQ_EUSAGE, "--%s needs a model with a learned mean embedding "
                           "(%s has none)", o->mean_start > 0 ? "mean-start" : "denoise-rate",
                           o->model);
    return 0;
}

/* Every parameter is an F32 tensor of the checkpoint: a configuration
 * describing more than the file holds is refused before the model is
 * allocated from it (sizes in range can still multiply to terabytes). */
static int check_size(const char *path, const dsq_model_config *c, dsq_err *e) {
    struct stat st;
    if (stat(path, &st) != 0) return dsq_err_set(e, DSQ_EIO, "%s: %s", path, strerror(errno));
    size_t n = dsq_model_config_num_params(c);
    size_t slack = 16 * (16 * (size_t)c->n_layers + 32);  /* the table's alignment */
    if (n > (size_t)st.st_size / sizeof(float) + slack)
        return dsq_err_set(e, DSQ_EDATA, "%s: its configuration describes %zu parameters, but "
                           "the file holds %lld bytes (configuration and weights disagree)",
                           path, n, (long long)st.st_size);
    return 0;
}

/* Configuration, vocabulary, schedule, sampler options and the model's
 * weights: the same on every rank. */
static int setup_model(sample_ctx *x, dsq_err *e) {
    const dsq_sample_run_opts *o = x->o;
    int rc;
    if ((rc = load_setup(o, &x->su, e))) return rc;
    if ((rc = load_vocab(x, e))) return rc;
    if ((rc = dsq_schedule_init(&x->sch, x->su.schedule, x->su.T, e))) return rc;
    x->have_sch = 1;
    if ((rc = sampler_options(x, e))) return rc;
    if ((rc = check_size(o->model, &x->su.mc, e))) return rc;
    if (!(x->be = dsq_device_backend(&o->device, e))) return e->code;
    x->be->set_precision(x->be, o->precision);
    /* inference: no dropout, and no dropout-mask activations either */
    x->su.mc.hidden_dropout = x->su.mc.attn_dropout = 0.0f;
    if ((rc = dsq_model_create(&x->m, &x->su.mc, x->be, e))) {
        if (rc != DSQ_EUSAGE) return rc;
        dsq_err_prefix(e, "%s", o->model);  /* the file's sizes, not the command line's */
        return e->code = DSQ_EDATA;
    }
    x->have_model = 1;
    dsq_ckpt_info info;
    int rc2 = dsq_ckpt_read(o->model, &x->m, x->m.params, &info, e);
    if (!rc2 && info.untied && x->root && o->progress != DSQ_PROGRESS_NONE)
        fprintf(stderr, "dsq-sample: %s: lm_head.weight differs from word_embedding.weight (max "
                "|diff| %.3g: a reference EMA file); decoding with lm_head.weight for both, as "
                "the reference's loader does\n", o->model, info.untied_max_diff);
    return rc2;
}

/* The examples of the stream in the regular file f (its records' rows),
 * f left where it was; -1 for a pipe, or when the stream cannot be read
 * to the end (the reading itself then says why). */
static long count_rows(FILE *f, const char *name) {
    struct stat st;
    off_t at = ftello(f);
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || at < 0) return -1;
    dsq_stream_reader *rd = dsq_stream_reader_open(f, name, 0);
    dsq_record r;
    dsq_record_init(&r);
    long n = 0;
    int got;
    while ((got = dsq_stream_read(rd, &r, NULL)) > 0) {
        const dsq_tensor *t = dsq_record_find(&r, "input_ids");
        if (t && t->ndim == 2) n += (long)t->shape[0];
    }
    dsq_record_free(&r);
    dsq_stream_reader_close(rd);
    clearerr(f);
    if (fseeko(f, at, SEEK_SET) != 0) return -2;
    return got < 0 ? -1 : n;
}

/* Rank 0: the input stream (its first record fixes L) and the output. */
static int open_io(sample_ctx *x, dsq_err *e) {
    const dsq_sample_run_opts *o = x->o;
    row_source *src = &x->src;
    src->name = strcmp(o->input, "-") ? o->input : "<stdin>";
    x->in = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin;
    if (!x->in) return dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", o->input, strerror(errno));
    int rc = dsq_stream_verify(x->in, src->name, e);  /* no rows from a corrupt frame */
    if (rc) return rc;
    x->total = o->progress == DSQ_PROGRESS_NONE ? -1 : count_rows(x->in, src->name);
    if (x->total == -2)
        return dsq_err_set(e, DSQ_EIO, "%s: cannot seek back: %s", src->name, strerror(errno));
    src->rd = dsq_stream_reader_open(x->in, src->name, 0);
    src->tok = x->tok;
    src->su = &x->su;
    src->model = o->model;
    if ((rc = dsq_out_open(&x->w.out, o->output, e))) return rc;
    x->out_open = 1;
    x->w.tok = x->tok;
    if (o->ids_out) x->w.w = dsq_stream_writer_open(x->w.out.f, dsq_out_name(&x->w.out), 3);
    return source_next_record(src, e);
}

/* Every rank learns L from rank 0 and sizes its buffers and sampler by it,
 * once. */
static int prepare_decoding(sample_ctx *x, dsq_err *e) {
    int L = x->src.L;
    dsq_dist_bcast_int(x->d, &L, 1);
    x->L = x->w.L = L;
    x->pg = (prog){.o = x->o, .t0 = dsq_now_s(), .total = x->total, .last_tenth = 0};
    x->pg.last = x->pg.t0;
    if (!L) return 0;
    size_t cap = (size_t)x->cap;
    x->ids = xmalloc(cap * L * sizeof *x->ids);
    x->mask = xmalloc(cap * L);
    x->index = xmalloc(cap * sizeof *x->index);
    x->gen = xmalloc(cap * L * sizeof *x->gen);
    int rc = dsq_sampler_create(&x->smp, &x->m, &x->sch, &x->so, x->o->batch, L, e);
    if (!rc) dsq_sampler_set_progress(x->smp, on_step, &x->pg);
    return rc;
}

/* What rank 0 tells the others before each wave of rows. */
enum { WAVE_ROWS, WAVE_END, WAVE_FAILED };

/* Rank 0 reads the next wave (up to cap rows); every rank learns how many
 * rows it holds: 0 at the end, or when rank 0 failed (reading this wave
 * or writing the last one: *rc on the other ranks then says so). */
static int next_wave(sample_ctx *x, int *rc, dsq_err *e) {
    int hdr[3] = {WAVE_ROWS, 0, 0};   /* status, rows, rank 0's exit code */
    if (x->root) {
        if (*rc || (!x->src.eof && (*rc = source_rows(&x->src, x->ids, x->mask, x->index,
                                                         x->cap, &hdr[1], e))))
            hdr[0] = WAVE_FAILED, hdr[2] = *rc;
        else if (hdr[1] == 0)
            hdr[0] = WAVE_END;
    }
    dsq_dist_bcast_int(x->d, hdr, 3);
    if (hdr[0] == WAVE_FAILED && !x->root)
        *rc = dsq_err_set(e, hdr[2], "rank %d stopped: rank 0 failed (see its message)",
                          x->d->rank);
    return hdr[0] == WAVE_ROWS ? hdr[1] : 0;
}

/* Rank r's share of a wave of n rows: rows [r * per, r * per + share). */
static int share_of(int r, int n, int per) {
    return r * per >= n ? 0 : r * per + per > n ? n - r * per : per;
}

/* Rank 0 sends every other rank its share of the wave's rows; they
 * receive it.  Returns this rank's share. */
static int scatter_wave(sample_ctx *x, int n, int per) {
    const dsq_dist *d = x->d;
    size_t L = (size_t)x->L;
    int mine = share_of(d->rank, n, per);
    if (x->root) {
        for (int r = 1; r < d->size; r++) {
            size_t at = (size_t)r * per, k = (size_t)share_of(r, n, per);
            if (!k) continue;
            dsq_dist_send(d, r, x->ids + at * L, k * L * sizeof *x->ids);
            dsq_dist_send(d, r, x->mask + at * L, k * L);
            dsq_dist_send(d, r, x->index + at, k * sizeof *x->index);
        }
    } else if (mine) {
        dsq_dist_recv(d, 0, x->ids, (size_t)mine * L * sizeof *x->ids);
        dsq_dist_recv(d, 0, x->mask, (size_t)mine * L);
        dsq_dist_recv(d, 0, x->index, (size_t)mine * sizeof *x->index);
    }
    return mine;
}

/* The generated tokens of every share back to rank 0, in row order. */
static void gather_wave(sample_ctx *x, int n, int per, int mine) {
    const dsq_dist *d = x->d;
    size_t L = (size_t)x->L;
    if (x->root) {
        for (int r = 1; r < d->size; r++) {
            size_t k = (size_t)share_of(r, n, per);
            if (k) dsq_dist_recv(d, r, x->gen + (size_t)r * per * L, k * L * sizeof *x->gen);
        }
    } else if (mine) {
        dsq_dist_send(d, 0, x->gen, (size_t)mine * L * sizeof *x->gen);
    }
}

/* Wave after wave: shared out, decoded, gathered and written by rank 0 in
 * input order, until the input ends or a rank fails. */
static int decode_all(sample_ctx *x, dsq_err *e) {
    int rc = 0, n;
    while (x->L && (n = next_wave(x, &rc, e)) > 0) {
        int per = (n + x->d->size - 1) / x->d->size;
        int mine = scatter_wave(x, n, per);
        x->pg.batch_rows = mine;
        if (mine) rc = dsq_sampler_run(x->smp, x->ids, x->mask, x->index, mine, x->gen, e);
        if ((rc = agree(x->d, rc, e))) break;
        gather_wave(x, n, per, mine);
        /* a failed write is told to the others with the next wave */
        if (x->root && (rc = write_batch(&x->w, x->ids, x->mask, x->index, x->gen, n, e)))
            continue;
        x->done += n;
        x->pg.done = x->done;
        show(&x->pg, 0, 0, 1);
    }
    if (x->o->progress == DSQ_PROGRESS_BAR) fputc('\n', stderr);
    return rc;
}

/* The output after the last wave: an --ids stream terminated, the file
 * renamed into place.  A failed --ids stream is left unterminated (never
 * closed, so no reader takes it for complete); its writer is not freed:
 * the tool exits. */
static int finish_output(sample_ctx *x, int rc, dsq_err *e) {
    if (!rc && x->w.w) rc = dsq_stream_writer_close(x->w.w, e);
    x->w.w = NULL;
    if (!rc && x->out_open) {
        rc = dsq_out_commit(&x->w.out, e);
        x->out_open = 0;
    }
    return rc;
}

/* After a failure, what is complete stays readable, under a name that
 * says so, and e says where. */
static void keep_partial(sample_ctx *x, dsq_err *e) {
    dsq_out *out = &x->w.out;
    if (out->tmp && x->done > 0) {
        char part[4200];
        snprintf(part, sizeof part, "%s.partial", out->path);
        fflush(out->f);
        if (rename(out->tmp, part) == 0)
            dsq_err_prefix(e, "%ld examples written to %s before", x->done, part);
    } else if (!out->tmp) {
        fflush(out->f);
        if (x->done > 0)
            dsq_err_prefix(e, "%ld examples written to %s (incomplete) before", x->done,
                           dsq_out_name(out));
    }
    dsq_out_abort(out);
}

static void sample_free(sample_ctx *x) {
    dsq_record_free(&x->src.rec);
    free(x->w.buf.s);
    if (x->src.rd) dsq_stream_reader_close(x->src.rd);
    if (x->in && x->in != stdin) fclose(x->in);
    dsq_sampler_free(x->smp);
    free(x->ids), free(x->gen), free(x->mask), free(x->index);
    if (x->have_model) dsq_model_destroy(&x->m);
    if (x->have_sch) dsq_schedule_free(&x->sch);
    if (x->be) x->be->destroy(x->be);
    dsq_tokenizer_free(x->tok);
    free(x->su.vocab_path);
}

/* Every rank decodes a share of each wave of rows; rank 0 reads the
 * input, hands the shares out, collects the tokens and writes the wave in
 * input order.  A single process is the case of one rank.  Every draw
 * depends only on the seed and the example's index, so the output does not
 * depend on the number of ranks, the batch or the threads. */
int dsq_sample_main(const dsq_sample_run_opts *o, long *n_done, dsq_err *e) {
    static const dsq_dist single = {.rank = 0, .size = 1};
    sample_ctx x = {.o = o, .d = o->dist ? o->dist : &single, .w = {.o = o}};
    x.root = x.d->rank == 0;
    x.cap = x.root ? o->batch * x.d->size : o->batch;
    dsq_record_init(&x.src.rec);
    int rc = setup_model(&x, e);
    if (!rc && x.root) rc = open_io(&x, e);
    if (!(rc = agree(x.d, rc, e)) && !(rc = agree(x.d, prepare_decoding(&x, e), e)))
        rc = finish_output(&x, decode_all(&x, e), e);
    if (rc && x.out_open) keep_partial(&x, e);
    sample_free(&x);
    if (n_done) *n_done = x.root ? x.done : 0;
    return rc;
}
