/* The host-MPI gradient sum of data-parallel dsq-train (dsq_dist_sum_float,
 * what every rank does each step without NCCL) on N floats, timed under
 * mpirun: REPS sums after one warm-up, the median; and, as the peer
 * measured in the same run, rank 0's memcpy of the same buffer.  Rank 0
 * prints one JSON line.
 *   mpirun -np 2 allreduce_bench [N [REPS]]   (N default 91000000) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "util.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    dsq_dist d;
    dsq_dist_init(&d, &argc, &argv);
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 91000000;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (!d.mpi || d.size < 2 || n == 0 || reps < 1 || reps > 100) {
        if (d.rank == 0) fprintf(stderr, "usage: mpirun -np W allreduce_bench [N [REPS]] (W >= 2)\n");
        dsq_dist_finalize(&d);
        return 2;
    }
    float *x = xmalloc(n * sizeof *x), *y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) x[i] = (float)(i % 1000) * 1e-3f;
    double *t = xmalloc((size_t)reps * sizeof *t), *c = xmalloc((size_t)reps * sizeof *c);
    dsq_dist_sum_float(&d, x, n);  /* warm-up: pages touched, connections made */
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        dsq_dist_sum_float(&d, x, n);
        t[r] = MPI_Wtime() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &t[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        memcpy(y, x, n * sizeof *x);
        c[r] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    qsort(c, (size_t)reps, sizeof *c, cmp);
    if (d.rank == 0)
        printf("{\"bench\": \"allreduce_host_mpi\", \"ranks\": %d, \"floats\": %zu, \"reps\": %d, "
               "\"seconds\": %.4f, \"GB_per_s\": %.2f, \"memcpy_seconds\": %.4f, "
               "\"ratio_to_memcpy\": %.2f, \"check\": %g}\n",
               d.size, n, reps, t[reps / 2], n * 4.0 / t[reps / 2] / 1e9, c[reps / 2],
               t[reps / 2] / c[reps / 2], (double)y[n - 1]);
    free(x);
    free(y);
    free(t);
    free(c);
    dsq_dist_finalize(&d);
    return 0;
}
