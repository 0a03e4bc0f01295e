/* dsq-train: train a DiffuSeq model on a tensor stream of packed examples.
 * Options → dsq_train_run_opts → dsq_train_run (lib/run/train_run.c). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildinfo.h"
#include "cli.h"
#include "dist.h"
#include "err.h"
#include "train_run.h"

static const char usage[] =
    "Usage: dsq-train --data FILE --vocab FILE --out DIR [OPTIONS]\n"
    "Train a DiffuSeq model on a tensor stream of packed examples (dsq-tokenize).\n"
    "Writes DIR/config.json, vocab.txt, model_STEP.safetensors,\n"
    "ema_RATE_STEP.safetensors, state_STEP.safetensors (for --resume), log.jsonl.\n"
    "\n"
    "Data:\n"
    "  -d, --data FILE            training examples stream ('-' = stdin)\n"
    "      --valid FILE           validation stream: forward-only losses every\n"
    "                             --eval-interval steps\n"
    "  -v, --vocab FILE           the vocabulary the streams were made with\n"
    "      --vocab-kind KIND      wordpiece or word (default: the stream's)\n"
    "  -o, --out DIR              run directory (reference: --checkpoint_path); one\n"
    "                             run at a time; an existing run needs --resume or\n"
    "                             --overwrite\n"
    "      --overwrite            remove the run in --out first (its checkpoints,\n"
    "                             states, log, config and vocab.txt)\n"
    "      --seq-len N            must equal the streams' seq_len (default: theirs)\n"
    "Model:\n"
    "      --config NAME          encoder preset: bert-base (default), bert-large,\n"
    "                             bert-medium, bert-small, bert-mini, bert-tiny\n"
    "      --layers N --hidden N --heads N --intermediate N   override the preset\n"
    "      --init-plm DIR         start from a pretrained BERT: a HuggingFace directory\n"
    "                             (config.json, model.safetensors, vocab.txt) gives\n"
    "                             the encoder's shape and, at step 0, the word and\n"
    "                             position embeddings, embedding LayerNorm and encoder\n"
    "                             (reference: --use_plm_init bert --config_name DIR);\n"
    "                             its vocab.txt must be --vocab's and --hidden-dim its\n"
    "                             hidden_size.  With --resume only its config.json is read\n"
    "      --hidden-dim N         word-embedding width d (128)\n"
    "      --hidden-t-dim N       time-embedding width (128)\n"
    "      --dropout P            hidden dropout (0.1; attention dropout stays 0.1)\n"
    "      --learned-mean-embed   v2 learned mean embedding\n"
    "      --denoise              v2 denoising (needs --learned-mean-embed)\n"
    "      --denoise-rate P       (0.2)\n"
    "      --reg-rate R           weight of ||mean_embed|| in the loss (0.01)\n"
    "Diffusion:\n"
    "      --diff-steps N         diffusion steps T (2000)\n"
    "      --noise-schedule NAME  sqrt (default), linear, cosine, trunc_cos,\n"
    "                             trunc_lin, pw_lin, warmup-decay\n"
    "      --schedule-sampler S   lossaware (default), uniform, fixstep\n"
    "Optimisation:\n"
    "      --lr X                 learning rate (1e-4), annealed linearly to 0\n"
    "      --learning-steps N     number of updates (50000)\n"
    "      --bsz N                global batch (2048)\n"
    "      --microbatch N         microbatch (64); gradients add up over them\n"
    "      --weight-decay X       AdamW weight decay (0)\n"
    "      --gradient-clipping X  global-norm clipping (-1 = off)\n"
    "      --ema-rate R[,R...]    EMA rates (0.9999)\n"
    "      --seed N               seed of initialisation, data order, t and noise (102)\n"
    "Run:\n"
    "      --save-interval N      checkpoint every N updates (10000) and at the end\n"
    "      --log-interval N       log.jsonl line every N updates (20)\n"
    "      --eval-interval N      validation every N updates (1000)\n"
    "      --resume PATH          continue from a state file or a run directory's\n"
    "                             newest state (same options)\n"
    "      --init CKPT            start from a checkpoint's weights (.safetensors or a\n"
    "                             reference .pt; weights only: fresh moments, step 0)\n"
    "      --stop-at N            stop after update N with a resumable checkpoint\n"
    "      --device DEV           cpu (default), cuda (under mpirun: the local\n"
    "                             rank's GPU, else GPU 0) or cuda:N\n"
    "      --precision P          fp32 (default), bf16 or fp16: the matrix products'\n"
    "                             operands in that format, fp32 sums, weights,\n"
    "                             moments and losses; fp16 adds dynamic loss\n"
    "                             scaling (--use_fp16 True is fp16)\n"
    "  -q, --quiet                no progress output\n"
    "  -h, --help                 this help\n"
    "  -V, --version              version and build\n"
    "The reference's underscore spellings (--diff_steps, --batch_size,\n"
    "--learned_mean_embed True, --checkpoint_path, ...) are accepted too.\n"
    "Threads: OMP_NUM_THREADS.  SIGINT/SIGTERM/SIGHUP: finish the step, save, exit 1.\n"
    "Data parallel (a build with MPI): mpirun -np N dsq-train ...; --bsz is global.\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other.\n"
    "See dsq-train(1), dsq-stream(5), dsq(7).\n";

enum {
    O_DATA = 'd', O_VOCAB = 'v', O_OUT = 'o', O_QUIET = 'q', O_HELP = 'h', O_VERSION = 'V',
    O_VALID = 256, O_VKIND, O_SEQLEN, O_CONFIG, O_LAYERS, O_HIDDEN, O_HEADS, O_INTER, O_HDIM,
    O_HTDIM, O_DROPOUT, O_LME, O_DENOISE, O_DRATE, O_REG, O_DIFF,
    O_SCHED, O_TSAMPLER, O_LR, O_STEPS, O_BSZ, O_MICRO, O_WD, O_CLIP, O_EMA, O_SEED, O_SAVE,
    O_LOG, O_EVAL, O_RESUME, O_INIT, O_PLM, O_USE_PLM, O_OVERWRITE, O_STOP, O_DEVICE,
    O_PREC, O_FP16, O_IGNORED,
};

#define OPT(name, has, val) {name, has, 0, val}
static const struct option long_opts[] = {
    OPT("data", 1, O_DATA), OPT("data_dir", 1, O_DATA), OPT("valid", 1, O_VALID),
    OPT("vocab", 1, O_VOCAB), OPT("vocab-kind", 1, O_VKIND), OPT("vocab_kind", 1, O_VKIND),
    OPT("out", 1, O_OUT), OPT("checkpoint_path", 1, O_OUT),
    OPT("seq-len", 1, O_SEQLEN), OPT("seq_len", 1, O_SEQLEN),
    OPT("config", 1, O_CONFIG), OPT("config_name", 1, O_CONFIG),
    OPT("layers", 1, O_LAYERS), OPT("hidden", 1, O_HIDDEN), OPT("heads", 1, O_HEADS),
    OPT("intermediate", 1, O_INTER),
    OPT("hidden-dim", 1, O_HDIM), OPT("hidden_dim", 1, O_HDIM),
    OPT("hidden-t-dim", 1, O_HTDIM), OPT("hidden_t_dim", 1, O_HTDIM),
    OPT("dropout", 1, O_DROPOUT),
    OPT("learned-mean-embed", 2, O_LME), OPT("learned_mean_embed", 2, O_LME),
    OPT("denoise", 2, O_DENOISE),
    OPT("denoise-rate", 1, O_DRATE), OPT("denoise_rate", 1, O_DRATE),
    OPT("reg-rate", 1, O_REG), OPT("reg_rate", 1, O_REG),
    OPT("diff-steps", 1, O_DIFF), OPT("diff_steps", 1, O_DIFF), OPT("diffusion_steps", 1, O_DIFF),
    OPT("noise-schedule", 1, O_SCHED), OPT("noise_schedule", 1, O_SCHED),
    OPT("schedule-sampler", 1, O_TSAMPLER), OPT("schedule_sampler", 1, O_TSAMPLER),
    OPT("lr", 1, O_LR), OPT("learning-steps", 1, O_STEPS), OPT("learning_steps", 1, O_STEPS),
    OPT("bsz", 1, O_BSZ), OPT("batch-size", 1, O_BSZ), OPT("batch_size", 1, O_BSZ),
    OPT("microbatch", 1, O_MICRO),
    OPT("weight-decay", 1, O_WD), OPT("weight_decay", 1, O_WD),
    OPT("gradient-clipping", 1, O_CLIP), OPT("gradient_clipping", 1, O_CLIP),
    OPT("ema-rate", 1, O_EMA), OPT("ema_rate", 1, O_EMA), OPT("seed", 1, O_SEED),
    OPT("save-interval", 1, O_SAVE), OPT("save_interval", 1, O_SAVE),
    OPT("log-interval", 1, O_LOG), OPT("log_interval", 1, O_LOG),
    OPT("eval-interval", 1, O_EVAL), OPT("eval_interval", 1, O_EVAL),
    OPT("init", 1, O_INIT), OPT("init-plm", 1, O_PLM), OPT("init_plm", 1, O_PLM),
    OPT("use_plm_init", 1, O_USE_PLM), OPT("resume", 1, O_RESUME), OPT("resume_checkpoint", 1, O_RESUME),
    OPT("overwrite", 0, O_OVERWRITE),
    OPT("stop-at", 1, O_STOP), OPT("device", 1, O_DEVICE), OPT("precision", 1, O_PREC),
    OPT("quiet", 0, O_QUIET), OPT("help", 0, O_HELP),
    OPT("version", 0, O_VERSION),
    /* reference settings dsq fixes (predict x0, rescaled t) */
    OPT("use_fp16", 1, O_FP16), OPT("predict_xstart", 1, O_IGNORED),
    OPT("rescale_timesteps", 1, O_IGNORED), OPT("vocab_size", 1, O_IGNORED),
    OPT("notes", 1, O_IGNORED), OPT("dataset", 1, O_IGNORED),
    {0, 0, 0, 0},
};

