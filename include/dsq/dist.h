/* Data-parallel processes (doc/design.md §5): one process per CPU socket or
 * GPU, launched by mpirun.  Built with MPI when DSQ_HAVE_MPI is defined
 * (the library then needs mpicc's flags); otherwise, and whenever the
 * program runs as a single process, every operation is the identity.
 *
 * All operations are collective: every rank calls them in the same order
 * with the same sizes.  Buffers are host memory. */
#ifndef DSQ_DIST_H
#define DSQ_DIST_H

#include <stddef.h>

typedef struct {
    int rank, size;
    int mpi;  /* 1: MPI initialised by dsq_dist_init */
} dsq_dist;

/* MPI_Init when built with MPI and started by a launcher (mpirun/srun
 * environment); rank 0 of 1 otherwise, without touching MPI. */
void dsq_dist_init(dsq_dist *d, int *argc, char ***argv);
void dsq_dist_finalize(dsq_dist *d);

/* This process's rank among those on its machine, from the launcher's
 * environment (Open MPI, MPICH/Hydra, Slurm); 0 when not launched. */
int dsq_dist_local_rank(void);

/* 1 when this build has MPI. */
int dsq_dist_available(void);

/* In-place sums over the ranks. */
void dsq_dist_sum_float(const dsq_dist *d, float *x, size_t n);
void dsq_dist_sum_double(const dsq_dist *d, double *x, size_t n);
/* In-place maximum over the ranks. */
void dsq_dist_max_int(const dsq_dist *d, int *x, size_t n);

/* Broadcasts n ints from rank 0 to every rank. */
void dsq_dist_bcast_int(const dsq_dist *d, int *x, size_t n);

/* Point-to-point transfer of bytes (any size); the receiver knows how
 * many to expect.  Not collective: only dest and src take part. */
void dsq_dist_send(const dsq_dist *d, int dest, const void *buf, size_t bytes);
void dsq_dist_recv(const dsq_dist *d, int src, void *buf, size_t bytes);

/* Gathers n (t, loss) pairs from every rank (n equal on all ranks), in
 * rank order, into t_all[size * n] and loss_all[size * n]. */
void dsq_dist_gather_tl(const dsq_dist *d, const int *t, const double *loss, int n,
                        int *t_all, double *loss_all);

#endif
