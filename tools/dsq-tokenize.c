/* dsq-tokenize: JSONL text ⇄ tensor streams of packed examples, and word
 * lists for word-level vocabularies. Options → library calls. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buildinfo.h"
#include "cli.h"
#include "decode.h"
#include "encode.h"
#include "outfile.h"
#include "stream.h"
#include "tokenizer.h"
#include "wordvocab.h"

static const char usage[] =
    "Usage: dsq-tokenize --vocab FILE [OPTIONS] [INPUT]\n"
    "       dsq-tokenize --decode --vocab FILE [OPTIONS] [INPUT]\n"
    "       dsq-tokenize --build-vocab [--min-count N] [INPUT...]\n"
    "\n"
    "Encode JSONL {\"src\",\"trg\"} lines (or plain text) into a tensor stream of\n"
    "packed examples (man 5 dsq-stream); decode a stream back to JSONL text;\n"
    "or build a word list for a word-level vocabulary. INPUT defaults to stdin\n"
    "('-'); output goes to stdout unless -o is given.\n"
    "\n"
    "Encoding:\n"
    "  -v, --vocab FILE         vocabulary: BERT vocab.txt or a word list (required)\n"
    "  -k, --vocab-kind KIND    wordpiece (BERT uncased, default) or word; -d: the\n"
    "                           stream's kind by default\n"
    "  -L, --seq-len N          packed sequence length (default 128)\n"
    "      --src-field NAME     JSON field of the source (default src)\n"
    "      --trg-field NAME     JSON field of the target (default trg); a line\n"
    "                           without it is a source-only input\n"
    "      --src-only           input is plain text, one source sentence a line\n"
    "      --rows-per-record N  examples per stream record (default 1024)\n"
    "      --level N            zstd compression level 1..19 (default 3)\n"
    "  -j, --threads N          tokenizer threads (default: all cores); the\n"
    "                           output is identical for any N\n"
    "\n"
    "Decoding:\n"
    "  -d, --decode             tensor stream in, JSONL out\n"
    "      --join STYLE         modern (default) or legacy (2022 toolchain)\n"
    "\n"
    "Word lists:\n"
    "      --build-vocab        JSONL in, \"word count\" lines out, most frequent\n"
    "                           first (ties in order of first appearance)\n"
    "      --min-count N        keep words seen at least N times (default 1)\n"
    "\n"
    "General:\n"
    "  -o, --output FILE        write here (complete or not at all) instead of stdout\n"
    "  -q, --quiet              no summary line on stderr\n"
    "  -h, --help               this help\n"
    "  -V, --version            version and build\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other.\n"
    "See dsq-tokenize(1), dsq-stream(5), dsq(7).\n";

enum { OPT_SRC_FIELD = 256, OPT_TRG_FIELD, OPT_SRC_ONLY, OPT_ROWS, OPT_LEVEL, OPT_JOIN,
       OPT_BUILD_VOCAB, OPT_MIN_COUNT };

static const struct option long_opts[] = {
    {"vocab", required_argument, 0, 'v'},
    {"vocab-kind", required_argument, 0, 'k'},
    {"seq-len", required_argument, 0, 'L'},
    {"src-field", required_argument, 0, OPT_SRC_FIELD},
    {"trg-field", required_argument, 0, OPT_TRG_FIELD},
    {"src-only", no_argument, 0, OPT_SRC_ONLY},
    {"rows-per-record", required_argument, 0, OPT_ROWS},
    {"level", required_argument, 0, OPT_LEVEL},
    {"threads", required_argument, 0, 'j'},
    {"decode", no_argument, 0, 'd'},
    {"join", required_argument, 0, OPT_JOIN},
    {"build-vocab", no_argument, 0, OPT_BUILD_VOCAB},
    {"min-count", required_argument, 0, OPT_MIN_COUNT},
    {"output", required_argument, 0, 'o'},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

typedef enum { MODE_ENCODE, MODE_DECODE, MODE_BUILD_VOCAB } mode_t_;

/* The command line, parsed. */
typedef struct {
    const char *vocab, *output;
    dsq_tok_kind kind;
    int kind_set;             /* -k given (else -d takes the stream's kind) */
    dsq_encode_opts eo;
    dsq_join join;
    int level, quiet;
    long min_count;
    mode_t_ mode;
} tok_args;

