/* dsq-sample: decode a tensor stream of packed examples with a trained
 * DiffuSeq model. Options → dsq_sample_main (lib/run/sample_run.c). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "cli.h"
#include "dist.h"
#include "outfile.h"
#include "sample_run.h"

static const char usage[] =
    "Usage: dsq-sample --model CKPT [OPTIONS] [INPUT]\n"
    "\n"
    "Decode a tensor stream of packed examples (from dsq-tokenize) with a\n"
    "DiffuSeq checkpoint and write JSONL {\"recover\",\"reference\",\"source\"} in\n"
    "input order (or, with --ids, a stream of generated ids). INPUT defaults\n"
    "to stdin ('-'); output goes to stdout unless -o is given.\n"
    "\n"
    "Model:\n"
    "  -m, --model FILE         checkpoint (ema_*.safetensors) (required)\n"
    "      --config FILE        configuration JSON (default: the checkpoint's\n"
    "                           metadata, else config.json beside it)\n"
    "  -v, --vocab FILE         vocabulary (default: the config's, beside the checkpoint)\n"
    "  -k, --vocab-kind KIND    wordpiece or word (default: the config's)\n"
    "\n"
    "Sampler:\n"
    "  -s, --sampler NAME       ddpm (default), ddim-gap, ddim, dpm++, dpm++v2\n"
    "  -n, --steps S            model calls: ddpm T (full chain) or S < T\n"
    "                           (respaced); ddim, ddim-gap: required; dpm++: 10\n"
    "      --seed N             random seed (default 101); with the example\n"
    "                           index it fixes every draw\n"
    "      --clamp-step N       round to the nearest embedding only when t >= N\n"
    "                           (default 0: every step)\n"
    "      --no-clamp-first     round only when t <= N instead\n"
    "      --no-round           never round (x̂0 = the model output)\n"
    "      --clip-denoised      clamp x̂0 to [-1, 1]\n"
    "      --top-p P            redraw noise components until |z| <= P (ddpm;\n"
    "                             P >= 0.05, <= 0 off)\n"
    "      --order K            dpm++ order, 1 or 2 (default 2)\n"
    "      --mean-start, --no-mean-start\n"
    "                           v2 models: start ddpm from x + m (default on)\n"
    "      --denoise-rate R     v2 discrete denoise noise (default: the config's)\n"
    "\n"
    "Running:\n"
    "  -b, --batch N            examples per batch and process (default 64); the\n"
    "                           output is identical for any N\n"
    "  -j, --threads N          threads per process (default: all cores); output\n"
    "                           identical\n"
    "      --device DEV         cpu (default), cuda (under mpirun: the local\n"
    "                           rank's GPU, else GPU 0) or cuda:N\n"
    "      --precision P        fp32 (default), bf16 or fp16: the matrix products'\n"
    "                           operands (model and rounding) in that format,\n"
    "                           fp32 sums and state\n"
    "  Under mpirun -np N the processes share the examples; rank 0 reads the\n"
    "  input and writes the output, identical for any N.\n"
    "\n"
    "Output:\n"
    "      --ids                write a tensor stream of ids (dsq_kind=ids)\n"
    "      --join STYLE         modern (default) or legacy word-piece joining\n"
    "  -o, --output FILE        write here (complete, or FILE.partial and exit 1)\n"
    "  -q, --quiet              no progress or summary on stderr\n"
    "  -h, --help               this help\n"
    "  -V, --version            version and build\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other\n"
    "(including an interrupted run). See dsq-sample(1), dsq(7).\n";

enum { OPT_CONFIG = 256, OPT_SEED, OPT_CLAMP_STEP, OPT_NO_CLAMP_FIRST, OPT_NO_ROUND,
       OPT_CLIP, OPT_TOP_P, OPT_ORDER, OPT_MEAN_START, OPT_NO_MEAN_START, OPT_DENOISE,
       OPT_IDS, OPT_JOIN, OPT_DEVICE, OPT_PREC };

static const struct option long_opts[] = {
    {"model", required_argument, 0, 'm'},
    {"config", required_argument, 0, OPT_CONFIG},
    {"vocab", required_argument, 0, 'v'},
    {"vocab-kind", required_argument, 0, 'k'},
    {"sampler", required_argument, 0, 's'},
    {"steps", required_argument, 0, 'n'},
    {"seed", required_argument, 0, OPT_SEED},
    {"clamp-step", required_argument, 0, OPT_CLAMP_STEP},
    {"no-clamp-first", no_argument, 0, OPT_NO_CLAMP_FIRST},
    {"no-round", no_argument, 0, OPT_NO_ROUND},
    {"clip-denoised", no_argument, 0, OPT_CLIP},
    {"top-p", required_argument, 0, OPT_TOP_P},
    {"order", required_argument, 0, OPT_ORDER},
    {"mean-start", no_argument, 0, OPT_MEAN_START},
    {"no-mean-start", no_argument, 0, OPT_NO_MEAN_START},
    {"denoise-rate", required_argument, 0, OPT_DENOISE},
    {"batch", required_argument, 0, 'b'},
    {"threads", required_argument, 0, 'j'},
    {"device", required_argument, 0, OPT_DEVICE},
    {"precision", required_argument, 0, OPT_PREC},
    {"ids", no_argument, 0, OPT_IDS},
    {"join", required_argument, 0, OPT_JOIN},
    {"output", required_argument, 0, 'o'},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

static void on_signal(int sig) {
    (void)sig;
    dsq_sample_stop_signal = 1;
}

/* --seed N: any unsigned 64-bit integer. */
static uint64_t parse_seed(const char *a) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(a, &end, 10);
    if (!*a || *end || errno || a[0] == '-')
        dsq_usage_error("--seed: '%s' is not a non-negative integer", a);
    return v;
}

