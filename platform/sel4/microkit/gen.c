/*
** gen.c — writes the Microkit system description (l4lm.system) and the
** PDs' config.h for one model, from l4lm_plan() on the host: the arena
** region of every client session is exactly what the plan asks for (plus
** the server's work buffer), so the same numbers reach the .system file and
** the C code, and `l4lm plan` prints them too.
**
**   sel4-gen -m MODEL --ctx N --kv f16|f32 --clients N [--load PHYS_ADDR]
**            -p PROMPT -n N --seed S --temp T [--state FILE] --system OUT --config OUT
**
** Without --load the model is embedded in the infer PD's ELF (.rodata);
** with it, the model is a memory region at PHYS_ADDR that QEMU's loader
** fills (outside the kernel's RAM, so seL4 never zeroes it). --state: a
** fixed system prompt's session state (`l4lm run ... -n 0 --prompt-cache
** FILE`), embedded read-only in the infer PD; it must hold no more than the
** plan's state bytes (the PD checks the rest when it loads it).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "l4lm_serve.h"
#include "posix.h"

#define SMALL_PAGE 0x1000ull
#define LARGE_PAGE 0x200000ull
/* Virtual addresses in the PDs: far apart, 2 MiB aligned. */
#define VADDR_MODEL  0x100000000ull /* 4 GiB: up to 60 GiB of model */
#define VADDR_ARENA  0x1000000000ull
#define VADDR_SHM    0x2000000000ull
#define VADDR_STRIDE 0x100000000ull /* per client */
#define MAX_CLIENTS  16u            /* channel ids 0..15; 60/61 are the kick */
/* The infer PD's stack (Microkit's stack_size: whole 4 KiB pages, 4 KiB to
** 16 MiB; the default, 4 KiB, has no guard page below it in 2.0.1). It
** peaks at 3,936 B on aarch64 in QEMU: the NEON kernels' frames with this
** build's flags (l4lm_simd_matmul 1,200 B + float_prefill 1,392 B under
** l4lm_eval; tools/stackdepth follows that chain) plus the server and
** Microkit. 16 KiB leaves 4x that. The clients only copy text: the default. */
#define INFER_STACK 0x4000u

typedef struct gen_opts {
    const char *model, *system, *config, *prompt, *state;
    uint32_t n_ctx, clients, n_gen;
    l4lm_kv_type kv;
    unsigned long long load, seed;
    float temp;
} gen_opts;

typedef struct layout {
    l4lm_plan_result plan;
    uint64_t model_size;
    uint64_t arena_region, arena_page; /* plan + work, rounded to the page */
    uint64_t work;
    uint64_t model_region, model_page;
    size_t index;   /* the model's name index, a static array of the infer PD */
    uint64_t state; /* the state file's bytes (0: none) */
    uint32_t shm_region, max_request;
} layout;

static uint64_t round_up(uint64_t n, uint64_t to)
{
    return (n + to - 1) / to * to;
}

/* Large pages once a region is at least one large page: fewer mappings. */
static uint64_t page_for(uint64_t n)
{
    return n >= LARGE_PAGE ? LARGE_PAGE : SMALL_PAGE;
}

static int die(const char *what)
{
    fprintf(stderr, "sel4-gen: %s\n", what);
    return 1;
}

static int number(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return !*s || *end || errno || *out > max ? -1 : 0;
}

static int parse(int argc, char **argv, gen_opts *o)
{
    unsigned long long v;
    *o = (gen_opts){.n_ctx = 512, .clients = 2, .n_gen = 32, .prompt = "Once upon a time"};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *a = argv[i + 1];
        if (!strcmp(k, "-m"))
            o->model = a;
        else if (!strcmp(k, "--system"))
            o->system = a;
        else if (!strcmp(k, "--config"))
            o->config = a;
        else if (!strcmp(k, "-p"))
            o->prompt = a;
        else if (!strcmp(k, "--state"))
            o->state = a;
        else if (!strcmp(k, "--kv") && (!strcmp(a, "f16") || !strcmp(a, "f32")))
            o->kv = a[1] == '1' ? L4LM_KV_F16 : L4LM_KV_F32;
        else if (!strcmp(k, "--temp"))
            o->temp = strtof(a, NULL);
        else if (!strcmp(k, "--seed") && !number(a, ~0ull, &v))
            o->seed = v;
        else if (!strcmp(k, "--load") && !number(a, ~0ull, &v) && v % LARGE_PAGE == 0)
            o->load = v;
        else if (!strcmp(k, "--ctx") && !number(a, 1u << 20, &v) && v)
            o->n_ctx = (uint32_t)v;
        else if (!strcmp(k, "-n") && !number(a, 1u << 20, &v))
            o->n_gen = (uint32_t)v;
        else if (!strcmp(k, "--clients") && !number(a, MAX_CLIENTS, &v) && v)
            o->clients = (uint32_t)v;
        else
            return -1;
    }
    return o->model && o->system && o->config && argc % 2 == 1 ? 0 : -1;
}

