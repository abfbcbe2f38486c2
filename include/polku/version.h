/* version.h — which polku this is.
 *
 * The three programs answer `--version` with it, so an operator can tell
 * which build runs and match it with a package. The text comes from git
 * at build time (cmake/version.cmake), never from a committed file. */
#ifndef POLKU_VERSION_H
#define POLKU_VERSION_H

#include <stdio.h>

/* "0.1.0+g00e0c74a1b", "0.2.0", "0.2.0+3.gabcdef0123.dirty": static. */
const char *polku_version(void);

/* Prints "PROGRAM VERSION" and the build's optional features on out. */
void polku_version_print(FILE *out, const char *program);

#endif