/* --top-p P: <= 0 off (the reference's -1 default), else at least
 * DSQ_TOP_P_MIN (below it the redraws would not end in practice). */
static float parse_top_p(const char *a) {
    double p = dsq_opt_double(a, "--top-p", -1e6, 1e6);
    if (p > 0 && p < DSQ_TOP_P_MIN)
        dsq_usage_error("--top-p: %s is below %g: a component lands within it too rarely for the "
                        "redraws to end (0 or a negative value turns top-p off)", a,
                        DSQ_TOP_P_MIN);
    return p > 0 ? (float)p : 0.0f;
}

/* Applies option c with argument a; -1 for a value getopt did not know. */
static int apply_option(int c, const char *a, dsq_sample_run_opts *o, int *quiet) {
    switch (c) {
    case 'm': o->model = a; break;
    case OPT_CONFIG: o->config = a; break;
    case 'v': o->vocab = a; break;
    case 'k':
        if (dsq_tokenizer_kind_parse(a, &o->vocab_kind))
            dsq_usage_error("--vocab-kind: '%s' is not wordpiece or word", a);
        o->vocab_kind_set = 1;
        break;
    case 's':
        if (dsq_sampler_parse(a, &o->so.kind))
            dsq_usage_error("--sampler: '%s' is not ddpm, ddim-gap, ddim, dpm++ or dpm++v2", a);
        break;
    case 'n': o->so.steps = (int)dsq_opt_long(a, "--steps", 1, 1 << 24); break;
    case OPT_SEED: o->so.seed = parse_seed(a); break;
    case OPT_CLAMP_STEP: o->so.clamp_step = (int)dsq_opt_long(a, "--clamp-step", 0, 1 << 24); break;
    case OPT_NO_CLAMP_FIRST: o->so.clamp_first = 0; break;
    case OPT_NO_ROUND: o->so.round = 0; break;
    case OPT_CLIP: o->so.clip_denoised = 1; break;
    case OPT_TOP_P: o->so.top_p = parse_top_p(a); break;
    case OPT_ORDER: o->so.order = (int)dsq_opt_long(a, "--order", 1, 2); break;
    case OPT_MEAN_START: o->mean_start = 1; break;
    case OPT_NO_MEAN_START: o->mean_start = 0; break;
    case OPT_DENOISE: o->denoise_rate = (float)dsq_opt_double(a, "--denoise-rate", 0.0, 1e6); break;
    case 'b': o->batch = (int)dsq_opt_long(a, "--batch", 1, 1 << 20); break;
    case 'j': dsq_opt_threads(a); break;
    case OPT_DEVICE:
        if (dsq_device_parse(a, &o->device))
            dsq_usage_error("--device: '%s' is not cpu, cuda or cuda:N", a);
        break;
    case OPT_PREC:
        if (dsq_precision_parse(a, &o->precision))
            dsq_usage_error("--precision: '%s' is not fp32, bf16 or fp16", a);
        break;
    case OPT_IDS: o->ids_out = 1; break;
    case OPT_JOIN:
        if (dsq_join_parse(a, &o->join)) dsq_usage_error("--join: '%s' is not modern or legacy", a);
        break;
    case 'o': o->output = a; break;
    case 'q': *quiet = 1; break;
    default: return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    dsq_progname = "dsq-sample";
    dsq_dist dist;
    dsq_dist_init(&dist, &argc, &argv);  /* MPI_Init under mpirun in an MPI build */
    dsq_sample_run_opts o;
    dsq_sample_run_opts_default(&o);
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, "m:v:k:s:n:b:j:o:qhV", long_opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == 'V') {
            dsq_print_version(stdout, dsq_progname);
            return 0;
        }
        if (apply_option(c, optarg, &o, &quiet)) {
            fprintf(stderr, "Try 'dsq-sample --help'.\n");
            return DSQ_EUSAGE;
        }
    }
    if (!o.model) dsq_usage_error("%s", "--model FILE is required");
    if (argc - optind > 1) dsq_usage_error("%s", "at most one INPUT (use cat to join streams)");
    if (argc - optind == 1) o.input = argv[optind];
    if (o.ids_out && !strcmp(o.output, "-") && isatty(STDOUT_FILENO))
        dsq_usage_error("%s", "--ids writes a binary stream: redirect it or use -o FILE");
    dsq_err e = {0};
    const char *inputs[] = {o.input, o.model, o.vocab, o.config};
    if (dsq_out_refuse_input(o.output, inputs, 4, &e)) dsq_usage_error("%s", e.msg);
    if (dist.rank) quiet = 1;              /* rank 0 speaks for all */
    o.progress = dsq_progress_for(quiet);
    o.dist = &dist;
    dsq_catch_stop_signals(on_signal);  /* stop after the current denoising step */

    long n = 0;
    int rc = dsq_sample_main(&o, &n, &e);
    dsq_dist_finalize(&dist);   /* every rank gets here: failures are agreed */
    if (rc) dsq_die_err(&e);
    if (!quiet)
        fprintf(stderr, "dsq-sample: %ld examples decoded (%s) to %s\n", n,
                dsq_sampler_name(o.so.kind), strcmp(o.output, "-") ? o.output : "<stdout>");
    return 0;
}
