/* access_answer_fuzz.c — fuzz target for an AccessAnswer as the asking
 * agent reads it (agents/api/render_access.h).
 *
 * Another organisation's rows of a client's access report reach the asker
 * through the broker as an encoded Envelope. The input is that frame: it
 * is decoded and checked by the codec (as the link does), and an accepted
 * AccessAnswer is rendered into a report, sorted and printed as CSV.
 * Beyond "no crash": the report holds one row per entry, the CSV one
 * header line and one line per row, and no field breaks a line or adds a
 * column (every value is from a closed vocabulary). Built as a libFuzzer
 * binary (fuzz_access_answer) and as a corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render_access.h"
#include "polku/codec.h"
#include "polku/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    polku_envelope *env = NULL;
    char why[128];
    if (polku_envelope_decode(data, size, POLKU_MAX_FRAME_DEFAULT, &env, why,
                              sizeof why) != POLKU_OK ||
        env->body_case != POLKU__ENVELOPE__BODY_ACCESS_ANSWER) {
        polku_envelope_free(&env);
        return 0;
    }
    static const uint8_t client[16] = {1, 2, 3};
    json_t *rep = render_access_report(client, "sote-keskus", true, 0);
    if (!rep)
        abort();
    const Polku__AccessAnswer *a = env->access_answer;
    const char *source = a->from_org[0] ? a->from_org : "kela";
    if (render_access_add(rep, source, a) != 0)
        abort();
    render_access_sort(rep);
    if (json_array_size(json_object_get(rep, "events")) != a->n_entries)
        abort();
    char *csv = render_access_csv(rep);
    if (!csv)
        abort();
    size_t lines = 0, commas = 0;
    for (const char *p = csv; *p; p++) {
        if (*p == '\n') {
            if (commas != 9)
                abort(); /* a value added a column */
            lines++;
            commas = 0;
        } else if (*p == ',') {
            commas++;
        }
    }
    if (lines != a->n_entries + 1)
        abort();
    free(csv);
    json_decref(rep);
    polku_envelope_free(&env);
    return 0;
}
