/* The same tensor on two backends (the CPU reference and the CUDA backend
 * under test), and the comparison that prints one PASS / FAIL line.  Used
 * by check_ops.c (operations) and check_model.c (whole model). */
#ifndef DSQ_CHECK_PAIR_H
#define DSQ_CHECK_PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

extern dsq_backend *cpu, *gpu;  /* reference, under test */
extern int n_pass, n_fail;

typedef struct {
    float *c, *g;  /* the CPU backend's buffer, the CUDA backend's */
    size_t n;      /* floats */
} pair;

typedef struct {
    int32_t *c, *g;
    size_t n;
} ipair;

pair pr_new(size_t n);                       /* zero-filled on both */
void pr_free(pair *p);
void pr_put(pair p, const float *host);      /* same data to both */
void pr_randn(pair p, float scale, uint64_t stream);  /* scale * N(0,1), never zeros */
void pr_uniform(pair p, float lo, float hi, uint64_t stream);
void pr_nan(pair p);                         /* poison both with NaN */
float *pr_get(dsq_backend *be, pair p);      /* malloc'ed host copy */
/* The CPU side's current contents copied to the CUDA side (to feed both
 * the same intermediate results, e.g. a forward's saved values). */
void pr_sync_from_cpu(pair p);

ipair ip_new(size_t n);
void ip_free(ipair *p);
void ip_put(ipair p, const int32_t *host);

/* host[n] = scale * N(0,1) from Philox stream (99, stream). */
void host_randn(float *h, size_t n, float scale, uint64_t stream);

/* ||got - ref|| / ||ref|| (||got - ref|| when ref is 0); any NaN or Inf
 * in either fails.  Prints "PASS name rel ..." or "FAIL name: ...";
 * returns the relative error (NaN on failure by non-finite values). */
double check_vec(const char *name, const float *ref, const float *got, size_t n, double tol);
/* The same on the two sides of a pair (downloads both). */
double check_pair(const char *name, pair p, double tol);
/* A plain PASS / FAIL line for a condition. */
void check_true(const char *name, int ok, const char *why);

#define TOL_F32 1e-5   /* pointwise and reductions */
#define TOL_GEMM 1e-4  /* anything with a matrix product */
#define TOL_RNG 1e-6   /* dropout and normal draws (bitwise expected) */
#define TOL_SAME 1e-6  /* one formula of kernels/numerics.h on both sides (bitwise expected) */
#define TOL_LOWP 1e-2  /* bf16 / fp16 GEMM operands (set_precision) */

#endif
