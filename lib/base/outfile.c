#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries still open, removed at exit and on a fatal signal so a
 * failed or killed run leaves nothing behind.  A tool has at most a
 * handful of outputs. */
#define MAX_PENDING 16
static char *volatile pending[MAX_PENDING];
static int atexit_registered;

static void remove_pending(void) {
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i]) unlink(pending[i]);
}

/* The signals whose default action ends the process and that can be
 * caught.  Those a tool handles itself (dsq-train's and dsq-sample's
 * orderly stop, an ignored SIGXFSZ) keep their handler: the tool's own
 * exit path removes the temporaries then. */
static const int fatal_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGALRM,
                                    SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF};

/* Removes the temporaries (unlink is async-signal-safe), then dies of the
 * signal as it would have. */
static void on_fatal_signal(int sig) {
    remove_pending();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void register_cleanup(void) {
    if (atexit_registered) return;
    atexit_registered = 1;
    atexit(remove_pending);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
        struct sigaction old, sa;
        if (sigaction(fatal_signals[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigaction(fatal_signals[i], &sa, NULL);
    }
}

void dsq_out_track_tmp(char *tmp, int add) {
    if (add) register_cleanup();
    for (int i = 0; i < MAX_PENDING; i++) {
        if (add && !pending[i]) { pending[i] = tmp; return; }
        if (!add && pending[i] == tmp) { pending[i] = NULL; return; }
    }
}

int dsq_out_remove_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        /* .NAME.tmp.PID or .NAME.tmp.PID.N */
        const char *t = de->d_name[0] == '.' ? strstr(de->d_name, ".tmp.") : NULL;
        if (!t || t == de->d_name) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (pid <= 0 || end == t + 5 || (*end && *end != '.')) continue;
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) == 0) n++;
    }
    closedir(d);
    return n;
}

int dsq_out_refuse_input(const char *path, const char *const *inputs, size_t n, dsq_err *e) {
    struct stat o, s;
    if (!path || !strcmp(path, "-") || stat(path, &o) != 0 || !S_ISREG(o.st_mode)) return 0;
    for (size_t i = 0; i < n; i++)
        if (inputs[i] && strcmp(inputs[i], "-") && stat(inputs[i], &s) == 0 &&
            s.st_dev == o.st_dev && s.st_ino == o.st_ino)
            return dsq_err_set(e, DSQ_EUSAGE, "-o %s is the input %s (the same file): the output "
                               "would replace it; write to another file", path, inputs[i]);
    return 0;
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
    dsq_out_track_tmp(o->tmp, 1);
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
    dsq_out_track_tmp(o->tmp, 0);
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
        dsq_out_track_tmp(o->tmp, 0);
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}
