/* eisnet/lock.h: advisory locks (flock) that keep overlapping runs apart.
 *
 * A model is locked through "STEM.lock" beside its files, a data directory
 * through "DIR/.eisnet.lock". Writers (generate on a directory, train and
 * update on a model) take the lock exclusively; readers of a directory
 * (train) share it. The lock file holds the holder's PID and command for the
 * message; it stays in place (removing it would race with the next holder).
 * The kernel drops the lock when the holder exits, even by SIGKILL. */
#ifndef EISNET_LOCK_H
#define EISNET_LOCK_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int fd; /* -1 when not held */
} eisnet_lock;

enum { EISNET_LOCK_SHARED = 0, EISNET_LOCK_EXCLUSIVE = 1 };

/* Takes the lock on lock_path (created if missing, never through a symlink).
 * wait_s = 0: refuse at once when another process holds it; > 0: wait up to
 * that many seconds. `what` names the thing for the message ("model
 * m.safetensors"), `cmd` this run ("train"). 0, or -1 with the error set. */
int eisnet_lock_take(eisnet_lock *l, const char *lock_path, int exclusive, double wait_s, const char *what,
                     const char *cmd);
void eisnet_lock_release(eisnet_lock *l);

/* "STEM.lock" for a checkpoint path, "DIR/.eisnet.lock" for a directory
 * (malloc'ed). */
char *eisnet_lock_path_model(const char *model_path);
char *eisnet_lock_path_dir(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
