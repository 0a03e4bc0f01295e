/* dsq-score: the DiffuSeq evaluation script's figures (and sacreBLEU /
 * chrF) for one or more decode files. Options → lib/metrics/score.c. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "bert.h"
#include "bertscore.h"
#include "buildinfo.h"
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "decfile.h"
#include "report.h"
#include "score.h"
#include "util.h"

static const char usage[] =
    "Usage: dsq-score [OPTIONS] [FILE|DIR ...]\n"
    "       dsq-score [OPTIONS] --ref REF.txt --hyp HYP.txt [--hyp HYP2.txt ...]\n"
    "Scores decodes as the DiffuSeq evaluation script does: BLEU, ROUGE-L, dist-1,\n"
    "avg len per file, plus sacreBLEU corpus BLEU and chrF (and BERTScore with a\n"
    "model); with two or more files\n"
    "of the same inputs, self-BLEU and div-4. Reads JSONL (stdin when no FILE or\n"
    "'-'; a DIR means its *.json and *.jsonl files); writes one JSON object.\n"
    "\n"
    "Input:\n"
    "      --hyp-field NAME  generated text field (default recover)\n"
    "      --ref-field NAME  reference field (default reference)\n"
    "      --src-field NAME  source field, optional (default source)\n"
    "      --hyp FILE        plain text, one hypothesis a line (repeatable)\n"
    "      --ref FILE        plain text, one reference a line (with --hyp)\n"
    "      --keep-order      files in the order given (default: sorted by name,\n"
    "                        as the script does)\n"
    "Cleaning (the script's: strip, then remove markers):\n"
    "      --sos STR         start marker (default [CLS])\n"
    "      --eos STR         end marker (default [SEP])\n"
    "      --sep STR         separator marker (default [SEP])\n"
    "      --pad STR         padding marker (default [PAD])\n"
    "      --no-clean        take every text as it is\n"
    "BERTScore (bert_score's P/R/F1):\n"
    "      --bertscore DIR   a BERT, RoBERTa or DeBERTa (v1) model directory:\n"
    "                        config.json, model.safetensors, vocab.txt or\n"
    "                        vocab.json + merges.txt (default: $DSQ_BERTSCORE_MODEL)\n"
    "      --bertscore-layer N  use layer N's output (default: bert_score's table\n"
    "                        for the model's name; required for other models)\n"
    "      --bertscore-idf   idf weights over the references (bert_score idf=True)\n"
    "      --bertscore-rescale FILE  rescale with a bert_score baseline file\n"
    "                        (rescale_baseline/en/<model>.tsv of the bert_score package)\n"
    "      --bertscore-batch N  bert_score's batch_size, which groups the matching\n"
    "                        (default 64; 1: no padding effects at all)\n"
    "      --no-bertscore    skip it even when $DSQ_BERTSCORE_MODEL is set\n"
    "Output:\n"
    "  -f, --format FMT      json (default) or table\n"
    "      --no-diversity    skip self-BLEU / div-4 (and the same-inputs check)\n"
    "      --no-sacrebleu    skip sacreBLEU's BLEU and chrF (only the script's figures)\n"
    "  -o, --output FILE     write to FILE (renamed into place when complete)\n"
    "  -j, --threads N       worker threads (default: OpenMP's); same output for any N\n"
    "  -h, --help            this help\n"
    "  -V, --version         version and build\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other.\n"
    "See dsq-score(1), dsq(7).\n";

enum { O_HYP = 256, O_REF, O_KEEP, O_NODIV, O_NOSACRE, O_BERT, O_BLAYER, O_BIDF, O_BBATCH,
       O_NOBERT, O_BRESCALE };

/* A one-line progress report on a terminal. */
typedef struct { size_t file, nfiles; } bert_progress;
static void show_progress(void *ctx, size_t done, size_t total) {
    const bert_progress *p = ctx;
    fprintf(stderr, "\rdsq-score: BERTScore, file %zu/%zu: %zu/%zu texts", p->file + 1, p->nfiles,
            done, total);
    fflush(stderr);
}

/* Loads the BERTScore model and settles the layer (before any scoring, so
 * that a bad directory or layer fails fast). */
static void load_bert(dsq_bert *m, dsq_backend *be, const char *dir, int *layer) {
    dsq_err e = {0};
    if (dsq_bert_load(m, dir, be, &e)) dsq_die_err(&e);
    if (*layer < 0) {
        *layer = dsq_bert_default_layer(m->cfg.name);
        if (*layer < 0)
            dsq_usage_error("--bertscore: model \"%s\" (%s) is not in bert_score's layer "
                            "table: give --bertscore-layer N (0..%d)", m->cfg.name, dir,
                            m->cfg.n_layers);
    }
    if (*layer > m->cfg.n_layers)
        dsq_usage_error("--bertscore-layer %d: %s has %d layers", *layer, dir, m->cfg.n_layers);
}

/* Fills the BERTScore slot of every file; base (P, R, F) rescales the
 * per-pair scores when not NULL. */
