/*
** map.c — the hosted platform's memory: model files mapped read-only (a
** write to the weights faults), and arenas that end at a guard page.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posix.h"

const void *l4lm_posix_map(const char *path, size_t *size, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "'%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    *size = (size_t)st.st_size;
    /* an empty file still gets a (readable, empty) mapping of one page */
    void *p = mmap(NULL, *size ? *size : 1, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errcap, "cannot map '%s': %s", path, strerror(errno));
        return NULL;
    }
    return p;
}

void l4lm_posix_unmap(const void *p, size_t size)
{
    if (p)
        munmap((void *)p, size ? size : 1);
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

/* The arena's last byte sits just before a PROT_NONE page, so any write
** past the planned size faults at once. Its start stays 64-byte aligned. */
void *l4lm_posix_arena(size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = page_round(size + 64);
    uint8_t *base =
        mmap(NULL, body + 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    mprotect(base, pg, PROT_NONE);
    mprotect(base + pg + body, pg, PROT_NONE);
    uintptr_t end = (uintptr_t)(base + pg + body);
    return (void *)((end - size) & ~(uintptr_t)63);
}

void l4lm_posix_arena_free(void *p, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = page_round(size + 64);
    /* p + size lies less than 64 bytes before the guard page */
    uintptr_t end = ((uintptr_t)p + size + pg - 1) & ~(uintptr_t)(pg - 1);
    uintptr_t base = end - body - pg;
    munmap((void *)base, body + 2 * pg);
}

/* Why a model did not open, in one line. The two a new user meets first get
** plain words: a file that is no model, and a checkpoint without -z. */
static void model_error(const l4lm_posix_model *pm, const char *path, l4lm_status st)
{
    const l4lm_error *err = l4lm_model_error(&pm->m);
    const char *what = err->what, *name = l4lm_strerror(st);
    if (st == L4LM_E_MAGIC)
        fprintf(stderr, "l4lm: %s: %s\n", path, what);
    else if (st == L4LM_E_TOKENIZER && !pm->tok && pm->info.format == L4LM_FORMAT_LLAMA2C)
        fprintf(stderr,
                "l4lm: %s is a llama2.c checkpoint, whose vocabulary is a separate file: pass "
                "it with -z tokenizer.bin (the one it was trained with, of %u tokens)\n",
                path, pm->info.n_vocab);
    else
        fprintf(stderr, "l4lm: %s: %s%s%s (at byte %llu)\n", path, name,
                strcmp(what, name) ? ": " : "", strcmp(what, name) ? what : "",
                (unsigned long long)err->offset);
}

int l4lm_posix_model_load(l4lm_posix_model *pm, const char *path, const char *tok_path)
{
    char err[512];
    memset(pm, 0, sizeof *pm);
    pm->bytes = l4lm_posix_map(path, &pm->size, err, sizeof err);
    if (!pm->bytes) {
        fprintf(stderr, "l4lm: %s\n", err);
        return -1;
    }
    if (tok_path) {
        pm->tok = l4lm_posix_map(tok_path, &pm->tok_size, err, sizeof err);
        if (!pm->tok) {
            fprintf(stderr, "l4lm: %s\n", err);
            l4lm_posix_model_unload(pm);
            return -1;
        }
    }
    l4lm_status st = l4lm_model_index_size(pm->bytes, pm->size, &pm->index_size);
    if (!st && pm->index_size && !(pm->index = malloc(pm->index_size))) {
        fprintf(stderr, "l4lm: cannot allocate a %zu-byte name index\n", pm->index_size);
        l4lm_posix_model_unload(pm);
        return -1;
    }
    l4lm_open_opts oo = {pm->tok, pm->tok_size, pm->index, pm->index_size};
    if (!st)
        st = l4lm_model_open(&pm->m, pm->bytes, pm->size, &oo);
    l4lm_model_get_info(&pm->m, &pm->info);
    if (st) {
        model_error(pm, path, st);
        l4lm_posix_model_unload(pm);
        return -1;
    }
    return 0;
}

int l4lm_posix_need_weights(const l4lm_posix_model *pm, const char *path)
{
    if (!pm->info.vocab_only)
        return 0;
    fprintf(stderr,
            "l4lm: %s has no weights: it is a vocabulary only (a GGUF without tensors, like "
            "llama.cpp's ggml-vocab-*.gguf); it can be used with l4lm tokenize and l4lm info\n",
            path);
    return -1;
}

void l4lm_posix_model_unload(l4lm_posix_model *pm)
{
    l4lm_posix_unmap(pm->bytes, pm->size);
    l4lm_posix_unmap(pm->tok, pm->tok_size);
    free(pm->index);
    memset(pm, 0, sizeof *pm);
}
