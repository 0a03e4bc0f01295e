/* CPU backend: the running row-wise best of a block of vocabulary scores
 * (backend.h row_best), the scan behind nearest-embedding rounding and the
 * logits argmax (lib/model/sample_round.c). */
#include "backend_cpu.h"

#include <math.h>

/* Rows are independent: parallel over rows only when the block is big
 * enough to pay for an OpenMP region.  Within a row the scan goes in
 * column order and takes strictly better values only, so the lowest index
 * wins ties; NaN compares false and is never taken, which makes it the
 * worst value (a row of NaN keeps its start, index col0). */
void cpu_row_best(dsq_backend *be, float *best, int32_t *idx, const float *scores,
                  const float *add, int N, int C, int col0, int sign) {
    (void)be;
    float worst = sign < 0 ? INFINITY : -INFINITY;
#pragma omp parallel for schedule(static) if ((long)N * C > (1 << 15))
    for (int r = 0; r < N; r++) {
        const float *row = scores + (size_t)r * C;
        float b = col0 ? best[r] : worst;
        int32_t bi = col0 ? idx[r] : col0;
        if (sign < 0) {
            for (int c = 0; c < C; c++) {
                float val = row[c] + add[c];
                if (val < b) b = val, bi = col0 + c;
            }
        } else {
            for (int c = 0; c < C; c++) {
                float val = row[c] + add[c];
                if (val > b) b = val, bi = col0 + c;
            }
        }
        best[r] = b;
        idx[r] = bi;
    }
}
