/* Packing one example into seq_len ids and a mask
 * (doc/model-and-training.md §1).
 *
 * src and trg are encoder outputs (start ... end).  With a target:
 *   s = src without its last id, t = trg without its last id; while
 *   len(s) + len(t) > seq_len - 3, pop the last id of the longer one (of
 *   both when equal); then ids = s + [end] + [sep] + t + [end], where
 *   end = src's own last id (DiffuSeq takes it from src), padded with [PAD]
 *   to seq_len.  mask = 0 on the first len(s) + 2 positions (source, its
 *   end token and the separator), 1 elsewhere, padding included.
 * Without a target (has_trg = 0, new inputs to decode): the same rule with
 *   t empty and no target end token: ids = s + [end] + [sep] + [PAD]...,
 *   so the target region is all [PAD] (mask 1) and decodes to "" — the
 *   sampler's `reference` comes out empty.  At least one target position
 *   always remains.
 * seq_len < 3 is an error (DiffuSeq would pop from an empty list); with
 * seq_len = 3 even the start tokens are truncated away, as in DiffuSeq. */
#ifndef DSQ_PACK_H
#define DSQ_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Writes seq_len ids and mask bytes; returns len_x (the number of mask == 0
 * positions), or -1 when seq_len < 3 or src (or trg with has_trg) is
 * empty. */
int dsq_pack(int32_t *ids_out, uint8_t *mask_out, const int32_t *src, size_t ns, const int32_t *trg,
             size_t nt, int has_trg, int seq_len, dsq_special_ids sp);

#endif
