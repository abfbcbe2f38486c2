/* version.c — the build's version (see polku/version.h). Only this file
 * includes the generated header, so a new commit recompiles one file. */
#include "polku/version.h"

#include "polku_version_generated.h"

const char *polku_version(void)
{
    return POLKU_VERSION;
}

void polku_version_print(FILE *out, const char *program)
{
    fprintf(out, "%s %s\n", program, POLKU_VERSION);
#ifdef POLKU_HAVE_SYSTEMD
    fputs("built with: systemd notification (sd_notify)\n", out);
#else
    fputs("built without: systemd notification (sd_notify)\n", out);
#endif
}
