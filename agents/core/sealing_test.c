/* sealing_test — text sealed across a key rotation is still opened.
 *
 * Two organisations, a (sender) and b (receiver). b changes its key pair;
 * for a while the directory lists b's new key and its previous one, and
 * b's agent holds both pairs. What a sealed to b's old key, or b sealed
 * with its old key, before the change still opens; without the previous
 * pair it does not (the refusal a rotation used to cause); after the end
 * time the directory no longer offers the old key. When the broker lists a
 * key b's agent does not hold yet, text sealed to it is held back, not
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "sealing.h"
#include "polku/clock.h"
#include "polku/error.h"

typedef struct org {
    polku_keypair key, previous;
    directory dir;
    sealing s;
} org;

/* Sets o's directory: a with a_key, b with b_key and (if not NULL)
 * b_previous listed until until_ms. */
static void set_dir(org *o, const char *a_key, const char *b_key,
                    const char *b_previous, uint64_t until_ms)
{
    Polku__DirectoryEntry ea = POLKU__DIRECTORY_ENTRY__INIT,
                          eb = POLKU__DIRECTORY_ENTRY__INIT;
    ea.org = "a";
    ea.name = "a";
    ea.public_key = (char *)a_key;
    eb.org = "b";
    eb.name = "b";
    eb.public_key = (char *)b_key;
    if (b_previous) {
        eb.previous_public_key = (char *)b_previous;
        eb.previous_key_until = until_ms;
    }
    Polku__DirectoryEntry *list[] = {&ea, &eb};
    Polku__Welcome w = POLKU__WELCOME__INIT;
    w.n_directory = 2;
    w.directory = list;
    assert_int_equal(directory_set(&o->dir, &w), POLKU_OK);
}

static void org_init(org *o, const char *self)
{
    memset(o, 0, sizeof *o);
    assert_int_equal(polku_keypair_generate(&o->key), 0);
    directory_init(&o->dir, self);
    o->s = (sealing){.dir = &o->dir,
                     .secret_z85 = o->key.secret_z85,
                     .public_z85 = o->key.public_z85,
                     .previous = &o->previous};
}

static void org_fini(org *o)
{
    sealing_fini(&o->s);
    directory_fini(&o->dir);
}

/* b rotates: its agent now holds new + previous pairs. */
static void rotate(org *b)
{
    b->previous = b->key;
    assert_int_equal(polku_keypair_generate(&b->key), 0);
}

static int open_reason(org *o, const char *from, ProtobufCBinaryData in,
                       const char *expect)
{
    Polku__SealedText *t = NULL;
    int rc = sealing_open(&o->s, from, in, &t);
    if (rc == POLKU_OK)
        assert_string_equal(sealed_reason(t), expect);
    polku__sealed_text__free_unpacked(t, NULL);
    return rc;
}

static void sealed_to_old_key_opens(void **state)
{
    (void)state;
    org a, b;
    org_init(&a, "a");
    org_init(&b, "b");
    set_dir(&a, a.key.public_z85, b.key.public_z85, NULL, 0);
    set_dir(&b, a.key.public_z85, b.key.public_z85, NULL, 0);
    ProtobufCBinaryData old = {0}, fresh = {0}, mine = {0};
    assert_int_equal(sealing_seal(&a.s, "b", "in flight", NULL, &old), 0);

    /* b takes its new pair; the broker still lists the old key */
    rotate(&b);
    assert_int_equal(open_reason(&b, "a", old, "in flight"), POLKU_OK);
    /* b seals with the key the directory lists for it: a opens it */
    assert_int_equal(sealing_seal(&b.s, "a", "from b, old", NULL, &mine), 0);
    assert_int_equal(open_reason(&a, "b", mine, "from b, old"), POLKU_OK);

    /* the broker lists the new key, the old one until an hour ahead */
    uint64_t until = polku_now_ms() + 3600000;
    set_dir(&a, a.key.public_z85, b.key.public_z85, b.previous.public_z85,
            until);
    set_dir(&b, a.key.public_z85, b.key.public_z85, b.previous.public_z85,
            until);
    assert_int_equal(sealing_seal(&a.s, "b", "new key", NULL, &fresh), 0);
    assert_int_equal(open_reason(&b, "a", fresh, "new key"), POLKU_OK);
    /* sealed to the old key before the change: opened with the previous */
    assert_int_equal(open_reason(&b, "a", old, "in flight"), POLKU_OK);
    /* sealed by b's old key before the change: a opens it with b's
     * previous key from the directory */
    assert_int_equal(open_reason(&a, "b", mine, "from b, old"), POLKU_OK);

    /* without the previous pair: refused, as before rotations existed */
    memset(&b.previous, 0, sizeof b.previous);
    assert_int_equal(open_reason(&b, "a", old, ""), POLKU_ECRYPTO);
    assert_int_equal(open_reason(&b, "a", fresh, "new key"), POLKU_OK);

    /* after the end time a no longer opens what b's old key sealed */
    set_dir(&a, a.key.public_z85, b.key.public_z85, b.previous.public_z85,
            polku_now_ms() - 1);
    b.previous = b.key; /* any pair: a's directory decides */
    assert_null(directory_previous_key(&a.dir, "b", polku_now_ms()));
    free(old.data);
    free(fresh.data);
    free(mine.data);
    org_fini(&a);
    org_fini(&b);
}

/* The broker took b's new key before b's agent did: what a seals to the
 * new key is not refused for good but held back (POLKU_EAGAIN: not
 * acknowledged, sent again), and opens once b holds the key. */
static void key_not_held_yet(void **state)
{
    (void)state;
    org a, b;
    org_init(&a, "a");
    org_init(&b, "b");
    polku_keypair old = b.key, fresh;
    assert_int_equal(polku_keypair_generate(&fresh), 0);
    uint64_t until = polku_now_ms() + 3600000;
    set_dir(&a, a.key.public_z85, fresh.public_z85, old.public_z85, until);
    set_dir(&b, a.key.public_z85, fresh.public_z85, old.public_z85, until);
    ProtobufCBinaryData in = {0};
    assert_int_equal(sealing_seal(&a.s, "b", "wait for me", NULL, &in), 0);
    assert_int_equal(open_reason(&b, "a", in, ""), POLKU_EAGAIN);
    b.previous = old; /* the agent reloaded with both key files */
    b.key = fresh;
    assert_int_equal(open_reason(&b, "a", in, "wait for me"), POLKU_OK);
    free(in.data);
    org_fini(&a);
    org_fini(&b);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sealed_to_old_key_opens),
        cmocka_unit_test(key_not_held_yet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
