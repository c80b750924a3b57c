/*
** stackdepth.c — the deepest stack a call chain can use, from the call
** graphs gcc writes with -fcallgraph-info=su (one .ci file per object).
** Prints the deepest chain and fails on recursion or unbounded frames.
**   stackdepth LIMIT [-i SLOT=FN,FN...]... FILE.ci...
** gcc only knows that an indirect call happens, and where. -i names the
** functions a call through a table's slot may reach: an indirect call whose
** source line (read from the call site gcc records) calls `->SLOT(` goes
** on to each FN. tests/freestanding.sh passes the l4lm_kern table's slots,
** so the chain continues from the kernel dispatch into the SIMD kernels.
** Other indirect calls (the platform's parallel_for hook, the server's
** engine) end the chain there; what they run is a root of its own.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES   4096
#define MAX_EDGES   16384
#define MAX_RULES   16
#define MAX_CALLEES 32

/* -i: an indirect call through ->slot( reaches each callee. */
typedef struct rule {
    const char *slot;
    char *callee[MAX_CALLEES];
    int n_callees;
    long resolved; /* call sites through this slot */
} rule;

typedef struct node {
    char name[256];
    long frame;  /* bytes; -1 unknown (an external or builtin) */
    int bounded; /* 0 if the frame is dynamic and unbounded */
    long depth;  /* deepest chain from here, -1 not yet known */
    int state;   /* 0 new, 1 on the DFS stack, 2 done */
    int next;    /* the callee on the deepest chain */
} node;

static node nodes[MAX_NODES];
static int n_nodes, edge_from[MAX_EDGES], edge_to[MAX_EDGES], n_edges;
static rule rules[MAX_RULES];
static int n_rules;

static int find(const char *name)
{
    for (int i = 0; i < n_nodes; i++)
        if (!strcmp(nodes[i].name, name))
            return i;
    if (n_nodes == MAX_NODES) {
        fprintf(stderr, "stackdepth: too many functions\n");
        exit(2);
    }
    snprintf(nodes[n_nodes].name, sizeof nodes[n_nodes].name, "%s", name);
    nodes[n_nodes].frame = -1;
    nodes[n_nodes].bounded = 1;
    nodes[n_nodes].depth = -1;
    return n_nodes++;
}

/* Copy the quoted value after key in line into out. */
static int field(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = strstr(line, key);
    if (!p)
        return 0;
    p += strlen(key);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= cap)
        return 0;
    memcpy(out, p, q - p);
    out[q - p] = 0;
    return 1;
}

static void add_edge(int from, int to)
{
    if (n_edges == MAX_EDGES) {
        fprintf(stderr, "stackdepth: too many calls\n");
        exit(2);
    }
    edge_from[n_edges] = from;
    edge_to[n_edges++] = to;
}

/* The source line of a call site "path:line:col" into out; 0 if unreadable. */
static int site_line(const char *site, char *out, size_t cap)
{
    char path[1024];
    const char *colon = strchr(site, ':');
    if (!colon || (size_t)(colon - site) >= sizeof path)
        return 0;
    memcpy(path, site, colon - site);
    path[colon - site] = 0;
    long want = atol(colon + 1), n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (n < want && fgets(out, (int)cap, f))
        n++;
    fclose(f);
    return n == want;
}

/* Does the line call through ->slot( ? */
static int calls_slot(const char *line, const char *slot)
{
    size_t k = strlen(slot);
    for (const char *p = strstr(line, "->"); p; p = strstr(p + 2, "->"))
        if (!strncmp(p + 2, slot, k) && p[2 + k] == '(')
            return 1;
    return 0;
}

/* An indirect call at site from caller: an edge to each function its slot holds. */
static void resolve_indirect(int caller, const char *site)
{
    char line[4096];
    if (!n_rules)
        return;
    if (!site_line(site, line, sizeof line)) {
        fprintf(stderr, "stackdepth: cannot read the call site %s\n", site);
        exit(2);
    }
    for (int r = 0; r < n_rules; r++)
        if (calls_slot(line, rules[r].slot)) {
            rules[r].resolved++;
            for (int c = 0; c < rules[r].n_callees; c++)
                add_edge(caller, find(rules[r].callee[c]));
        }
}

/* "SLOT=FN,FN..." into a rule; 0 if malformed. */
static int parse_rule(char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg || n_rules == MAX_RULES)
        return 0;
    rule *r = &rules[n_rules++];
    *eq = 0;
    r->slot = arg;
    for (char *fn = strtok(eq + 1, ","); fn; fn = strtok(NULL, ","))
        if (r->n_callees < MAX_CALLEES)
            r->callee[r->n_callees++] = fn;
    return r->n_callees > 0;
}

