/* dsq-tokenize: JSONL text ⇄ tensor streams of packed examples, and word
 * lists for word-level vocabularies. Options → library calls. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
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
    "  -k, --vocab-kind KIND    wordpiece (BERT uncased, default) or word\n"
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

int main(int argc, char **argv) {
    dsq_progname = "dsq-tokenize";
    const char *vocab = NULL, *output = "-";
    dsq_tok_kind kind = DSQ_TOK_WORDPIECE;
    dsq_encode_opts eo = {.src_field = "src", .trg_field = "trg", .seq_len = 128,
                          .rows_per_record = 1024};
    dsq_join join = DSQ_JOIN_MODERN;
    int level = 3, quiet = 0;
    long min_count = 1;
    mode_t_ mode = MODE_ENCODE;
    int c;
    while ((c = getopt_long(argc, argv, "v:k:L:j:do:qhV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'v': vocab = optarg; break;
        case 'k':
            if (!strcmp(optarg, "wordpiece")) kind = DSQ_TOK_WORDPIECE;
            else if (!strcmp(optarg, "word")) kind = DSQ_TOK_WORD;
            else dsq_usage_error("--vocab-kind: '%s' is not wordpiece or word", optarg);
            break;
        case 'L': eo.seq_len = (int)dsq_opt_long(optarg, "--seq-len", 4, 1 << 20); break;
        case OPT_SRC_FIELD: eo.src_field = optarg; break;
        case OPT_TRG_FIELD: eo.trg_field = optarg; break;
        case OPT_SRC_ONLY: eo.plain_text = 1; break;
        case OPT_ROWS: eo.rows_per_record = (int)dsq_opt_long(optarg, "--rows-per-record", 1, 1 << 20); break;
        case OPT_LEVEL: level = (int)dsq_opt_long(optarg, "--level", 1, 19); break;
        case 'j': eo.threads = (int)dsq_opt_long(optarg, "--threads", 1, 1024); break;
        case 'd': mode = MODE_DECODE; break;
        case OPT_JOIN:
            if (!strcmp(optarg, "modern")) join = DSQ_JOIN_MODERN;
            else if (!strcmp(optarg, "legacy")) join = DSQ_JOIN_LEGACY;
            else dsq_usage_error("--join: '%s' is not modern or legacy", optarg);
            break;
        case OPT_BUILD_VOCAB: mode = MODE_BUILD_VOCAB; break;
        case OPT_MIN_COUNT: min_count = dsq_opt_long(optarg, "--min-count", 1, 1L << 40); break;
        case 'o': output = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': dsq_print_version(stdout, dsq_progname); return 0;
        default: fprintf(stderr, "Try 'dsq-tokenize --help'.\n"); return DSQ_EUSAGE;
        }
    }
    int n_inputs = argc - optind;
    if (mode != MODE_BUILD_VOCAB && n_inputs > 1)
        dsq_usage_error("%s", "at most one INPUT (use cat to join inputs)");
    if (mode != MODE_BUILD_VOCAB && !vocab) dsq_usage_error("%s", "--vocab FILE is required");
    if (mode == MODE_DECODE && isatty(STDIN_FILENO) && n_inputs == 0 && !quiet)
        fprintf(stderr, "dsq-tokenize: reading a tensor stream from the terminal\n");

    dsq_err e = {0};
    dsq_out out;
    if (dsq_out_open(&out, output, &e)) dsq_die_err(&e);
    int rc = 0;
    long count = 0;

    if (mode == MODE_BUILD_VOCAB) {
        dsq_wordcount *wc = dsq_wordcount_new();
        int first = optind, last = n_inputs ? argc : optind + 1;
        for (int i = first; i < last && !rc; i++) {
            dsq_jsonl_reader *in = dsq_jsonl_open(n_inputs ? argv[i] : "-", &e);
            if (!in) { rc = e.code; break; }
            rc = dsq_count_words(in, wc, &eo, &e);
            dsq_jsonl_close(in);
        }
        size_t written = 0;
        if (!rc) rc = dsq_wordcount_write(wc, out.f, dsq_out_name(&out), min_count, &written, &e);
        count = (long)written;
        dsq_wordcount_free(wc);
    } else {
        dsq_tokenizer *tok = NULL;
        if (dsq_tokenizer_load(&tok, vocab, kind, &e)) dsq_die_err(&e);
        const char *in_path = n_inputs ? argv[optind] : "-";
        if (mode == MODE_ENCODE) {
            dsq_jsonl_reader *in = dsq_jsonl_open(in_path, &e);
            if (!in) dsq_die_err(&e);
            dsq_stream_writer *w = dsq_stream_writer_open(out.f, dsq_out_name(&out), level);
            rc = dsq_encode_examples(in, w, tok, &eo, &count, &e);
            /* Only a complete run ends the zstd frame: a failed one stays
             * visibly truncated for any reader. */
            if (!rc) rc = dsq_stream_writer_close(w, &e);
            dsq_jsonl_close(in);
        } else {
            FILE *f = strcmp(in_path, "-") ? fopen(in_path, "rb") : stdin;
            if (!f) dsq_die(DSQ_EIO, "%s: cannot open: %m", in_path);
            const char *in_name = f == stdin ? "<stdin>" : in_path;
            dsq_stream_reader *r = dsq_stream_reader_open(f, in_name, 0);
            rc = dsq_decode_stream(r, in_name, out.f, tok, join, &count, &e);
            dsq_stream_reader_close(r);
            if (f != stdin) fclose(f);
        }
        dsq_tokenizer_free(tok);
    }
    if (!rc) rc = dsq_out_commit(&out, &e);
    if (rc) {
        dsq_out_abort(&out);
        if (out.f == stdout) fflush(stdout);
        dsq_die_err(&e);
    }
    if (!quiet) {
        const char *what = mode == MODE_ENCODE ? "examples encoded"
                         : mode == MODE_DECODE ? "rows decoded" : "words written";
        fprintf(stderr, "dsq-tokenize: %ld %s to %s\n", count, what,
                strcmp(output, "-") ? output : "<stdout>");
    }
    return 0;
}
