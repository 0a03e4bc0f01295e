#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

double dsq_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *dsq_read_file(const char *path, const char *what, size_t *len, dsq_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        dsq_err_set(e, DSQ_EIO, "%s: cannot open%s%s: %s", path, what ? " " : "", what ? what : "",
                    strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, k;
    char *buf = xmalloc(cap);
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0)
        if ((n += k) + 1 == cap) buf = xrealloc(buf, cap *= 2);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        dsq_err_set(e, DSQ_EIO, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *dsq_path_join(const char *dir, const char *name) {
    if (name[0] == '/') return xstrdup(name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *dsq_path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 2);
    memcpy(d, path, n ? n : 1);
    d[n ? n : 1] = 0;
    return d;
}

int dsq_cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

dsq_progress dsq_progress_for(int quiet) {
    if (quiet) return DSQ_PROGRESS_NONE;
    return isatty(STDERR_FILENO) ? DSQ_PROGRESS_BAR : DSQ_PROGRESS_LINES;
}
