/* i18n.h — the polku CLI in Finnish, Swedish or English (gettext).
 *
 * Staff read the CLI in their own language: --lang fi|sv|en, else
 * LANGUAGE, LC_ALL, LC_MESSAGES or LANG decide; anything else is English
 * (the messages in the code). The catalogues are cli/po/LANG.po, compiled
 * with msgfmt at build time into build/locale (POLKU_LOCALEDIR, or the
 * environment's POLKU_LOCALEDIR). Dates in the report are d.M.yyyy and
 * 24-hour times in Europe/Helsinki. */
#ifndef POLKU_CLI_I18N_H
#define POLKU_CLI_I18N_H

#include <libintl.h>
#include <stddef.h>

#define _(s) gettext(s)
#define N_(s) s /* marked for translation, translated where used */

/* The language from argv's --lang (or --lang=X) or the environment;
 * binds the catalogue. Returns "fi", "sv" or "en"; NULL when --lang names
 * another language (the environment's language is bound then, for the
 * usage error). Call once, first. */
const char *cli_i18n_init(int argc, char **argv);

/* The language cli_i18n_init chose. */
const char *cli_lang(void);

/* The value of argv's --lang, NULL without one. */
const char *cli_lang_arg(int argc, char **argv);

/* An RFC 3339 time as d.M.yyyy and a 24-hour time in Europe/Helsinki
 * ("6.12.2026 14.05" in Finnish), a plain date YYYY-MM-DD as d.M.yyyy,
 * "-" for NULL; other text as it is. The one way the CLI writes a time
 * for a person in Finnish or Swedish. Returns buf. */
const char *cli_local_time(const char *rfc3339, char *buf, size_t len);

#endif
