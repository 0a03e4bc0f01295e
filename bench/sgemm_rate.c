/* The practical FLOP ceiling of this machine for dsq's CPU backend: the
 * backend's GEMM (OpenBLAS sgemm split over OpenMP threads) on square
 * products of size N, best of REPS.  Prints GFLOP/s.
 *   sgemm_rate [N [REPS]] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1536, reps = argc > 2 ? atoi(argv[2]) : 5;
    dsq_backend *be = dsq_backend_cpu();
    size_t bytes = (size_t)n * n * sizeof(float);
    float *a = be->alloc(be, bytes), *b = be->alloc(be, bytes), *c = be->alloc(be, bytes);
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        be->gemm(be, 0, 1, n, n, n, 1.0f, a, n, 0, b, n, 0, 0.0f, c, n, 0, 1);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%.3f\n", 2.0 * n * n * (double)n / best * 1e-9);
    be->free(be, a); be->free(be, b); be->free(be, c);
    be->destroy(be);
    return 0;
}
