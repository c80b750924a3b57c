/*
** test_logprobs.c — l4lm_logprobs against a straightforward reference
** computed here in double precision with libm (log-softmax of the full
** logits of stories260K, step after step of a greedy generation): the
** values, the top-20 order, that the probabilities sum to one, bad
** arguments, and that l4lm_gen_step reports the same values.
**
**   test_logprobs                          the checks (ok/FAIL lines)
**   test_logprobs --dump [--chat] TEXT N K the reference alone, as JSON, for
**       N greedy steps after TEXT (with --chat: one user message rendered
**       with the template) with the top K: tests/serve_http.sh checks the
**       HTTP server's logprobs against it.
*/
#include <math.h>

#include "gguf_write.h"
#include "l4lm.h"
#include "t.h"

static l4lm_model model;
static l4lm_session *sess;
static uint32_t n_vocab;

static int open_session(void)
{
    size_t size;
    unsigned char *bytes = t_shared_file("models/stories260K.gguf", &size);
    /* the CLI's defaults (f16 KV cache), so --dump gives the logits `l4lm serve --ctx 256` sees */
    l4lm_run_opts o = {.n_ctx = 256, .kv_type = L4LM_KV_F16};
    l4lm_plan_result p;
    static void *index; /* lives as long as model */
    if (!bytes || t_model_open(&model, bytes, size, NULL, 0, &index) || l4lm_plan(&model, &o, &p))
        return -1;
    void *arena = aligned_alloc(64, p.total);
    n_vocab = t_n_vocab(&model);
    return arena && !l4lm_session_init(&sess, &model, &o, arena, p.total) ? 0 : -1;
}

/* The reference: log-softmax of x in double, with libm. */
static void ref_logsoftmax(const float *x, double *lp)
{
    double max = -INFINITY, sum = 0;
    for (uint32_t i = 0; i < n_vocab; i++)
        max = x[i] > max ? x[i] : max;
    for (uint32_t i = 0; i < n_vocab; i++)
        sum += exp((double)x[i] - max);
    for (uint32_t i = 0; i < n_vocab; i++)
        lp[i] = ((double)x[i] - max) - log(sum);
}

/* The reference's top k: larger logprob first, then lower id (selection, O(k n)). */
static void ref_top(const double *lp, uint32_t k, int32_t *top)
{
    for (uint32_t r = 0; r < k; r++) {
        int32_t best = -1;
        for (uint32_t i = 0; i < n_vocab; i++) {
            bool taken = false;
            for (uint32_t q = 0; q < r; q++)
                taken |= top[q] == (int32_t)i;
            if (!taken && (best < 0 || lp[i] > lp[best]))
                best = (int32_t)i;
        }
        top[r] = best;
    }
}

/* Tokenize text (chat: as the one user message of a chat) and evaluate it. */
static int prompt(const char *text, bool chat)
{
    static char buf[4096];
    static int32_t ids[1024];
    size_t n, len = strlen(text);
    uint32_t flags = L4LM_TOK_BOS;
    if (chat) {
        l4lm_chat_msg m = {"user", text};
        if (l4lm_chat_format(&model, &m, 1, true, buf, sizeof buf, &len))
            return -1;
        text = buf;
        flags |= L4LM_TOK_SPECIAL;
    }
    l4lm_session_reset(sess);
    return l4lm_tokenize(sess, text, len, flags, ids, 1024, &n) || l4lm_eval(sess, ids, n, NULL)
               ? -1
               : 0;
}

/* The JSON string of a token's piece. */
static void print_piece(int32_t id)
{
    char p[600];
    size_t n = l4lm_token_piece(sess, id, p, sizeof p);
    putchar('"');
    for (size_t i = 0; i < n; i++)
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if ((unsigned char)p[i] < 0x20)
            printf("\\u%04x", (unsigned char)p[i]);
        else
            putchar(p[i]);
    putchar('"');
}

/* {"steps":[{"id":I,"piece":"..","logprob":L,"top":[[id,"piece",L],...]},...]} */
static int dump(const char *text, bool chat, int n_steps, uint32_t k)
{
    static double lp[1 << 16];
    int32_t top[32];
    if (open_session() || n_vocab > 1 << 16 || k > 32 || prompt(text, chat))
        return 1;
    printf("{\"steps\":[");
    for (int s = 0; s < n_steps; s++) {
        const float *x;
        l4lm_eval(sess, NULL, 0, &x);
        ref_logsoftmax(x, lp);
        ref_top(lp, k > 0 ? k : 1, top);
        int32_t id = top[0]; /* greedy: the most likely, lowest id on ties */
        printf("%s{\"id\":%d,\"piece\":", s ? "," : "", id);
        print_piece(id);
        printf(",\"logprob\":%.9g,\"top\":[", lp[id]);
        for (uint32_t r = 0; r < k; r++) {
            printf("%s[%d,", r ? "," : "", top[r]);
            print_piece(top[r]);
            printf(",%.9g]", lp[top[r]]);
        }
        printf("]}");
        if (l4lm_eval(sess, &id, 1, NULL))
            break;
    }
    printf("]}\n");
    return 0;
}

/* ---------------------------------------------------------------- checks */

/* Float results vs the double reference: half a float ulp of the value
** (the rounding of the result) plus the float log of the sum (5e-7). */
static bool close_to(float got, double want)
{
    return fabs((double)got - want) <= 1e-6 + 1.2e-7 * fabs(want);
}

