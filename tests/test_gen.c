/*
** test_gen.c — the stop rules of l4lm_gen_step(), once for every front end:
** a scripted engine (token k of the script has the text given for it)
** drives the generator, and each step's text and finish reason are checked
** against what the rules in l4lm.h say, worked out by hand. A last check
** compares many random scripts against a brute-force reference: the text
** shown is the whole text up to where a stop string begins, the earliest
** one complete after the first token whose text completes one.
*/
#include "l4lm.h"
#include "t.h"

#define EOS 2
#define EOT 5

typedef struct script {
    const char *pieces[16]; /* token k (id 10 + k) has this text; NULL ends the script */
    int32_t ids[16];        /* 0: 10 + k; else this id (EOS, EOT) */
    uint32_t k, pos, n_ctx;
    l4lm_status fail_sample; /* at the script's end */
} script;

static l4lm_status f_sample(void *ctx, const l4lm_sampler *sp, int32_t *token)
{
    script *s = ctx;
    (void)sp;
    if (!s->pieces[s->k] && !s->ids[s->k])
        return s->fail_sample ? s->fail_sample : L4LM_E_STATE;
    *token = s->ids[s->k] ? s->ids[s->k] : 10 + (int32_t)s->k;
    s->k++;
    return L4LM_OK;
}

static size_t f_detok(void *ctx, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                      l4lm_status *st)
{
    script *s = ctx;
    (void)d;
    *st = L4LM_OK;
    if (token < 10)
        return 0; /* special tokens give no text */
    const char *p = s->pieces[token - 10];
    size_t n = strlen(p);
    if (n > cap) {
        *st = L4LM_E_BUFFER;
        return 0;
    }
    memcpy(buf, p, n);
    return n;
}

static l4lm_status f_eval(void *ctx, const int32_t *tokens, size_t n)
{
    script *s = ctx;
    (void)tokens;
    if (n > s->n_ctx - s->pos)
        return L4LM_E_CONTEXT_FULL;
    s->pos += (uint32_t)n;
    return L4LM_OK;
}

static bool f_is_eos(void *ctx, int32_t token)
{
    (void)ctx;
    return token == EOS;
}

static const l4lm_gen_io io = {
    .sample = f_sample, .detok = f_detok, .eval = f_eval, .is_eos = f_is_eos};

typedef struct gen_case {
    const char *name;
    const char *stops[L4LM_GEN_MAX_STOPS];
    script s;
    uint32_t max_tokens;
    bool ignore_eos;
    const char *shown[16]; /* each step's text, until the finish */
    l4lm_finish finish;
    uint32_t n_gen;
} gen_case;

