/* Buffer pairs on the CPU and CUDA backends and their comparison. */
#include "pair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "philox.h"

dsq_backend *cpu, *gpu;
int n_pass, n_fail;

pair pr_new(size_t n) {
    pair p = {cpu->alloc(cpu, n * sizeof(float)), gpu->alloc(gpu, n * sizeof(float)), n};
    return p;
}

void pr_free(pair *p) {
    if (p->c) cpu->free(cpu, p->c);
    if (p->g) gpu->free(gpu, p->g);
    memset(p, 0, sizeof *p);
}

void pr_put(pair p, const float *host) {
    cpu->upload(cpu, p.c, host, p.n * sizeof(float));
    gpu->upload(gpu, p.g, host, p.n * sizeof(float));
}

void host_randn(float *h, size_t n, float scale, uint64_t stream) {
    for (size_t g = 0; g * 4 < n; g++) {
        uint32_t w[4];
        float v[4];
        dsq_philox_block(99, stream, g, w);
        dsq_philox_box_muller(w[0], w[1], &v[0], &v[1]);
        dsq_philox_box_muller(w[2], w[3], &v[2], &v[3]);
        for (size_t l = 0; l < 4 && g * 4 + l < n; l++) {
            float x = scale * v[l];
            h[g * 4 + l] = x != 0.0f ? x : scale;  /* never an exact zero */
        }
    }
}

void pr_randn(pair p, float scale, uint64_t stream) {
    float *h = xmalloc(p.n * sizeof *h + 1);
    host_randn(h, p.n, scale, stream);
    pr_put(p, h);
    free(h);
}

void pr_uniform(pair p, float lo, float hi, uint64_t stream) {
    float *h = xmalloc(p.n * sizeof *h + 1);
    for (size_t i = 0; i < p.n; i++)
        h[i] = lo + (hi - lo) * dsq_philox_uniform_at(98, stream, i);
    pr_put(p, h);
    free(h);
}

void pr_nan(pair p) {
    float *h = xmalloc(p.n * sizeof *h + 1);
    for (size_t i = 0; i < p.n; i++) h[i] = NAN;
    pr_put(p, h);
    free(h);
}

float *pr_get(dsq_backend *be, pair p) {
    float *h = xmalloc(p.n * sizeof *h + 1);
    be->download(be, h, be == cpu ? p.c : p.g, p.n * sizeof(float));
    return h;
}

void pr_sync_from_cpu(pair p) {
    float *h = pr_get(cpu, p);
    gpu->upload(gpu, p.g, h, p.n * sizeof(float));
    free(h);
}

ipair ip_new(size_t n) {
    ipair p = {cpu->alloc(cpu, n * sizeof(int32_t)), gpu->alloc(gpu, n * sizeof(int32_t)), n};
    return p;
}

void ip_free(ipair *p) {
    if (p->c) cpu->free(cpu, p->c);
    if (p->g) gpu->free(gpu, p->g);
    memset(p, 0, sizeof *p);
}

void ip_put(ipair p, const int32_t *host) {
    cpu->upload(cpu, p.c, host, p.n * sizeof(int32_t));
    gpu->upload(gpu, p.g, host, p.n * sizeof(int32_t));
}

double check_vec(const char *name, const float *ref, const float *got, size_t n, double tol) {
    double d2 = 0, r2 = 0;
    size_t bad = n, same = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) {
            if (bad == n) bad = i;
            continue;
        }
        double d = (double)got[i] - ref[i];
        d2 += d * d;
        r2 += (double)ref[i] * ref[i];
        same += !memcmp(&ref[i], &got[i], sizeof(float));
    }
    if (bad < n) {
        printf("FAIL %s: non-finite value at %zu of %zu (cpu %g, cuda %g)\n", name, bad, n,
               ref[bad], got[bad]);
        n_fail++;
        fflush(stdout);
        return NAN;
    }
    double rel = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    int ok = rel <= tol;
    printf("%s %s: rel %.2e (tol %.0e), %zu/%zu bitwise equal\n", ok ? "PASS" : "FAIL", name,
           rel, tol, same, n);
    if (ok) n_pass++;
    else n_fail++;
    fflush(stdout);
    return rel;
}

double check_pair(const char *name, pair p, double tol) {
    float *r = pr_get(cpu, p), *g = pr_get(gpu, p);
    double rel = check_vec(name, r, g, p.n, tol);
    free(r);
    free(g);
    return rel;
}

void check_true(const char *name, int ok, const char *why) {
    if (ok) {
        printf("PASS %s\n", name);
        n_pass++;
    } else {
        printf("FAIL %s: %s\n", name, why);
        n_fail++;
    }
    fflush(stdout);
}