static void read_ci(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096], a[1024], b[1024], site[1024];
    if (!f) {
        perror(path);
        exit(2);
    }
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "node:", 5) && field(line, "title: \"", a, sizeof a) &&
            field(line, "label: \"", b, sizeof b)) {
            int i = find(a);
            const char *bytes = strstr(b, " bytes (");
            if (bytes) {
                const char *num = bytes;
                while (num > b && num[-1] >= '0' && num[-1] <= '9')
                    num--;
                nodes[i].frame = atol(num);
                nodes[i].bounded = !strstr(bytes, "dynamic)");
            }
        } else if (!strncmp(line, "edge:", 5) && field(line, "sourcename: \"", a, sizeof a) &&
                   field(line, "targetname: \"", b, sizeof b)) {
            add_edge(find(a), find(b));
            if (!strcmp(b, "__indirect_call") && field(line, "label: \"", site, sizeof site))
                resolve_indirect(find(a), site);
        }
    }
    fclose(f);
}

/* Iterative DFS computing depth = frame + deepest callee; 1 on recursion. */
static int visit(int root)
{
    static int stack[MAX_NODES], edge_pos[MAX_NODES];
    int sp = 0;
    stack[sp] = root;
    edge_pos[sp++] = 0;
    nodes[root].state = 1;
    while (sp) {
        int v = stack[sp - 1], e = edge_pos[sp - 1]++;
        if (e >= n_edges) {
            long best = 0;
            for (int k = 0; k < n_edges; k++)
                if (edge_from[k] == v && nodes[edge_to[k]].depth > best) {
                    best = nodes[edge_to[k]].depth;
                    nodes[v].next = edge_to[k];
                }
            nodes[v].depth = (nodes[v].frame > 0 ? nodes[v].frame : 0) + best;
            nodes[v].state = 2;
            sp--;
            continue;
        }
        if (edge_from[e] != v)
            continue;
        int w = edge_to[e];
        if (nodes[w].state == 1) {
            printf("FAIL stack: recursion through %s -> %s\n", nodes[v].name, nodes[w].name);
            return 1;
        }
        if (nodes[w].state == 0) {
            nodes[w].state = 1;
            nodes[w].next = -1;
            stack[sp] = w;
            edge_pos[sp++] = 0;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: stackdepth LIMIT [-i SLOT=FN,FN...]... FILE.ci...\n";
    if (argc < 3) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    long limit = atol(argv[1]);
    int first = 2;
    for (; first + 1 < argc && !strcmp(argv[first], "-i"); first += 2)
        if (!parse_rule(argv[first + 1])) {
            fprintf(stderr, "%s", usage);
            return 2;
        }
    for (int i = first; i < argc; i++)
        read_ci(argv[i]);
    int bad = 0, deepest = -1;
    /* A slot with no call site found: its dispatch is not where gcc says (a
    ** call split over lines), so the chain through it would be missed. */
    for (int r = 0; r < n_rules; r++) {
        printf("indirect ->%s(: %ld call sites, to %s%s\n", rules[r].slot, rules[r].resolved,
               rules[r].callee[0], rules[r].n_callees > 1 ? " and more" : "");
        if (!rules[r].resolved) {
            printf("FAIL stack: no indirect call through ->%s( found\n", rules[r].slot);
            bad = 1;
        }
    }
    for (int i = 0; i < n_nodes; i++) {
        nodes[i].next = -1;
        if (!nodes[i].bounded) {
            printf("FAIL stack: %s has an unbounded dynamic frame\n", nodes[i].name);
            bad = 1;
        }
    }
    for (int i = 0; i < n_nodes; i++)
        if (nodes[i].state == 0)
            bad |= visit(i);
    for (int i = 0; i < n_nodes; i++)
        if (deepest < 0 || nodes[i].depth > nodes[deepest].depth)
            deepest = i;
    if (deepest < 0)
        return 2;
    printf("deepest chain: %ld bytes:", nodes[deepest].depth);
    for (int v = deepest; v >= 0; v = nodes[v].next)
        printf(" %s(%ld)",
               strrchr(nodes[v].name, ':') ? strrchr(nodes[v].name, ':') + 1 : nodes[v].name,
               nodes[v].frame);
    printf("\n");
    if (nodes[deepest].depth > limit) {
        printf("FAIL stack: deepest chain %ld bytes exceeds %ld\n", nodes[deepest].depth, limit);
        bad = 1;
    }
    return bad;
}