static void on_signal(int sig) { dsq_train_stop_signal = sig; }

/* The reference's `--denoise True` form: a flag followed by a separate
 * True/False word becomes `--denoise=True` for getopt. */
static void join_bool_words(int *argc, char **argv) {
    int j = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *n = i + 1 < *argc ? argv[i + 1] : "";
        int flag = !strcmp(a, "--denoise") || !strcmp(a, "--learned_mean_embed") ||
                   !strcmp(a, "--learned-mean-embed");
        int word = !strcmp(n, "True") || !strcmp(n, "False") || !strcmp(n, "true") ||
                   !strcmp(n, "false");
        if (flag && word) {
            size_t k = strlen(a) + strlen(n) + 2;
            char *s = xmalloc(k);
            snprintf(s, k, "%s=%s", a, n);
            argv[j++] = s;
            i++;
        } else {
            argv[j++] = argv[i];
        }
    }
    *argc = j;
    argv[j] = NULL;
}

/* Encoder sizes given one by one: they override the preset in any order. */
/* --config (preset or, with --use_plm_init bert, the PLM directory) is
 * applied once all options are read. */
typedef struct {
    int layers, hidden, heads, inter, quiet, micro, use_plm;
    const char *config;
} overrides;

/* --ema-rate R[,R...]: the rates and their spellings (for file names). */
static void parse_ema(dsq_train_run_opts *o, const char *list) {
    o->topts.n_ema = 0;
    char *s = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->topts.n_ema == DSQ_MAX_EMA)
            dsq_usage_error("--ema-rate: at most %d rates", DSQ_MAX_EMA);
        if (strlen(t) >= sizeof o->ema_names[0]) dsq_usage_error("--ema-rate: '%s'", t);
        o->topts.ema[o->topts.n_ema] = (float)dsq_opt_double(t, "--ema-rate", 0, 1);
        snprintf(o->ema_names[o->topts.n_ema++], sizeof o->ema_names[0], "%s", t);
    }
    free(s);
    if (!o->topts.n_ema) dsq_usage_error("%s", "--ema-rate: no rate given");
}

