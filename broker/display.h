/* display.h — display pseudonyms: how the broker names a client to
 * anyone who is not that client's agent.
 *
 * A region client key is HMAC-SHA-256(region secret, identity code), and
 * every agent host of the region holds that secret. An identity code has
 * only a few thousand candidates per birth date, so anyone with the
 * secret turns a client key back into the identity code in well under a
 * second (docs/privacy.md). The dashboard, the feed, the broker's JSON
 * API and its logs are seen by far more people than one organisation's
 * staff, so they never show the client key. They show its display
 * pseudonym instead:
 *
 *     HMAC-SHA-256(display secret, "polku-display:" || client key),
 *     truncated to 16 bytes, 32 lowercase hex
 *
 * The display secret is the broker's own (display_secret_file), read at
 * start and never sent anywhere, so a display pseudonym is stable across
 * restarts and cannot be reversed by an agent. Only the answers over an
 * agent's own link (PathReply) carry the real client key.
 *
 * The names it has given are remembered (display_note) so that
 * /api/v1/paths/{display} can find the client again. */
#ifndef POLKU_BROKER_DISPLAY_H
#define POLKU_BROKER_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISPLAY_SECRET_BYTES 32
#define DISPLAY_NAME_TEXT 33 /* 32 hex + NUL */

typedef struct display display;

/* A display over this secret (copied). NULL when out of memory. */
display *display_new(const uint8_t secret[DISPLAY_SECRET_BYTES]);
/* Wipes the secret, frees, nulls *d; NULL and *d NULL are fine. */
void display_free(display **d);

/* Room for this many clients without growing the tables
 * (idmap_presize); a hint: nothing changes when memory runs out. */
void display_presize(display *d, size_t clients);

/* The display pseudonym of a 16-byte client key, as 32 lowercase hex.
 * d NULL renders the client key itself: only for answers that go back
 * over the asking agent's own link, never for anything served or
 * logged. */
void display_name(const display *d, const uint8_t client_key[16],
                  char out[DISPLAY_NAME_TEXT]);

/* The pseudonym without a display object (tests, tools). */
void display_name_with(const uint8_t secret[DISPLAY_SECRET_BYTES],
                       const uint8_t client_key[16],
                       char out[DISPLAY_NAME_TEXT]);

/* Remembers the client so display_lookup finds it by its pseudonym.
 * POLKU_OK, or POLKU_ENOMEM (the client is then not found by name). */
int display_note(display *d, const uint8_t client_key[16]);

/* The client key whose pseudonym is name (32 lowercase hex), if noted. */
bool display_lookup(const display *d, const char *name, uint8_t client_key[16]);

/* Clients noted. */
size_t display_count(const display *d);

#endif
