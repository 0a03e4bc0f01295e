/* numpy's float64 add.reduce (pairwise summation) and np.mean, to the bit
 * (doc/metrics.md §4; checked against numpy 1.24 on lengths 1..1000 and
 * up to 10^5 by tests/unit/test_metrics.c). */
#include <math.h>

#include "metrics.h"

/* numpy's blocking: < 8 left to right; up to 128 eight lanes over
 * consecutive blocks of 8 then the leftovers; above, split at n/2 rounded
 * down to a multiple of 8 and recurse. */
static double pairwise(const double *x, size_t n) {
    if (n < 8) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++) r += x[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = x[j];
        size_t i, end = n - n % 8;
        for (i = 8; i < end; i += 8)
            for (int j = 0; j < 8; j++) r[j] += x[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += x[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise(x, n2) + pairwise(x + n2, n - n2);
}

/* The reduction starts from the identity 0.0 and goes through numpy's
 * iterator buffer (np.getbufsize() = 8192 elements): each buffer is summed
 * pairwise and added to the running total in order.  So above 8192
 * elements this is not one pairwise tree (doc/metrics.md §4). */
#define NP_BUFSIZE 8192

double dsq_np_sum(const double *x, size_t n) {
    double res = 0.0;
    for (size_t i = 0; i < n; i += NP_BUFSIZE) res += pairwise(x + i, n - i < NP_BUFSIZE ? n - i : NP_BUFSIZE);
    return res;
}

double dsq_np_mean(const double *x, size_t n) {
    if (n == 0) return NAN;  /* numpy: nan with a RuntimeWarning */
    return dsq_np_sum(x, n) / (double)n;
}
