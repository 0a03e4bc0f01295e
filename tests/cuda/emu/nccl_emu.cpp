// NCCL for the host emulation (tests/cuda/emu/run.sh), over MPI: the ranks
// of a communicator are MPI_COMM_WORLD's, and a collective is the MPI one
// on the (host) memory that emulates the device's, run when it is called
// (streams complete at once in the emulation).  What it checks: that the
// backend sets NCCL up (the id from rank 0, every rank's rank and count),
// calls the collectives with the right buffers, counts and types, and
// handles failures.  What it cannot show: NCCL's transports, timing,
// overlap with computation.
//
// A failure can be injected: DSQ_EMU_NCCL_FAIL=R:K makes rank R's K-th
// all-reduce (1-based) fail with ncclSystemError; the other ranks' calls
// return as NCCL's asynchronous ones do, and ncclCommGetAsyncError then
// reports ncclRemoteError, as NCCL does when a peer fails.  (Each
// all-reduce first agrees on such a failure over MPI, so no rank waits.)
// the C API only (Open MPI and MPICH would pull in their C++ bindings)
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nccl.h"

struct emu_nccl_comm {
    int rank, size;
    long calls;           // all-reduces so far
    ncclResult_t async;   // what ncclCommGetAsyncError reports
};

static int group_depth;

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    }
    return "unknown result code";
}

ncclResult_t ncclGetVersion(int *version) {
    if (!version) return ncclInvalidArgument;
    *version = NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
    return ncclSuccess;
}

// The id: a marker, the maker's pid and the time (distinct per run).
ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    snprintf(id->internal, sizeof id->internal, "dsq-emu-nccl %ld %ld", (long)getpid(),
             (long)time(NULL));
    return ncclSuccess;
}

static int mpi_ready() {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    return up && !down;
}

// Collective over MPI_COMM_WORLD: every rank must pass its own rank, the
// world's size and the same id (made by ncclGetUniqueId).
ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
    if (!comm || !mpi_ready()) return ncclInvalidUsage;
    int wr, ws;
    MPI_Comm_rank(MPI_COMM_WORLD, &wr);
    MPI_Comm_size(MPI_COMM_WORLD, &ws);
    int bad = nranks != ws || rank != wr || strncmp(id.internal, "dsq-emu-nccl ", 13) != 0;
    unsigned char mine[NCCL_UNIQUE_ID_BYTES], root[NCCL_UNIQUE_ID_BYTES];
    memcpy(mine, id.internal, sizeof mine);
    memcpy(root, id.internal, sizeof root);
    MPI_Bcast(root, (int)sizeof root, MPI_BYTE, 0, MPI_COMM_WORLD);
    bad |= memcmp(mine, root, sizeof mine) != 0;
    MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (bad) return ncclInvalidArgument;
    emu_nccl_comm *c = (emu_nccl_comm *)calloc(1, sizeof *c);
    if (!c) return ncclSystemError;
    c->rank = rank;
    c->size = nranks;
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
    free(comm);
    return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *async) {
    if (!comm || !async) return ncclInvalidArgument;
    *async = comm->async;
    return ncclSuccess;
}

// Calls inside a group run at once: a group only batches launches.
ncclResult_t ncclGroupStart(void) {
    group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void) {
    if (group_depth <= 0) return ncclInvalidUsage;
    group_depth--;
    return ncclSuccess;
}

// Whether this rank's k-th all-reduce is the injected failure.
static int injected(const emu_nccl_comm *c, long k) {
    const char *v = getenv("DSQ_EMU_NCCL_FAIL");
    int r;
    long at;
    return v && sscanf(v, "%d:%ld", &r, &at) == 2 && r == c->rank && at == k;
}

ncclResult_t ncclAllReduce(const void *sendbuf, void *recvbuf, size_t count,
                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                           cudaStream_t stream) {
    (void)stream;
    if (!comm || !recvbuf || !sendbuf) return ncclInvalidArgument;
    if (comm->async != ncclSuccess) return comm->async;
    MPI_Datatype t = datatype == ncclFloat32 ? MPI_FLOAT
                   : datatype == ncclFloat64 ? MPI_DOUBLE
                   : datatype == ncclInt32   ? MPI_INT
                                             : MPI_DATATYPE_NULL;
    MPI_Op o = op == ncclSum ? MPI_SUM : op == ncclMax ? MPI_MAX : op == ncclMin ? MPI_MIN
                                                                                 : MPI_OP_NULL;
    if (t == MPI_DATATYPE_NULL || o == MPI_OP_NULL) return ncclInvalidArgument;
    int fail = injected(comm, ++comm->calls);
    MPI_Allreduce(MPI_IN_PLACE, &fail, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (fail) {
        if (injected(comm, comm->calls)) return ncclSystemError;
        comm->async = ncclRemoteError;
        return ncclSuccess;
    }
    int size;
    MPI_Type_size(t, &size);
    emu_device_open();
    if (sendbuf != recvbuf) memcpy(recvbuf, sendbuf, count * (size_t)size);
    const size_t piece = (size_t)1 << 28;
    for (size_t i = 0; i < count; i += piece)
        MPI_Allreduce(MPI_IN_PLACE, (char *)recvbuf + i * (size_t)size,
                      (int)(count - i < piece ? count - i : piece), t, o, MPI_COMM_WORLD);
    emu_device_close();
    return ncclSuccess;
}
