/*
 * exit_window.c - how often does /proc show a SIGKILLed parent without its
 * working directory while its child still has it as parent?  The kernel
 * drops the dying process's cwd (exit_fs) before it gives its children to
 * another parent (exit_notify); a guard turn in that window once took a
 * SIGKILLed postmaster for gone with its walsenders unorphaned (SOAK.md,
 * cycle 142).  Each round forks a parent that opens a temporary file FILES
 * (200) times and forks one child, SIGKILLs the parent and polls both in
 * /proc until the child is reparented.  Prints one table row.
 *
 *   cc -O2 -o /tmp/exit_window bench/exit_window.c && /tmp/exit_window [ROUNDS] [FILES]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The parent PID of pid from /proc/PID/stat; -1 when it cannot be read. */
static int ppid_of(int pid)
{
    char path[64], buf[512], state;
    const char *p;
    int fd, ppid;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2, "%c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

/* One round: true when the window was seen. */
static int one_round(const char *file, int files)
{
    int sync[2], seen = 0;
    pid_t parent, child = 0;
    char cwd[64];
    struct stat st;

    if (pipe(sync) != 0 || (parent = fork()) < 0) {
        perror("exit_window");
        exit(1);
    }
    if (parent == 0) {
        close(sync[0]);
        for (int i = 0; i < files; i++)
            if (open(file, O_RDWR) < 0)
                break;
        child = fork();
        if (child == 0)
            for (;;)
                pause();
        if (write(sync[1], &child, sizeof(child)) != (ssize_t)sizeof(child))
            _exit(1);
        for (;;)
            pause();
    }
    close(sync[1]);
    if (read(sync[0], &child, sizeof(child)) != (ssize_t)sizeof(child))
        exit(1);
    close(sync[0]);
    snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", (int)parent);
    kill(parent, SIGKILL);
    for (long i = 0; i < 10000000; i++) {
        int has_cwd = stat(cwd, &st) == 0, ppid = ppid_of(child);

        if (!has_cwd && ppid == parent) {
            seen = 1;
            break;
        }
        if (ppid != parent)
            break;
    }
    waitpid(parent, NULL, 0);
    kill(child, SIGKILL);
    return seen;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200, files = argc > 2 ? atoi(argv[2]) : 200, hits = 0;
    char file[] = "/tmp/exit_window.XXXXXX";
    int fd;

    if (rounds <= 0 || files < 0) {
        fprintf(stderr, "usage: exit_window [ROUNDS > 0] [FILES >= 0]\n");
        return 2;
    }
    fd = mkstemp(file);
    if (fd < 0) {
        perror("exit_window: mkstemp");
        return 1;
    }
    close(fd);
    for (int r = 0; r < rounds; r++)
        hits += one_round(file, files);
    unlink(file);
    printf("| SIGKILLs | files open | cwd gone, child not yet reparented |\n");
    printf("|---|---|---|\n");
    printf("| %d | %d | %d |\n", rounds, files, hits);
    return 0;
}
