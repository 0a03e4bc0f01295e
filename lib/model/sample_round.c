/* Nearest-embedding rounding and logits argmax, chunked: the scores of a
 * block of rows against a chunk of the vocabulary come from one backend
 * GEMM, and the backend's row_best keeps a running best per row in device
 * buffers; the [N, V] matrix never exists and only the N ids come back to
 * the host. */
#include "sample.h"

#include <string.h>

void dsq_vocab_search_init(dsq_vocab_search *s, dsq_backend *be, int rows, int chunk) {
    s->be = be;
    s->rows = rows;
    s->chunk = chunk;
    s->scores = be->alloc(be, (size_t)rows * chunk * sizeof(float));
    s->best = be->alloc(be, (size_t)rows * sizeof(float));
    s->idx = be->alloc(be, (size_t)rows * sizeof(int32_t));
}

void dsq_vocab_search_free(dsq_vocab_search *s) {
    if (s->scores) s->be->free(s->be, s->scores);
    if (s->best) s->be->free(s->be, s->best);
    if (s->idx) s->be->free(s->be, s->idx);
    memset(s, 0, sizeof *s);
}

/* sign -1: argmin of add[v] - 2 z·E_v; sign +1: argmax of z·E_v + add[v]. */
static void search(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                   const float *add, int N, int d, int V, int sign) {
    dsq_backend *be = s->be;
    for (int r0 = 0; r0 < N; r0 += s->rows) {
        int nr = N - r0 < s->rows ? N - r0 : s->rows;
        for (int v0 = 0; v0 < V; v0 += s->chunk) {
            int nc = V - v0 < s->chunk ? V - v0 : s->chunk;
            /* scores[nr, nc] = alpha · z[r0.., :] @ E[v0.., :]^T */
            be->gemm(be, 0, 1, nr, nc, d, sign < 0 ? -2.0f : 1.0f, z + (size_t)r0 * d, d, 0,
                     E + (size_t)v0 * d, d, 0, 0.0f, s->scores, nc, 0, 1);
            be->row_best(be, s->best, s->idx, s->scores, add + v0, nr, nc, v0, sign);
        }
        be->download(be, tok + r0, s->idx, (size_t)nr * sizeof(int32_t));
    }
}

void dsq_vocab_nearest(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                       const float *enorm, int N, int d, int V) {
    search(s, tok, z, E, enorm, N, d, V, -1);
}

void dsq_vocab_argmax(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                      const float *bias, int N, int d, int V) {
    search(s, tok, z, E, bias, N, d, V, +1);
}
