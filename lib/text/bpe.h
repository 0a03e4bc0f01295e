/* Byte-level BPE (GPT-2 / RoBERTa / DeBERTa v1), equal to transformers
 * 4.30's slow GPT2-style tokenizers (RobertaTokenizer, DebertaTokenizer)
 * as bert_score's sent_encode calls them; doc/tokenizer.md §4.  Used
 * through tokenizer.h (dsq_tokenizer_load_bpe); the pipeline of one text:
 *   1. add_prefix_space: " " + text unless the text is empty or starts
 *      with Python whitespace (prepare_for_tokenization);
 *   2. the special tokens (cls, sep, pad, unk, mask; those in the
 *      vocabulary) are cut out, leftmost-longest, case-sensitively; the
 *      mask token strips Python whitespace from the piece on its left
 *      (AddedToken lstrip); empty pieces vanish;
 *   3. each other piece is split by GPT-2's pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      (first alternative that matches, as the `regex` module; classes of
 *      dsq_bpe_class);
 *   4. each pre-token's bytes map through GPT-2's bytes_to_unicode table,
 *      then the merges apply by rank: the lowest-ranked adjacent pair, all
 *      its occurrences left to right, until no pair has a rank;
 *   5. each symbol's id (unk when absent), cls ... sep around it all.
 * Step 4's result per pre-token is cached (a fixed table of slots under
 * striped locks, so encodes on many threads share it). */
#ifndef DSQ_BPE_H
#define DSQ_BPE_H

#include <stdint.h>

/* Pre-tokeniser character classes. */
enum { DSQ_BPE_OTHER = 0, DSQ_BPE_LETTER = 1, DSQ_BPE_NUMBER = 2, DSQ_BPE_SPACE = 3 };

/* \p{L} (Lu Ll Lt Lm Lo), \p{N} (Nd Nl No), \s (Unicode White_Space), as
 * the `regex` module classifies cp (utf8proc's categories; checked over
 * all code points by test_tokenizer_bpe). */
int dsq_bpe_class(uint32_t cp);

#endif