static void run_bertscore(dsq_bert *m, int layer, int idf, int group, const float *base,
                          dsq_decodes **dp, size_t k, dsq_file_scores *sc) {
    dsq_err e = {0};
    dsq_bertscore_opts o;
    dsq_bertscore_opts_default(&o);
    o.layer = layer;
    o.idf = idf;
    o.group = group;
    bert_progress pr = {0, k};
    int tty = isatty(2);
    if (tty) {
        o.progress = show_progress;
        o.progress_ctx = &pr;
    }
    for (size_t i = 0; i < k; i++) {
        const dsq_decodes *d = dp[i];
        size_t n = d->n;
        double *P = xmalloc((n ? n : 1) * sizeof *P), *R = xmalloc((n ? n : 1) * sizeof *R),
               *F = xmalloc((n ? n : 1) * sizeof *F);
        pr.file = i;
        if (dsq_bertscore(m, &o, d->hyp, d->hyp_len, d->ref, d->ref_len, n, P, R, F, &e)) {
            dsq_err_prefix(&e, "%s", d->name);
            dsq_die_err(&e);
        }
        if (base) {
            dsq_bertscore_rescale(P, n, base[0]);
            dsq_bertscore_rescale(R, n, base[1]);
            dsq_bertscore_rescale(F, n, base[2]);
        }
        sc[i].has_bertscore = 1;
        sc[i].bertscore_p = dsq_np_mean(P, n);
        sc[i].bertscore_r = dsq_np_mean(R, n);
        sc[i].bertscore_f1 = dsq_np_mean(F, n);
        free(P);
        free(R);
        free(F);
    }
    if (tty) fputc('\n', stderr);
}

/* The command line. */
typedef struct {
    dsq_fields fl;
    const char *ref_text, *outpath;
    char **hyp_text;          /* --hyp FILE..., plain-text mode */
    size_t nhyp_text;
    int keep_order, table, no_div, no_sacre;
    const char *bert_dir;     /* NULL: no BERTScore */
    const char *bert_rescale; /* baseline file or NULL */
    int bert_layer, bert_idf, bert_group;
    char **args;              /* FILE|DIR arguments */
    int nargs;
} score_args;

static const struct option longopts[] = {
    DSQ_FIELDS_LONGOPTS,
    {"hyp", required_argument, 0, O_HYP},             {"ref", required_argument, 0, O_REF},
    {"keep-order", no_argument, 0, O_KEEP},           {"format", required_argument, 0, 'f'},
    {"no-diversity", no_argument, 0, O_NODIV},        {"output", required_argument, 0, 'o'},
    {"no-sacrebleu", no_argument, 0, O_NOSACRE},      {"bertscore", required_argument, 0, O_BERT},
    {"bertscore-layer", required_argument, 0, O_BLAYER},
    {"bertscore-idf", no_argument, 0, O_BIDF},
    {"bertscore-batch", required_argument, 0, O_BBATCH},
    {"bertscore-rescale", required_argument, 0, O_BRESCALE},
    {"no-bertscore", no_argument, 0, O_NOBERT},
    {"threads", required_argument, 0, 'j'},           {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},                 {0, 0, 0, 0}};

/* Parses the command line into a (exits for --help, --version and usage
 * errors). */
static void parse_args(int argc, char **argv, score_args *a) {
    *a = (score_args){.outpath = "-", .bert_dir = getenv("DSQ_BERTSCORE_MODEL"),
                      .bert_layer = -1, .bert_group = 64};
    dsq_fields_default(&a->fl);
    int no_bert = 0, c;
    while ((c = getopt_long(argc, argv, "f:o:j:hV", longopts, NULL)) != -1) {
        if (dsq_fields_option(&a->fl, c, optarg)) continue;
        switch (c) {
        case O_HYP:
            a->hyp_text = xrealloc(a->hyp_text, (a->nhyp_text + 1) * sizeof *a->hyp_text);
            a->hyp_text[a->nhyp_text++] = optarg;
            break;
        case O_REF: a->ref_text = optarg; break;
        case O_KEEP: a->keep_order = 1; break;
        case O_NODIV: a->no_div = 1; break;
        case O_NOSACRE: a->no_sacre = 1; break;
        case O_BERT: a->bert_dir = optarg; break;
        case O_BLAYER:
            a->bert_layer = (int)dsq_opt_long(optarg, "--bertscore-layer", 0, 100000);
            break;
        case O_BIDF: a->bert_idf = 1; break;
        case O_BBATCH:
            a->bert_group = (int)dsq_opt_long(optarg, "--bertscore-batch", 1, 1 << 30);
            break;
        case O_NOBERT: no_bert = 1; break;
        case O_BRESCALE: a->bert_rescale = optarg; break;
        case 'f':
            if (strcmp(optarg, "json") == 0) a->table = 0;
            else if (strcmp(optarg, "table") == 0) a->table = 1;
            else dsq_usage_error("--format must be json or table");
            break;
        case 'o': a->outpath = optarg; break;
        case 'j': dsq_opt_threads(optarg); break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': dsq_print_version(stdout, "dsq-score"); exit(0);
        default: fputs("Try 'dsq-score --help'.\n", stderr); exit(DSQ_EUSAGE);
        }
    }
    int text_mode = a->nhyp_text || a->ref_text;
    if (text_mode && (!a->nhyp_text || !a->ref_text))
        dsq_usage_error("--hyp and --ref go together");
    if (text_mode && optind < argc)
        dsq_usage_error("plain-text mode (--hyp/--ref) takes no FILE arguments");
    if (no_bert || (a->bert_dir && !*a->bert_dir)) a->bert_dir = NULL;
    if (!a->bert_dir && (a->bert_layer >= 0 || a->bert_idf || a->bert_rescale))
        dsq_usage_error("--bertscore-layer, --bertscore-idf and --bertscore-rescale need "
                        "--bertscore DIR (or $DSQ_BERTSCORE_MODEL)");
    a->args = argv + optind;
    a->nargs = argc - optind;
}