/* The numbers both files need, from the model and l4lm_plan(). */
static int plan(const gen_opts *o, layout *L)
{
    l4lm_posix_model pm;
    if (l4lm_posix_model_load(&pm, o->model, NULL))
        return -1;
    l4lm_run_opts ro = {.n_ctx = o->n_ctx, .kv_type = o->kv, .n_threads = 1};
    l4lm_status st = l4lm_plan(&pm.m, &ro, &L->plan);
    L->model_size = pm.size;
    L->index = pm.index_size;
    l4lm_posix_model_unload(&pm);
    if (st != L4LM_OK)
        return die(l4lm_strerror(st));
    struct stat sb;
    L->state = 0;
    if (o->state && stat(o->state, &sb))
        return die("cannot read the --state file");
    if (o->state && ((L->state = (uint64_t)sb.st_size) == 0 || L->state > L->plan.state))
        return die("the --state file is empty or larger than the plan's state: not a state of "
                   "this model and plan");
    /* As `l4lm serve-shm`: the longest prompt the tokenizer takes, plus stop strings. */
    L->max_request = L4LM_SHM_REQ_FIXED + 16 * L->plan.n_ctx +
                     L4LM_SHM_MAX_STOPS * (4 + L4LM_SHM_MAX_STOP_BYTES);
    l4lm_shm_config cfg = l4lm_shm_config_default();
    cfg.max_request = L->max_request;
    uint32_t shm = l4lm_shm_layout_bytes(&cfg, cfg.req_slots * cfg.max_request);
    if (!shm)
        return die("the client region does not fit");
    L->shm_region = (uint32_t)round_up(shm, SMALL_PAGE);
    L->work = l4lm_shm_server_work_bytes(&cfg, L->plan.n_ctx);
    uint64_t state = round_up(L->plan.total, 64) + L->work;
    L->arena_page = page_for(state);
    L->arena_region = round_up(state, L->arena_page);
    L->model_page = page_for(L->model_size);
    L->model_region = round_up(L->model_size, L->model_page);
    return 0;
}

static void write_config(FILE *f, const gen_opts *o, const layout *L)
{
    fprintf(f, "/* generated by platform/sel4/microkit/gen.c for %s */\n", o->model);
    fprintf(f, "#define L4LM_SEL4_N_CLIENTS %u\n", o->clients);
    fprintf(f, "#define L4LM_SEL4_N_CTX %u\n", L->plan.n_ctx);
    fprintf(f, "#define L4LM_SEL4_KV %s\n", o->kv == L4LM_KV_F16 ? "L4LM_KV_F16" : "L4LM_KV_F32");
    fprintf(f, "#define L4LM_SEL4_ARENA_BYTES %zu /* l4lm_plan total */\n", L->plan.total);
    fprintf(f, "#define L4LM_SEL4_WORK_BYTES %llu\n", (unsigned long long)L->work);
    fprintf(f, "#define L4LM_SEL4_ARENA_REGION 0x%llx\n", (unsigned long long)L->arena_region);
    fprintf(f, "#define L4LM_SEL4_SHM_REGION 0x%x\n", L->shm_region);
    fprintf(f, "#define L4LM_SEL4_MAX_REQUEST %u\n", L->max_request);
    fprintf(f, "#define L4LM_SEL4_STACK_BYTES %u /* the infer PD's stack_size */\n", INFER_STACK);
    fprintf(f, "#define L4LM_SEL4_MODEL_SIZE %llu\n", (unsigned long long)L->model_size);
    fprintf(f, "#define L4LM_SEL4_INDEX_BYTES %zu /* l4lm_model_index_size */\n", L->index);
    if (o->load)
        fprintf(f, "#define L4LM_SEL4_MODEL_VADDR 0x%llxull\n", VADDR_MODEL);
    else
        fprintf(f, "#define L4LM_PORT_MODEL_FILE \"%s\" /* for model.S */\n", o->model);
    /* The infer PD's mappings of client i's regions (the .system file's). */
    fprintf(f, "#define L4LM_SEL4_ARENA_VADDR(i) (0x%llxull + (i) * 0x%llxull)\n", VADDR_ARENA,
            VADDR_STRIDE);
    fprintf(f, "#define L4LM_SEL4_SHM_VADDR(i) (0x%llxull + (i) * 0x%llxull)\n", VADDR_SHM,
            VADDR_STRIDE);
    if (o->state)
        fprintf(f, "#define L4LM_SEL4_STATE_FILE \"%s\" /* for state.S, %llu bytes */\n", o->state,
                (unsigned long long)L->state);
    fprintf(f, "#define L4LM_SEL4_N_GEN %u\n", o->n_gen);
    fprintf(f, "#define L4LM_SEL4_SEED %lluull\n", o->seed);
    fprintf(f, "#define L4LM_SEL4_TEMP %.9gf\n", (double)o->temp);
    fprintf(f, "#define L4LM_SEL4_PROMPT_BYTES ");
    for (const char *p = o->prompt; *p; p++)
        fprintf(f, "%u,", (unsigned)(unsigned char)*p);
    fprintf(f, "\n");
}

