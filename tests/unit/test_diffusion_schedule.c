/* Noise schedules and derived arrays against the reference's numpy
 * computation (tests/oracles/diffuseq_ref.py --schedules), float64.
 * Linear-type schedules must match bit for bit (same operations); the
 * alpha-bar ones within 1e-12 relative (numpy's cos/sqrt may differ from
 * libm in the last ulp). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "diffusion_schedule.h"
#include "safetensors.h"

static dsq_record fx;

static double cmp(const char *key, const double *got, int T, int *found) {
    const dsq_tensor *t = dsq_record_find(&fx, key);
    *found = t && t->dtype == DSQ_F64 && t->shape[0] == T;
    if (!*found) return INFINITY;
    const double *w = t->data;
    double e = 0;
    for (int i = 0; i < T; i++) e = fmax(e, fabs(got[i] - w[i]) / fmax(fabs(w[i]), 1e-300));
    return e;
}

static void test_schedules(void) {
    static const int Ts[] = {200, 2000};
    for (int k = 0; dsq_schedule_names[k]; k++)
        for (int ti = 0; ti < 2; ti++) {
            char key[64];
            int T = Ts[ti], found;
            snprintf(key, sizeof key, "%s.%d", dsq_schedule_names[k], T);
            if (!dsq_record_find(&fx, key)) continue;
            double *b = xmalloc(T * sizeof *b);
            dsq_err e = {0};
            EXPECT(dsq_schedule_betas(dsq_schedule_names[k], T, b, &e) == 0, "%s", e.msg);
            double err = cmp(key, b, T, &found);
            int exact = strstr(key, "lin") != NULL;
            printf("  %-18s max rel error %.3e\n", key, err);
            EXPECT(found && (exact ? err == 0 : err <= 1e-12), "%s: betas error %.3e", key, err);
            free(b);
        }
    int found;
    double *b = xmalloc(2000 * sizeof *b);
    dsq_schedule_betas("sqrt", 2000, b, NULL);
    EXPECT(cmp("sqrt.2000", b, 2000, &found) <= 1e-12 && found, "sqrt at T = 2000 present");
    free(b);
}

static void test_derived(void) {
    dsq_schedule s;
    dsq_err e = {0};
    EXPECT(dsq_schedule_init(&s, "sqrt", 200, &e) == 0, "%s", e.msg);
    struct { const char *name; const double *v; } a[] = {
        {"alphas_cumprod", s.alphas_cumprod}, {"alphas_cumprod_prev", s.alphas_cumprod_prev},
        {"alphas_cumprod_next", s.alphas_cumprod_next},
        {"sqrt_alphas_cumprod", s.sqrt_alphas_cumprod},
        {"sqrt_one_minus_alphas_cumprod", s.sqrt_one_minus_alphas_cumprod},
        {"log_one_minus_alphas_cumprod", s.log_one_minus_alphas_cumprod},
        {"sqrt_recip_alphas_cumprod", s.sqrt_recip_alphas_cumprod},
        {"sqrt_recipm1_alphas_cumprod", s.sqrt_recipm1_alphas_cumprod},
        {"posterior_variance", s.posterior_variance},
        {"posterior_log_variance_clipped", s.posterior_log_variance_clipped},
        {"posterior_mean_coef1", s.posterior_mean_coef1},
        {"posterior_mean_coef2", s.posterior_mean_coef2},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        char key[96];
        int found;
        snprintf(key, sizeof key, "sqrt.200.%s", a[i].name);
        double err = cmp(key, a[i].v, 200, &found);
        EXPECT(found && err <= 1e-11, "%s: error %.3e", key, err);
    }
    dsq_schedule_free(&s);
}

static void test_errors(void) {
    dsq_err e = {0};
    double b[20];
    EXPECT(dsq_schedule_betas("squareroot", 20, b, &e) == DSQ_EUSAGE && strstr(e.msg, "squareroot"),
           "unknown name: %s", e.msg);
    EXPECT(dsq_schedule_betas("pw_lin", 10, b, &e) == DSQ_EUSAGE, "pw_lin needs 11 steps");
    EXPECT(dsq_schedule_betas("sqrt", 1, b, &e) == DSQ_EUSAGE, "one step");
    dsq_linspace(1.0, 2.0, 1, b);
    EXPECT(b[0] == 1.0, "linspace of one element is start");
}

int main(void) {
    dsq_err e = {0};
    dsq_record_init(&fx);
    if (dsq_st_read_file("tests/fixtures/model/schedules.safetensors", &fx, &e)) {
        printf("FAIL schedules fixture: %s\n", e.msg);
        return 1;
    }
    RUN_TEST(test_schedules);
    RUN_TEST(test_derived);
    RUN_TEST(test_errors);
    dsq_record_free(&fx);
    TEST_MAIN_END();
}
