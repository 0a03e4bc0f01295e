/* A reference run directory's training_args.json as dsq's configuration
 * (refrun.h). */
#include "refrun.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "util.h"

/* path as given when it exists, else its last component inside dir. */
static char *as_given_or_beside(const char *path, const char *dir) {
    if (access(path, F_OK) == 0) return xstrdup(path);
    const char *base = strrchr(path, '/');
    return dsq_path_join(dir, base ? base + 1 : path);
}

char *dsq_refrun_bert_vocab(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *bin = dsq_path_dir(exe), *found = NULL;
    static const char *const rel[] = {"../data/vocab/bert-base-uncased.txt",
                                      "../share/dsq/bert-base-uncased.txt"};
    for (int k = 0; k < 2 && !found; k++) {
        char *p = dsq_path_join(bin, rel[k]);
        if (access(p, R_OK) == 0) found = p;
        else free(p);
    }
    free(bin);
    return found;
}

/* The encoder's sizes from config_name into out (a JSON object). */
static int encoder_sizes(const char *name, const char *run_dir, json_t *out, const char *src,
                         dsq_err *e) {
    dsq_model_config c;
    dsq_model_config_default(&c, 1, 1);
    if (dsq_model_preset(name, &c)) {
        json_object_set_new(out, "hidden_size", json_integer(c.H));
        json_object_set_new(out, "num_hidden_layers", json_integer(c.n_layers));
        json_object_set_new(out, "num_attention_heads", json_integer(c.nh));
        json_object_set_new(out, "intermediate_size", json_integer(c.I));
        json_object_set_new(out, "max_position_embeddings", json_integer(c.max_pos));
        json_object_set_new(out, "layer_norm_eps", json_real(c.ln_eps));
        return 0;
    }
    char *dir = as_given_or_beside(name, run_dir), *cfg = dsq_path_join(dir, "config.json");
    json_error_t je;
    json_t *j = access(cfg, R_OK) == 0 ? json_load_file(cfg, 0, &je) : NULL;
    int rc = 0;
    if (!j) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: config_name \"%s\" is neither an encoder dsq knows "
                         "(bert-base-uncased, bert-large, bert-medium, bert-small, bert-mini, "
                         "bert-tiny) nor a directory with a readable config.json (%s): give "
                         "--config, or the directory", src, name, cfg);
    } else if (!json_is_object(j) ||
               (json_string_value(json_object_get(j, "hidden_act")) &&
                strcmp(json_string_value(json_object_get(j, "hidden_act")), "gelu"))) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: not a BERT configuration with hidden_act gelu", cfg);
    } else {
        static const char *const keys[] = {"hidden_size", "num_hidden_layers",
                                           "num_attention_heads", "intermediate_size",
                                           "max_position_embeddings", "layer_norm_eps"};
        for (int k = 0; k < 6; k++) {
            json_t *v = json_object_get(j, keys[k]);
            if (v) json_object_set(out, keys[k], v);
        }
    }
    json_decref(j);
    free(cfg);
    free(dir);
    return rc;
}

/* Settings of the reference that dsq's model does not implement. */
static int unsupported(json_t *a, const char *src, dsq_err *e) {
    static const struct { const char *key; int want; } flags[] = {
        {"learn_sigma", 0}, {"sigma_small", 0}, {"predict_xstart", 1},
        {"rescale_timesteps", 1}, {"use_kl", 0},
    };
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        json_t *v = json_object_get(a, flags[k].key);
        if (v && json_is_boolean(v) && json_is_true(v) != flags[k].want)
            return dsq_err_set(e, DSQ_EDATA, "%s: %s = %s: dsq implements the reference's "
                               "default (%s) only", src, flags[k].key,
                               flags[k].want ? "false" : "true", flags[k].want ? "true" : "false");
    }
    return 0;
}

/* vocab: "bert" (WordPiece: the run's vocab.txt, else the shipped one,
 * digest checked) or the reference's word-vocabulary file. */
static int vocabulary(json_t *a, const char *run_dir, json_t *out, const char *src, dsq_err *e) {
    const char *v = json_string_value(json_object_get(a, "vocab"));
    if (!v) return dsq_err_set(e, DSQ_EDATA, "%s: vocab is not a string", src);
    if (strcmp(v, "bert")) {
        char *p = as_given_or_beside(v, run_dir);
        json_object_set_new(out, "vocab", json_string(p));
        json_object_set_new(out, "vocab_kind", json_string("word"));
        free(p);
        return 0;
    }
    json_object_set_new(out, "vocab_kind", json_string("wordpiece"));
    char *p = dsq_path_join(run_dir, "vocab.txt");
    if (access(p, R_OK) != 0) {
        free(p);
        if (!(p = dsq_refrun_bert_vocab()))
            return dsq_err_set(e, DSQ_EDATA, "%s: vocab bert, but the run has no vocab.txt and "
                               "the shipped bert-base-uncased vocabulary is not installed: give "
                               "--vocab", src);
        json_object_set_new(out, "vocab_digest", json_string(DSQ_BERT_VOCAB_DIGEST));
    }
    json_object_set_new(out, "vocab", json_string(p));
    free(p);
    return 0;
}

int dsq_refrun_config(const char *args_path, char **config_json, dsq_err *e) {
    json_error_t je;
    json_t *a = json_load_file(args_path, 0, &je), *out = json_object();
    char *dir = dsq_path_dir(args_path);
    int rc = 0;
    if (!json_is_object(a))
        rc = dsq_err_set(e, DSQ_EDATA, "%s:%d: not a JSON object (%s)", args_path, je.line,
                         a ? "another value" : je.text);
    if (!rc) rc = unsupported(a, args_path, e);
    static const char *const same[] = {"vocab_size", "hidden_dim", "hidden_t_dim", "seq_len",
                                       "diffusion_steps", "noise_schedule",
                                       "learned_mean_embed", "denoise", "denoise_rate"};
    for (size_t k = 0; !rc && k < sizeof same / sizeof same[0]; k++) {
        json_t *v = json_object_get(a, same[k]);
        if (v) json_object_set(out, same[k], v);
    }
    const char *cn = rc ? NULL : json_string_value(json_object_get(a, "config_name"));
    if (!rc && !cn) rc = dsq_err_set(e, DSQ_EDATA, "%s: config_name is not a string", args_path);
    if (!rc) rc = encoder_sizes(cn, dir, out, args_path, e);
    if (!rc) rc = vocabulary(a, dir, out, args_path, e);
    if (!rc) *config_json = json_dumps(out, JSON_INDENT(2));
    DSQ_CHECK(rc || *config_json);
    json_decref(a);
    json_decref(out);
    free(dir);
    return rc;
}