static void region(FILE *f, const char *name, uint64_t size, uint64_t page, uint64_t phys)
{
    fprintf(f, "    <memory_region name=\"%s\" size=\"0x%llx\" page_size=\"0x%llx\"", name,
            (unsigned long long)size, (unsigned long long)page);
    if (phys)
        fprintf(f, " phys_addr=\"0x%llx\"", (unsigned long long)phys);
    fprintf(f, " />\n");
}

/* A mapping; setvar (or NULL) names the PD's variable that gets its address. */
static void map(FILE *f, const char *mr, uint64_t vaddr, const char *perms, const char *setvar)
{
    fprintf(f, "        <map mr=\"%s\" vaddr=\"0x%llx\" perms=\"%s\"", mr,
            (unsigned long long)vaddr, perms);
    if (setvar)
        fprintf(f, " setvar_vaddr=\"%s\"", setvar);
    fprintf(f, " />\n");
}

/*
** One infer PD (lowest priority: it runs whenever no client needs the CPU)
** and the clients above it, each at its own priority so that one client's
** notified() is never cut short by another's (their output stays whole).
** Channel i of infer is client i's channel 0; infer's channels 60 and 61
** join it to itself: notifying 60 wakes it on 61 after the events already
** pending, which is how it yields between slices.
*/
static void write_system(FILE *f, const gen_opts *o, const layout *L)
{
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f,
            "<!-- generated by platform/sel4/microkit/gen.c: %s, n_ctx %u, arena %zu bytes "
            "(l4lm plan) -->\n<system>\n",
            o->model, L->plan.n_ctx, L->plan.total);
    if (o->load)
        region(f, "model", L->model_region, L->model_page, o->load);
    for (unsigned i = 0; i < o->clients; i++) {
        char name[16];
        snprintf(name, sizeof name, "arena%u", i);
        region(f, name, L->arena_region, L->arena_page, 0);
        snprintf(name, sizeof name, "shm%u", i);
        region(f, name, L->shm_region, SMALL_PAGE, 0);
    }
    fprintf(f, "\n    <protection_domain name=\"infer\" priority=\"100\" stack_size=\"0x%x\">\n",
            INFER_STACK);
    fprintf(f, "        <program_image path=\"infer.elf\" />\n");
    if (o->load)
        map(f, "model", VADDR_MODEL, "r", NULL);
    for (unsigned i = 0; i < o->clients; i++) {
        char mr[16];
        snprintf(mr, sizeof mr, "arena%u", i);
        map(f, mr, VADDR_ARENA + i * VADDR_STRIDE, "rw", NULL);
        snprintf(mr, sizeof mr, "shm%u", i);
        map(f, mr, VADDR_SHM + i * VADDR_STRIDE, "rw", NULL);
    }
    fprintf(f, "    </protection_domain>\n");
    for (unsigned i = 0; i < o->clients; i++) {
        fprintf(f, "    <protection_domain name=\"client%u\" priority=\"%u\">\n", i, 150 - i);
        fprintf(f, "        <program_image path=\"client.elf\" />\n");
        char mr[16];
        snprintf(mr, sizeof mr, "shm%u", i);
        map(f, mr, VADDR_SHM, "rw", "shm_base");
        fprintf(f, "    </protection_domain>\n");
    }
    for (unsigned i = 0; i < o->clients; i++)
        fprintf(f,
                "    <channel>\n        <end pd=\"infer\" id=\"%u\" />\n"
                "        <end pd=\"client%u\" id=\"0\" />\n    </channel>\n",
                i, i);
    fprintf(f, "    <channel>\n        <end pd=\"infer\" id=\"60\" />\n"
               "        <end pd=\"infer\" id=\"61\" />\n    </channel>\n</system>\n");
}

static int emit(const char *path, void (*write)(FILE *, const gen_opts *, const layout *),
                const gen_opts *o, const layout *L)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sel4-gen: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    write(f, o, L);
    return fclose(f) ? die("write failed") : 0;
}

int main(int argc, char **argv)
{
    gen_opts o;
    layout L;
    if (parse(argc, argv, &o)) {
        fprintf(stderr,
                "usage: sel4-gen -m MODEL --system OUT --config OUT [--ctx N] "
                "[--kv f16|f32] [--clients 1..%u] [--load PHYS_ADDR (2 MiB aligned)] "
                "[-p PROMPT] [-n N] [--seed S] [--temp T] [--state FILE]\n",
                MAX_CLIENTS);
        return 2;
    }
    if (plan(&o, &L) || emit(o.system, write_system, &o, &L) ||
        emit(o.config, write_config, &o, &L))
        return 1;
    printf("sel4-gen: model %llu bytes%s; per client: arena region 0x%llx (plan %zu + work %llu),"
           " shared region 0x%x\n",
           (unsigned long long)L.model_size, o.load ? " (loaded by QEMU)" : " (embedded)",
           (unsigned long long)L.arena_region, L.plan.total, (unsigned long long)L.work,
           L.shm_region);
    if (o.state)
        printf("sel4-gen: system prompt state %s, %llu bytes (read-only in the infer PD)\n",
               o.state, (unsigned long long)L.state);
    return 0;
}
