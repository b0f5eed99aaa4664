/* Progress lines and bars on stderr. */
#include "eisnet/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double eisnet_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void eisnet_progress_begin(eisnet_progress *p, const char *label, const char *unit, uint64_t total, int quiet)
{
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t0 = p->last_print = eisnet_now();
    p->quiet = quiet;
    p->tty = isatty(2);
}

static void fmt_eta(char *buf, size_t n, double s)
{
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void print(eisnet_progress *p, int final)
{
    double t = eisnet_now(), el = t - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char eta[32];
    fmt_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - p->done) / rate : -1);
    if (p->tty) {
        int width = 30, fill = p->total ? (int)((double)width * (double)p->done / (double)p->total) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r%s [%s] %llu/%llu  %.1f %s/s  ETA %s ", p->label, bar, (unsigned long long)p->done,
                (unsigned long long)p->total, rate, p->unit, final ? "0s" : eta);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %llu/%llu %s, %.1f %s/s, %s %s\n", p->label, (unsigned long long)p->done,
                (unsigned long long)p->total, p->unit, rate, p->unit, final ? "done in" : "ETA",
                final ? (snprintf(eta, sizeof eta, "%.2fs", el), eta) : eta);
    }
    fflush(stderr);
    p->last_print = t;
}

void eisnet_progress_update(eisnet_progress *p, uint64_t done)
{
    p->done = done;
    if (p->quiet) return;
    double t = eisnet_now();
    if (t - p->last_print >= (p->tty ? 0.1 : 5.0)) print(p, 0);
}

void eisnet_progress_end(eisnet_progress *p)
{
    if (p->quiet) return;
    p->done = p->total;
    print(p, 1);
}
