#include "outfile.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries still open, removed at exit so a failed run leaves nothing
 * behind. A tool has at most a handful of outputs. */
#define MAX_PENDING 16
static char *pending[MAX_PENDING];
static int atexit_registered;

static void remove_pending(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) unlink(pending[i]);
}

static void track(char *tmp, int add) {
    for (int i = 0; i < MAX_PENDING; i++) {
        if (add && !pending[i]) { pending[i] = tmp; return; }
        if (!add && pending[i] == tmp) { pending[i] = NULL; return; }
    }
}

const char *dsq_out_name(const dsq_out *o) { return o->path ? o->path : "<stdout>"; }

int dsq_out_open(dsq_out *o, const char *path, dsq_err *e) {
    memset(o, 0, sizeof *o);
    if (!path || strcmp(path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    o->path = xstrdup(path);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (!(o->f = fopen(path, "wb"))) {
            dsq_err_set(e, DSQ_EIO, "%s: cannot open for writing: %s", path, strerror(errno));
            free(o->path);
            memset(o, 0, sizeof *o);
            return DSQ_EIO;
        }
        return 0;
    }
    size_t n = strlen(path) + 64;
    o->tmp = xmalloc(n);
    /* Same directory, so rename is atomic; hidden and clearly temporary. */
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(o->tmp, n, "%.*s.%s.tmp.%ld", dir_len, path, path + dir_len, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        int err = errno;
        dsq_err_set(e, DSQ_EIO, "%s: cannot create: %s", path, strerror(err));
        free(o->tmp);
        free(o->path);
        memset(o, 0, sizeof *o);
        return DSQ_EIO;
    }
    if (!atexit_registered) { atexit(remove_pending); atexit_registered = 1; }
    track(o->tmp, 1);
    return 0;
}

int dsq_out_commit(dsq_out *o, dsq_err *e) {
    if (!o->path) {
        if (fflush(stdout) != 0 || ferror(stdout))
            return dsq_err_set(e, DSQ_EIO, "<stdout>: write error: %s", strerror(errno));
        return 0;
    }
    int rc = 0;
    if (!o->tmp) {  /* written directly */
        if (fflush(o->f) != 0 || ferror(o->f))
            rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", o->path, strerror(errno));
        if (fclose(o->f) != 0 && !rc)
            rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", o->path, strerror(errno));
        free(o->path);
        memset(o, 0, sizeof *o);
        return rc;
    }
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
        rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", o->path, strerror(errno));
    if (fclose(o->f) != 0 && !rc)
        rc = dsq_err_set(e, DSQ_EIO, "%s: write error: %s", o->path, strerror(errno));
    o->f = NULL;
    if (!rc && rename(o->tmp, o->path) != 0)
        rc = dsq_err_set(e, DSQ_EIO, "%s: cannot rename into place: %s", o->path, strerror(errno));
    if (rc) unlink(o->tmp);
    track(o->tmp, 0);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return rc;
}

void dsq_out_abort(dsq_out *o) {
    if (!o->path) return;
    if (o->f) fclose(o->f);
    if (o->tmp) {
        unlink(o->tmp);
        track(o->tmp, 0);
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
