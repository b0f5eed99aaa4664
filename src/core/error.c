/* Thread-local last-error message. */
#include "eisnet/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) len = 2, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0) len = 3, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned cp = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Messages quote pieces of input files and lines; control characters and
 * invalid UTF-8 in them would reach the terminal raw (moving the cursor,
 * clearing the screen), so they are written as \xNN instead. Escaping twice
 * changes nothing. */
static void sanitize(char *msg, size_t cap)
{
    char out[sizeof last_error];
    size_t o = 0, n = strlen(msg);
    const unsigned char *s = (const unsigned char *)msg;
    for (size_t i = 0; i < n && o + 5 < sizeof out;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 1 && s[i] >= 0x20 && s[i] != 0x7F) {
            out[o++] = (char)s[i++];
        } else if (l > 1) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02X", s[i]);
            i++;
        }
    }
    out[o] = '\0';
    snprintf(msg, cap, "%s", out);
}

int eisnet_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    sanitize(last_error, sizeof last_error);
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
    sanitize(last_error, sizeof last_error);
    return -1;
}

const char *eisnet_last_error(void) { return last_error; }

void eisnet_clear_error(void) { last_error[0] = '\0'; }
