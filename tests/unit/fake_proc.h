/*
 * fake_proc.h - a fake /proc tree and data directory for the unit tests that
 * prove processes (proc.c, pidfile.c, terminate.c, command.c): a postmaster,
 * its walsenders and a checkpointer, a walsender of another postmaster,
 * entries that are not processes; and forked children that stand in for the
 * walsenders a SIGTERM is sent to
 */
#ifndef DG_FAKE_PROC_H
#define DG_FAKE_PROC_H

#include "unit_util.h"

#include <signal.h>
#include <sys/wait.h>

#include "pidfile.h"
#include "proc.h"

#define BTIME            1700000000LL
#define PM_PID           1000
#define OTHER_PM_PID     2000
#define LOGICAL_PID      1001
#define PHYSICAL_PID     1002
#define CHECKPOINTER_PID 1003
#define FOREIGN_WS_PID   1004

#define TITLE_LOGICAL  "postgres: walsender postgres [local] START_REPLICATION"
#define TITLE_PHYSICAL "postgres: 15/main: walsender rep 127.0.0.1(5000) streaming 0/3000148"

/* A /proc/PID/stat line with the given identity (fields 5-21 are filler). */
static inline void stat_line(char *buf, size_t len, int pid, const char *comm, int ppid,
                      unsigned long long ticks)
{
    snprintf(buf, len,
             "%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %llu 123456 789 "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
             pid, comm, ppid, ppid, ppid, ticks);
}

/* Clock ticks a process started at, given its start in seconds after boot. */
static inline unsigned long long ticks_at(long long secs)
{
    return (unsigned long long)(secs * sysconf(_SC_CLK_TCK));
}

/* Make ROOT/PID with stat and (if title) cmdline, as PostgreSQL's ps display leaves it. */
static inline void fake_process(const char *root, int pid, int ppid, unsigned long long ticks,
                         const char *title)
{
    char name[64], line[512], dir[PATH_MAX];

    snprintf(name, sizeof(name), "%d", pid);
    ut_path(dir, root, name);
    if (mkdir(dir, 0700) != 0)
        assert_int_equal(errno, EEXIST); /* made again: another identity for the same PID */
    stat_line(line, sizeof(line), pid, "postgres", ppid, ticks);
    ut_write_file(dir, "stat", line);
    if (title) {
        char cmd[512];
        size_t n = strlen(title);

        memcpy(cmd, title, n);
        memset(cmd + n, '\0', 8); /* title, its NUL and some cleared argv space */
        ut_write_bytes(dir, "cmdline", cmd, n + 8);
    }
}

/* The fixture's data directory (DIR/data), set by fake_tree(). */
static char fixture_datadir[PATH_MAX];

/*
 * A pidfile for PM_PID whose line 3 says start_time, read back from the
 * fixture's data directory (line 2 names it): what the guard reads.
 */
static inline struct pidfile fake_pidfile(long long start_time)
{
    struct pidfile pf;
    char text[PATH_MAX + 128], err[512] = "";

    assert_true(snprintf(text, sizeof(text), "%d\n%s\n%lld\n5432\n/tmp\n*\n  1 2\nstopping\n",
                         PM_PID, fixture_datadir, start_time) < (int)sizeof(text));
    ut_write_file(fixture_datadir, "postmaster.pid", text);
    if (pidfile_read(fixture_datadir, &pf, err, sizeof(err)) != PIDFILE_OK)
        fail_msg("fixture postmaster.pid refused: %s", err);
    return pf;
}

/* Make ROOT/PID/cwd a link to DIR/NAME, as /proc shows a working directory. */
static inline void fake_cwd(const char *root, int pid, const char *dir, const char *name)
{
    char pdir[PATH_MAX], link[PATH_MAX], target[PATH_MAX], pids[16];

    snprintf(pids, sizeof(pids), "%d", pid);
    ut_path(pdir, root, pids);
    ut_path(link, pdir, "cwd");
    ut_path(target, dir, name);
    (void)unlink(link);
    assert_int_equal(symlink(target, link), 0);
}

/*
 * Build ROOT (= DIR/proc): boot time, a postmaster started 100 s after boot
 * working in DIR/data, its logical and physical walsenders, a checkpointer,
 * and a walsender of another postmaster (working in DIR/other), plus
 * entries that are not processes.
 */
static inline void fake_tree(const char *dir, char *root)
{
    ut_mkdir(dir, "proc");
    ut_path(root, dir, "proc");
    ut_write_file(root, "stat", "cpu  1 2 3 4\nintr 0\nctxt 5\nbtime 1700000000\nprocesses 9\n");
    fake_process(root, PM_PID, 1, ticks_at(100) + 7, "/usr/lib/postgresql/15/bin/postgres");
    fake_process(root, LOGICAL_PID, PM_PID, ticks_at(200), TITLE_LOGICAL);
    fake_process(root, PHYSICAL_PID, PM_PID, ticks_at(201), TITLE_PHYSICAL);
    fake_process(root, CHECKPOINTER_PID, PM_PID, ticks_at(101), "postgres: checkpointer");
    fake_process(root, OTHER_PM_PID, 1, ticks_at(50), "/usr/lib/postgresql/14/bin/postgres");
    fake_process(root, FOREIGN_WS_PID, OTHER_PM_PID, ticks_at(202), TITLE_LOGICAL);
    fake_process(root, 1005, PM_PID, ticks_at(203), NULL); /* no cmdline: skipped */
    ut_mkdir(root, "1006");                                /* no stat: skipped */
    ut_mkdir(root, "self");
    ut_mkdir(root, "sys");
    ut_write_file(root, "1007x", "");
    ut_mkdir(dir, "data");
    ut_mkdir(dir, "other");
    ut_path(fixture_datadir, dir, "data");
    fake_cwd(root, PM_PID, dir, "data");
    fake_cwd(root, OTHER_PM_PID, dir, "other");
}

/* Fork a child that waits to be ended (SIGALRM ends it after 30 s); its PID. */
static inline pid_t spawn_sleeper(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        alarm(30); /* a test that fails before ending it leaves nothing behind */
        for (;;)
            pause();
    }
    assert_true(pid > 0);
    return pid;
}

/* Reap a child (at most 30 s: its alarm); true when SIGTERM ended it. */
static inline bool reaped_by_sigterm(pid_t pid)
{
    int st;

    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
}

#endif
