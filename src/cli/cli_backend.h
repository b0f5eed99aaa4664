/* cli_backend.h: --backend for the commands that run the network. */
#ifndef EISNET_CLI_BACKEND_H
#define EISNET_CLI_BACKEND_H

#include "eisnet/backend.h"
#include "eisnet/predictor.h"

/* 0 when NAME is "auto" or a backend available here; else one line on
 * stderr naming --backend, and -1. */
int cli_check_backend(const char *name);

/* The backend --backend NAME with --threads (<= 0: all cores), made the
 * backend of pr's model. NULL after a one-line message naming --backend
 * (prefixed "eisnet CMD: "). Free it with eisnet_backend_free after the
 * predictor. */
eisnet_backend *cli_backend_attach(const char *cmd, const char *name, int threads, eisnet_predictor *pr);

#endif
