/*
** test_posix.c — the hosted platform's memory promises: a mapped model is
** read-only (a write faults) and an arena ends at a guard page (a write one
** byte past it faults). Each write happens in a child process.
*/
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posix.h"
#include "t.h"

/* Run poke(p) in a child; true if it faulted: died of SIGSEGV, or (under
** ASan, whose handler reports the fault) exited non-zero instead of 0. */
static int faults(void (*poke)(volatile unsigned char *), volatile unsigned char *p)
{
    pid_t pid = fork();
    if (pid == 0) {
        poke(p);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) || (WIFEXITED(st) && WEXITSTATUS(st));
}

static void write_byte(volatile unsigned char *p)
{
    *p = 1;
}

int main(void)
{
    char err[256];
    size_t size;
    const void *model = l4lm_posix_map("README.md", &size, err, sizeof err);
    if (!model) {
        T_FAIL("posix map", "%s", err);
        T_EXIT();
    }
    T_CHECK("posix model is read-only", faults(write_byte, (unsigned char *)model + 10),
            "a write to the mapped model did not fault");
    l4lm_posix_unmap(model, size);
    size_t n = 100000;
    unsigned char *arena = l4lm_posix_arena(n);
    T_CHECK("posix arena aligned", ((uintptr_t)arena & 63) == 0, "arena %p", (void *)arena);
    memset(arena, 7, n); /* the whole arena is writable */
    T_CHECK("posix arena guard page", faults(write_byte, arena + n + 63),
            "a write past the arena did not fault");
    l4lm_posix_arena_free(arena, n);
    T_CHECK("posix missing file", !l4lm_posix_map("/nonexistent/model.gguf", &size, err, sizeof err)
            && strstr(err, "No such file"), "got '%s'", err);
    T_EXIT();
}
