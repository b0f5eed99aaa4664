/* eisnet/error.h: one error message per thread.
 *
 * Library functions that can fail return a negative value (or NULL) and leave
 * a one-line, human-readable message here; the command line prints it. */
#ifndef EISNET_ERROR_H
#define EISNET_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Records a printf-style message for the calling thread. Always returns -1 so
 * callers can write `return eisnet_set_error("...")`. */
int eisnet_set_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Puts printf-style context in front of the current message ("file: " +
 * message). Returns -1. Use this, not eisnet_set_error(..., eisnet_last_error()),
 * which would format the buffer into itself. */
int eisnet_prefix_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The calling thread's last message ("" when none). */
const char *eisnet_last_error(void);

void eisnet_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
