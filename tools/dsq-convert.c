/* dsq-convert: a checkpoint from safetensors to PyTorch .pt or back.
 * → dsq_convert (lib/run/convert_run.c). */
#include <getopt.h>
#include <string.h>

#include "buildinfo.h"
#include "cli.h"
#include "convert.h"
#include "err.h"

static const char usage[] =
    "Usage: dsq-convert [OPTIONS] IN OUT\n"
    "Converts a DiffuSeq checkpoint between dsq's safetensors and PyTorch's\n"
    ".pt (torch.save), either way, tensors unchanged. IN is read by content\n"
    "(a .pt in the zip or the legacy format, or safetensors); OUT is a PyTorch\n"
    "zip file when its name ends in .pt, .pth or .bin (torch.load and the\n"
    "reference's load_state_dict take it strictly), else safetensors. A .pt\n"
    "beside the reference's training_args.json gives its configuration to the\n"
    "safetensors file.\n"
    "\n"
    "  -q, --quiet      no summary line on standard error\n"
    "  -h, --help       this help\n"
    "  -V, --version    version and build\n"
    "\n"
    "Exit status: 0 ok, 2 usage, 65 bad input data, 74 I/O error, 1 other.\n"
    "See dsq-convert(1).\n";

int main(int argc, char **argv) {
    dsq_progname = "dsq-convert";
    static const struct option opts[] = {{"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, "qhV", opts, NULL)) != -1) {
        if (c == 'q') {
            quiet = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else if (c == 'V') {
            dsq_print_version(stdout, dsq_progname);
            return 0;
        } else {
            fprintf(stderr, "Try 'dsq-convert --help'.\n");
            return DSQ_EUSAGE;
        }
    }
    if (argc - optind != 2) dsq_usage_error("%s", "IN and OUT are required (two arguments)");
    const char *in = argv[optind], *out = argv[optind + 1];
    dsq_err e = {0};
    dsq_convert_info info;
    if (dsq_convert(in, out, &info, &e)) dsq_die_err(&e);
    if (!quiet)
        fprintf(stderr, "dsq-convert: %d tensors, %s to %s (%s)%s\n", info.tensors,
                info.pytorch_in ? "PyTorch" : "safetensors",
                dsq_convert_wants_pt(out) ? "PyTorch zip" : "safetensors", out,
                !dsq_convert_wants_pt(out) && !info.config
                    ? "; no configuration: dsq-sample needs --config" : "");
    return 0;
}
