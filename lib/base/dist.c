/* Data-parallel collectives: MPI when built with DSQ_HAVE_MPI, identities
 * otherwise. */
#include "dist.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int dsq_dist_local_rank(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                 "SLURM_LOCALID", "PMI_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

#ifdef DSQ_HAVE_MPI
#include <mpi.h>

/* Started by a launcher (mpirun, srun)? A plain single-process run does
 * not initialise MPI at all: singleton MPI_Init starts a PMIx server, uses
 * shared memory and fails under resource limits a plain run copes with. */
static int launched_by_mpi(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                                 "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void dsq_dist_init(dsq_dist *d, int *argc, char ***argv) {
    d->rank = 0;
    d->size = 1;
    d->mpi = 0;
    if (!launched_by_mpi()) return;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->mpi = 1;
}

void dsq_dist_finalize(dsq_dist *d) {
    if (d->mpi) MPI_Finalize();
    d->mpi = 0;
}

int dsq_dist_available(void) { return 1; }

/* MPI counts are int: large buffers go in pieces. */
#define PIECE ((size_t)1 << 28)

void dsq_dist_sum_float(const dsq_dist *d, float *x, size_t n) {
    if (d->size <= 1) return;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)(n - i < PIECE ? n - i : PIECE), MPI_FLOAT,
                      MPI_SUM, MPI_COMM_WORLD);
}

void dsq_dist_sum_double(const dsq_dist *d, double *x, size_t n) {
    if (d->size <= 1) return;
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void dsq_dist_max_int(const dsq_dist *d, int *x, size_t n) {
    if (d->size <= 1) return;
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
}

void dsq_dist_bcast_int(const dsq_dist *d, int *x, size_t n) {
    if (d->size <= 1) return;
    MPI_Bcast(x, (int)n, MPI_INT, 0, MPI_COMM_WORLD);
}

void dsq_dist_send(const dsq_dist *d, int dest, const void *buf, size_t bytes) {
    const char *p = buf;
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Send(p + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, dest, 0,
                 MPI_COMM_WORLD);
    (void)d;
}

void dsq_dist_recv(const dsq_dist *d, int src, void *buf, size_t bytes) {
    char *p = buf;
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Recv(p + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, src, 0,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    (void)d;
}

void dsq_dist_gather_tl(const dsq_dist *d, const int *t, const double *loss, int n,
                        int *t_all, double *loss_all) {
    if (d->size <= 1) {
        memcpy(t_all, t, (size_t)n * sizeof *t);
        memcpy(loss_all, loss, (size_t)n * sizeof *loss);
        return;
    }
    MPI_Allgather(t, n, MPI_INT, t_all, n, MPI_INT, MPI_COMM_WORLD);
    MPI_Allgather(loss, n, MPI_DOUBLE, loss_all, n, MPI_DOUBLE, MPI_COMM_WORLD);
}

#else

void dsq_dist_init(dsq_dist *d, int *argc, char ***argv) {
    (void)argc; (void)argv;
    d->rank = 0;
    d->size = 1;
    d->mpi = 0;
}

void dsq_dist_finalize(dsq_dist *d) { (void)d; }

int dsq_dist_available(void) { return 0; }

void dsq_dist_sum_float(const dsq_dist *d, float *x, size_t n) { (void)d; (void)x; (void)n; }
void dsq_dist_sum_double(const dsq_dist *d, double *x, size_t n) { (void)d; (void)x; (void)n; }
void dsq_dist_max_int(const dsq_dist *d, int *x, size_t n) { (void)d; (void)x; (void)n; }

void dsq_dist_bcast_int(const dsq_dist *d, int *x, size_t n) { (void)d; (void)x; (void)n; }

/* A single process has no one to talk to: reaching these is a bug. */
void dsq_dist_send(const dsq_dist *d, int dest, const void *buf, size_t bytes) {
    (void)d; (void)buf; (void)bytes;
    (void)dest;
    DSQ_CHECK(!"dsq_dist_send without MPI");
}

void dsq_dist_recv(const dsq_dist *d, int src, void *buf, size_t bytes) {
    (void)d; (void)buf; (void)bytes;
    (void)src;
    DSQ_CHECK(!"dsq_dist_recv without MPI");
}

void dsq_dist_gather_tl(const dsq_dist *d, const int *t, const double *loss, int n,
                        int *t_all, double *loss_all) {
    (void)d;
    memcpy(t_all, t, (size_t)n * sizeof *t);
    memcpy(loss_all, loss, (size_t)n * sizeof *loss);
}

#endif
