/* The reference's run directory: its training_args.json (what the
 * official train.py saves beside ema_RATE_STEP.pt) restated as the
 * configuration JSON dsq-sample reads (the keys of dsq-train's
 * config.json), so a reference checkpoint decodes with nothing else.
 *
 * Read from training_args.json: vocab_size, hidden_dim, hidden_t_dim,
 * seq_len, diffusion_steps, noise_schedule, learned_mean_embed, denoise,
 * denoise_rate (the v2 switches); config_name gives the encoder's sizes:
 * a hub name dsq knows (bert-base-uncased and the other
 * dsq_model_preset names) or, as the reference also accepts, a local
 * directory (as given, else beside the run) whose config.json has
 * hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
 * max_position_embeddings and layer_norm_eps.  vocab "bert" is the
 * WordPiece vocabulary: the run's vocab.txt (the reference saves its
 * tokenizer there), else the shipped bert-base-uncased vocabulary, its
 * digest checked; any other vocab is the reference's word-vocabulary file
 * (as given, else its name beside the run).  Settings dsq's model does not
 * implement (learn_sigma, sigma_small, use_kl, predict_xstart false,
 * rescale_timesteps false) are refused naming the key.  Every number is range-checked later by the same table
 * as any configuration (dsq_limit_*). */
#ifndef DSQ_REFRUN_H
#define DSQ_REFRUN_H

#include "err.h"

/* The digest (dsq_tokenizer_digest) of data/vocab/bert-base-uncased.txt. */
#define DSQ_BERT_VOCAB_DIGEST \
    "sha256:dbb3418e71ae47e04c721047ab981ad12973f500c33feaf0688948b49223e52e"

/* args_path: RUN_DIR/training_args.json.  *config_json malloc'ed. */
int dsq_refrun_config(const char *args_path, char **config_json, dsq_err *e);

/* The shipped bert-base-uncased vocabulary: beside the running binary's
 * folder as data/vocab/ (the source tree) or share/dsq/ (make install);
 * NULL when neither exists. */
char *dsq_refrun_bert_vocab(void);

#endif
