/* Minimal unit-test helpers.  Each test binary prints one line per check
 * group, "PASS name" or "FAIL name: why", and exits non-zero if any failed.
 * tests/run counts these lines. */
#ifndef DSQ_CHECK_H
#define DSQ_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures_total = 0;
static int check_failures_here = 0;

/* Inside a test function: record a failure with a message, keep going. */
#define EXPECT(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            if (check_failures_here < 10) {                                  \
                fprintf(stderr, "  %s:%d: expected %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                \
                fputc('\n', stderr);                                         \
            }                                                                \
            check_failures_here++;                                           \
        }                                                                    \
    } while (0)

/* Runs one test function and prints its PASS/FAIL line. */
#define RUN_TEST(fn)                                                         \
    do {                                                                     \
        check_failures_here = 0;                                             \
        fn();                                                                \
        if (check_failures_here) {                                           \
            printf("FAIL %s: %d check(s) failed\n", #fn, check_failures_here); \
            check_failures_total++;                                          \
        } else {                                                             \
            printf("PASS %s\n", #fn);                                        \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

#define TEST_MAIN_END() return check_failures_total ? 1 : 0

#endif
