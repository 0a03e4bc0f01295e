/* dsq-score: the DiffuSeq evaluation script's figures (and sacreBLEU /
 * chrF) for one or more decode files. Options → lib/score.c. */
#include <getopt.h>
#include <omp.h>
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
    "BERTScore (bert_score's P/R/F1, no baseline rescaling):\n"
    "      --bertscore DIR   a BERT model directory: config.json, model.safetensors,\n"
    "                        vocab.txt (default: $DSQ_BERTSCORE_MODEL when set)\n"
    "      --bertscore-layer N  use layer N's output (default: bert_score's table\n"
    "                        for the model's name; required for other models)\n"
    "      --bertscore-idf   idf weights over the references (bert_score idf=True)\n"
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
    "  -V, --version         version and build\n";

enum { O_HYPF = 256, O_REFF, O_SRCF, O_HYP, O_REF, O_KEEP, O_SOS, O_EOS, O_SEP, O_PAD, O_NOCLEAN,
       O_NODIV, O_NOSACRE, O_BERT, O_BLAYER, O_BIDF, O_BBATCH, O_NOBERT };

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

/* Fills the BERTScore slot of every file. */
static void run_bertscore(dsq_bert *m, int layer, int idf, int group, dsq_decodes **dp, size_t k,
                          dsq_file_scores *sc) {
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

int main(int argc, char **argv) {
    dsq_progname = "dsq-score";
    static const struct option longopts[] = {
        {"hyp-field", required_argument, 0, O_HYPF}, {"ref-field", required_argument, 0, O_REFF},
        {"src-field", required_argument, 0, O_SRCF}, {"hyp", required_argument, 0, O_HYP},
        {"ref", required_argument, 0, O_REF},        {"keep-order", no_argument, 0, O_KEEP},
        {"sos", required_argument, 0, O_SOS},        {"eos", required_argument, 0, O_EOS},
        {"sep", required_argument, 0, O_SEP},        {"pad", required_argument, 0, O_PAD},
        {"no-clean", no_argument, 0, O_NOCLEAN},     {"format", required_argument, 0, 'f'},
        {"no-diversity", no_argument, 0, O_NODIV},   {"output", required_argument, 0, 'o'},
        {"no-sacrebleu", no_argument, 0, O_NOSACRE}, {"bertscore", required_argument, 0, O_BERT},
        {"bertscore-layer", required_argument, 0, O_BLAYER},
        {"bertscore-idf", no_argument, 0, O_BIDF},
        {"bertscore-batch", required_argument, 0, O_BBATCH},
        {"no-bertscore", no_argument, 0, O_NOBERT},
        {"threads", required_argument, 0, 'j'},      {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},            {0, 0, 0, 0}};
    dsq_fields fl;
    dsq_fields_default(&fl);
    const char *ref_text = NULL, *outpath = "-";
    char **hyp_text = NULL;
    size_t nhyp_text = 0;
    int keep_order = 0, table = 0, no_div = 0, no_sacre = 0, c;
    const char *bert_dir = getenv("DSQ_BERTSCORE_MODEL");
    int bert_layer = -1, bert_idf = 0, bert_group = 64, no_bert = 0;
    while ((c = getopt_long(argc, argv, "f:o:j:hV", longopts, NULL)) != -1) {
        switch (c) {
        case O_HYPF: fl.hyp_field = optarg; break;
        case O_REFF: fl.ref_field = optarg; break;
        case O_SRCF: fl.src_field = optarg; break;
        case O_HYP:
            hyp_text = realloc(hyp_text, (nhyp_text + 1) * sizeof *hyp_text);
            DSQ_CHECK(hyp_text != NULL);
            hyp_text[nhyp_text++] = optarg;
            break;
        case O_REF: ref_text = optarg; break;
        case O_KEEP: keep_order = 1; break;
        case O_SOS: fl.markers.sos = optarg; break;
        case O_EOS: fl.markers.eos = optarg; break;
        case O_SEP: fl.markers.sep = optarg; break;
        case O_PAD: fl.markers.pad = optarg; break;
        case O_NOCLEAN: fl.clean = 0; break;
        case O_NODIV: no_div = 1; break;
        case O_NOSACRE: no_sacre = 1; break;
        case O_BERT: bert_dir = optarg; break;
        case O_BLAYER: bert_layer = (int)dsq_opt_long(optarg, "--bertscore-layer", 0, 100000); break;
        case O_BIDF: bert_idf = 1; break;
        case O_BBATCH: bert_group = (int)dsq_opt_long(optarg, "--bertscore-batch", 1, 1 << 30); break;
        case O_NOBERT: no_bert = 1; break;
        case 'f':
            if (strcmp(optarg, "json") == 0) table = 0;
            else if (strcmp(optarg, "table") == 0) table = 1;
            else dsq_usage_error("--format must be json or table");
            break;
        case 'o': outpath = optarg; break;
        case 'j': omp_set_num_threads((int)dsq_opt_long(optarg, "--threads", 1, 4096)); break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': dsq_print_version(stdout, "dsq-score"); return 0;
        default: fputs("Try 'dsq-score --help'.\n", stderr); return DSQ_EUSAGE;
        }
    }
    int text_mode = nhyp_text || ref_text;
    if (text_mode && (!nhyp_text || !ref_text)) dsq_usage_error("--hyp and --ref go together");
    if (text_mode && optind < argc) dsq_usage_error("plain-text mode (--hyp/--ref) takes no FILE arguments");
    if (no_bert || (bert_dir && !*bert_dir)) bert_dir = NULL;
    if (!bert_dir && (bert_layer >= 0 || bert_idf))
        dsq_usage_error("--bertscore-layer and --bertscore-idf need --bertscore DIR (or $DSQ_BERTSCORE_MODEL)");
    dsq_bert bert;
    dsq_backend *bert_be = NULL;
    if (bert_dir) {
        bert_be = dsq_backend_cpu();
        load_bert(&bert, bert_be, bert_dir, &bert_layer);
    }

    dsq_err e = {0};
    size_t k;
    dsq_decodes *dec;
    if (text_mode) {
        k = nhyp_text;
        if (!keep_order) qsort(hyp_text, k, sizeof *hyp_text, dsq_cmp_str);
        dec = xcalloc(k, sizeof *dec);
        for (size_t i = 0; i < k; i++)
            if (dsq_decodes_read_text(hyp_text[i], ref_text, &fl, &dec[i], &e)) dsq_die_err(&e);
    } else {
        char *dash[] = {"-"};
        char **paths;
        int nargs = argc - optind;
        if (dsq_expand_inputs(nargs ? argv + optind : dash, nargs ? (size_t)nargs : 1, !keep_order,
                              &paths, &k, &e))
            dsq_die_err(&e);
        dec = xcalloc(k, sizeof *dec);
        if (dsq_decodes_read_jsonl_many(paths, k, &fl, dec, &e)) dsq_die_err(&e);
        dsq_free_inputs(paths, k);
    }
    dsq_decodes **dp = xcalloc(k, sizeof *dp);
    for (size_t i = 0; i < k; i++) dp[i] = &dec[i];

    dsq_file_scores *sc = xcalloc(k, sizeof *sc);
    dsq_score_opts so = {!no_sacre, !no_div};
    dsq_diversity div;
    if (dsq_score_run(dp, k, &so, sc, &div, &e)) dsq_die_err(&e);
    const dsq_diversity *divp = div.k ? &div : NULL;
    if (bert_dir) {
        run_bertscore(&bert, bert_layer, bert_idf, bert_group, dp, k, sc);
        dsq_bert_free(&bert);
        bert_be->destroy(bert_be);
    }

    dsq_out out;
    if (dsq_out_open(&out, outpath, &e)) dsq_die_err(&e);
    dsq_score_report rep = {k, dp, sc, divp};
    if (table) dsq_score_write_table(out.f, &rep);
    else dsq_score_write_json(out.f, &rep);
    if (dsq_out_commit(&out, &e)) dsq_die_err(&e);

    for (size_t i = 0; i < k; i++) dsq_decodes_free(&dec[i]);
    free(dec);
    free(dp);
    free(sc);
    free(hyp_text);
    return 0;
}