/* The decodes to score: the --hyp files against --ref, else the JSONL
 * files (and directories) given, standard input without any. */
static dsq_decodes *read_decodes(score_args *a, size_t *k) {
    dsq_err e = {0};
    dsq_decodes *dec;
    if (dsq_out_refuse_input(a->outpath, (const char *const *)a->hyp_text, a->nhyp_text, &e) ||
        dsq_out_refuse_input(a->outpath, &a->ref_text, 1, &e))
        dsq_usage_error("%s", e.msg);
    if (a->nhyp_text) {
        *k = a->nhyp_text;
        if (!a->keep_order) qsort(a->hyp_text, *k, sizeof *a->hyp_text, dsq_cmp_str);
        dec = xcalloc(*k, sizeof *dec);
        for (size_t i = 0; i < *k; i++)
            if (dsq_decodes_read_text(a->hyp_text[i], a->ref_text, &a->fl, &dec[i], &e))
                dsq_die_err(&e);
        return dec;
    }
    char *dash[] = {"-"};
    char **paths;
    if (dsq_expand_inputs(a->nargs ? a->args : dash, a->nargs ? (size_t)a->nargs : 1,
                          !a->keep_order, &paths, k, &e))
        dsq_die_err(&e);
    if (dsq_out_refuse_input(a->outpath, (const char *const *)paths, *k, &e))
        dsq_usage_error("%s", e.msg);
    dec = xcalloc(*k, sizeof *dec);
    if (dsq_decodes_read_jsonl_many(paths, *k, &a->fl, dec, &e)) dsq_die_err(&e);
    dsq_free_inputs(paths, *k);
    return dec;
}

/* The report, renamed into place when complete. */
static void write_report(const score_args *a, const dsq_score_report *rep) {
    dsq_err e = {0};
    dsq_out out;
    if (dsq_out_open(&out, a->outpath, &e)) dsq_die_err(&e);
    if (a->table) dsq_score_write_table(out.f, rep);
    else dsq_score_write_json(out.f, rep);
    if (dsq_out_commit(&out, &e)) dsq_die_err(&e);
}

int main(int argc, char **argv) {
    dsq_progname = "dsq-score";
    score_args a;
    parse_args(argc, argv, &a);
    dsq_bert bert;
    dsq_backend *bert_be = NULL;
    float base[3] = {0, 0, 0};
    if (a.bert_dir) {  /* before any scoring: a bad model fails fast */
        bert_be = dsq_backend_cpu();
        load_bert(&bert, bert_be, a.bert_dir, &a.bert_layer);
        if (a.bert_rescale) {
            dsq_err e = {0};
            if (dsq_bertscore_read_baseline(a.bert_rescale, a.bert_layer, base, &e))
                dsq_die_err(&e);
        }
    }
    size_t k;
    dsq_decodes *dec = read_decodes(&a, &k);
    dsq_decodes **dp = xcalloc(k, sizeof *dp);
    for (size_t i = 0; i < k; i++) dp[i] = &dec[i];

    dsq_err e = {0};
    dsq_file_scores *sc = xcalloc(k, sizeof *sc);
    dsq_score_opts so = {!a.no_sacre, !a.no_div};
    dsq_diversity div;
    if (dsq_score_run(dp, k, &so, sc, &div, &e)) dsq_die_err(&e);
    if (a.bert_dir) {
        run_bertscore(&bert, a.bert_layer, a.bert_idf, a.bert_group,
                      a.bert_rescale ? base : NULL, dp, k, sc);
        dsq_bert_free(&bert);
        bert_be->destroy(bert_be);
    }
    dsq_score_report rep = {k, dp, sc, div.k ? &div : NULL};
    write_report(&a, &rep);

    for (size_t i = 0; i < k; i++) dsq_decodes_free(&dec[i]);
    free(dec);
    free(dp);
    free(sc);
    free(a.hyp_text);
    return 0;
}
