/* Thread-local last-error message. */
#include "eisnet/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

int eisnet_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

int eisnet_prefix_error(const char *fmt, ...)
{
    char old[sizeof last_error], pre[sizeof last_error];
    memcpy(old, last_error, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(last_error, sizeof last_error, "%s%s", pre, old);
    return -1;
}

const char *eisnet_last_error(void) { return last_error; }

void eisnet_clear_error(void) { last_error[0] = '\0'; }
