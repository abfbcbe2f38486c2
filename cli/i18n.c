/* i18n.c — chooses the CLI's language and binds its catalogue (i18n.h). */
#include "i18n.h"

#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "polku/clock.h"

#ifndef POLKU_LOCALEDIR
#define POLKU_LOCALEDIR "/usr/share/locale"
#endif

static const char *chosen = "en";

static const char *known(const char *text)
{
    if (!text || !*text)
        return NULL;
    if (strncmp(text, "fi", 2) == 0)
        return "fi";
    if (strncmp(text, "sv", 2) == 0)
        return "sv";
    if (strncmp(text, "en", 2) == 0 || strcmp(text, "C") == 0 ||
        strncmp(text, "C.", 2) == 0 || strcmp(text, "POSIX") == 0)
        return "en";
    return NULL;
}

/* The last --lang counts, as for every other option. */
static const char *from_args(int argc, char **argv)
{
    const char *lang = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc)
            lang = argv[++i];
        else if (strncmp(argv[i], "--lang=", 7) == 0)
            lang = argv[i] + 7;
    }
    return lang;
}

/* --lang takes exactly fi, sv or en */
static const char *asked(const char *arg, bool *bad)
{
    static const char *const langs[] = {"fi", "sv", "en"};
    for (size_t i = 0; arg && i < sizeof langs / sizeof langs[0]; i++)
        if (strcmp(arg, langs[i]) == 0)
            return langs[i];
    *bad = arg != NULL;
    return NULL;
}

const char *cli_i18n_init(int argc, char **argv)
{
    bool bad = false;
    const char *lang = asked(from_args(argc, argv), &bad);
    /* the first of the environment's that is set decides, as for gettext */
    const char *vars[] = {"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; !lang && i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            lang = known(v) ? known(v) : "en";
    }
    chosen = lang ? lang : "en";
    /* gettext ignores LANGUAGE in the C locale and Debian ships no fi_FI
     * locale by default: the messages follow LANGUAGE under C.UTF-8 */
    setenv("LANGUAGE", chosen, 1);
    const char *loc = setlocale(LC_ALL, "");
    if (!loc || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0)
        setlocale(LC_ALL, "C.UTF-8");
    setlocale(LC_NUMERIC, "C"); /* numbers stay as the APIs write them */
    const char *dir = getenv("POLKU_LOCALEDIR");
    bindtextdomain("polku", dir && *dir ? dir : POLKU_LOCALEDIR);
    bind_textdomain_codeset("polku", "UTF-8");
    textdomain("polku");
    return bad ? NULL : chosen;
}

const char *cli_lang(void)
{
    return chosen;
}

const char *cli_lang_arg(int argc, char **argv)
{
    return from_args(argc, argv);
}

/* unix_ms in Europe/Helsinki time. */
static void helsinki_tm(uint64_t ms, struct tm *tm)
{
    const char *tz = getenv("TZ");
    char *saved = tz ? strdup(tz) : NULL;
    setenv("TZ", "Europe/Helsinki", 1);
    tzset();
    time_t t = (time_t)(ms / 1000);
    localtime_r(&t, tm);
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

const char *cli_local_time(const char *rfc3339, char *buf, size_t len)
{
    uint64_t ms;
    bool date_only = false;
    if (!rfc3339) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (polku_time_parse_why(rfc3339, &ms, &date_only, NULL, 0) != 0) {
        snprintf(buf, len, "%s", rfc3339);
        return buf;
    }
    struct tm tm;
    helsinki_tm(ms, &tm); /* a plain date's midnight UTC: the same day */
    int n = snprintf(buf, len, "%d.%d.%d", tm.tm_mday, tm.tm_mon + 1,
                     tm.tm_year + 1900);
    if (date_only || n < 0 || (size_t)n >= len)
        return buf;
    /* TRANSLATORS: the separator of hours and minutes (fi: ".") */
    const char *sep = _(":");
    snprintf(buf + n, len - (size_t)n, " %02d%s%02d", tm.tm_hour, sep,
             tm.tm_min);
    return buf;
}
