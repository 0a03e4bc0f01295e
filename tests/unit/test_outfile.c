/* lib/base/outfile.c: a named output appears only when committed (temporary +
 * rename), an aborted one leaves nothing, and a path that is not a regular
 * file (here a FIFO; /dev/null in practice) is written in place, never
 * replaced by a renamed regular file. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "outfile.h"

static char dir[] = "/tmp/dsq_outfile_XXXXXX";

static int is_regular(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int n_entries(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq ", dir);
    for (int n = 0; n < 8; n++) {
        char c[300];
        snprintf(c, sizeof c, "%s%d", cmd, n);
        if (system(c) == 0) return n;
    }
    return -1;
}

static void test_commit_and_abort(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    dsq_out o;
    dsq_err e = {0};
    EXPECT(dsq_out_open(&o, path, &e) == 0, "%s", e.msg);
    fputs("hello\n", o.f);
    EXPECT(access(path, F_OK) != 0, "the output exists before commit");
    EXPECT(dsq_out_commit(&o, &e) == 0, "%s", e.msg);
    EXPECT(is_regular(path), "no output after commit");
    EXPECT(n_entries() == 1, "%d entries (a temporary left?)", n_entries());
    EXPECT(dsq_out_open(&o, path, &e) == 0, "%s", e.msg);
    fputs("half", o.f);
    dsq_out_abort(&o);
    FILE *f = fopen(path, "r");
    char buf[16] = {0};
    EXPECT(f && fgets(buf, sizeof buf, f) && !strcmp(buf, "hello\n"),
           "an aborted rewrite changed the committed output: '%s'", buf);
    if (f) fclose(f);
    EXPECT(n_entries() == 1, "%d entries after abort", n_entries());
    unlink(path);
}

static void test_fifo_written_in_place(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/fifo", dir);
    EXPECT(mkfifo(path, 0600) == 0, "mkfifo");
    /* a reader first, so that opening for writing does not block */
    int rd = open(path, O_RDONLY | O_NONBLOCK);
    EXPECT(rd >= 0, "open the FIFO for reading");
    dsq_out o;
    dsq_err e = {0};
    EXPECT(dsq_out_open(&o, path, &e) == 0, "%s", e.msg);
    EXPECT(o.tmp == NULL, "a FIFO got a temporary %s", o.tmp ? o.tmp : "");
    fputs("through\n", o.f);
    EXPECT(dsq_out_commit(&o, &e) == 0, "%s", e.msg);
    char buf[32] = {0};
    ssize_t k = read(rd, buf, sizeof buf - 1);
    EXPECT(k == 8 && !strcmp(buf, "through\n"), "read back %zd bytes '%s'", k, buf);
    struct stat st;
    EXPECT(stat(path, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    EXPECT(n_entries() == 1, "%d entries", n_entries());
    /* an aborted direct output leaves the FIFO alone */
    EXPECT(dsq_out_open(&o, path, &e) == 0, "%s", e.msg);
    dsq_out_abort(&o);
    EXPECT(stat(path, &st) == 0 && S_ISFIFO(st.st_mode), "abort removed or replaced the FIFO");
    close(rd);
    unlink(path);
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    RUN_TEST(test_commit_and_abort);
    RUN_TEST(test_fifo_written_in_place);
    rmdir(dir);
    TEST_MAIN_END();
}
