/* CPU backend: embeddings and the model inputs (time embedding, time and
 * position broadcast). */
#include "backend_cpu.h"

#include <math.h>

void cpu_embedding_fwd(dsq_backend *be, float *out, const int32_t *ids,
                       const float *table, int N, int C, int V) {
    (void)be; (void)V;
#pragma omp parallel for
    for (int i = 0; i < N; i++) {
        const float *row = table + (size_t)ids[i] * C;
        float *o = out + (size_t)i * C;
        for (int j = 0; j < C; j++) o[j] = row[j];
    }
}

/* Column blocks in parallel; each walks n in order: no races, and every
 * row of dtable sums its contributions in increasing n. */
void cpu_embedding_bwd(dsq_backend *be, float *dtable, const int32_t *ids,
                       const float *dout, int N, int C, int V) {
    (void)be; (void)V;
    enum { BLK = 32 };
    int nblk = (C + BLK - 1) / BLK;
#pragma omp parallel for
    for (int bi = 0; bi < nblk; bi++) {
        int j0 = bi * BLK, j1 = j0 + BLK < C ? j0 + BLK : C;
        for (int i = 0; i < N; i++) {
            float *d = dtable + (size_t)ids[i] * C;
            const float *g = dout + (size_t)i * C;
            for (int j = j0; j < j1; j++) d[j] += g[j];
        }
    }
}

/* float32 throughout, in the reference's order of operations:
 * (float)(-ln 10000) * j, divided by half, exp; then t * f, cos / sin. */
void cpu_timestep_embedding(dsq_backend *be, float *out, const float *t, int B, int dim) {
    (void)be;
    int half = dim / 2;
    const float neg_log = (float)(-log(10000.0));
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * dim;
        for (int j = 0; j < half; j++) {
            float f = expf(neg_log * (float)j / (float)half);
            float a = t[b] * f;
            o[j] = cosf(a);
            o[half + j] = sinf(a);
        }
        if (dim % 2) o[dim - 1] = 0.0f;
    }
}

void cpu_add_time_pos_fwd(dsq_backend *be, float *out, const float *x, const float *tv,
                          const float *pos, int B, int L, int C) {
    (void)be;
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            size_t r = ((size_t)b * L + l) * C;
            for (int j = 0; j < C; j++)
                out[r + j] = pos[(size_t)l * C + j] + x[r + j] + tv[(size_t)b * C + j];
        }
}

void cpu_add_time_pos_bwd(dsq_backend *be, float *dx, float *dtv, float *dpos,
                          const float *dout, int B, int L, int C) {
    (void)be;
    size_t n = (size_t)B * L * C;
    if (dx) {
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) dx[i] += dout[i];
    }
    if (dtv) {
#pragma omp parallel for
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++)
                for (int j = 0; j < C; j++)
                    dtv[(size_t)b * C + j] += dout[((size_t)b * L + l) * C + j];
    }
    if (dpos) {
#pragma omp parallel for
        for (int l = 0; l < L; l++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < C; j++)
                    dpos[(size_t)l * C + j] += dout[((size_t)b * L + l) * C + j];
    }
}
