/* Nearest-embedding rounding and logits argmax, chunked: the scores of a
 * block of rows against a chunk of the vocabulary come from one backend
 * GEMM, and a running best per row is kept on the host; the [N, V] matrix
 * never exists. */
#include "sample.h"

#include <string.h>

void dsq_vocab_search_init(dsq_vocab_search *s, dsq_backend *be, int rows, int chunk) {
    s->be = be;
    s->rows = rows;
    s->chunk = chunk;
    size_t bytes = (size_t)rows * chunk * sizeof(float);
    s->scores = be->alloc(be, bytes);
    /* CPU backend: device buffers are host memory and are read in place.
     * Any other backend downloads each block (a GPU argmin kernel would
     * replace this). */
    s->host = strcmp(be->name, "cpu") ? xmalloc(bytes) : NULL;
}

void dsq_vocab_search_free(dsq_vocab_search *s) {
    if (s->scores) s->be->free(s->be, s->scores);
    free(s->host);
    memset(s, 0, sizeof *s);
}

static const float *block(dsq_vocab_search *s, int nr, int nc) {
    if (!s->host) {
        s->be->sync(s->be);
        return s->scores;
    }
    s->be->download(s->be, s->host, s->scores, (size_t)nr * nc * sizeof(float));
    return s->host;
}

/* sign -1: argmin of add[v] - 2 z·E_v; sign +1: argmax of z·E_v + add[v]. */
static void search(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                   const float *add, int N, int d, int V, int sign) {
    dsq_backend *be = s->be;
    float *best = xmalloc((size_t)s->rows * sizeof *best);
    for (int r0 = 0; r0 < N; r0 += s->rows) {
        int nr = N - r0 < s->rows ? N - r0 : s->rows;
        for (int v0 = 0; v0 < V; v0 += s->chunk) {
            int nc = V - v0 < s->chunk ? V - v0 : s->chunk;
            /* scores[nr, nc] = alpha · z[r0.., :] @ E[v0.., :]^T */
            be->gemm(be, 0, 1, nr, nc, d, sign < 0 ? -2.0f : 1.0f, z + (size_t)r0 * d, d, 0,
                     E + (size_t)v0 * d, d, 0, 0.0f, s->scores, nc, 0, 1);
            const float *sc = block(s, nr, nc);
#pragma omp parallel for schedule(static) if ((long)nr * nc > (1 << 15))
            for (int r = 0; r < nr; r++) {
                const float *row = sc + (size_t)r * nc;
                float b = v0 ? best[r] : 0.0f;
                int32_t bi = v0 ? tok[r0 + r] : -1;
                for (int c = 0; c < nc; c++) {
                    float val = row[c] + add[v0 + c];
                    /* first best id wins ties */
                    if (bi < 0 || (sign < 0 ? val < b : val > b)) {
                        b = val;
                        bi = v0 + c;
                    }
                }
                best[r] = b;
                tok[r0 + r] = bi;
            }
        }
    }
    free(best);
}

void dsq_vocab_nearest(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                       const float *enorm, int N, int d, int V) {
    search(s, tok, z, E, enorm, N, d, V, -1);
}

void dsq_vocab_argmax(dsq_vocab_search *s, int32_t *tok, const float *z, const float *E,
                      const float *bias, int N, int d, int V) {
    search(s, tok, z, E, bias, N, d, V, +1);
}
