/* reload.h — the organisation directory changed without a restart.
 *
 * Why it exists: adding an organisation, removing one or changing a key
 * used to need a broker restart, which starts a new epoch (every agent
 * resends what is unacknowledged, every log is replayed) and resets the
 * alerts' ages and the feed's epoch. A reload (SIGHUP, `systemctl reload`)
 * reads the config file again and swaps only the directory; the epoch,
 * the indexes, the alerts, the feed and every other route stay as they
 * are.
 *
 * What a reload does, per organisation of the old and the new file:
 *
 *   old file    new file        effect
 *   -           [org X]         added: ZAP accepts its key; its route starts
 *                               offline, counted as replayed (nothing waits
 *                               for it), its log asked for on its Hello
 *   [org X]     -               removed: ZAP refuses its key; its route is
 *                               dropped; a live connection gets Nack
 *                               not_authenticated now and for every frame
 *   [org X] K1  [org X] K2      key changed: new connections must use K2;
 *                               a connection already authenticated stays
 *   [org X] K1  [org X] K2      a rotation (rotation.h): K1 is still let
 *               previous K1     in and listed until previous_key_until
 *   [org X]     [org X]         name/services taken as they are now
 *
 * Then every connected agent gets a Welcome of the same epoch carrying the
 * new directory (the agent takes it without resending anything).
 *
 * A file that does not load (syntax, a bad key, an unreadable key file) is
 * refused with its FILE:LINE error in the log; nothing changes. Keys of
 * [broker] that need a restart (listen, http, feed, key_file, ...) are
 * named in a warning when they differ and keep their running values;
 * [sla] takes effect at once. */
#ifndef POLKU_BROKER_RELOAD_H
#define POLKU_BROKER_RELOAD_H

#include "broker_state.h"

/* Reads path again and applies its directory to b. POLKU_OK, or
 * POLKU_ECONFIG / POLKU_ENOTFOUND (the file refused, logged, b unchanged)
 * or POLKU_ENOMEM (b unchanged). */
int broker_reload(broker *b, const char *path);

/* The same, and why (if not NULL) gets one line for whoever asked: what
 * the reload did, or the FILE:LINE error it refused. */
int broker_reload_report(broker *b, const char *path, char *why,
                         size_t why_len);

#endif