/* Applies option c with argument a; -1 for a value getopt did not know. */
static int apply_option(int c, const char *a, dsq_train_run_opts *o, overrides *x) {
    switch (c) {
    case O_DATA: o->data = a; break;
    case O_VALID: o->valid = a; break;
    case O_VOCAB: o->vocab = a; break;
    case O_VKIND:
        if (dsq_tokenizer_kind_parse(a, &o->vocab_kind))
            dsq_usage_error("--vocab-kind: '%s' is not wordpiece or word", a);
        o->vocab_kind_set = 1;
        break;
    case O_OUT: o->out = a; break;
    case O_SEQLEN: o->seq_len = (int)dsq_limit_opt(DSQ_LIM_SEQ_LEN, a); break;
    case O_CONFIG: x->config = a; break;
    case O_LAYERS: x->layers = (int)dsq_limit_opt(DSQ_LIM_LAYERS, a); break;
    case O_HIDDEN: x->hidden = (int)dsq_limit_opt(DSQ_LIM_HIDDEN, a); break;
    case O_HEADS: x->heads = (int)dsq_limit_opt(DSQ_LIM_HEADS, a); break;
    case O_INTER: x->inter = (int)dsq_limit_opt(DSQ_LIM_INTER, a); break;
    case O_HDIM: o->model.d = (int)dsq_limit_opt(DSQ_LIM_HIDDEN_DIM, a); break;
    case O_HTDIM: o->model.dt = (int)dsq_limit_opt(DSQ_LIM_HIDDEN_T_DIM, a); break;
    case O_DROPOUT: o->model.hidden_dropout = (float)dsq_opt_double(a, "--dropout", 0, 0.99); break;
    case O_LME: o->model.mean_embed = a ? dsq_opt_bool(a, "--learned-mean-embed") : 1; break;
    case O_DENOISE: o->dopts.denoise = a ? dsq_opt_bool(a, "--denoise") : 1; break;
    case O_DRATE: o->dopts.denoise_rate = (float)dsq_opt_double(a, "--denoise-rate", 0, 1e6); break;
    case O_REG: o->dopts.reg_rate = (float)dsq_opt_double(a, "--reg-rate", 0, 1e6); break;
    case O_DIFF: o->T = (int)dsq_limit_opt(DSQ_LIM_DIFF_STEPS, a); break;
    case O_SCHED: o->schedule = a; break;
    case O_TSAMPLER: o->schedule_sampler = a; break;
    case O_LR: o->topts.lr = (float)dsq_opt_double(a, "--lr", 0, 1e30); break;
    case O_STEPS: o->topts.learning_steps = dsq_limit_opt(DSQ_LIM_STEPS, a); break;
    case O_BSZ: o->bsz = (int)dsq_opt_long(a, "--bsz", 1, 1 << 24); break;
    case O_MICRO:
        o->topts.microbatch = (int)dsq_opt_long(a, "--microbatch", 1, 1 << 24);
        x->micro = 1;
        break;
    case O_WD: o->topts.weight_decay = (float)dsq_opt_double(a, "--weight-decay", 0, 1e6); break;
    case O_CLIP:
        o->topts.grad_clip = (float)dsq_opt_double(a, "--gradient-clipping", -1e30, 1e30);
        break;
    case O_EMA: parse_ema(o, a); break;
    case O_SEED: o->topts.seed = (uint64_t)dsq_opt_long(a, "--seed", 0, 1L << 62); break;
    case O_SAVE: o->save_interval = dsq_opt_long(a, "--save-interval", 1, 1L << 40); break;
    case O_LOG: o->log_interval = dsq_opt_long(a, "--log-interval", 1, 1L << 40); break;
    case O_EVAL: o->eval_interval = dsq_opt_long(a, "--eval-interval", 1, 1L << 40); break;
    case O_RESUME: o->resume = a; break;
    case O_INIT: o->init = a; break;
    case O_OVERWRITE: o->overwrite = 1; break;
    case O_PLM: o->init_plm = a; break;
    case O_USE_PLM:
        if (strcmp(a, "bert") && strcmp(a, "no"))
            dsq_usage_error("--use_plm_init: '%s' is not bert or no", a);
        x->use_plm = !strcmp(a, "bert");
        break;
    case O_STOP: o->stop_at = dsq_opt_long(a, "--stop-at", 1, (long)dsq_limit_get(DSQ_LIM_COUNTER)->hi); break;
    case O_DEVICE:
        if (dsq_device_parse(a, &o->device))
            dsq_usage_error("--device: '%s' is not cpu, cuda or cuda:N", a);
        break;
    case O_PREC:
        if (dsq_precision_parse(a, &o->topts.precision))
            dsq_usage_error("--precision: '%s' is not fp32, bf16 or fp16", a);
        break;
    case O_FP16:
        if (dsq_opt_bool(a, "--use_fp16")) o->topts.precision = DSQ_PREC_FP16;
        break;
    case O_IGNORED: break;
    case O_QUIET: x->quiet = 1; break;
    default: return -1;
    }
    return 0;
}

