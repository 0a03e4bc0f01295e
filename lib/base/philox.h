/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11), the counter-based generator behind every random number
 * the model core draws: dropout masks and Gaussian noise.  Output depends
 * only on (seed, offset, element index), never on thread scheduling, so the
 * CPU and CUDA backends produce the same numbers.
 *
 * The exact mapping (the CUDA backend reproduces it bit for bit):
 *   key     = { lo32(seed), hi32(seed) }
 *   element i of a stream with offset `off` lives in block g = i / 4, lane
 *   i % 4 of counter { lo32(g), hi32(g), lo32(off), hi32(off) }.
 *   uniform (dropout): u = (x >> 8) * 2^-24, a float in [0, 1) (exact);
 *   normal: lanes (0,1) and (2,3) of a block are Box-Muller pairs: with
 *   words (a, b), in double precision
 *      u1 = (a + 1) * 2^-32 in (0, 1], u2 = b * 2^-32 in [0, 1),
 *      r = sqrt(-2 ln u1), th = 2 pi u2,
 *      lane 0/2 = (float)(r cos th), lane 1/3 = (float)(r sin th).
 *   (Computed in double and rounded once to float; two correct libms agree
 *   except when a double result falls within an ulp of a float rounding
 *   boundary, which is vanishingly rare.)
 * Dropout keeps element i iff u_i >= p and scales kept values by 1/(1-p). */
#ifndef DSQ_PHILOX_H
#define DSQ_PHILOX_H

#include <stdint.h>

#include "philox_core.h"  /* inline core, also compiled for the device */

/* Ten Philox rounds of counter ctr under key: out = philox(ctr, key). */
void dsq_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The four words of block g of stream (seed, off). */
void dsq_philox_block(uint64_t seed, uint64_t off, uint64_t g, uint32_t out[4]);

/* dsq_philox_uniform(x): uniform float in [0,1) from one 32-bit word
 * (philox_core.h; the mapping above). */

/* Box-Muller on words (a, b): two standard normals, as documented above. */
void dsq_philox_box_muller(uint32_t a, uint32_t b, float *n0, float *n1);

/* Element i of the uniform / normal streams (slow; for tests and tails). */
float dsq_philox_uniform_at(uint64_t seed, uint64_t off, uint64_t i);
float dsq_philox_normal_at(uint64_t seed, uint64_t off, uint64_t i);

#endif
