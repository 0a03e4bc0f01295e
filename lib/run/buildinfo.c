#include "buildinfo.h"

#include "version.h"
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
}
