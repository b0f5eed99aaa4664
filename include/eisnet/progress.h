/* eisnet/progress.h: progress of long work on stderr. A bar with rate and
 * ETA when stderr is a terminal, a plain line every few seconds otherwise,
 * nothing when quiet. */
#ifndef EISNET_PROGRESS_H
#define EISNET_PROGRESS_H

#include <stdint.h>

typedef struct {
    const char *label;
    const char *unit;
    uint64_t total, done;
    double t0, last_print;
    int quiet, tty;
} eisnet_progress;

double eisnet_now(void); /* monotonic seconds */
void eisnet_progress_begin(eisnet_progress *p, const char *label, const char *unit, uint64_t total, int quiet);
void eisnet_progress_update(eisnet_progress *p, uint64_t done);
void eisnet_progress_end(eisnet_progress *p);

#endif
