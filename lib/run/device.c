#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cuda.h"
#include "dist.h"

int dsq_device_parse(const char *s, dsq_device *d) {
    d->cuda = 0;
    d->index = -1;
    if (!strcmp(s, "cpu")) return 0;
    if (strncmp(s, "cuda", 4)) return -1;
    d->cuda = 1;
    if (!s[4]) return 0;
    if (s[4] != ':' || !s[5]) return -1;
    char *end;
    long v = strtol(s + 5, &end, 10);
    if (*end || v < 0 || v > 1023 || s[5] == '-' || s[5] == '+') return -1;
    d->index = (int)v;
    return 0;
}

static int resolved_index(const dsq_device *d) {
    return d->index >= 0 ? d->index : dsq_dist_local_rank();
}

dsq_backend *dsq_device_backend(const dsq_device *d, dsq_err *e) {
    if (!d->cuda) return dsq_backend_cpu();
    return dsq_backend_cuda(resolved_index(d), e);
}

void dsq_device_name(const dsq_device *d, char *buf, size_t n) {
    if (!d->cuda)
        snprintf(buf, n, "cpu");
    else
        snprintf(buf, n, "cuda:%d", resolved_index(d));
}

static const char *prec_names[] = {"fp32", "bf16", "fp16"};

int dsq_precision_parse(const char *s, int *prec) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, prec_names[i])) {
            *prec = i;  /* DSQ_PREC_FP32, _BF16, _FP16 in this order */
            return 0;
        }
    return -1;
}

const char *dsq_precision_name(int prec) {
    return prec >= 0 && prec < 3 ? prec_names[prec] : "?";
}
