/* eisnet/journal.h: the write-ahead journal of `eisnet update`.
 *
 * Every group of accepted lines is appended to "STEM.journal" with the
 * number of the update it became, and the file is flushed to the disk
 * (fdatasync) before any of those lines is acknowledged. A checkpoint
 * empties the journal; the next run replays what a killed run acknowledged
 * after its last checkpoint. A group whose record was cut short (a kill
 * during the append) was never acknowledged and is dropped.
 *
 * Record: "G INDEX N\n", then N times "LEN\n" + LEN bytes + "\n", then
 * "E CRC\n" with CRC the CRC-32 of the N lines' bytes. */
#ifndef EISNET_JOURNAL_H
#define EISNET_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eisnet_journal eisnet_journal;

/* Opens (creating) the journal; NULL with the error set. */
eisnet_journal *eisnet_journal_open(const char *path);
void eisnet_journal_close(eisnet_journal *j, int remove_file);

/* Appends one group (not yet durable). 0 / -1. */
int eisnet_journal_append(eisnet_journal *j, int64_t index, char *const *lines, const size_t *lens, int n);
/* Makes every appended group durable. 0 / -1. */
int eisnet_journal_sync(eisnet_journal *j);
/* Empties the journal (after a checkpoint). 0 / -1. */
int eisnet_journal_clear(eisnet_journal *j);
/* Bytes appended and not yet synced (0: nothing to wait for). */
size_t eisnet_journal_unsynced(const eisnet_journal *j);

/* Calls fn for every complete group in order; a torn tail is cut off. fn
 * returns 0 to go on, -1 to stop with an error. Returns the number of
 * groups, or -1. */
typedef int (*eisnet_journal_fn)(void *ctx, int64_t index, char **lines, size_t *lens, int n);
long eisnet_journal_replay(eisnet_journal *j, eisnet_journal_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
