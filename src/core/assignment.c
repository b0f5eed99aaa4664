/* Splitting "NAME=VALUE,..." lists. */
#include "eisnet/assignment.h"
#include "eisnet/error.h"

#include <string.h>

int eisnet_next_assignment(const char **s, const char *flag, char *buf, size_t cap, char **name, char **value)
{
    const char *p = *s;
    if (!*p) return 0;
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0 || len >= cap)
        return eisnet_set_error("%s: bad item '%.*s' (expected NAME=VALUE)", flag, (int)(len > 40 ? 40 : len), p);
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *eq = strchr(buf, '=');
    if (!eq || eq == buf) return eisnet_set_error("%s: bad item '%s' (expected NAME=VALUE)", flag, buf);
    *eq = '\0';
    *name = buf;
    *value = eq + 1;
    p += len;
    if (*p == ',') p++;
    *s = p;
    return 1;
}