/* Without --out, a run resumes into its own directory: --resume's, or the
 * one its state file is in. */
static const char *out_from_resume(const char *resume) {
    size_t n = strlen(resume);
    if (n <= 12 || strcmp(resume + n - 12, ".safetensors")) return resume;
    char *d = xstrdup(resume), *sl = strrchr(d, '/');
    if (sl) *sl = 0; else strcpy(d, ".");
    return d;
}

/* The encoder: a preset, or (--init-plm, --use_plm_init bert --config_name
 * DIR) a pretrained directory whose config.json gives every size. */
static void finish_encoder(dsq_train_run_opts *o, const overrides *x) {
    if (x->use_plm) {
        if (!x->config)
            dsq_usage_error("%s", "--use_plm_init bert needs --config_name DIR, a local "
                            "HuggingFace BERT directory (dsq downloads nothing)");
        if (o->init_plm && strcmp(o->init_plm, x->config))
            dsq_usage_error("--init-plm %s and --config_name %s name different directories",
                            o->init_plm, x->config);
        o->init_plm = x->config;
    } else if (x->config && !(o->config_name = dsq_model_preset(x->config, &o->model))) {
        dsq_usage_error("--config: unknown preset '%s' (bert-base, bert-large, bert-medium, "
                        "bert-small, bert-mini, bert-tiny; a pretrained directory is "
                        "--init-plm DIR)", x->config);
    }
    if (o->init_plm) {
        if ((x->config && !x->use_plm) || x->layers || x->hidden || x->heads || x->inter)
            dsq_usage_error("--init-plm %s: the encoder's shape is its config.json's; leave "
                            "out --config, --layers, --hidden, --heads and --intermediate",
                            o->init_plm);
        if (o->init)
            dsq_usage_error("%s", "--init and --init-plm exclude each other (both give the "
                            "starting weights)");
    }
    dsq_model_config preset = o->model;
    if (x->layers) o->model.n_layers = x->layers;
    if (x->hidden) o->model.H = x->hidden;
    if (x->heads) o->model.nh = x->heads;
    if (x->inter) o->model.I = x->inter;
    /* config.json names the preset only when the encoder is the preset's */
    if (o->model.n_layers != preset.n_layers || o->model.H != preset.H ||
        o->model.nh != preset.nh || o->model.I != preset.I)
        o->config_name = "custom";
}

