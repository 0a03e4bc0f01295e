/* The encoder's config.json and tokenizer files (bert.h): the architecture
 * and its sizes, and the tokenizer bert_score would load from the same
 * directory (WordPiece for BERT, byte-level BPE for RoBERTa / DeBERTa). */
#include "bert_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static int file_exists(const char *dir, const char *name) {
    char *p = dsq_path_join(dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* Loads dir/name as JSON; *root NULL and 0 when optional and absent. */
static int load_json(const char *dir, const char *name, int optional, json_t **root, dsq_err *e) {
    *root = NULL;
    char *p = dsq_path_join(dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) {
        int err = errno;
        if (optional && err == ENOENT) { free(p); return 0; }
        dsq_err_set(e, DSQ_EIO, "%s: cannot open: %s", p, strerror(err));
        free(p);
        return DSQ_EIO;
    }
    json_error_t jerr;
    *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!*root) {
        dsq_err_set(e, DSQ_EDATA, "%s:%d: invalid JSON: %s", p, jerr.line, jerr.text);
        free(p);
        return DSQ_EDATA;
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        dsq_err_set(e, DSQ_EDATA, "%s: not a JSON object", p);
        free(p);
        return DSQ_EDATA;
    }
    free(p);
    return 0;
}

/* An integer config key in [lo, hi]: required when def is -1, else def when
 * absent (or null, for def >= 0); def -2 marks "absent" to the caller. */
