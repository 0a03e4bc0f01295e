/* Pretrained-encoder initialisation (plm.h). */
#include "plm.h"

#include <string.h>

#include "bert.h"

int dsq_plm_shape(const char *dir, dsq_model_config *mc, dsq_err *e) {
    dsq_bert_config c;
    memset(&c, 0, sizeof c);
    int rc = dsq_bert_read_config(&c, dir, e);
    if (rc) return dsq_err_prefix(e, "--init-plm");
    if (c.arch != DSQ_BERT_ARCH_BERT || !c.abs_pos)
        return dsq_err_set(e, DSQ_EDATA, "--init-plm %s: config.json: model_type must be "
                           "\"bert\" with absolute positions (the reference's --use_plm_init "
                           "bert loads a BertModel)", dir);
    if ((rc = dsq_limit_check(DSQ_LIM_LAYERS, NULL, c.n_layers, dir, e)) ||
        (rc = dsq_limit_check(DSQ_LIM_HIDDEN, NULL, c.H, dir, e)) ||
        (rc = dsq_limit_check(DSQ_LIM_HEADS, NULL, c.nh, dir, e)) ||
        (rc = dsq_limit_check(DSQ_LIM_INTER, NULL, c.I, dir, e)) ||
        (rc = dsq_limit_check(DSQ_LIM_MAX_POS, NULL, c.max_pos, dir, e)))
        return rc;
    if (mc->d != c.H)
        return dsq_err_set(e, DSQ_EUSAGE, "--init-plm %s: the encoder is %d wide (hidden_size "
                           "in its config.json) but --hidden-dim is %d: the word embedding is "
                           "the encoder's, so set --hidden-dim %d", dir, c.H, mc->d, c.H);
    mc->n_layers = c.n_layers;
    mc->H = c.H;
    mc->nh = c.nh;
    mc->I = c.I;
    mc->max_pos = c.max_pos;
    mc->ln_eps = c.ln_eps;
    return 0;
}

/* n floats from src to dst, both on be. */
static void put(dsq_backend *be, float *dst, const float *src, size_t n) {
    be->copy(be, dst, src, n * sizeof(float));
}

int dsq_plm_load(const char *dir, dsq_model *m, const dsq_tokenizer *tok, dsq_err *e) {
    dsq_bert b;
    int rc = dsq_bert_load(&b, dir, m->be, e);
    if (rc) return dsq_err_prefix(e, "--init-plm");
    const dsq_bert_config *c = &b.cfg;
    const dsq_model_config *mc = &m->cfg;
    if (strcmp(dsq_tokenizer_digest(b.tok), dsq_tokenizer_digest(tok)) != 0 ||
        c->vocab != mc->vocab)
        rc = dsq_err_set(e, DSQ_EDATA, "--init-plm %s: its vocabulary (vocab.txt, %d tokens, "
                         "%s; %d embedding rows) is not the run's (--vocab, %d tokens, %s): "
                         "tokenize the data with %s/vocab.txt", dir,
                         dsq_tokenizer_vocab_size(b.tok), dsq_tokenizer_digest(b.tok), c->vocab,
                         mc->vocab, dsq_tokenizer_digest(tok), dir);
    else if (c->H != mc->H || c->n_layers != mc->n_layers || c->I != mc->I ||
             c->max_pos != mc->max_pos || mc->d != mc->H)
        rc = dsq_err_set(e, DSQ_EDATA, "--init-plm %s: its encoder (%d layers of %d, "
                         "intermediate %d, %d positions) is not the model's (%d layers of %d, "
                         "intermediate %d, %d positions, hidden_dim %d)", dir, c->n_layers, c->H,
                         c->I, c->max_pos, mc->n_layers, mc->H, mc->I, mc->max_pos, mc->d);
    if (rc) {
        dsq_bert_free(&b);
        return rc;
    }
    dsq_backend *be = m->be;
    size_t H = (size_t)c->H, I = (size_t)c->I;
    put(be, m->p.wemb, b.wemb, (size_t)c->vocab * H);
    put(be, m->p.pos, b.pemb, (size_t)c->max_pos * H);
    put(be, m->p.lnw, b.elnw, H);
    put(be, m->p.lnb, b.elnb, H);
    for (int i = 0; i < c->n_layers; i++) {
        const dsq_bert_layer *s = &b.layers[i];
        const dsq_layer_params *d = &m->p.layers[i];
        put(be, d->qkvw, s->qkvw, 3 * H * H);  /* q | k | v adjacent in both */
        put(be, d->qkvb, s->qkvb, 3 * H);
        put(be, d->attow, s->ow, H * H);
        put(be, d->attob, s->ob, H);
        put(be, d->ln1w, s->ln1w, H);
        put(be, d->ln1b, s->ln1b, H);
        put(be, d->fcw, s->fcw, I * H);
        put(be, d->fcb, s->fcb, I);
        put(be, d->fcprojw, s->pw, H * I);
        put(be, d->fcprojb, s->pb, H);
        put(be, d->ln2w, s->ln2w, H);
        put(be, d->ln2b, s->ln2b, H);
    }
    dsq_bert_free(&b);
    return 0;
}
