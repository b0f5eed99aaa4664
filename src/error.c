/* Thread-local last-error message. */
#include "eisnet/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

int eisnet_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *eisnet_last_error(void) { return last_error; }

void eisnet_clear_error(void) { last_error[0] = '\0'; }
