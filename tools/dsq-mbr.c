/* dsq-mbr: minimum-Bayes-risk selection among k decodes of the same
 * inputs, the DiffuSeq script's selectBest. Options → lib/metrics/mbr.c. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "buildinfo.h"
#include "cli.h"
#include "err.h"
#include "mbr.h"
#include "outfile.h"

static const char usage[] =
    "Usage: dsq-mbr [OPTIONS] FILE... | DIR\n"
    "Picks, for every line, the candidate among k JSONL decodes of the same inputs\n"
    "that agrees best with the others (the DiffuSeq script's selectBest: sum of\n"
    "sentence BLEU, first on ties) and writes that file's object plus the field\n"
    "mbr_index = the winning file's 0-based position in the (sorted) input list.\n"
    "A DIR means its *.json and *.jsonl files; '-' is standard input.\n"
    "\n"
    "  -u, --utility U       bleu (default, the script's) or rougeL\n"
    "      --hyp-field NAME  candidate text field (default recover)\n"
    "      --ref-field NAME  reference field, checked equal across files (default reference)\n"
    "      --src-field NAME  source field, checked equal across files (default source)\n"
    "      --index-field NAME  name of the added field (default mbr_index)\n"
    "      --keep-order      files in the order given (default: sorted by name,\n"
    "                        as the script does)\n"
    "      --sos STR         start marker removed before scoring (default [CLS])\n"
    "      --eos STR         end marker (default [SEP])\n"
    "      --sep STR         separator marker (default [SEP])\n"
    "      --pad STR         padding marker (default [PAD])\n"
    "      --no-clean        score the texts as they are\n"
    "  -o, --output FILE     write to FILE (renamed into place when complete)\n"
    "  -j, --threads N       worker threads (default: OpenMP's); same output for any N\n"
    "  -q, --quiet           no summary line on standard error\n"
    "  -h, --help            this help\n"
    "  -V, --version         version and build\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other.\n"
    "See dsq-mbr(1), dsq(7).\n";

enum { O_IDXF = 256, O_KEEP };

int main(int argc, char **argv) {
    dsq_progname = "dsq-mbr";
    static const struct option longopts[] = {
        {"utility", required_argument, 0, 'u'},      DSQ_FIELDS_LONGOPTS,
        {"index-field", required_argument, 0, O_IDXF}, {"keep-order", no_argument, 0, O_KEEP},
        {"output", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 'j'},      {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},               {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    dsq_mbr_opts o = {0};
    dsq_fields_default(&o.fields);
    o.utility = DSQ_MBR_BLEU;
    o.index_field = "mbr_index";
    const char *outpath = "-";
    int keep_order = 0, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "u:o:j:qhV", longopts, NULL)) != -1) {
        if (dsq_fields_option(&o.fields, c, optarg)) continue;
        switch (c) {
        case 'u':
            if (strcmp(optarg, "bleu") == 0) o.utility = DSQ_MBR_BLEU;
            else if (strcmp(optarg, "rougeL") == 0) o.utility = DSQ_MBR_ROUGE_L;
            else dsq_usage_error("--utility must be bleu or rougeL");
            break;
        case O_IDXF:
            if (!*optarg) dsq_usage_error("--index-field needs a name");
            o.index_field = optarg;
            break;
        case O_KEEP: keep_order = 1; break;
        case 'o': outpath = optarg; break;
        case 'j': dsq_opt_threads(optarg); break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': dsq_print_version(stdout, "dsq-mbr"); return 0;
        default: fputs("Try 'dsq-mbr --help'.\n", stderr); return DSQ_EUSAGE;
        }
    }
    if (optind == argc) dsq_usage_error("give the decode files (or a directory of them)");

    dsq_err e = {0};
    char **paths;
    size_t k, n;
    if (dsq_expand_inputs(argv + optind, (size_t)(argc - optind), !keep_order, &paths, &k, &e))
        dsq_die_err(&e);
    if (dsq_out_refuse_input(outpath, (const char *const *)paths, k, &e))
        dsq_usage_error("%s", e.msg);
    dsq_out out;
    if (dsq_out_open(&out, outpath, &e)) dsq_die_err(&e);
    if (dsq_mbr_run(paths, k, &o, out.f, &n, &e)) {
        dsq_out_abort(&out);
        dsq_die_err(&e);
    }
    if (dsq_out_commit(&out, &e)) dsq_die_err(&e);
    if (!quiet)
        fprintf(stderr, "dsq-mbr: %zu examples, %zu candidates each, written to %s\n", n, k,
                strcmp(outpath, "-") ? outpath : "<stdout>");
    dsq_free_inputs(paths, k);
    return 0;
}
