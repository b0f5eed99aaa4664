/* eisnet/assignment.h: the "NAME=VALUE,NAME=VALUE" lists that --known takes
 * (infer, fit): one splitter, so every command reads them alike. */
#ifndef EISNET_ASSIGNMENT_H
#define EISNET_ASSIGNMENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Splits the next item of the comma-separated list at *s into buf (cap
 * bytes): *name and *value point into buf, the text around '=' as given (no
 * trimming). *s moves past the item and its comma. Returns 1 for an item, 0
 * at the end of the list, or -1 with the error set, naming flag, for an
 * empty or too long item or one without "NAME=". */
int eisnet_next_assignment(const char **s, const char *flag, char *buf, size_t cap, char **name, char **value);

#ifdef __cplusplus
}
#endif
#endif
