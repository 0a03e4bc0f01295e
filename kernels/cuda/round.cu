// The CUDA backend's running row-wise best of vocabulary scores
// (backend.h row_best): one warp per row, no atomics, so nearest-embedding
// rounding and the logits argmax never leave the device but for the ids.
#include <limits.h>

#include "backend_cuda_impl.h"

// Everything is a minimum of key = sign * val (negation is exact, so the
// largest val is exactly the smallest -val), with NaN mapped to +inf: the
// worst value.  The order is lexicographic on (key, index), a total order
// with one least element, so any reduction tree finds the same winner
// (deterministic) and it is the lowest index among equal values.
static __device__ __forceinline__ bool rb_less(float k, int i, float k2, int i2) {
    return k < k2 || (k == k2 && i < i2);
}

enum { RB_ROWS = 8 };  // rows (warps) per block of 256 threads

// best[N], idx[N]; scores[N, C]; add[C]; global index of column c is col0 + c.
template <int SIGN>
static __global__ void row_best_kernel(float *best, int32_t *idx, const float *scores,
                                       const float *add, int N, int C, int col0) {
    int r = blockIdx.x * RB_ROWS + (int)(threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (r >= N) return;  // whole warps: the shuffles below see full warps
    const float *row = scores + (size_t)r * C;
    // this lane's columns lane, lane + 32, ... in increasing order: a
    // strictly smaller key replaces, so its first minimum stays
    float bk = INFINITY;
    int bi = lane < C ? col0 + lane : INT_MAX;
    for (int c = lane; c < C; c += 32) {
        float k = SIGN < 0 ? row[c] + add[c] : -(row[c] + add[c]);
        if (k < bk) bk = k, bi = col0 + c;  // NaN compares false: never taken
    }
    for (int o = 16; o > 0; o >>= 1) {
        float k2 = __shfl_xor_sync(0xffffffffu, bk, o);
        int i2 = __shfl_xor_sync(0xffffffffu, bi, o);
        if (rb_less(k2, i2, bk, bi)) bk = k2, bi = i2;
    }
    if (lane) return;
    // earlier blocks hold lower indices: replaced only by a smaller key
    if (col0) {
        float pk = SIGN < 0 ? best[r] : -best[r];
        if (!(bk < pk)) return;
    }
    best[r] = SIGN < 0 ? bk : -bk;
    idx[r] = bi;
}

void cu_row_best(dsq_backend *be, float *best, int32_t *idx, const float *scores,
                 const float *add, int N, int C, int col0, int sign) {
    if (N <= 0) return;
    unsigned grid = (unsigned)((N + RB_ROWS - 1) / RB_ROWS);
    if (sign < 0)
        row_best_kernel<-1><<<grid, 32 * RB_ROWS, 0, cu_stream(be)>>>(best, idx, scores, add, N,
                                                                       C, col0);
    else
        row_best_kernel<1><<<grid, 32 * RB_ROWS, 0, cu_stream(be)>>>(best, idx, scores, add, N,
                                                                      C, col0);
    CU_AFTER(be);
}
