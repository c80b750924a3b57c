/*
** grammar_verdict.c — l4lm's verdict on strings under a GBNF grammar, for
** tests/llamacpp_grammar.sh, which asks llama.cpp the same (through
** tests/llamacpp/grammar.mjs) and requires equal answers.
**
**   grammar_verdict GRAMMAR.gbnf STRINGS   one verdict per line of STRINGS
**   grammar_verdict --schema SCHEMA.json   the GBNF l4lm makes of a schema
**
** A line of STRINGS is one string with the escapes \n \t \\ and \xHH. The
** string goes in a byte at a time (as byte tokens reach llama.cpp's
** grammar) and its verdict is "accept" (every byte taken and the text is
** complete), "prefix" (every byte taken, more must follow) or "reject N"
** (byte N is the first the grammar refuses); a grammar l4lm refuses gets
** the single line "error" (and the reason on stderr).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "l4lm.h"

/* The whole file, NUL-terminated; NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *more = realloc(buf, 2 * cap + 1);
            if (!more)
                free(buf);
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = n;
    }
    return buf;
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Undoes the escapes of line in place; its length after. */
static size_t unescape(char *line)
{
    size_t o = 0;
    for (size_t i = 0; line[i]; i++) {
        char c = line[i];
        if (c == '\\' && line[i + 1] == 'n') {
            c = '\n';
            i++;
        } else if (c == '\\' && line[i + 1] == 't') {
            c = '\t';
            i++;
        } else if (c == '\\' && line[i + 1] == '\\') {
            i++;
        } else if (c == '\\' && line[i + 1] == 'x' && hex(line[i + 2]) >= 0 &&
                   hex(line[i + 3]) >= 0) {
            c = (char)(hex(line[i + 2]) * 16 + hex(line[i + 3]));
            i += 3;
        }
        line[o++] = c;
    }
    return o;
}

static void verdict(l4lm_grammar *g, const char *s, size_t n)
{
    l4lm_grammar_reset(g);
    for (size_t i = 0; i < n; i++) {
        l4lm_status st = l4lm_grammar_accept(g, s + i, 1);
        if (st != L4LM_OK) {
            printf(st == L4LM_E_GRAMMAR ? "reject %zu\n" : "limit %zu\n", i);
            return;
        }
    }
    puts(l4lm_grammar_can_end(g) ? "accept" : "prefix");
}

static int schema(const char *path)
{
    size_t len, out_len = 0, cap = 1 << 20;
    char *text = slurp(path, &len), *out = malloc(cap);
    void *work = text ? malloc(l4lm_json_schema_work_size(len)) : NULL;
    l4lm_status st =
        work && out ? l4lm_json_schema_to_grammar(text, len, work, l4lm_json_schema_work_size(len),
                                                  out, cap, &out_len)
                    : L4LM_E_ARG;
    if (st == L4LM_OK)
        fwrite(out, 1, out_len, stdout);
    else
        fprintf(stderr, "grammar_verdict: %s: %s\n", path, l4lm_strerror(st));
    free(text);
    free(work);
    free(out);
    return st == L4LM_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--schema") == 0)
        return schema(argv[2]);
    if (argc != 3) {
        fprintf(stderr, "usage: grammar_verdict GRAMMAR STRINGS | --schema SCHEMA\n");
        return 2;
    }
    size_t len, slen;
    char *text = slurp(argv[1], &len), *strs = slurp(argv[2], &slen);
    void *mem = malloc(L4LM_GRAMMAR_BYTES);
    l4lm_grammar *g = NULL;
    l4lm_grammar_error err = {0};
    l4lm_status st = text && strs && mem
                         ? l4lm_grammar_init(&g, text, len, mem, L4LM_GRAMMAR_BYTES, &err)
                         : L4LM_E_ARG;
    if (st != L4LM_OK) {
        fprintf(stderr, "grammar_verdict: %s: %s (%s at byte %u)\n", argv[1], l4lm_strerror(st),
                l4lm_grammar_why_text(err.why), err.offset);
        if (text && strs && mem)
            puts("error");
    } else {
        for (char *line = strtok(strs, "\n"); line; line = strtok(NULL, "\n"))
            verdict(g, line, unescape(line));
    }
    free(text);
    free(strs);
    free(mem);
    return text && strs && mem ? 0 : 1;
}