static const gen_case cases[] = {
    {"gen_stop_split_across_tokens",
     {" a little"},
     {{", there", " was", " a", " little", " boy"}, .n_ctx = 100},
     100,
     false,
     {", there", " was", "", ""},
     L4LM_FINISH_STOP,
     4},
    {"gen_stop_at_start",
     {"Once"},
     {{"On", "ce", " upon"}, .n_ctx = 100},
     100,
     false,
     {"", ""},
     L4LM_FINISH_STOP,
     2},
    {"gen_stop_inside_one_piece",
     {"cat"},
     {{"a", "the cat sat"}, .n_ctx = 100},
     100,
     false,
     {"a", "the "},
     L4LM_FINISH_STOP,
     2},
    {"gen_stop_self_overlap",
     {"aab"},
     {{"a", "a", "a", "b", "c"}, .n_ctx = 100},
     100,
     false,
     {"", "", "a", ""},
     L4LM_FINISH_STOP,
     4},
    {"gen_stop_first_complete_wins", /* "abcd" would begin earlier, but "bc" is there first */
     {"abcd", "bc"},
     {{"xabc", "d"}, .n_ctx = 100},
     100,
     false,
     {"xa"},
     L4LM_FINISH_STOP,
     1},
    {"gen_stop_earliest_start_wins", /* both complete in the same token */
     {"bc", "abcd"},
     {{"xab", "cd"}, .n_ctx = 100},
     100,
     false,
     {"x", ""},
     L4LM_FINISH_STOP,
     2},
    {"gen_stop_earliest_wins",
     {"xyz", "yz"},
     {{"wx", "yz"}, .n_ctx = 100},
     100,
     false,
     {"w", ""},
     L4LM_FINISH_STOP,
     2},
    {"gen_partial_then_diverges",
     {"END"},
     {{"hi E", "Nx", "!"}, .n_ctx = 100},
     3,
     false,
     {"hi ", "ENx", "!"},
     L4LM_FINISH_LENGTH,
     3},
    {"gen_eos_flushes_held",
     {"END"},
     {{"hi E", "", "x"}, {0, EOS}, .n_ctx = 100},
     100,
     false,
     {"hi ", "E"},
     L4LM_FINISH_EOS,
     1},
    {"gen_eot_stops",
     {NULL},
     {{"a", "", "b"}, {0, EOT}, .n_ctx = 100},
     100,
     false,
     {"a", ""},
     L4LM_FINISH_EOT,
     1},
    {"gen_eos_before_eot",
     {NULL},
     {{"a", "", ""}, {0, EOS, EOT}, .n_ctx = 100},
     100,
     false,
     {"a", ""},
     L4LM_FINISH_EOS,
     1},
    {"gen_ignore_eos",
     {NULL},
     {{"a", "", "", "b"}, {0, EOS, EOT}, .n_ctx = 100},
     4,
     true,
     {"a", "", "", "b"},
     L4LM_FINISH_LENGTH,
     4},
    {"gen_context_full_mid_stop",
     {"END"},
     {{"hi ", "E", "ND"}, .n_ctx = 1},
     100,
     false,
     {"hi ", "E"},
     L4LM_FINISH_CONTEXT,
     2},
    {"gen_length_mid_stop",
     {"END"},
     {{"x", "E", "ND"}, .n_ctx = 100},
     2,
     false,
     {"x", "E"},
     L4LM_FINISH_LENGTH,
     2},
    {"gen_length_zero", {NULL}, {{"x"}, .n_ctx = 100}, 0, false, {""}, L4LM_FINISH_LENGTH, 0},
    {"gen_sample_fails",
     {"END"},
     {{"a", "E"}, .n_ctx = 100, .fail_sample = L4LM_E_STATE},
     100,
     false,
     {"a", "", ""},
     L4LM_FINISH_ERROR,
     2},
};

static l4lm_gen_opts opts_of(const gen_case *c)
{
    l4lm_gen_opts o = l4lm_gen_opts_default(NULL, c->max_tokens);
    o.ignore_eos = c->ignore_eos;
    o.eot[o.n_eot++] = EOT;
    for (size_t i = 0; i < L4LM_GEN_MAX_STOPS && c->stops[i]; i++) {
        o.stop[o.n_stop] = c->stops[i];
        o.stop_len[o.n_stop++] = (uint32_t)strlen(c->stops[i]);
    }
    return o;
}

static void run_case(const gen_case *c)
{
    static l4lm_gen g;
    script s = c->s;
    l4lm_gen_opts o = opts_of(c);
    if (l4lm_gen_init_io(&g, &io, &s, &o)) {
        T_FAIL(c->name, "init failed");
        return;
    }
    l4lm_finish f = L4LM_FINISH_NONE;
    int k = 0;
    for (; f == L4LM_FINISH_NONE; k++) {
        const char *text;
        size_t len;
        f = l4lm_gen_step(&g, &text, &len);
        const char *want = c->shown[k] ? c->shown[k] : "(nothing)";
        if (!c->shown[k] || len != strlen(want) || memcmp(text, want, len)) {
            T_FAIL(c->name, "step %d shows '%.*s', want '%s'", k, (int)len, text, want);
            return;
        }
    }
    const char *text;
    size_t len;
    l4lm_finish again = l4lm_gen_step(&g, &text, &len);
    if (f != c->finish || g.n_gen != c->n_gen || again != f || len != 0)
        T_FAIL(c->name, "finish %d after %u tokens (again %d, %zu bytes), want %d after %u", f,
               g.n_gen, again, len, c->finish, c->n_gen);
    else if (f == L4LM_FINISH_ERROR && g.status != c->s.fail_sample)
        T_FAIL(c->name, "status %d, want %d", g.status, c->s.fail_sample);
    else
        T_OK(c->name);
}

