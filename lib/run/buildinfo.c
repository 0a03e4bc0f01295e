#include "buildinfo.h"

#include "version.h"
#include "dist.h"
#ifdef DSQ_HAVE_CUDA
#include "cuda_device.h"
#endif

void dsq_print_version(FILE *f, const char *prog) {
    fprintf(f, "%s %s\n", prog, DSQ_VERSION);
#ifdef DSQ_HAVE_CUDA
    char why[256];
    int n = dsq_cuda_device_count(why, sizeof why);
    fprintf(f, "backends: cpu, cuda (%d device%s%s%s)\n", n, n == 1 ? "" : "s",
            n ? "" : ": ", n ? "" : why);
    for (int d = 0; d < n; d++) {
        char desc[256];
        dsq_cuda_device_describe(d, desc, sizeof desc);
        fprintf(f, "  %s\n", desc);
    }
#else
    fprintf(f, "backends: cpu (built without CUDA)\n");
#endif
    /* how dsq-train's ranks sum their gradients */
#ifdef DSQ_HAVE_CUDA
    const char *nccl = dsq_cuda_nccl();
#else
    const char *nccl = NULL;
#endif
    if (!dsq_dist_available())
        fprintf(f, "data parallel: off (built without MPI)\n");
    else if (nccl)
        fprintf(f, "data parallel: mpi; gradients summed with %s when every rank runs on "
                "CUDA, else through host MPI\n", nccl);
    else
        fprintf(f, "data parallel: mpi; gradients summed through host MPI (built without "
                "NCCL)\n");
}
