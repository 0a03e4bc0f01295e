/* --device: which backend a tool computes on, and --precision, the
 * arithmetic of its matrix products.  "cpu" (OpenBLAS + OpenMP),
 * "cuda" (one GPU per process: the process's local rank under mpirun/srun,
 * else device 0) or "cuda:N". */
#ifndef DSQ_DEVICE_H
#define DSQ_DEVICE_H

#include <stddef.h>

#include "backend.h"
#include "err.h"

typedef struct {
    int cuda;    /* 0: the CPU */
    int index;   /* cuda:N; -1: the local rank */
} dsq_device;

/* 0 and *d on success, -1 when s is not cpu, cuda or cuda:N. */
int dsq_device_parse(const char *s, dsq_device *d);

/* The backend for d; NULL with e set (no such device, a build without
 * CUDA).  Free with be->destroy(be). */
dsq_backend *dsq_device_backend(const dsq_device *d, dsq_err *e);

/* "cpu" or "cuda:N" (the index resolved), for messages and config.json. */
void dsq_device_name(const dsq_device *d, char *buf, size_t n);

/* --precision: the arithmetic of matrix products (backend.h
 * set_precision).  "fp32", "bf16" or "fp16": 0 and *prec (DSQ_PREC_*), or
 * -1. */
int dsq_precision_parse(const char *s, int *prec);
const char *dsq_precision_name(int prec);

#endif
