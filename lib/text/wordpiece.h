/* BERT WordPiece encoding (doc/tokenizer.md §1), equal to HuggingFace
 * tokenizers' bert-base-uncased fast tokenizer.  Used through tokenizer.h;
 * this header only documents the pipeline:
 *   1. the added tokens [PAD] [UNK] [CLS] [SEP] [MASK] (those in the vocab)
 *      are cut out of the raw text, case-sensitively, leftmost first;
 *   2. each piece between them is normalised (bertnorm.h);
 *   3. split on whitespace, each punctuation character its own word;
 *   4. a word of more than 100 code points -> [UNK]; else greedy
 *      longest-match-first with "##" continuations, [UNK] for the whole word
 *      when some position matches nothing;
 *   5. [CLS] ... [SEP] around it all.
 * Lookups use two hash maps (whole tokens; "##" tokens without the prefix)
 * and the hashes of all prefixes of the remaining word from one pass, so a
 * word costs O(length x candidates) probes and no allocation. */
#ifndef DSQ_WORDPIECE_H
#define DSQ_WORDPIECE_H

#define DSQ_WP_MAX_CHARS 100  /* max_input_chars_per_word */

#endif
