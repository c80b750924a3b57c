/*
** fuzz_cli.c — libFuzzer harness: the CLI option parser l4lm_cli_parse().
** The input, split at NUL bytes, is argv after the subcommand "run".
** Checked besides memory safety: a successful parse names a model and
** leaves every number within the range --help documents and equal to
** what its last occurrence says (read here with strtod). -h and --help
** where an option name stands end the parse (nothing to check then).
*/
#include <math.h>

#include "cli.h"
#include "fuzz.h"

#define MAX_ARGS 32

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FILE *null = fopen("/dev/null", "w");
    if (null) /* the parser's messages and --help; sanitizer reports go to fd 2 directly */
        stderr = stdout = null;
    return 0;
}

/* The value given for option name (its last occurrence), or NULL. */
static const char *last_value(int argc, char **argv, const char *name)
{
    static const char *const flags[] = {"--no-bos",  "--pieces", "--ignore-eos",
                                        "--special", "--warmup", "--context-shift"};
    const char *v = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        bool flag = false;
        for (size_t k = 0; k < sizeof flags / sizeof *flags; k++)
            flag |= !strcmp(argv[i], flags[k]);
        if (flag)
            continue;
        if (!strcmp(argv[i], name))
            v = argv[i + 1];
        i++;
    }
    return v;
}

/* A numeric option's field agrees with its text and its range. */
static void check_num(int argc, char **argv, const char *name, double field, double lo, double hi,
                      double dflt)
{
    const char *text = last_value(argc, argv, name);
    double want = text ? strtod(text, NULL) : dflt;
    FUZZ_CHECK(!text || (field >= lo && field <= hi), "%s %s gave %g", name, text, field);
    /* float fields round; below float range a value may become 0 */
    FUZZ_CHECK(fabs(field - want) <= fabs(want) * 1e-6 + 1e-37, "%s '%s' gave %.17g", name,
               text ? text : "(default)", field);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1), *argv[MAX_ARGS + 1];
    int argc = 0;
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[argc++] = "run";
    for (size_t i = 0; i < size && argc < MAX_ARGS; i += strlen(buf + i) + 1)
        argv[argc++] = buf + i;
    argv[argc] = NULL;
    l4lm_cli_opts o;
    if (l4lm_cli_parse(argc, argv, &o) == 0) {
        FUZZ_CHECK(o.model && o.model == last_value(argc, argv, "-m"), "model");
        check_num(argc, argv, "-n", o.n_predict, 0, 1e9, 128);
        check_num(argc, argv, "--temp", o.sampler.temperature, 0, 100, 0.8f);
        check_num(argc, argv, "--top-k", o.sampler.top_k, 0, 1e9, 40);
        check_num(argc, argv, "--top-p", o.sampler.top_p, 1e-6, 1, 0.95f);
        check_num(argc, argv, "--min-p", o.sampler.min_p, 0, 0.999999, 0.05f);
        check_num(argc, argv, "--repeat-penalty", o.sampler.repeat_penalty, 1e-3, 100, 1.0);
        check_num(argc, argv, "--repeat-last-n", o.sampler.repeat_last_n, 0, 1e9, 64);
        check_num(argc, argv, "--seed", (double)o.sampler.seed, 0, 1.8e19, 0x4c344c4d);
        check_num(argc, argv, "--ctx", o.n_ctx, 1, 1 << 20, 0);
        check_num(argc, argv, "--batch", o.n_batch, 1, 512, 0);
        FUZZ_CHECK(o.n_threads >= 1 && o.n_threads <= 256 + 4096, "threads %u", o.n_threads);
        FUZZ_CHECK(o.kv_type == L4LM_KV_F16 || o.kv_type == L4LM_KV_F32 ||
                       o.kv_type == L4LM_KV_Q8_0,
                   "kv type");
    }
    free(buf);
    return 0;
}
