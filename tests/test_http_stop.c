/*
** test_http_stop.c — stop strings of `l4lm serve` (http_stop_release): text
** that could begin a stop string is held back until the following text
** decides, a stop string found across token pieces ends the text where it
** begins, and the earliest of several stop strings wins. The expected
** releases are worked out by hand from the strings.
*/
#include "http.h"
#include "t.h"

typedef struct stop_case {
    const char *name;
    const char *stops[HTTP_MAX_STOPS];
    const char *pieces[8];   /* the text of successive tokens */
    const char *released[8]; /* what may be sent after each piece */
    int stopped_at;          /* the piece that completes a stop string, or -1 */
} stop_case;

static const stop_case cases[] = {
    {"http_stop_two_tokens",
     {" a little"},
     {", there", " was", " a", " little", " boy"},
     {", there", ", there was", ", there was", ", there was"},
     3},
    {"http_stop_self_overlap", {"aab"}, {"a", "a", "a", "b", "c"}, {"", "", "a", "a"}, 3},
    {"http_stop_earliest_wins", {"xyz", "yz"}, {"wx", "yz"}, {"w", "w"}, 1},
    {"http_stop_prefix_then_diverges",
     {"END"},
     {"hi E", "Nx", "!"},
     {"hi ", "hi ENx", "hi ENx!"},
     -1},
    {"http_stop_none", {NULL}, {"a", "b"}, {"a", "ab"}, -1},
};

static int run_case(const stop_case *c)
{
    http_job j = {0};
    char text[256];
    j.text = text;
    j.text_cap = sizeof text;
    for (size_t i = 0; i < HTTP_MAX_STOPS && c->stops[i]; i++)
        j.stop[j.n_stop++] = (char *)c->stops[i];
    for (int k = 0; c->pieces[k]; k++) {
        size_t n = strlen(c->pieces[k]);
        memcpy(j.text + j.text_len, c->pieces[k], n);
        j.text_len += n;
        bool stopped = http_stop_release(&j);
        const char *want = c->released[k];
        if (j.released != strlen(want) || memcmp(j.text, want, j.released) ||
            stopped != (k == c->stopped_at) || (stopped && j.text_len != j.released)) {
            T_FAIL(c->name, "after piece %d: released '%.*s' (stop %d), want '%s' (stop %d)", k,
                   (int)j.released, j.text, stopped, want, k == c->stopped_at);
            return 0;
        }
        if (stopped)
            break;
    }
    T_OK(c->name);
    return 1;
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
    T_EXIT();
}
