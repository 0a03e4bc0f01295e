/* DiffuSeq's merge_and_mask + pad_function for one example; see pack.h. */
#include "pack.h"

int dsq_pack(int32_t *ids_out, uint8_t *mask_out, const int32_t *src, size_t ns, const int32_t *trg,
             size_t nt, int has_trg, int seq_len, dsq_special_ids sp) {
    if (seq_len < 3 || ns < 1 || (has_trg && nt < 1)) return -1;
    int32_t end = src[ns - 1];
    size_t ls = ns - 1, lt = has_trg ? nt - 1 : 0;
    size_t budget = (size_t)seq_len - 3;
    /* The pop loop in closed form would be easy to get subtly wrong at the
     * ties; it runs at most ns + nt times. */
    while (ls + lt > budget) {
        if (ls > lt) ls--;
        else if (ls < lt) lt--;
        else { ls--; lt--; }
    }
    size_t k = 0;
    for (size_t i = 0; i < ls; i++) ids_out[k++] = src[i];
    ids_out[k++] = end;
    ids_out[k++] = sp.sep;
    int len_x = (int)k;
    if (has_trg) {
        for (size_t i = 0; i < lt; i++) ids_out[k++] = trg[i];
        ids_out[k++] = end;
    }
    for (size_t i = k; i < (size_t)seq_len; i++) ids_out[i] = sp.pad;
    for (int i = 0; i < seq_len; i++) mask_out[i] = i < len_x ? 0 : 1;
    return len_x;
}
