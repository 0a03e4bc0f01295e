/* dsq-score's report: one JSON object, or a table (see report.h). */
#include "report.h"

#include <math.h>
#include <string.h>

#include "jsonl.h"
#include "version.h"

void dsq_put_double(FILE *f, double x) {
    if (isfinite(x)) fprintf(f, "%.17g", x);
    else fputs("null", f);
}

static void put_key(FILE *f, const char *k) {
    dsq_json_put_string(f, k, strlen(k));
    putc(':', f);
}

static void put_num_kv(FILE *f, const char *k, double x) {
    put_key(f, k);
    dsq_put_double(f, x);
    putc(',', f);
}

/* The keys of one file, without braces, each followed by a comma. */
static void put_file_keys(FILE *f, const dsq_decodes *d, const dsq_file_scores *s) {
    put_key(f, "file");
    dsq_json_put_string(f, d->name, strlen(d->name));
    putc(',', f);
    if (d->ref_name) {
        put_key(f, "ref_file");
        dsq_json_put_string(f, d->ref_name, strlen(d->ref_name));
        putc(',', f);
    }
    put_key(f, "n");
    fprintf(f, "%zu,", s->n);
    put_num_kv(f, "bleu", s->bleu);
    put_num_kv(f, "rougeL", s->rouge_l);
    put_num_kv(f, "dist1", s->distinct1);
    put_num_kv(f, "avg_len", s->avg_len);
    /* BERTScore's keys: only where dsq-score --bertscore filled them. */
    if (s->has_bertscore) {
        put_num_kv(f, "bertscore_p", s->bertscore_p);
        put_num_kv(f, "bertscore_r", s->bertscore_r);
        put_num_kv(f, "bertscore_f1", s->bertscore_f1);
    }
    if (!s->has_sacrebleu) return;
    put_num_kv(f, "sacrebleu", s->sacrebleu.score);
    put_key(f, "sacrebleu_signature");
    dsq_json_put_string(f, s->sacrebleu.signature, strlen(s->sacrebleu.signature));
    putc(',', f);
    put_key(f, "sacrebleu_precisions");
    for (int i = 0; i < 4; i++) {
        putc(i ? ',' : '[', f);
        dsq_put_double(f, s->sacrebleu.precisions[i]);
    }
    fputs("],", f);
    put_num_kv(f, "sacrebleu_bp", s->sacrebleu.bp);
    put_num_kv(f, "sacrebleu_ratio", s->sacrebleu.ratio);
    put_key(f, "sacrebleu_sys_len");
    fprintf(f, "%lld,", (long long)s->sacrebleu.sys_len);
    put_key(f, "sacrebleu_ref_len");
    fprintf(f, "%lld,", (long long)s->sacrebleu.ref_len);
    put_num_kv(f, "chrf", s->chrf.score);
    put_key(f, "chrf_signature");
    dsq_json_put_string(f, s->chrf.signature, strlen(s->chrf.signature));
    putc(',', f);
}

/* The put_* helpers end every key with a comma; each object closes with
 * a key written without one. */
void dsq_score_write_json(FILE *f, const dsq_score_report *r) {
    putc('{', f);
    put_key(f, "version");
    dsq_json_put_string(f, DSQ_VERSION, strlen(DSQ_VERSION));
    putc(',', f);
    if (r->nfiles == 1) put_file_keys(f, r->files[0], &r->scores[0]);
    put_key(f, "files");
    putc('[', f);
    for (size_t i = 0; i < r->nfiles; i++) {
        if (i) putc(',', f);
        putc('{', f);
        put_file_keys(f, r->files[i], &r->scores[i]);
        put_key(f, "index");
        fprintf(f, "%zu}", i);
    }
    fputs("],", f);
    put_key(f, "diversity");
    if (r->div) {
        putc('{', f);
        put_key(f, "k");
        fprintf(f, "%zu,", r->div->k);
        put_key(f, "n");
        fprintf(f, "%zu,", r->div->n);
        put_num_kv(f, "self_bleu", r->div->self_bleu);
        put_key(f, "div4");
        dsq_put_double(f, r->div->div4);
        putc('}', f);
    } else {
        fputs("null", f);
    }
    fputs("}\n", f);
}

void dsq_score_write_table(FILE *f, const dsq_score_report *r) {
    int w = 4;
    for (size_t i = 0; i < r->nfiles; i++) {
        int l = (int)strlen(r->files[i]->name);
        if (l > w) w = l;
    }
    int bert = 0;
    for (size_t i = 0; i < r->nfiles; i++) bert |= r->scores[i].has_bertscore;
    fprintf(f, "%-*s %7s %7s %7s %7s %7s %9s %7s%s\n", w, "file", "n", "BLEU", "ROUGE-L",
            "dist-1", "avg-len", "sacreBLEU", "chrF", bert ? "  BERTScore" : "");
    for (size_t i = 0; i < r->nfiles; i++) {
        const dsq_file_scores *s = &r->scores[i];
        fprintf(f, "%-*s %7zu %7.4f %7.4f %7.4f %7.2f", w, r->files[i]->name, s->n, s->bleu,
                s->rouge_l, s->distinct1, s->avg_len);
        if (s->has_sacrebleu) fprintf(f, " %9.2f %7.2f", s->sacrebleu.score, s->chrf.score);
        else fprintf(f, " %9s %7s", "-", "-");
        if (s->has_bertscore) fprintf(f, "  %9.4f", s->bertscore_f1);
        putc('\n', f);
    }
    if (r->div)
        fprintf(f, "diversity over %zu files, %zu examples: self-BLEU %.4f  div-4 %.4f\n",
                r->div->k, r->div->n, r->div->self_bleu, r->div->div4);
    if (r->nfiles && r->scores[0].has_sacrebleu) {
        fprintf(f, "sacreBLEU: %s\n", r->scores[0].sacrebleu.signature);
        fprintf(f, "chrF: %s\n", r->scores[0].chrf.signature);
    }
}
