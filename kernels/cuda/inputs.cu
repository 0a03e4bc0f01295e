// CUDA backend: embeddings and the model inputs (time embedding, time and
// position broadcast), in the CPU backend's order of float operations
// (kernels/cpu/inputs.c).
#include <math.h>

#include "backend_cuda_impl.h"

// ---- embeddings ------------------------------------------------------------------

// out[N,C] = table[ids[n], :]; an id outside [0, V) gives a NaN row (the
// CPU would read out of bounds).
static __global__ void embedding_fwd_kernel(float *__restrict__ out,
                                            const int32_t *__restrict__ ids,
                                            const float *__restrict__ table, size_t n, int C,
                                            int V) {
    GRID_STRIDE(i, n) {
        int id = ids[i / (size_t)C];
        out[i] = id >= 0 && id < V ? table[(size_t)id * C + i % (size_t)C] : NAN;
    }
}

void cu_embedding_fwd(dsq_backend *be, float *out, const int32_t *ids, const float *table,
                      int N, int C, int V) {
    size_t n = (size_t)N * C;
    if (!n) return;
    embedding_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(out, ids,
                                                                                   table, n, C, V);
    CU_AFTER(be);
}

// dtable[V,C] += scatter of dout[N,C] by ids, without atomics: each block
// owns R rows x CW columns of dtable, held in shared memory; it scans all
// ids in tiles, lists the positions that fall in its rows (in increasing
// n), and every thread adds them to its columns in that order.  So each
// element receives its contributions in increasing n starting from its
// old value: the CPU's sum, bit for bit.
enum { EB_THREADS = 256, EB_ACC_FLOATS = 11264 };  // 44 KB of accumulators

static __global__ void embedding_bwd_kernel(float *__restrict__ dtable,
                                            const int32_t *__restrict__ ids,
                                            const float *__restrict__ dout, int N, int C, int V,
                                            int R, int CW) {
    extern __shared__ float acc[];  // [R, CW]
    __shared__ int s_n[EB_THREADS], s_r[EB_THREADS], s_cnt[EB_THREADS / 32];
    int v0 = blockIdx.x * R, v1 = v0 + R < V ? v0 + R : V, nr = v1 - v0;
    int c0 = blockIdx.y * CW, cw = C - c0 < CW ? C - c0 : CW;
    for (int k = threadIdx.x; k < nr * cw; k += EB_THREADS) {
        int r = k / cw, j = k % cw;
        acc[r * CW + j] = dtable[(size_t)(v0 + r) * C + c0 + j];
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int n0 = 0; n0 < N; n0 += EB_THREADS) {
        int n = n0 + threadIdx.x;
        int id = n < N ? ids[n] : -1;
        int hit = id >= v0 && id < v1;
        unsigned bal = __ballot_sync(0xffffffffu, hit);
        if (lane == 0) s_cnt[w] = __popc(bal);
        __syncthreads();  // counts (and the accumulators' first load) visible
        int base = 0, total = 0;
        for (int q = 0; q < EB_THREADS / 32; q++) {
            if (q < w) base += s_cnt[q];
            total += s_cnt[q];
        }
        if (hit) {
            int at = base + __popc(bal & ((1u << lane) - 1u));
            s_n[at] = n;
            s_r[at] = id - v0;
        }
        __syncthreads();  // the tile's list is complete
        for (int j = threadIdx.x; j < cw; j += EB_THREADS) {
            const float *g = dout + c0 + j;
            int q = 0;
            for (; q + 4 <= total; q += 4) {  // four loads in flight, adds in order
                float g0 = g[(size_t)s_n[q] * C], g1 = g[(size_t)s_n[q + 1] * C];
                float g2 = g[(size_t)s_n[q + 2] * C], g3 = g[(size_t)s_n[q + 3] * C];
                acc[s_r[q] * CW + j] += g0;
                acc[s_r[q + 1] * CW + j] += g1;
                acc[s_r[q + 2] * CW + j] += g2;
                acc[s_r[q + 3] * CW + j] += g3;
            }
            for (; q < total; q++) acc[s_r[q] * CW + j] += g[(size_t)s_n[q] * C];
        }
        __syncthreads();  // done with the list before the next tile's
    }
    for (int k = threadIdx.x; k < nr * cw; k += EB_THREADS) {
        int r = k / cw, j = k % cw;
        dtable[(size_t)(v0 + r) * C + c0 + j] = acc[r * CW + j];
    }
}

