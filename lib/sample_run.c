/* dsq-sample's run: model and vocabulary from a checkpoint, examples from
 * a tensor stream, decoded batch by batch in input order. */
#include "sample_run.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dist.h"
#include "diffusion_schedule.h"
#include "examples.h"
#include "jsonl.h"
#include "outfile.h"
#include "stream.h"
#include "util.h"

volatile sig_atomic_t dsq_sample_stop_signal;

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

static int jint(json_t *j, const char *k, int dflt) {
    json_t *v = json_object_get(j, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static double jnum(json_t *j, const char *k, double dflt) {
    json_t *v = json_object_get(j, k);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 2);
    memcpy(d, path, n ? n : 1);
    d[n ? n : 1] = 0;
    return d;
}

static char *read_text(const char *path, dsq_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, k;
    char *buf = xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0)
        if ((n += k) + 1 == cap) buf = xrealloc(buf, cap *= 2);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* The configuration: --config, else the checkpoint's "config" metadata,
 * else config.json beside it.  Keys as dsq-train writes them; absent
 * model keys take the bert-base defaults. */
static int load_setup(const dsq_sample_run_opts *o, model_setup *s, dsq_err *e) {
    memset(s, 0, sizeof *s);
    char *dir = dir_of(o->model), *text = NULL, *src = NULL;
    int rc = 0;
    if (o->config) {
        src = xstrdup(o->config);
        if (!(text = read_text(o->config, e))) rc = e->code;
    } else if (access(o->model, R_OK) != 0) {
        rc = dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", o->model, strerror(errno));
    } else {
        dsq_err me = {0};
        if (dsq_ckpt_read_config(o->model, &text, &me) == 0 && text) {
            src = xstrdup(o->model);
        } else {
            free(text);
            src = dsq_path_join(dir, "config.json");
            if (!(text = read_text(src, e)))
                rc = dsq_err_prefix(e, "%s has no config metadata and", o->model);
        }
    }
    json_error_t je;
    json_t *j = rc ? NULL : json_loads(text, 0, &je);
    if (!rc && !json_is_object(j))
        rc = dsq_err_set(e, DSQ_EDATA, "%s: configuration is not a JSON object (%s)", src, je.text);
    if (!rc) {
        int V = jint(j, "vocab_size", 0), d = jint(j, "hidden_dim", 128);
        if (V <= 0) rc = dsq_err_set(e, DSQ_EDATA, "%s: configuration lacks vocab_size", src);
        dsq_model_config_default(&s->mc, V, d);
        s->mc.dt = jint(j, "hidden_t_dim", s->mc.dt);
        s->mc.H = jint(j, "hidden_size", s->mc.H);
        s->mc.nh = jint(j, "num_attention_heads", s->mc.nh);
        s->mc.I = jint(j, "intermediate_size", s->mc.I);
        s->mc.n_layers = jint(j, "num_hidden_layers", s->mc.n_layers);
        s->mc.max_pos = jint(j, "max_position_embeddings", s->mc.max_pos);
        s->mc.ln_eps = (float)jnum(j, "layer_norm_eps", s->mc.ln_eps);
        s->mc.mean_embed = json_is_true(json_object_get(j, "learned_mean_embed"));
        s->T = jint(j, "diffusion_steps", 2000);
        s->seq_len = jint(j, "seq_len", 0);
        const char *sch = json_string_value(json_object_get(j, "noise_schedule"));
        snprintf(s->schedule, sizeof s->schedule, "%s", sch ? sch : "sqrt");
        const char *dg = json_string_value(json_object_get(j, "vocab_digest"));
        snprintf(s->digest, sizeof s->digest, "%s", dg ? dg : "");
        const char *kind = json_string_value(json_object_get(j, "vocab_kind"));
        s->kind_known = kind && dsq_tokenizer_kind_parse(kind, &s->kind) == 0;
        const char *voc = json_string_value(json_object_get(j, "vocab"));
        s->vocab_path = o->vocab ? xstrdup(o->vocab) : dsq_path_join(dir, voc ? voc : "vocab.txt");
        s->denoise = json_is_true(json_object_get(j, "denoise"));
        s->denoise_rate = jnum(j, "denoise_rate", 0.0);
        if (!rc && dsq_model_config_check(&s->mc, e)) rc = dsq_err_prefix(e, "%s", src);
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
    int batch_rows;
    double t0, last;
} prog;

static void show(prog *p, int k, int total, int force) {
    double t = dsq_now_s();
    if (p->o->progress == 1 && force) {  /* a batch done */
        fprintf(stderr, "\rdsq-sample: %ld examples done; %.2f examples/s; %.1f s\x1b[K", p->done,
                p->done / (t - p->t0 + 1e-9), t - p->t0);
        p->last = t;
    } else if (p->o->progress == 1 && t - p->last > 0.2) {
        fprintf(stderr, "\rdsq-sample: %ld examples done; batch of %d: step %d/%d; %.1f s\x1b[K",
                p->done, p->batch_rows, k, total, t - p->t0);
        p->last = t;
    } else if (p->o->progress == 2 && t - p->last > 30) {
        fprintf(stderr, "dsq-sample: %ld examples done; batch of %d: step %d/%d; %.0f s\n",
                p->done, p->batch_rows, k, total, t - p->t0);
        p->last = t;
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

/* Model, tokenizer, schedule and sampler options: the same on every rank. */
static int setup_model(const dsq_sample_run_opts *o, model_setup *su, dsq_tokenizer **tok,
                       dsq_schedule *sch, int *have_sch, dsq_backend **be, dsq_model *m,
                       int *have_model, dsq_sample_opts *so, dsq_err *e) {
    int rc = load_setup(o, su, e);
    if (rc) return rc;
    dsq_tok_kind kind = o->vocab_kind_set ? o->vocab_kind
                        : su->kind_known ? su->kind : DSQ_TOK_WORDPIECE;
    if ((rc = dsq_tokenizer_load(tok, su->vocab_path, kind, e))) return rc;
    if (dsq_tokenizer_vocab_size(*tok) != su->mc.vocab)
        return dsq_err_set(e, DSQ_EDATA, "%s: %d tokens, but the model %s has a vocabulary of %d",
                           su->vocab_path, (int)dsq_tokenizer_vocab_size(*tok), o->model,
                           su->mc.vocab);
    if (su->digest[0] && strcmp(su->digest, dsq_tokenizer_digest(*tok)))
        return dsq_err_set(e, DSQ_EDATA, "%s (%s) is not the vocabulary the model %s was trained "
                           "with (%s)", su->vocab_path, dsq_tokenizer_digest(*tok), o->model,
                           su->digest);
    if ((rc = dsq_schedule_init(sch, su->schedule, su->T, e))) return rc;
    *have_sch = 1;
    {   /* bad sampler options fail before any input is read */
        dsq_sample_plan plan;
        if ((rc = dsq_sample_plan_make(&plan, sch, &o->so, e))) return rc;
        dsq_sample_plan_free(&plan);
    }
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

    if (!(*be = dsq_device_backend(&o->device, e))) return e->code;
    (*be)->set_precision(*be, o->precision);
    /* inference: no dropout, and no dropout-mask activations either */
    su->mc.hidden_dropout = su->mc.attn_dropout = 0.0f;
    if ((rc = dsq_model_create(m, &su->mc, *be, e))) return rc;
    *have_model = 1;
    return dsq_ckpt_read(o->model, m, m->params, e);
}

/* Every rank decodes a share of each round of rows; rank 0 reads the
 * input, hands the shares out, collects the tokens and writes the round in
 * input order.  A single process is the case of one rank.  Every draw
 * depends only on the seed and the example's index, so the output does not
 * depend on the number of ranks, the batch or the threads. */
int dsq_sample_main(const dsq_sample_run_opts *o, long *n_done, dsq_err *e) {
    static const dsq_dist single = {.rank = 0, .size = 1};
    const dsq_dist *d = o->dist ? o->dist : &single;
    int root = d->rank == 0;
    model_setup su;
    memset(&su, 0, sizeof su);
    dsq_tokenizer *tok = NULL;
    dsq_backend *be = NULL;
    dsq_model m;
    int have_model = 0, have_sch = 0;
    dsq_schedule sch;
    dsq_sample_opts so;
    dsq_sampler *smp = NULL;
    FILE *in = NULL;
    row_source src = {.eof = 0};
    dsq_record_init(&src.rec);
    writer w = {.o = o};
    int out_open = 0;
    long done = 0;
    int32_t *bids = NULL, *btok = NULL;   /* root: a round; others: their share */
    uint8_t *bmask = NULL;
    int64_t *bindex = NULL;
    int Bmax = o->batch, cap = root ? Bmax * d->size : Bmax;

    int rc = setup_model(o, &su, &tok, &sch, &have_sch, &be, &m, &have_model, &so, e);
    if (!rc && root) {
        src.name = strcmp(o->input, "-") ? o->input : "<stdin>";
        in = strcmp(o->input, "-") ? fopen(o->input, "rb") : stdin;
        if (!in)
            rc = dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", o->input, strerror(errno));
    }
    if (!rc && root) {
        src.rd = dsq_stream_reader_open(in, src.name, 0);
        src.tok = tok;
        src.su = &su;
        src.model = o->model;
        if (!(rc = dsq_out_open(&w.out, o->output, e))) {
            out_open = 1;
            w.tok = tok;
            if (o->ids_out) w.w = dsq_stream_writer_open(w.out.f, dsq_out_name(&w.out), 3);
            rc = source_next_record(&src, e);   /* fixes L */
        }
    }
    if ((rc = agree(d, rc, e))) goto fail;

    /* The first record fixed L on rank 0 (0: an empty stream); every rank
     * sizes its buffers and sampler by it once. */
    int L = src.L;
    dsq_dist_bcast_int(d, &L, 1);
    w.L = L;
    prog pg = {.o = o, .t0 = dsq_now_s()};
    pg.last = pg.t0;
    if (L) {
        bids = xmalloc((size_t)cap * L * sizeof *bids);
        bmask = xmalloc((size_t)cap * L);
        bindex = xmalloc((size_t)cap * sizeof *bindex);
        btok = xmalloc((size_t)cap * L * sizeof *btok);
        if (!(rc = dsq_sampler_create(&smp, &m, &sch, &so, Bmax, L, e)))
            dsq_sampler_set_progress(smp, on_step, &pg);
    }
    if ((rc = agree(d, rc, e))) goto fail;

    while (L) {
        /* rank 0 reads a round: {status (0 rows, 1 end, 2 failed), rows,
         * its exit code} */
        int hdr[3] = {0, 0, 0};
        if (root) {
            if (rc || (!src.eof && (rc = source_rows(&src, bids, bmask, bindex, cap, &hdr[1], e))))
                hdr[0] = 2, hdr[2] = rc;   /* reading this round, or the last write, failed */
            else if (hdr[1] == 0)
                hdr[0] = 1;
        }
        dsq_dist_bcast_int(d, hdr, 3);
        if (hdr[0] == 2 && !root)
            rc = dsq_err_set(e, hdr[2], "rank %d stopped: rank 0 failed (see its message)",
                             d->rank);
        if (hdr[0]) break;
        int n = hdr[1];
        /* shares: rank r decodes rows [r * per, (r + 1) * per) of the round */
        int per = (n + d->size - 1) / d->size;
#define SHARE(r) ((r) * per >= n ? 0 : (r) * per + per > n ? n - (r) * per : per)
        int mine = SHARE(d->rank);
        if (root) {
            for (int r = 1; r < d->size; r++) {
                size_t at = (size_t)r * per;
                if (!SHARE(r)) continue;
                dsq_dist_send(d, r, bids + at * L, (size_t)SHARE(r) * L * sizeof *bids);
                dsq_dist_send(d, r, bmask + at * L, (size_t)SHARE(r) * L);
                dsq_dist_send(d, r, bindex + at, (size_t)SHARE(r) * sizeof *bindex);
            }
        } else if (mine) {
            dsq_dist_recv(d, 0, bids, (size_t)mine * L * sizeof *bids);
            dsq_dist_recv(d, 0, bmask, (size_t)mine * L);
            dsq_dist_recv(d, 0, bindex, (size_t)mine * sizeof *bindex);
        }
        pg.batch_rows = mine;
        if (!rc && mine) rc = dsq_sampler_run(smp, bids, bmask, bindex, mine, btok, e);
        if ((rc = agree(d, rc, e))) break;
        if (root) {
            for (int r = 1; r < d->size; r++)
                if (SHARE(r))
                    dsq_dist_recv(d, r, btok + (size_t)r * per * L,
                                  (size_t)SHARE(r) * L * sizeof *btok);
            /* a failed write is told to the others at the next round */
            if ((rc = write_batch(&w, bids, bmask, bindex, btok, n, e))) continue;
        } else if (mine) {
            dsq_dist_send(d, 0, btok, (size_t)mine * L * sizeof *btok);
        }
#undef SHARE
        done += n;
        pg.done = done;
        show(&pg, 0, 0, 1);
    }
    if (o->progress == 1) fputc('\n', stderr);
    if (!rc && w.w) rc = dsq_stream_writer_close(w.w, e);
    w.w = NULL;
    if (!rc && out_open) {
        rc = dsq_out_commit(&w.out, e);
        out_open = 0;
    }
fail:
    if (rc && out_open) {
        /* What is complete stays readable, under a name that says so. */
        if (w.out.tmp && done > 0) {
            char part[4200];
            snprintf(part, sizeof part, "%s.partial", w.out.path);
            fflush(w.out.f);
            if (rename(w.out.tmp, part) == 0)
                dsq_err_prefix(e, "%ld examples written to %s before", done, part);
        } else if (!w.out.tmp) {
            fflush(w.out.f);
            if (done > 0)
                dsq_err_prefix(e, "%ld examples written to %s (incomplete) before", done,
                               dsq_out_name(&w.out));
        }
        dsq_out_abort(&w.out);
    }
    /* A failed --ids stream is left unterminated (never closed, so no reader
     * takes it for complete); its writer is not freed: the tool exits. */
    dsq_record_free(&src.rec);
    free(w.buf.s);
    if (src.rd) dsq_stream_reader_close(src.rd);
    if (in && in != stdin) fclose(in);
    dsq_sampler_free(smp);
    free(bids), free(btok), free(bmask), free(bindex);
    if (have_model) dsq_model_destroy(&m);
    if (have_sch) dsq_schedule_free(&sch);
    if (be) be->destroy(be);
    dsq_tokenizer_free(tok);
    free(su.vocab_path);
    if (n_done) *n_done = root ? done : 0;
    return rc;
}