/* One option into `a`; returns -1 to go on, else the exit status. */
static int apply_option(tok_args *a, int c) {
    switch (c) {
    case 'v': a->vocab = optarg; break;
    case 'k':
        a->kind_set = 1;
        if (!strcmp(optarg, "wordpiece")) a->kind = DSQ_TOK_WORDPIECE;
        else if (!strcmp(optarg, "word")) a->kind = DSQ_TOK_WORD;
        else dsq_usage_error("--vocab-kind: '%s' is not wordpiece or word", optarg);
        break;
    case 'L': a->eo.seq_len = (int)dsq_opt_long(optarg, "--seq-len", 4, 1 << 20); break;
    case OPT_SRC_FIELD: a->eo.src_field = optarg; break;
    case OPT_TRG_FIELD: a->eo.trg_field = optarg; break;
    case OPT_SRC_ONLY: a->eo.plain_text = 1; break;
    case OPT_ROWS: a->eo.rows_per_record = (int)dsq_opt_long(optarg, "--rows-per-record", 1, 1 << 20); break;
    case OPT_LEVEL: a->level = (int)dsq_opt_long(optarg, "--level", 1, 19); break;
    case 'j': a->eo.threads = (int)dsq_opt_long(optarg, "--threads", 1, 1024); break;
    case 'd': a->mode = MODE_DECODE; break;
    case OPT_JOIN:
        if (!strcmp(optarg, "modern")) a->join = DSQ_JOIN_MODERN;
        else if (!strcmp(optarg, "legacy")) a->join = DSQ_JOIN_LEGACY;
        else dsq_usage_error("--join: '%s' is not modern or legacy", optarg);
        break;
    case OPT_BUILD_VOCAB: a->mode = MODE_BUILD_VOCAB; break;
    case OPT_MIN_COUNT: a->min_count = dsq_opt_long(optarg, "--min-count", 1, 1L << 40); break;
    case 'o': a->output = optarg; break;
    case 'q': a->quiet = 1; break;
    case 'h': fputs(usage, stdout); return 0;
    case 'V': dsq_print_version(stdout, dsq_progname); return 0;
    default: fprintf(stderr, "Try 'dsq-tokenize --help'.\n"); return DSQ_EUSAGE;
    }
    return -1;
}

/* --build-vocab: the words of every input (stdin without one), counted. */
static int build_vocab(const tok_args *a, char **inputs, int n_inputs, dsq_out *out,
                       long *count, dsq_err *e) {
    dsq_wordcount *wc = dsq_wordcount_new();
    int rc = 0;
    for (int i = 0; i < (n_inputs ? n_inputs : 1) && !rc; i++) {
        dsq_jsonl_reader *in = dsq_jsonl_open(n_inputs ? inputs[i] : "-", e);
        if (!in) { rc = e->code; break; }
        rc = dsq_count_words(in, wc, &a->eo, e);
        dsq_jsonl_close(in);
    }
    size_t written = 0;
    if (!rc) rc = dsq_wordcount_write(wc, out->f, dsq_out_name(out), a->min_count, &written, e);
    *count = (long)written;
    dsq_wordcount_free(wc);
    return rc;
}

/* JSONL at `in_path` into a stream of packed examples. */
static int encode(const tok_args *a, dsq_tokenizer *tok, const char *in_path, dsq_out *out,
                  long *count, dsq_err *e) {
    dsq_jsonl_reader *in = dsq_jsonl_open(in_path, e);
    if (!in) dsq_die_err(e);
    dsq_stream_writer *w = dsq_stream_writer_open(out->f, dsq_out_name(out), a->level);
    int rc = dsq_encode_examples(in, w, tok, &a->eo, count, e);
    /* Only a complete run ends the zstd frame: a failed one stays visibly
     * truncated for any reader. */
    if (!rc) rc = dsq_stream_writer_close(w, e);
    dsq_jsonl_close(in);
    return rc;
}

/* The tokenizer kind the stream in the regular file f names (its first
 * record), f left where it was; *kind unchanged for a pipe or a stream
 * without it (the reader then reports what is wrong). */
static void peek_kind(FILE *f, const char *name, dsq_tok_kind *kind) {
    struct stat st;
    off_t at = ftello(f);
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || at < 0) return;
    dsq_stream_reader *r = dsq_stream_reader_open(f, name, 0);
    dsq_record rec;
    dsq_record_init(&rec);
    if (dsq_stream_read(r, &rec, NULL) > 0) {
        const char *k = dsq_record_meta(&rec, "tokenizer");
        if (k) dsq_tokenizer_kind_parse(k, kind);
    }
    dsq_record_free(&rec);
    dsq_stream_reader_close(r);
    clearerr(f);
    if (fseeko(f, at, SEEK_SET) != 0) dsq_die(DSQ_EIO, "%s: cannot seek back: %m", name);
}

