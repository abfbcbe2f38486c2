/* json_line.c — see polku/json_line.h. */
#include "polku/json_line.h"

#include "polku/json_writer.h"

char *polku_json_line(const polku_json_member *m, size_t n, size_t *len)
{
    jw w;
    jw_init(&w);
    jw_begin_object(&w);
    for (size_t i = 0; i < n; i++) {
        jw_key(&w, m[i].name);
        if (m[i].str)
            jw_string(&w, m[i].str);
        else
            jw_int(&w, (long long)m[i].num);
    }
    jw_end_object(&w);
    size_t written = 0;
    char *text = jw_take(&w, &written);
    jw_fini(&w);
    if (text && len)
        *len = written;
    return text;
}
