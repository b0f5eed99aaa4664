/* eisnet/tmpfile.h: temporary files and directories that never outlive the
 * run that made them.
 *
 * A temporary file for "DIR/NAME" is "DIR/.NAME.tmp-PID-XXXXXX", created
 * exclusively (mkstemp: O_CREAT|O_EXCL, so a planted file or symlink is never
 * opened or followed) in the target's own directory (the final rename stays
 * on one file system). Every such path is registered while it exists; a
 * SIGINT, SIGTERM or SIGHUP removes the registered paths before the process
 * ends, and the normal error paths remove them too. What a SIGKILL or a power
 * cut leaves is recognised later by its name: the PID in it no longer runs. */
#ifndef EISNET_TMPFILE_H
#define EISNET_TMPFILE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the temporary file for final_path; returns its descriptor (opened
 * for writing) and a malloc'ed path in *tmp_path, registered for cleanup; -1
 * with the error set. Stale temporary files of final_path left by dead
 * processes are removed first. */
int eisnet_tmp_create(const char *final_path, char **tmp_path);

/* Creates "DIR/.TAG-PID-XXXXXX" (a directory, mode 0700), registered for
 * cleanup; a malloc'ed path, or NULL with the error set. */
char *eisnet_tmp_mkdir(const char *dir, const char *tag);

/* Registers a path to remove on a signal (a file, or an empty directory when
 * is_dir); returns a handle for eisnet_tmp_forget, or -1 when the registry is
 * full (the path is then only removed by the normal error paths). */
int eisnet_tmp_register(const char *path, int is_dir);
/* Forgets a registration (after a rename or a normal removal). */
void eisnet_tmp_forget(int handle);
/* Forgets the registration of this path, if any. */
void eisnet_tmp_forget_path(const char *path);

/* Removes every registered path now (async-signal-safe). */
void eisnet_tmp_remove_all(void);

/* Installs SIGINT, SIGTERM and SIGHUP handlers that remove the registered
 * paths and then end the process as the signal would have. Handlers a
 * command installs later (train's "stop and save") take precedence while
 * they are installed. */
void eisnet_tmp_install_signal_cleanup(void);

/* Removes, in dir, temporary files (".NAME.tmp-PID-*") and directories
 * (".TAG-PID-*", with their files) whose PID no longer runs. Returns how many
 * were removed. */
int eisnet_tmp_remove_stale(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