static int get_int(json_t *cfg, const char *path, const char *key, long def, long lo, long hi,
                   int *out, dsq_err *e) {
    json_t *v = json_object_get(cfg, key);
    if (!v || (json_is_null(v) && def >= 0)) {
        if (def < 0 && def != -2) return dsq_err_set(e, DSQ_EDATA, "%s: missing key \"%s\"", path, key);
        *out = (int)def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return dsq_err_set(e, DSQ_EDATA, "%s: \"%s\" must be an integer in [%ld, %ld]", path,
                           key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static const char *get_str(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A boolean key, def when absent; -1 when present but not a boolean. */
static int get_bool(json_t *o, const char *key, int def) {
    json_t *v = json_object_get(o, key);
    if (!v) return def;
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* DeBERTa v1's attention keys: relative_attention, max_relative_positions,
 * pos_att_type ("c2p|p2c" or a list), position_biased_input; the
 * DeBERTa-v2 and talking-head variants are refused by name. */
static int deberta_keys(dsq_bert_config *c, json_t *cfg, const char *path, dsq_err *e) {
    static const char *v2[] = {"position_buckets", "share_att_key", "norm_rel_ebd",
                               "conv_kernel_size"};
    for (size_t i = 0; i < sizeof v2 / sizeof v2[0]; i++) {
        json_t *v = json_object_get(cfg, v2[i]);
        if (v && !json_is_null(v) && !json_is_false(v) &&
            !(json_is_integer(v) && json_integer_value(v) <= 0) &&
            !(json_is_string(v) && !*json_string_value(v)))
            return dsq_err_set(e, DSQ_EDATA, "%s: \"%s\" is a DeBERTa-v2 setting: not supported "
                               "(DeBERTa v1 only)", path, v2[i]);
    }
    if (get_bool(cfg, "talking_head", 0) != 0)
        return dsq_err_set(e, DSQ_EDATA, "%s: talking_head attention is not supported", path);
    int rel = get_bool(cfg, "relative_attention", 0), pbi = get_bool(cfg, "position_biased_input", 1);
    if (rel < 0 || pbi < 0)
        return dsq_err_set(e, DSQ_EDATA, "%s: relative_attention / position_biased_input must "
                           "be booleans", path);
    c->abs_pos = pbi;
    int es = c->H, mr = -1, rc;
    if ((rc = get_int(cfg, path, "embedding_size", c->H, 1, 1 << 16, &es, e))) return rc;
    if (es != c->H)
        return dsq_err_set(e, DSQ_EDATA, "%s: embedding_size %d differs from hidden_size %d: "
                           "not supported", path, es, c->H);
    if ((rc = get_int(cfg, path, "max_relative_positions", -2, -1, 1 << 16, &mr, e))) return rc;
    c->max_rel = rel ? (mr < 1 ? c->max_pos : mr) : 0;
    json_t *pt = json_object_get(cfg, "pos_att_type");
    c->c2p = c->p2c = 0;
    for (size_t i = 0; pt && !json_is_null(pt); i++) {
        const char *s = json_is_string(pt) ? (i ? NULL : json_string_value(pt))
                                           : json_string_value(json_array_get(pt, i));
        if (!s) {
            if (json_is_array(pt) && i < json_array_size(pt))
                return dsq_err_set(e, DSQ_EDATA, "%s: pos_att_type: strings expected", path);
            break;
        }
        char buf[64];
        snprintf(buf, sizeof buf, "%s", s);
        for (char *tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|")) {
            if (strcmp(tok, "c2p") == 0) c->c2p = 1;
            else if (strcmp(tok, "p2c") == 0) c->p2c = 1;
            else
                return dsq_err_set(e, DSQ_EDATA, "%s: pos_att_type \"%s\" is not supported "
                                   "(c2p, p2c)", path, tok);
        }
        if (json_is_string(pt)) break;
    }
    if (!rel) c->c2p = c->p2c = 0;
    return 0;
}

/* The keys every architecture shares, then each one's own. */
static int arch_keys(dsq_bert_config *c, json_t *cfg, const char *path, dsq_err *e) {
    int rc;
    int tv_def = c->arch == DSQ_BERT_ARCH_DEBERTA ? 0 : 2;
    if ((rc = get_int(cfg, path, "hidden_size", -1, 1, 1 << 16, &c->H, e)) ||
        (rc = get_int(cfg, path, "num_attention_heads", -1, 1, 1 << 10, &c->nh, e)) ||
        (rc = get_int(cfg, path, "intermediate_size", -1, 1, 1 << 18, &c->I, e)) ||
        (rc = get_int(cfg, path, "num_hidden_layers", -1, 0, 1 << 10, &c->n_layers, e)) ||
        (rc = get_int(cfg, path, "max_position_embeddings", -1, 3, 1 << 20, &c->max_pos, e)) ||
        (rc = get_int(cfg, path, "vocab_size", -1, 1, 1 << 24, &c->vocab, e)) ||
        (rc = get_int(cfg, path, "type_vocab_size", tv_def,
                      c->arch == DSQ_BERT_ARCH_DEBERTA ? 0 : 1, 1 << 10, &c->type_vocab, e)))
        return rc;
    if (c->H % c->nh)
        return dsq_err_set(e, DSQ_EDATA, "%s: hidden_size %d is not a multiple of "
                           "num_attention_heads %d", path, c->H, c->nh);
    c->abs_pos = 1;
    c->max_len = c->max_pos;
    if (c->arch == DSQ_BERT_ARCH_ROBERTA) {
        if ((rc = get_int(cfg, path, "pad_token_id", 1, 0, c->vocab - 1, &c->pad_idx, e)))
            return rc;
        /* positions padding_idx + 1 .. max_pos - 1 */
        c->max_len = c->max_pos - c->pad_idx - 1;
        if (c->max_len < 3)
            return dsq_err_set(e, DSQ_EDATA, "%s: max_position_embeddings %d leaves no room "
                               "after pad_token_id %d", path, c->max_pos, c->pad_idx);
    }
    if (c->arch == DSQ_BERT_ARCH_DEBERTA && (rc = deberta_keys(c, cfg, path, e))) return rc;
    const char *pet = get_str(cfg, "position_embedding_type");
    if (json_object_get(cfg, "position_embedding_type") && (!pet || strcmp(pet, "absolute") != 0))
        return dsq_err_set(e, DSQ_EDATA, "%s: position_embedding_type \"%s\" is not supported "
                           "(only \"absolute\")", path, pet ? pet : "(not a string)");
    return 0;
}

int dsq_bert_read_config(dsq_bert_config *c, const char *dir, dsq_err *e) {
    json_t *cfg;
    int rc = load_json(dir, "config.json", 0, &cfg, e);
    if (rc) return rc;
    char *path = dsq_path_join(dir, "config.json");
    const char *mt = get_str(cfg, "model_type");
    json_t *arch = json_object_get(cfg, "architectures");
    const char *a0 = json_is_array(arch) ? json_string_value(json_array_get(arch, 0)) : NULL;
    if (mt && strcmp(mt, "bert") == 0) c->arch = DSQ_BERT_ARCH_BERT;
    else if (mt && strcmp(mt, "roberta") == 0) c->arch = DSQ_BERT_ARCH_ROBERTA;
    else if (mt && strcmp(mt, "deberta") == 0) c->arch = DSQ_BERT_ARCH_DEBERTA;
    else {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: unsupported architecture: model_type \"%s\"%s%s%s "
                         "(BERTScore in dsq runs model_type \"bert\", \"roberta\" and "
                         "\"deberta\" (v1) encoders)", path, mt ? mt : "(missing)",
                         a0 ? ", architectures [\"" : "", a0 ? a0 : "", a0 ? "\", ...]" : "");
        goto done;
    }
    if ((rc = arch_keys(c, cfg, path, e))) goto done;
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    c->ln_eps = 1e-12f;
    if (eps) {
        if (!json_is_number(eps) || !(json_number_value(eps) > 0)) {
            rc = dsq_err_set(e, DSQ_EDATA, "%s: \"layer_norm_eps\" must be a positive number", path);
            goto done;
        }
        c->ln_eps = (float)json_number_value(eps);
    }
    const char *act = get_str(cfg, "hidden_act");
    if (json_object_get(cfg, "hidden_act") && (!act || strcmp(act, "gelu") != 0)) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: hidden_act \"%s\" is not supported (only \"gelu\")",
                         path, act ? act : "(not a string)");
        goto done;
    }
    const char *nm = get_str(cfg, "_name_or_path");
    if (nm && *nm) {
        snprintf(c->name, sizeof c->name, "%s", nm);
    } else {
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') dl--;
        size_t s = dl;
        while (s > 0 && dir[s - 1] != '/') s--;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(dl - s), dir + s);
    }
done:
    free(path);
    json_decref(cfg);
    return rc;
}

/* The optional tokenizer descriptions of a BERT directory must agree with
 * what dsq's tokenizer does: BERT's uncased WordPiece (vocab.txt). */
static int load_wordpiece(json_t *tc, const char *dir, dsq_tokenizer **tok, dsq_err *e) {
    int rc = 0;
    char *path = dsq_path_join(dir, "tokenizer_config.json");
    if (tc) {
        const char *cls = get_str(tc, "tokenizer_class");
        json_t *lc = json_object_get(tc, "do_lower_case");
        json_t *sa = json_object_get(tc, "strip_accents");
        json_t *cc = json_object_get(tc, "tokenize_chinese_chars");
        if (cls && strcmp(cls, "BertTokenizer") != 0 && strcmp(cls, "BertTokenizerFast") != 0)
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenizer_class \"%s\" is not supported "
                             "(only BERT WordPiece: BertTokenizer)", path, cls);
        else if (lc && !json_is_true(lc))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: do_lower_case is false: only uncased WordPiece "
                             "tokenizers are supported", path);
        else if (sa && !json_is_null(sa) && !json_is_true(sa))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: strip_accents is false: not supported", path);
        else if (cc && !json_is_true(cc))
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenize_chinese_chars is false: not supported",
                             path);
    }
    free(path);
    if (rc) return rc;
    json_t *tj;
    if ((rc = load_json(dir, "tokenizer.json", 1, &tj, e))) return rc;
    if (tj) {
        const char *type = get_str(json_object_get(tj, "model"), "type");
        if (type && strcmp(type, "WordPiece") != 0) {
            path = dsq_path_join(dir, "tokenizer.json");
            rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenizer model \"%s\" is not WordPiece", path,
                             type);
            free(path);
        }
        json_decref(tj);
        if (rc) return rc;
    }
    if (!file_exists(dir, "vocab.txt")) {
        const char *other = file_exists(dir, "merges.txt") ? " (merges.txt: a BPE tokenizer)"
                          : file_exists(dir, "spiece.model") ||
                                    file_exists(dir, "sentencepiece.bpe.model")
                              ? " (a SentencePiece tokenizer)" : "";
        path = dsq_path_join(dir, "vocab.txt");
        rc = dsq_err_set(e, DSQ_EIO, "%s: missing: a WordPiece vocabulary is required%s", path,
                         other);
        free(path);
        return rc;
    }
    char *vpath = dsq_path_join(dir, "vocab.txt");
    rc = dsq_tokenizer_load(tok, vpath, DSQ_TOK_WORDPIECE, e);
    free(vpath);
    return rc;
}