/* Options out of bounds are refused with L4LM_E_ARG. */
static void bad_options(void)
{
    static l4lm_gen g;
    static char big[L4LM_GEN_MAX_STOP_BYTES + 1];
    script s = {{"x"}, .n_ctx = 10};
    l4lm_gen_opts ok = l4lm_gen_opts_default(NULL, 4), o;
    int bad = 0;
    o = ok;
    o.n_stop = L4LM_GEN_MAX_STOPS + 1;
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_E_ARG;
    o = ok;
    o.n_stop = 1;
    o.stop[0] = "";
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_E_ARG;
    o.stop[0] = NULL;
    o.stop_len[0] = 1;
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_E_ARG;
    o.stop[0] = big;
    o.stop_len[0] = sizeof big;
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_E_ARG;
    o.stop_len[0] = sizeof big - 1;
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_OK;
    o = ok;
    o.n_eot = L4LM_GEN_MAX_EOT + 1;
    bad += l4lm_gen_init_io(&g, &io, &s, &o) != L4LM_E_ARG;
    bad += l4lm_gen_init_io(&g, NULL, &s, &ok) != L4LM_E_ARG;
    bad += l4lm_gen_init(&g, NULL, &ok) != L4LM_E_ARG;
    T_CHECK("gen_bad_options", bad == 0, "%d bad options accepted or good ones refused", bad);
}

/* Random pieces over a two-letter alphabet (overlaps galore) against the
** brute-force rule: the text before the stop string found first, or all. */
static void random_scripts(void)
{
    static l4lm_gen g;
    uint64_t rng = 42;
    int bad = 0;
    for (int round = 0; round < 2000 && !bad; round++) {
        static char pool[16][8], stops[2][6], full[256], shown[256];
        script s = {.n_ctx = 1000};
        size_t n_full = 0, n_shown = 0;
        for (int k = 0; k < 15; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = (rng >> 33) % 4;
            for (size_t i = 0; i < n; i++)
                pool[k][i] = "ab"[(rng >> (40 + i)) & 1];
            pool[k][n] = 0;
            s.pieces[k] = pool[k];
            memcpy(full + n_full, pool[k], n);
            n_full += n;
        }
        l4lm_gen_opts o = l4lm_gen_opts_default(NULL, 15);
        for (int i = 0; i < 2; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t n = 1 + (rng >> 33) % 5;
            for (size_t j = 0; j < n; j++)
                stops[i][j] = "ab"[(rng >> (40 + j)) & 1];
            o.stop[i] = stops[i];
            o.stop_len[i] = (uint32_t)n;
        }
        o.n_stop = 1 + (uint32_t)(round & 1);
        /* after each token's text: the earliest start of a complete stop string */
        size_t cut = n_full, end = 0;
        for (int k = 0; k < 15 && cut == n_full; k++) {
            end += strlen(pool[k]);
            for (size_t p = 0; p < end && cut == n_full; p++)
                for (uint32_t i = 0; i < o.n_stop; i++)
                    if (o.stop_len[i] <= end - p && !memcmp(full + p, o.stop[i], o.stop_len[i]))
                        cut = p;
        }
        l4lm_gen_init_io(&g, &io, &s, &o);
        l4lm_finish f = L4LM_FINISH_NONE;
        while (f == L4LM_FINISH_NONE) {
            const char *text;
            size_t len;
            f = l4lm_gen_step(&g, &text, &len);
            memcpy(shown + n_shown, text, len);
            n_shown += len;
        }
        if (n_shown != cut || memcmp(shown, full, cut) ||
            f != (cut < n_full ? L4LM_FINISH_STOP : L4LM_FINISH_LENGTH)) {
            T_FAIL("gen_random_scripts", "round %d: shown '%.*s' (finish %d), want '%.*s'", round,
                   (int)n_shown, shown, f, (int)cut, full);
            bad = 1;
        }
    }
    if (!bad)
        T_OK("gen_random_scripts");
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
    bad_options();
    random_scripts();
    T_EXIT();
}
