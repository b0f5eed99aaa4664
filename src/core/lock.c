/* Advisory locks on models and data directories (eisnet/lock.h). */
#include "eisnet/lock.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* "PID COMMAND" of the holder, read from the lock file. */
static void holder_of(int fd, char *out, size_t cap)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        snprintf(out, cap, "another process");
        return;
    }
    buf[n] = '\0';
    long pid = 0;
    char cmd[64] = "";
    if (sscanf(buf, "%ld %63s", &pid, cmd) >= 1 && pid > 0)
        snprintf(out, cap, "eisnet %s (pid %ld)", cmd[0] ? cmd : "", pid);
    else snprintf(out, cap, "another process");
}

int eisnet_lock_take(eisnet_lock *l, const char *lock_path, int exclusive, double wait_s, const char *what,
                     const char *cmd)
{
    l->fd = -1;
    int fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return eisnet_set_error("cannot lock %s (%s): %s", what, lock_path, strerror(errno));
    int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    double waited = 0;
    while (flock(fd, op) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            int e = errno;
            close(fd);
            return eisnet_set_error("cannot lock %s (%s): %s", what, lock_path, strerror(e));
        }
        if (waited >= wait_s) {
            char who[160];
            holder_of(fd, who, sizeof who);
            close(fd);
            return eisnet_set_error("%s is in use by %s; wait until it finishes (or use another path)", what, who);
        }
        sleep_s(0.1);
        waited += 0.1;
    }
    {
        /* the holder's name, for the message of a refused run (with shared
         * holders: the latest of them) */
        char line[96];
        int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), cmd ? cmd : "");
        if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) < 0) {
            /* the PID is only for the message of a refused run */
        }
    }
    l->fd = fd;
    return 0;
}

void eisnet_lock_release(eisnet_lock *l)
{
    if (l->fd >= 0) {
        flock(l->fd, LOCK_UN);
        close(l->fd);
    }
    l->fd = -1;
}

char *eisnet_lock_path_model(const char *model_path)
{
    char *stem = eisnet_checkpoint_stem(model_path);
    if (!stem) return NULL;
    size_t n = strlen(stem) + 6;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s.lock", stem);
    free(stem);
    return p;
}

char *eisnet_lock_path_dir(const char *dir) { return eisnet_path_join(dir, ".eisnet.lock"); }
