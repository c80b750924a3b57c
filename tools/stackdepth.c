/*
** stackdepth.c — the deepest stack a call chain can use, from the call
** graphs gcc writes with -fcallgraph-info=su (one .ci file per object).
** Prints the deepest chain and fails on recursion or unbounded frames.
**   stackdepth LIMIT FILE.ci...
** Indirect calls (the platform's parallel_for hook) are reported; the task
** they run is a root of its own, on the platform's thread.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES 4096
#define MAX_EDGES 16384

typedef struct node {
    char name[256];
    long frame;   /* bytes; -1 unknown (an external or builtin) */
    int bounded;  /* 0 if the frame is dynamic and unbounded */
    long depth;   /* deepest chain from here, -1 not yet known */
    int state;    /* 0 new, 1 on the DFS stack, 2 done */
    int next;     /* the callee on the deepest chain */
} node;

static node nodes[MAX_NODES];
static int n_nodes, edge_from[MAX_EDGES], edge_to[MAX_EDGES], n_edges;

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

static void read_ci(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096], a[1024], b[1024];
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
                   field(line, "targetname: \"", b, sizeof b) && n_edges < MAX_EDGES) {
            edge_from[n_edges] = find(a);
            edge_to[n_edges++] = find(b);
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
    if (argc < 3) {
        fprintf(stderr, "usage: stackdepth LIMIT FILE.ci...\n");
        return 2;
    }
    long limit = atol(argv[1]);
    for (int i = 2; i < argc; i++)
        read_ci(argv[i]);
    int bad = 0, deepest = -1;
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
        printf(" %s(%ld)", strrchr(nodes[v].name, ':') ? strrchr(nodes[v].name, ':') + 1
                                                        : nodes[v].name,
               nodes[v].frame);
    printf("\n");
    if (nodes[deepest].depth > limit) {
        printf("FAIL stack: deepest chain %ld bytes exceeds %ld\n", nodes[deepest].depth, limit);
        bad = 1;
    }
    return bad;
}
