/* pair_beat_fuzz.c — fuzz target for the heartbeat between the two
 * brokers of a pair (broker/ha_beat.h).
 *
 * A beat comes from the network (the peer's ha_bind), so its decoder must
 * survive any bytes; an accepted beat has a state and role in range and a
 * printable listen address, and encodes again to a beat that decodes to
 * the same values. Built as a libFuzzer binary (fuzz_pair_beat) and as a
 * corpus replay test (fuzz_pair_beat_replay). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ha_beat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ha_beat b, again;
    char why[96];
    if (ha_beat_decode(data, size, &b, why, sizeof why) != 0) {
        if (strnlen(why, sizeof why) == sizeof why || why[0] == '\0')
            abort(); /* a refusal says why */
        return 0;
    }
    if (b.state < 1 || b.state > 4 || b.role < 1 || b.role > 2 ||
        strlen(b.listen) > HA_LISTEN_MAX)
        abort();
    for (const char *p = b.listen; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            abort();
    uint8_t buf[1024];
    size_t n = ha_beat_encode(&b, buf, sizeof buf);
    if (n == 0 || ha_beat_decode(buf, n, &again, why, sizeof why) != 0 ||
        again.state != b.state || again.role != b.role ||
        again.epoch != b.epoch || again.generation != b.generation ||
        strcmp(again.listen, b.listen) != 0)
        abort();
    return 0;
}