/* A special token of a tokenizer description: a string or {"content": s}. */
static const char *token_str(json_t *o, const char *key) {
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* RoBERTa / DeBERTa: vocab.json + merges.txt, the special tokens of the
 * tokenizer class (overridden by tokenizer_config.json, then
 * special_tokens_map.json), the prefix space as bert_score's sent_encode
 * gives it (doc/tokenizer.md §6). */
static int load_bpe(const dsq_bert_config *c, json_t *tc, const char *dir, dsq_tokenizer **tok,
                    dsq_err *e) {
    int roberta = c->arch == DSQ_BERT_ARCH_ROBERTA, rc = 0;
    const char *want = roberta ? "Roberta" : "Deberta";
    const char *cls = get_str(tc, "tokenizer_class");
    if (cls && (strncmp(cls, want, 7) != 0 || (strcmp(cls + 7, "Tokenizer") != 0 &&
                                                strcmp(cls + 7, "TokenizerFast") != 0))) {
        char *path = dsq_path_join(dir, "tokenizer_config.json");
        rc = dsq_err_set(e, DSQ_EDATA, "%s: tokenizer_class \"%s\" is not supported with "
                         "model_type \"%s\" (%sTokenizer)", path, cls,
                         roberta ? "roberta" : "deberta", want);
        free(path);
        return rc;
    }
    static const char *keys[5] = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
    static const char *rob[5] = {"<s>", "</s>", "<pad>", "<unk>", "<mask>"};
    static const char *deb[5] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
    const char *sp[5];
    json_t *stm;
    if ((rc = load_json(dir, "special_tokens_map.json", 1, &stm, e))) return rc;
    for (int k = 0; k < 5; k++) {
        sp[k] = roberta ? rob[k] : deb[k];
        if (token_str(tc, keys[k])) sp[k] = token_str(tc, keys[k]);
        if (token_str(stm, keys[k])) sp[k] = token_str(stm, keys[k]);
    }
    int aps = get_bool(tc, "add_prefix_space", 0);
    dsq_bpe_opts o = {sp[0], sp[1], sp[2], sp[3], sp[4], roberta ? 1 : aps > 0};
    const char *need[2] = {"vocab.json", "merges.txt"};
    for (int k = 0; k < 2 && !rc; k++)
        if (!file_exists(dir, need[k])) {
            char *path = dsq_path_join(dir, need[k]);
            rc = dsq_err_set(e, DSQ_EIO, "%s: missing: a byte-level BPE tokenizer (vocab.json "
                             "and merges.txt) is required%s", path,
                             file_exists(dir, "bpe_encoder.bin")
                                 ? " (bpe_encoder.bin: convert it, see dsq-score(1))" : "");
            free(path);
        }
    if (!rc) {
        char *v = dsq_path_join(dir, "vocab.json"), *m = dsq_path_join(dir, "merges.txt");
        rc = dsq_tokenizer_load_bpe(tok, v, m, &o, e);
        free(v);
        free(m);
    }
    json_decref(stm);
    return rc;
}

int dsq_bert_load_tokenizer(dsq_bert_config *c, const char *dir, dsq_tokenizer **tok,
                            dsq_err *e) {
    *tok = NULL;
    json_t *tc;
    int rc = load_json(dir, "tokenizer_config.json", 1, &tc, e);
    if (rc) return rc;
    json_t *ml = tc ? json_object_get(tc, "model_max_length") : NULL;
    if (ml && json_is_number(ml) && json_number_value(ml) >= 3 &&
        json_number_value(ml) < c->max_len)
        c->max_len = (int)json_number_value(ml);
    if (c->arch == DSQ_BERT_ARCH_BERT) rc = load_wordpiece(tc, dir, tok, e);
    else rc = load_bpe(c, tc, dir, tok, e);
    json_decref(tc);
    if (rc) return rc;
    if (dsq_tokenizer_vocab_size(*tok) > c->vocab) {
        rc = dsq_err_set(e, DSQ_EDATA, "%s: %d tokens, more than config.json's vocab_size %d",
                         dir, (int)dsq_tokenizer_vocab_size(*tok), c->vocab);
        dsq_tokenizer_free(*tok);
        *tok = NULL;
    }
    return rc;
}
