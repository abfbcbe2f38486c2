/* json.c — see polku/json.h. */
#include "polku/json.h"

#include "polku/clock.h"

json_t *polku_json_time(uint64_t ms)
{
    if (!ms)
        return json_null();
    char t[POLKU_TIME_TEXT];
    polku_time_format(ms, t, sizeof t);
    return json_string(t);
}
