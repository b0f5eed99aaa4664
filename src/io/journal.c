/* The write-ahead journal of eisnet update (eisnet/journal.h). */
#include "eisnet/journal.h"
#include "eisnet/error.h"
#include "eisnet/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

/* A journal holds at most what a run acknowledged between two checkpoints. */
#define JOURNAL_MAX_BYTES ((size_t)1 << 32)

struct eisnet_journal {
    int fd;
    char *path;
    size_t unsynced;
};

eisnet_journal *eisnet_journal_open(const char *path)
{
    eisnet_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = malloc(strlen(path) + 1))) {
        free(j);
        eisnet_set_error("out of memory");
        return NULL;
    }
    strcpy(j->path, path);
    j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (j->fd < 0) {
        eisnet_set_error("cannot open the journal %s: %s", path, strerror(errno));
        free(j->path);
        free(j);
        return NULL;
    }
    struct stat st;
    if (fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        eisnet_set_error("the journal %s is not a regular file", path);
        eisnet_journal_close(j, 0);
        return NULL;
    }
    return j;
}

void eisnet_journal_close(eisnet_journal *j, int remove_file)
{
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    if (remove_file) unlink(j->path);
    free(j->path);
    free(j);
}

static int write_all(eisnet_journal *j, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(j->fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return eisnet_set_error("cannot write the journal %s: %s", j->path, strerror(errno));
        }
        c += w;
        n -= (size_t)w;
        j->unsynced += (size_t)w;
    }
    return 0;
}

int eisnet_journal_append(eisnet_journal *j, int64_t index, char *const *lines, const size_t *lens, int n)
{
    char head[64];
    int k = snprintf(head, sizeof head, "G %lld %d\n", (long long)index, n);
    if (write_all(j, head, (size_t)k) != 0) return -1;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < n; i++) {
        k = snprintf(head, sizeof head, "%zu\n", lens[i]);
        if (write_all(j, head, (size_t)k) != 0 || write_all(j, lines[i], lens[i]) != 0 || write_all(j, "\n", 1) != 0)
            return -1;
        crc = crc32(crc, (const Bytef *)lines[i], (uInt)lens[i]);
    }
    k = snprintf(head, sizeof head, "E %08lx\n", (unsigned long)crc);
    return write_all(j, head, (size_t)k);
}

int eisnet_journal_sync(eisnet_journal *j)
{
    if (!j->unsynced) return 0;
    if (fdatasync(j->fd) != 0 && errno != EINVAL)
        return eisnet_set_error("cannot write the journal %s: %s", j->path, strerror(errno));
    j->unsynced = 0;
    return 0;
}

size_t eisnet_journal_unsynced(const eisnet_journal *j) { return j->unsynced; }

int eisnet_journal_clear(eisnet_journal *j)
{
    if (ftruncate(j->fd, 0) != 0 || (fsync(j->fd) != 0 && errno != EINVAL))
        return eisnet_set_error("cannot empty the journal %s: %s", j->path, strerror(errno));
    j->unsynced = 0;
    return 0;
}

/* Parses one number ending in '\n' at *p; 0 or -1. */
static int num(const char **p, const char *end, unsigned long long *out, int base)
{
    const char *q = *p;
    unsigned long long v = 0;
    int digits = 0;
    for (; q < end && *q != '\n'; q++, digits++) {
        int d = *q >= '0' && *q <= '9' ? *q - '0' : (base == 16 && *q >= 'a' && *q <= 'f') ? *q - 'a' + 10 : -1;
        if (d < 0 || digits > 18) return -1;
        v = v * (unsigned)base + (unsigned)d;
    }
    if (q >= end || !digits) return -1;
    *out = v;
    *p = q + 1;
    return 0;
}

long eisnet_journal_replay(eisnet_journal *j, eisnet_journal_fn fn, void *ctx)
{
    char *data = NULL;
    size_t n = 0;
    if (eisnet_read_regular_file(j->path, JOURNAL_MAX_BYTES, &data, &n) != 0) return -1;
    const char *p = data, *end = data + n;
    long groups = 0;
    size_t good = 0;
    char **lines = NULL;
    size_t *lens = NULL;
    for (;;) {
        unsigned long long idx, cnt, crc_want;
        const char *q = p;
        if (end - q < 2 || q[0] != 'G' || q[1] != ' ') break;
        q += 2;
        const char *sp = memchr(q, ' ', (size_t)(end - q));
        if (!sp) break;
        const char *q2 = sp + 1;
        /* index and count: "G INDEX N\n" */
        unsigned long long v = 0;
        int ok = sp > q;
        for (const char *c = q; c < sp && ok; c++) ok = *c >= '0' && *c <= '9' && (v = v * 10 + (unsigned)(*c - '0'), 1);
        if (!ok) break;
        idx = v;
        if (num(&q2, end, &cnt, 10) != 0 || cnt == 0 || cnt > 1 << 20) break;
        q = q2;
        free(lines);
        free(lens);
        lines = calloc(cnt, sizeof *lines);
        lens = calloc(cnt, sizeof *lens);
        if (!lines || !lens) break;
        uLong crc = crc32(0L, Z_NULL, 0);
        size_t i;
        for (i = 0; i < cnt; i++) {
            unsigned long long len;
            if (num(&q, end, &len, 10) != 0 || (unsigned long long)(end - q) < len + 1 || q[len] != '\n') break;
            lines[i] = (char *)q;
            lens[i] = (size_t)len;
            crc = crc32(crc, (const Bytef *)q, (uInt)len);
            q += len + 1;
        }
        if (i < cnt || end - q < 2 || q[0] != 'E' || q[1] != ' ') break;
        q += 2;
        if (num(&q, end, &crc_want, 16) != 0 || crc_want != crc) break;
        /* a complete group: hand it over (the lines end in '\n', not NUL) */
        if (fn(ctx, (int64_t)idx, lines, lens, (int)cnt) != 0) {
            free(lines);
            free(lens);
            free(data);
            return -1;
        }
        groups++;
        p = q;
        good = (size_t)(p - data);
    }
    free(lines);
    free(lens);
    free(data);
    if (good < n && ftruncate(j->fd, (off_t)good) != 0)
        return eisnet_set_error("cannot repair the journal %s: %s", j->path, strerror(errno));
    return groups;
}