/* --decode: a stream at `in_path` back into JSONL text, with the
 * vocabulary of --vocab-kind, else of the kind the stream names. */
static int decode(const tok_args *a, const char *in_path, dsq_out *out, long *count,
                  dsq_err *e) {
    FILE *f = strcmp(in_path, "-") ? fopen(in_path, "rb") : stdin;
    if (!f) dsq_die(DSQ_EIO, "%s: cannot open: %m", in_path);
    const char *in_name = f == stdin ? "<stdin>" : in_path;
    dsq_tokenizer *tok = NULL;
    dsq_tok_kind kind = a->kind;
    if (!a->kind_set) peek_kind(f, in_name, &kind);
    /* rows of a corrupt frame never reach the output */
    int rc = dsq_stream_verify(f, in_name, e);
    if (!rc && (rc = dsq_tokenizer_load(&tok, a->vocab, kind, e)) == DSQ_EDATA && !a->kind_set)
        dsq_err_prefix(e, "%s was tokenized with another vocabulary, a %s one (--vocab is read as "
                       "that kind; give the vocabulary the stream was made with)", in_name,
                       dsq_tokenizer_kind_name(kind));
    if (!rc) {
        dsq_stream_reader *r = dsq_stream_reader_open(f, in_name, 0);
        rc = dsq_decode_stream(r, in_name, out->f, tok, a->join, count, e);
        dsq_stream_reader_close(r);
    }
    if (tok) dsq_tokenizer_free(tok);
    if (f != stdin) fclose(f);
    return rc;
}

int main(int argc, char **argv) {
    dsq_progname = "dsq-tokenize";
    tok_args a = {.output = "-", .kind = DSQ_TOK_WORDPIECE, .join = DSQ_JOIN_MODERN,
                  .eo = {.src_field = "src", .trg_field = "trg", .seq_len = 128,
                         .rows_per_record = 1024},
                  .level = 3, .min_count = 1, .mode = MODE_ENCODE};
    int c, status;
    while ((c = getopt_long(argc, argv, "v:k:L:j:do:qhV", long_opts, NULL)) != -1)
        if ((status = apply_option(&a, c)) >= 0) return status;
    int n_inputs = argc - optind;
    if (a.mode != MODE_BUILD_VOCAB && n_inputs > 1)
        dsq_usage_error("%s", "at most one INPUT (use cat to join inputs)");
    if (a.mode != MODE_BUILD_VOCAB && !a.vocab) dsq_usage_error("%s", "--vocab FILE is required");
    if (a.mode == MODE_DECODE && isatty(STDIN_FILENO) && n_inputs == 0 && !a.quiet)
        fprintf(stderr, "dsq-tokenize: reading a tensor stream from the terminal\n");

    dsq_err e = {0};
    for (int i = optind; i < argc; i++)
        if (dsq_out_refuse_input(a.output, (const char *const *)argv + i, 1, &e))
            dsq_usage_error("%s", e.msg);
    if (dsq_out_refuse_input(a.output, &a.vocab, 1, &e)) dsq_usage_error("%s", e.msg);
    dsq_out out;
    if (dsq_out_open(&out, a.output, &e)) dsq_die_err(&e);
    int rc;
    long count = 0;
    if (a.mode == MODE_BUILD_VOCAB) {
        rc = build_vocab(&a, argv + optind, n_inputs, &out, &count, &e);
    } else if (a.mode == MODE_DECODE) {
        rc = decode(&a, n_inputs ? argv[optind] : "-", &out, &count, &e);
    } else {
        dsq_tokenizer *tok = NULL;
        if (dsq_tokenizer_load(&tok, a.vocab, a.kind, &e)) dsq_die_err(&e);
        rc = encode(&a, tok, n_inputs ? argv[optind] : "-", &out, &count, &e);
        dsq_tokenizer_free(tok);
    }
    if (!rc) rc = dsq_out_commit(&out, &e);
    if (rc) {
        dsq_out_abort(&out);
        if (out.f == stdout) fflush(stdout);
        dsq_die_err(&e);
    }
    if (!a.quiet) {
        const char *what = a.mode == MODE_ENCODE ? "examples encoded"
                         : a.mode == MODE_DECODE ? "rows decoded" : "words written";
        fprintf(stderr, "dsq-tokenize: %ld %s to %s\n", count, what,
                strcmp(a.output, "-") ? a.output : "<stdout>");
    }
    return 0;
}
