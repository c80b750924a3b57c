/*
** t_spawn.h — starting a server under test: the child writes both its
** output streams to a log file (never into the test's stdout, which
** tests/run.sh reads until every writer has closed it) and dies with the
** test, so a test that crashes cannot leave a server running nor the runner
** waiting on it.
*/
#ifndef L4LM_T_SPAWN_H
#define L4LM_T_SPAWN_H
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

/* Fork and exec argv[0] with argv (NULL-terminated), output to log; the
** child's pid, or -1. */
static inline pid_t t_spawn(const char *log, const char *const *argv)
{
    pid_t parent = getpid(), p = fork();
    if (p != 0)
        return p;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the test died before prctl */
        _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}
#endif