static void check_steps(void)
{
    static double lp[1 << 16];
    int32_t top[L4LM_LOGPROBS_MAX_TOP];
    double max_err = 0;
    int bad = 0, bad_order = 0, steps = 40;
    double worst_sum = 0;
    prompt("Once upon a time", false);
    for (int s = 0; s < steps; s++) {
        const float *x;
        l4lm_token_logprobs out, again;
        l4lm_eval(sess, NULL, 0, &x);
        ref_logsoftmax(x, lp);
        ref_top(lp, L4LM_LOGPROBS_MAX_TOP, top);
        double sum = 0;
        for (uint32_t i = 0; i < n_vocab; i++) { /* every token's, through the chosen one */
            if (l4lm_logprobs(sess, (int32_t)i, 0, &out))
                bad++;
            max_err = fmax(max_err, fabs(out.chosen.logprob - lp[i]));
            bad += !close_to(out.chosen.logprob, lp[i]);
            sum += exp(out.chosen.logprob);
        }
        worst_sum = fmax(worst_sum, fabs(sum - 1));
        l4lm_logprobs(sess, top[0], L4LM_LOGPROBS_MAX_TOP, &out);
        l4lm_logprobs(sess, top[0], L4LM_LOGPROBS_MAX_TOP, &again);
        bad += memcmp(&out, &again, sizeof out) != 0;
        bad_order += out.n_top != L4LM_LOGPROBS_MAX_TOP;
        for (uint32_t r = 0; r < out.n_top; r++) {
            bad_order += out.top[r].token != top[r];
            bad += !close_to(out.top[r].logprob, lp[top[r]]);
        }
        if (l4lm_eval(sess, &top[0], 1, NULL))
            break;
    }
    T_CHECK("logprobs_values", bad == 0, "%d values off; max error %.3g", bad, max_err);
    printf("  %d steps x %u tokens: max |ours - double reference| %.3g\n", steps, n_vocab, max_err);
    T_CHECK("logprobs_top20_order", bad_order == 0, "%d top entries out of order", bad_order);
    T_CHECK("logprobs_sum_one", worst_sum < 1e-5, "sum of probabilities off by %.3g", worst_sum);
}

static void check_bad(void)
{
    l4lm_token_logprobs out;
    prompt("Once", false);
    T_CHECK("logprobs_bad_args",
            l4lm_logprobs(sess, 0, L4LM_LOGPROBS_MAX_TOP + 1, &out) == L4LM_E_ARG &&
                l4lm_logprobs(NULL, 0, 1, &out) == L4LM_E_ARG &&
                l4lm_logprobs(sess, 0, 1, NULL) == L4LM_E_ARG &&
                l4lm_logprobs(sess, -1, 1, &out) == L4LM_E_TOKEN &&
                l4lm_logprobs(sess, (int32_t)n_vocab, 1, &out) == L4LM_E_TOKEN,
            "a bad argument was accepted");
    l4lm_session_reset(sess);
    T_CHECK("logprobs_before_eval", l4lm_logprobs(sess, 0, 1, &out) == L4LM_E_STATE,
            "no error before an eval");
}

/* l4lm_gen with logprobs reports what l4lm_logprobs gives for each sampled token. */
static void check_gen(void)
{
    l4lm_gen_opts o = l4lm_gen_opts_default(&model, 24);
    l4lm_gen g;
    o.sampler.temperature = 0.9f;
    o.sampler.top_k = 40;
    o.sampler.seed = 5;
    o.logprobs = true;
    o.top_logprobs = L4LM_LOGPROBS_MAX_TOP + 1;
    prompt("The little dog", false);
    T_CHECK("logprobs_gen_bad_top", l4lm_gen_init(&g, sess, &o) == L4LM_E_ARG, "top 21 accepted");
    o.top_logprobs = 3;
    l4lm_session_seed(sess, 5);
    int bad = l4lm_gen_init(&g, sess, &o) != L4LM_OK, n = 0;
    static float saved[1 << 16];
    l4lm_finish f = L4LM_FINISH_NONE;
    while (!bad && f == L4LM_FINISH_NONE) {
        const char *text;
        size_t len;
        uint32_t before = g.n_gen;
        /* the logits the step will sample from are the session's now */
        const float *x;
        l4lm_eval(sess, NULL, 0, &x);
        memcpy(saved, x, n_vocab * sizeof *x);
        f = l4lm_gen_step(&g, &text, &len);
        if (g.n_gen == before)
            continue;
        n++;
        static double lp[1 << 16];
        ref_logsoftmax(saved, lp);
        bad += g.logprobs.chosen.token != g.token ||
               !close_to(g.logprobs.chosen.logprob, lp[g.token]) || g.logprobs.n_top != 3 ||
               g.logprobs.top[0].logprob < g.logprobs.chosen.logprob;
    }
    T_CHECK("logprobs_gen_step", bad == 0 && n > 0, "%d of %d steps differ", bad, n);
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "--dump")) {
        bool chat = !strcmp(argv[2], "--chat");
        return argc < 5 + chat ? 2
                               : dump(argv[2 + chat], chat, atoi(argv[3 + chat]),
                                      (uint32_t)atoi(argv[4 + chat]));
    }
    if (!t_shared()) {
        T_SKIP("logprobs", "../shared/models is absent");
        return 0;
    }
    if (open_session()) {
        T_FAIL("logprobs setup", "cannot run stories260K");
        T_EXIT();
    }
    check_steps();
    check_bad();
    check_gen();
    T_EXIT();
}
