/* Atomic output files, whole-file reads, directories. */
#include "eisnet/fileio.h"
#include "eisnet/error.h"
#include "eisnet/tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void release(eisnet_atomic_file *af)
{
    free(af->final_path);
    free(af->tmp_path);
    af->final_path = af->tmp_path = NULL;
    af->fp = NULL;
}

int eisnet_atomic_open(eisnet_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->final_path = dup_str(path);
    af->tmp_path = malloc(n);
    if (!af->final_path || !af->tmp_path) {
        release(af);
        return eisnet_set_error("out of memory");
    }
    free(af->tmp_path);
    af->tmp_path = NULL;
    int fd = eisnet_tmp_create(path, &af->tmp_path);
    if (fd < 0) {
        release(af);
        return -1;
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp_path);
        eisnet_tmp_forget_path(af->tmp_path);
        eisnet_set_error("cannot write %s: %s", path, strerror(e));
        release(af);
        return -1;
    }
    return 0;
}

/* After a rename, the directory entry itself must reach the disk for the new
 * file to survive a power cut. */
void eisnet_fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int eisnet_atomic_write(eisnet_atomic_file *af, const void *data, size_t n)
{
    if (af->failed) return -1;
    if (n && fwrite(data, 1, n, af->fp) != n) {
        af->failed = errno ? errno : EIO;
        return eisnet_set_error("cannot write %s: %s", af->final_path, strerror(af->failed));
    }
    return 0;
}

int eisnet_atomic_commit(eisnet_atomic_file *af)
{
    if (!af->fp) return eisnet_set_error("internal: commit of a file that is not open");
    int err = af->failed;
    if (!err && ferror(af->fp)) err = EIO;
    if (!err && fflush(af->fp) != 0) err = errno ? errno : EIO;
    if (!err && fsync(fileno(af->fp)) != 0 && errno != EINVAL && errno != EROFS) err = errno;
    if (fclose(af->fp) != 0 && !err) err = errno ? errno : EIO;
    af->fp = NULL;
    if (!err && rename(af->tmp_path, af->final_path) != 0) err = errno;
    if (err) {
        unlink(af->tmp_path);
        eisnet_tmp_forget_path(af->tmp_path);
        eisnet_set_error("cannot write %s: %s", af->final_path, strerror(err));
        release(af);
        return -1;
    }
    eisnet_tmp_forget_path(af->tmp_path);
    eisnet_fsync_dir_of(af->final_path);
    release(af);
    return 0;
}

void eisnet_atomic_abort(eisnet_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) {
        unlink(af->tmp_path);
        eisnet_tmp_forget_path(af->tmp_path);
    }
    release(af);
}

int eisnet_write_file_atomic(const char *path, const void *data, size_t n)
{
    eisnet_atomic_file af;
    if (eisnet_atomic_open(&af, path) != 0) return -1;
    if (eisnet_atomic_write(&af, data, n) != 0) {
        eisnet_atomic_abort(&af);
        return -1;
    }
    return eisnet_atomic_commit(&af);
}

static int read_file_impl(const char *path, size_t max_bytes, int regular_only, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return eisnet_set_error("cannot open %s: %s", path, strerror(errno));
    /* Decide from what the file really is before reading: a directory, a
     * device such as /dev/zero or a file over the limit is refused at once. */
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        return eisnet_set_error("cannot read %s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(fp);
        return eisnet_set_error("cannot read %s: %s", path, strerror(EISDIR));
    }
    if (regular_only && !S_ISREG(st.st_mode)) {
        fclose(fp);
        return eisnet_set_error("cannot read %s: not a regular file", path);
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > (uintmax_t)max_bytes) {
        fclose(fp);
        return eisnet_set_error("%s: file too large (%jd bytes; the limit is %zu)", path, (intmax_t)st.st_size,
                                max_bytes);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(fp);
        return eisnet_set_error("out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(fp);
                return eisnet_set_error("%s: file too large (over %zu bytes)", path, max_bytes);
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(fp);
                return eisnet_set_error("out of memory");
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(fp), e = errno;
    fclose(fp);
    if (bad) {
        free(buf);
        return eisnet_set_error("cannot read %s: %s", path, strerror(e ? e : EIO));
    }
    buf[len] = '\0';
    *data = buf;
    *n = len;
    return 0;
}

int eisnet_read_file(const char *path, size_t max_bytes, char **data, size_t *n)
{
    return read_file_impl(path, max_bytes, 0, data, n);
}

int eisnet_read_regular_file(const char *path, size_t max_bytes, char **data, size_t *n)
{
    return read_file_impl(path, max_bytes, 1, data, n);
}

int eisnet_ensure_dir(const char *path)
{
    if (!path || !*path) return eisnet_set_error("empty directory name");
    char *p = dup_str(path);
    if (!p) return eisnet_set_error("out of memory");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            eisnet_set_error("cannot create directory %s: %s", p, strerror(e));
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        int e = errno;
        eisnet_set_error("cannot create directory %s: %s", p, strerror(e));
        free(p);
        return -1;
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return eisnet_set_error("%s is not a directory", path);
    if (access(path, W_OK | X_OK) != 0)
        return eisnet_set_error("directory %s is not writable", path);
    return 0;
}

char *eisnet_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

char *eisnet_checkpoint_stem(const char *path)
{
    size_t n = strlen(path);
    static const char *ext[] = {".safetensors", ".npz"};
    for (int i = 0; i < 2; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(path + n - e, ext[i]) == 0) {
            n -= e;
            break;
        }
    }
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, path, n);
    s[n] = '\0';
    return s;
}
