/* dsq-convert's work (convert.h). */
#include "convert.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ptfile.h"
#include "refrun.h"
#include "safetensors.h"
#include "util.h"

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n > k && !strcmp(s + n - k, suf);
}

int dsq_convert_wants_pt(const char *out) {
    return ends_with(out, ".pt") || ends_with(out, ".pth") || ends_with(out, ".bin");
}

/* The training_args.json beside a .pt, as configuration metadata. */
static int add_run_config(dsq_record *r, const char *in, dsq_convert_info *info, dsq_err *e) {
    const char *slash = strrchr(in, '/');
    char *dir = slash ? strndup(in, (size_t)(slash - in + (slash == in))) : xstrdup(".");
    DSQ_CHECK(dir);
    char *args = dsq_path_join(dir, "training_args.json"), *cfg = NULL;
    int rc = 0;
    if (access(args, F_OK) == 0 && !(rc = dsq_refrun_config(args, &cfg, e))) {
        dsq_record_set_meta(r, "config", cfg);
        info->config = 1;
    }
    free(cfg);
    free(args);
    free(dir);
    return rc;
}

int dsq_convert(const char *in, const char *out, dsq_convert_info *info, dsq_err *e) {
    memset(info, 0, sizeof *info);
    unsigned char head[16] = {0};
    FILE *f = fopen(in, "rb");
    if (!f) return dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", in, strerror(errno));
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    dsq_record r;
    dsq_record_init(&r);
    info->pytorch_in = dsq_pt_sniff(head, got) != DSQ_PT_NONE;
    int rc = info->pytorch_in ? dsq_pt_read_file(in, &r, NULL, e) : dsq_st_read_file(in, &r, e);
    if (!rc && dsq_convert_wants_pt(out)) {
        rc = dsq_pt_write_file(out, &r, e);
    } else if (!rc) {
        info->config = dsq_record_meta(&r, "config") != NULL;
        if (info->pytorch_in) rc = add_run_config(&r, in, info, e);
        if (!rc) rc = dsq_st_write_file(out, &r, e);
    }
    info->tensors = r.n_tensors;
    dsq_record_free(&r);
    return rc;
}
