/* Temporary files: exclusive creation, a registry for removal on signals,
 * and recognition of what dead runs left (eisnet/tmpfile.h). */
#include "eisnet/tmpfile.h"
#include "eisnet/error.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SLOTS 64
#define SLOT_PATH 4096

/* The signal handler reads the slots without a lock: a slot's path is
 * complete before `used` becomes 1 and is not touched until it is 0. */
static struct {
    char path[SLOT_PATH];
    int is_dir;
    atomic_int used;
} slots[SLOTS];
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;

int eisnet_tmp_register(const char *path, int is_dir)
{
    if (strlen(path) >= SLOT_PATH) return -1;
    pthread_mutex_lock(&slots_mu);
    int h = -1;
    for (int i = 0; i < SLOTS && h < 0; i++)
        if (!atomic_load(&slots[i].used)) h = i;
    if (h >= 0) {
        memcpy(slots[h].path, path, strlen(path) + 1);
        slots[h].is_dir = is_dir;
        atomic_store(&slots[h].used, 1);
    }
    pthread_mutex_unlock(&slots_mu);
    return h;
}

void eisnet_tmp_forget(int handle)
{
    if (handle < 0 || handle >= SLOTS) return;
    pthread_mutex_lock(&slots_mu);
    atomic_store(&slots[handle].used, 0);
    pthread_mutex_unlock(&slots_mu);
}

void eisnet_tmp_forget_path(const char *path)
{
    pthread_mutex_lock(&slots_mu);
    for (int i = 0; i < SLOTS; i++)
        if (atomic_load(&slots[i].used) && strcmp(slots[i].path, path) == 0) atomic_store(&slots[i].used, 0);
    pthread_mutex_unlock(&slots_mu);
}

void eisnet_tmp_remove_all(void)
{
    /* files first, then the (then empty) directories that held them */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < SLOTS; i++)
            if (atomic_load(&slots[i].used) && slots[i].is_dir == pass) {
                if (pass) rmdir(slots[i].path);
                else unlink(slots[i].path);
            }
}

static void on_signal(int sig)
{
    eisnet_tmp_remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void eisnet_tmp_install_signal_cleanup(void)
{
    const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) != 0) continue;
        if (old.sa_handler == SIG_IGN) continue; /* e.g. nohup: keep ignoring */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static char *dir_and_base(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    size_t n = slash ? (size_t)(slash - path) : 1;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    if (slash) memcpy(d, path, n);
    else d[0] = '.';
    if (slash && n == 0) d[n++] = '/';
    d[n] = '\0';
    return d;
}

int eisnet_tmp_create(const char *final_path, char **tmp_path)
{
    *tmp_path = NULL;
    const char *base;
    char *dir = dir_and_base(final_path, &base);
    if (!dir) return eisnet_set_error("out of memory");
    eisnet_tmp_remove_stale(dir);
    size_t n = strlen(dir) + strlen(base) + 48;
    char *t = malloc(n);
    if (!t) {
        free(dir);
        return eisnet_set_error("out of memory");
    }
    snprintf(t, n, "%s/.%s.tmp-%ld-XXXXXX", dir, base, (long)getpid());
    free(dir);
    int fd = mkstemp(t);
    if (fd < 0) {
        int e = errno;
        free(t);
        return eisnet_set_error("cannot write %s: %s", final_path, strerror(e));
    }
    /* mkstemp makes 0600; the final file gets the usual 0666 less umask */
    static int mask = -1;
    pthread_mutex_lock(&slots_mu);
    if (mask < 0) {
        mask = (int)umask(0);
        umask((mode_t)mask);
    }
    pthread_mutex_unlock(&slots_mu);
    fchmod(fd, (mode_t)(0666 & ~mask));
    /* when the registry is full the file is still removed by the caller's
     * error paths; only a signal could then miss it */
    eisnet_tmp_register(t, 0);
    *tmp_path = t;
    return fd;
}

char *eisnet_tmp_mkdir(const char *dir, const char *tag)
{
    eisnet_tmp_remove_stale(dir);
    size_t n = strlen(dir) + strlen(tag) + 48;
    char *t = malloc(n);
    if (!t) {
        eisnet_set_error("out of memory");
        return NULL;
    }
    snprintf(t, n, "%s/.%s-%ld-XXXXXX", dir, tag, (long)getpid());
    if (!mkdtemp(t)) {
        int e = errno;
        eisnet_set_error("cannot create a directory in %s: %s", dir, strerror(e));
        free(t);
        return NULL;
    }
    eisnet_tmp_register(t, 1);
    return t;
}

/* The PID in a temporary name, or 0 when the name is not one of ours:
 * ".NAME.tmp-PID-XXXXXX", ".eisnet-TAG-PID-XXXXXX", or the older
 * "NAME.tmp.PID". */
static long pid_in_name(const char *name)
{
    size_t L = strlen(name);
    if (name[0] == '.' && L > 9 && name[L - 7] == '-') {
        size_t e = L - 7, s = e;
        while (s > 0 && name[s - 1] >= '0' && name[s - 1] <= '9') s--;
        if (s == e || s == 0 || name[s - 1] != '-') return 0;
        size_t pre = s - 1; /* index of the '-' before the PID */
        int tmp = pre >= 4 && strncmp(name + pre - 4, ".tmp", 4) == 0;
        int ours = strncmp(name, ".eisnet-", 8) == 0;
        if (!tmp && !ours) return 0;
        return strtol(name + s, NULL, 10);
    }
    /* the older names: only for the extensions eisnet writes */
    const char *t = strstr(name, ".tmp.");
    static const char *const ext[] = {".npy", ".npz", ".json", ".safetensors", ".csv", ".txt", ".svg", ".md"};
    int known = 0;
    for (size_t i = 0; t && i < sizeof ext / sizeof ext[0]; i++) {
        size_t l = strlen(ext[i]);
        if ((size_t)(t - name) >= l && strncmp(t - l, ext[i], l) == 0) known = 1;
    }
    if (known && t[5]) {
        const char *p = t + 5;
        for (const char *q = p; *q; q++)
            if (*q < '0' || *q > '9') return 0;
        return strtol(p, NULL, 10);
    }
    return 0;
}

static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *c = malloc(n);
            if (!c) continue;
            snprintf(c, n, "%s/%s", path, e->d_name);
            remove_tree(c);
            free(c);
        }
        closedir(d);
    }
    return rmdir(path);
}

int eisnet_tmp_remove_stale(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    long me = (long)getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = pid_in_name(e->d_name);
        if (pid <= 0 || pid == me) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still running (or not ours to judge) */
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) break;
        snprintf(p, n, "%s/%s", dir, e->d_name);
        if (remove_tree(p) == 0) removed++;
        free(p);
    }
    closedir(d);
    return removed;
}