/* The required options, and the encoder. */
static void finish_options(dsq_train_run_opts *o, const overrides *x) {
    if (!o->data) dsq_usage_error("%s", "--data FILE is required");
    if (!o->vocab) dsq_usage_error("%s", "--vocab FILE is required");
    if (o->init && o->resume)
        dsq_usage_error("%s", "--init and --resume exclude each other (--resume restores the "
                        "weights with the optimiser state)");
    if (!o->out && o->resume) o->out = out_from_resume(o->resume);
    if (!o->out) dsq_usage_error("%s", "--out DIR is required");
    finish_encoder(o, x);
    /* the default microbatch (64) takes the whole of a smaller batch; a
     * given one must fit in it */
    if (x->micro && o->topts.microbatch > o->bsz)
        dsq_usage_error("--microbatch %d is larger than --bsz %d (the batch must be a multiple "
                        "of the microbatch)", o->topts.microbatch, o->bsz);
}

int main(int argc, char **argv) {
    dsq_progname = "dsq-train";
    dsq_dist dist;
    dsq_dist_init(&dist, &argc, &argv);  /* MPI_Init in an MPI build */
    dsq_train_run_opts o;
    dsq_train_run_opts_default(&o);
    overrides x = {0};
    join_bool_words(&argc, argv);
    int c;
    while ((c = getopt_long(argc, argv, "d:v:o:qhV", long_opts, NULL)) != -1) {
        if (c == O_HELP) {
            fputs(usage, stdout);
            return 0;
        }
        if (c == O_VERSION) {
            dsq_print_version(stdout, dsq_progname);
            return 0;
        }
        if (apply_option(c, optarg, &o, &x)) {
            fprintf(stderr, "Try 'dsq-train --help'.\n");
            return DSQ_EUSAGE;
        }
    }
    if (optind < argc) dsq_usage_error("unexpected argument '%s'", argv[optind]);
    finish_options(&o, &x);
    o.progress = dsq_progress_for(x.quiet || dist.rank);
    o.dist = &dist;
    dsq_catch_stop_signals(on_signal);  /* finish the step and save */
    /* a file-size limit then reads as a write error (EFBIG), handled like
     * a full disk: the previous checkpoint stays */
    signal(SIGXFSZ, SIG_IGN);

    dsq_err e = {0};
    int rc = dsq_train_run(&o, &e);
    if (rc == DSQ_EUSAGE) dsq_usage_error("%s", e.msg);  /* settings the library checks */
    if (rc) dsq_die_err(&e);
    dsq_dist_finalize(&dist);
    return 0;
}