void cu_embedding_bwd(dsq_backend *be, float *dtable, const int32_t *ids, const float *dout,
                      int N, int C, int V) {
    if (N <= 0 || C <= 0 || V <= 0) return;
    int CW = C < EB_ACC_FLOATS ? C : EB_ACC_FLOATS;
    int R = EB_ACC_FLOATS / CW;
    if (R > 32) R = 32;
    dim3 grid((unsigned)((V + R - 1) / R), (unsigned)((C + CW - 1) / CW));
    size_t smem = (size_t)R * CW * sizeof(float);
    embedding_bwd_kernel<<<grid, EB_THREADS, smem, cu_stream(be)>>>(dtable, ids, dout, N, C, V,
                                                                    R, CW);
    CU_AFTER(be);
}

// ---- model inputs --------------------------------------------------------------------

// The reference's timestep_embedding in float32, in the CPU's order of
// operations: f_j = exp((float)(-ln 10000) * j / half).
static __global__ void timestep_kernel(float *out, const float *__restrict__ t, int B, int dim,
                                       int half, float neg_log) {
    size_t n = (size_t)B * (half > 0 ? half : 1);
    GRID_STRIDE(i, n) {
        int b = (int)(i / (half > 0 ? half : 1)), j = (int)(i % (half > 0 ? half : 1));
        float *o = out + (size_t)b * dim;
        if (half > 0) {
            float f = expf(neg_log * (float)j / (float)half);
            float a = t[b] * f;
            o[j] = cosf(a);
            o[half + j] = sinf(a);
        }
        if (j == 0 && dim % 2) o[dim - 1] = 0.0f;
    }
}

void cu_timestep_embedding(dsq_backend *be, float *out, const float *t, int B, int dim) {
    if (B <= 0 || dim <= 0) return;
    int half = dim / 2;
    size_t n = (size_t)B * (half > 0 ? half : 1);
    timestep_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        out, t, B, dim, half, (float)(-log(10000.0)));
    CU_AFTER(be);
}

// out[B,L,C] = pos[l] + x + tv[b], in that order (out may alias x).
static __global__ void add_time_pos_fwd_kernel(float *out, const float *x,
                                               const float *__restrict__ tv,
                                               const float *__restrict__ pos, int L, int C,
                                               size_t n) {
    GRID_STRIDE(i, n) {
        size_t j = i % (size_t)C, r = i / (size_t)C;  // r = b*L + l
        size_t l = r % (size_t)L, b = r / (size_t)L;
        out[i] = pos[l * C + j] + x[i] + tv[b * C + j];
    }
}

void cu_add_time_pos_fwd(dsq_backend *be, float *out, const float *x, const float *tv,
                         const float *pos, int B, int L, int C) {
    size_t n = (size_t)B * L * C;
    if (!n) return;
    add_time_pos_fwd_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, cu_stream(be)>>>(
        out, x, tv, pos, L, C, n);
    CU_AFTER(be);
}

static __global__ void add_inplace_kernel(float *__restrict__ dst, const float *__restrict__ src,
                                          size_t n) {
    GRID_STRIDE(i, n) dst[i] += src[i];
}

// dtv[b, j] += dout[b, l, j] for l in order (the CPU's sequence of adds).
static __global__ void sum_over_l_kernel(float *__restrict__ dtv, const float *__restrict__ dout,
                                         int B, int L, int C) {
    GRID_STRIDE(i, (size_t)B * C) {
        size_t b = i / (size_t)C, j = i % (size_t)C;
        float a = dtv[i];
        for (int l = 0; l < L; l++) a += dout[(b * L + l) * C + j];
        dtv[i] = a;
    }
}

// dpos[l, j] += dout[b, l, j] for b in order.
static __global__ void sum_over_b_kernel(float *__restrict__ dpos, const float *__restrict__ dout,
                                         int B, int L, int C) {
    GRID_STRIDE(i, (size_t)L * C) {
        size_t l = i / (size_t)C, j = i % (size_t)C;
        float a = dpos[i];
        for (int b = 0; b < B; b++) a += dout[((size_t)b * L + l) * C + j];
        dpos[i] = a;
    }
}

void cu_add_time_pos_bwd(dsq_backend *be, float *dx, float *dtv, float *dpos,
                         const float *dout, int B, int L, int C) {
    size_t n = (size_t)B * L * C;
    if (!n) return;
    cudaStream_t s = cu_stream(be);
    if (dx) add_inplace_kernel<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, s>>>(dx, dout, n);
    if (dtv)
        sum_over_l_kernel<<<cu_grid((size_t)B * C, CU_THREADS), CU_THREADS, 0, s>>>(dtv, dout, B,
                                                                                     L, C);
    if (dpos)
        sum_over_b_kernel<<<cu_grid((size_t)L * C, CU_THREADS), CU_THREADS, 0, s>>>(dpos, dout,
                                                                                     B, L, C);
    CU_AFTER(be);
}
