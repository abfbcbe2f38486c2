/* store_check_test.c — a damaged store is refused by name, never a SIGBUS.
 *
 * An agent's LMDB store is mapped into memory: a data.mdb cut short used
 * to kill the agent with SIGBUS at its first read, and junk pages sent it
 * wherever LMDB's tree walk went. A real region makes a real store (org-b
 * receives referrals from org-a), the agents stop, and the test damages
 * org-b's data.mdb: cut to half, random pages in use (a page header naming
 * its own number, not in LMDB's free list) overwritten with random bytes,
 * and the two meta pages overwritten. Each time the
 * agent must exit 1 on its own (not by a signal) with the store named as
 * damaged in its log, and `polku-agent --check` must exit 1; the intact
 * store checks sound (exit 0, a summary) and serves again.
 * STORE_CHECK_SEED=N repeats the random rounds of a failed run. */
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

enum { N_REFERRALS = 40 };

/* A region whose org-b holds N_REFERRALS received referrals (some
 * accepted); both agents stopped. */
static h_org *make_store(void)
{
    h_region *r = h_region_new();
    h_org *a = h_region_add_org(r, "org-a", "");
    h_org *b = h_region_add_org(r, "org-b", "");
    h_broker_start(r);
    h_agent_start_connected(a);
    h_agent_start_connected(b);
    char key[33], id[64], reason[1501];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = '\0';
    h_client_key(key);
    h_consent_ok(a, key, b->id);
    for (int i = 0; i < N_REFERRALS; i++) {
        H_REQUIRE(h_referral_create(a, key, b->id, NULL, reason, id, NULL) ==
                      201,
                  "referral %d created", i);
        if (i % 4 == 0) {
            h_wait_status(b, id, "received", H_SEC(10));
            H_REQUIRE(h_referral_set_status(b, id, "accepted", NULL, NULL,
                                            NULL) == 200,
                      "referral %d accepted", i);
        }
    }
    H_WAIT_UNTIL(H_SEC(20), h_referral_list(b, "in", NULL, NULL) == N_REFERRALS,
                 "org-b to hold %d referrals", N_REFERRALS);
    H_REQUIRE(h_agent_stop(a) == 0, "org-a stops");
    H_REQUIRE(h_agent_stop(b) == 0, "org-b stops");
    return b;
}

static void store_file(h_org *o, char *path, size_t len)
{
    snprintf(path, len, "%s/data.mdb", o->store);
}

/* `polku-agent --check --config` of o; its output in *out (free it). */
static int run_check(h_org *o, char **out)
{
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s.check", o->proc.log);
    unlink(out_path);
    char *argv[] = {POLKU_AGENT_BIN, "--check", "--config", o->proc.config,
                    NULL};
    int rc = h_run_program(argv, out_path, H_SEC(30));
    *out = h_read_file(out_path, NULL);
    if (!*out)
        *out = strdup("");
    return rc;
}

/* Starts o's agent on a damaged store: it must exit 1 by itself, with a
 * log line naming the store as damaged. what: the damage, for messages. */
static void expect_refused(h_org *o, const char *what)
{
    if (!o->region->written)
        h_region_write(o->region);
    struct stat sb;
    long before = stat(o->proc.log, &sb) == 0 ? (long)sb.st_size : 0;
    h_proc_start(&o->proc);
    o->proc.expect_alive = false; /* it is expected to end */
    uint64_t deadline = h_now_ms() + H_SEC(20);
    while (h_proc_running(&o->proc) && h_now_ms() < deadline)
        h_poll_pause();
    if (h_proc_running(&o->proc)) {
        h_proc_kill(&o->proc);
        H_FAIL("%s: the agent kept running on a damaged store", what);
    }
    int st = o->proc.last_status;
    H_CHECK(!WIFSIGNALED(st), "%s: the agent died by signal %d (%s)", what,
            WIFSIGNALED(st) ? WTERMSIG(st) : 0,
            WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "");
    H_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1,
            "%s: the agent exits with status 1 (got 0x%x)", what, st);
    size_t len = 0;
    char *log = h_read_file(o->proc.log, &len);
    const char *run = log && (size_t)before <= len ? log + before : "";
    char named[600];
    snprintf(named, sizeof named, "store %s is damaged: ", o->store);
    const char *line = strstr(run, named);
    H_CHECK(line != NULL, "%s: the log names the store as damaged", what);
    H_CHECK(line && strstr(line, "restore the store directory from a backup"),
            "%s: and says what to do", what);
    if (line) {
        const char *end = strchr(line, '\n');
        h_note("%s: %.*s", what, (int)(end ? end - line : 200), line);
    }
    free(log);
    char *out = NULL;
    int rc = run_check(o, &out);
    H_CHECK(rc == 1, "%s: polku-agent --check exits 1 (got %d): %s", what, rc,
            out);
    H_CHECK(strstr(out, "is damaged") != NULL,
            "%s: --check says the store is damaged: %s", what, out);
    free(out);
}

static void write_all(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    H_REQUIRE(f && fwrite(data, 1, len, f) == len, "rewrite %s", path);
    fclose(f);
}

static void overwrite_page(const char *path, size_t psize, size_t pgno,
                           unsigned *seed)
{
    char *junk = malloc(psize);
    H_REQUIRE(junk, "malloc");
    for (size_t i = 0; i < psize; i++)
        junk[i] = (char)(rand_r(seed) >> 7);
    int fd = open(path, O_WRONLY);
    H_REQUIRE(fd >= 0 && pwrite(fd, junk, psize, (off_t)(pgno * psize)) ==
                             (ssize_t)psize,
              "overwrite page %zu of %s", pgno, path);
    close(fd);
    free(junk);
}

/* The pages in use that start with a page header (branch, leaf, the first
 * page of a big value): a page whose header names its own number, not in
 * the free list (read with LMDB). data: the intact file. */
static size_t used_pages(const char *dir, const char *data, size_t len,
                         size_t *pages, size_t max, size_t *psize)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_envinfo info;
    MDB_stat st;
    MDB_val k, v;
    H_REQUIRE(mdb_env_create(&env) == 0 &&
                  mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
                  mdb_env_info(env, &info) == 0 &&
                  mdb_env_stat(env, &st) == 0 &&
                  mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0 &&
                  mdb_cursor_open(txn, 0, &c) == 0,
              "open the intact store %s with LMDB", dir);
    *psize = st.ms_psize;
    size_t last = info.me_last_pgno;
    H_REQUIRE((last + 1) * st.ms_psize <= len, "the intact store is whole");
    char *is_free = calloc(last + 1, 1);
    H_REQUIRE(is_free, "calloc");
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        const size_t *ids = v.mv_data;
        for (size_t i = 1; i <= ids[0]; i++)
            if (ids[i] <= last)
                is_free[ids[i]] = 1;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    size_t n = 0;
    for (size_t pg = 2; pg <= last && n < max; pg++) {
        uint64_t self;
        uint16_t flags;
        memcpy(&self, data + pg * st.ms_psize, 8);
        memcpy(&flags, data + pg * st.ms_psize + 10, 2);
        if (!is_free[pg] && self == pg && (flags & 0x07)) /* branch|leaf|ovf */
            pages[n++] = pg;
    }
    free(is_free);
    return n;
}

static char *read_store(h_org *o, size_t *len)
{
    char path[600];
    store_file(o, path, sizeof path);
    char *data = h_read_file(path, len);
    H_REQUIRE(data && *len > 0, "read %s", path);
    return data;
}

static void intact_store_checks_sound(void)
{
    h_org *b = make_store();
    char *out = NULL;
    int rc = run_check(b, &out);
    H_CHECK(rc == 0, "--check of an intact store exits 0 (got %d): %s", rc,
            out);
    H_CHECK(strstr(out, "sound") && strstr(out, "referrals") &&
                strstr(out, "receipts") && strstr(out, "pages"),
            "--check prints a summary: %s", out);
    const char *line = strstr(out, "  referrals ");
    long entries = -1;
    H_CHECK(line && sscanf(line, " referrals %ld", &entries) == 1 &&
                entries == N_REFERRALS,
            "with %d referrals (%ld)", N_REFERRALS, entries);
    printf("%s", out);
    free(out);
    h_agent_start_connected(b);
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == N_REFERRALS,
            "the checked store serves its %d referrals", N_REFERRALS);
}

static void truncated_store_is_refused(void)
{
    h_org *b = make_store();
    char path[600];
    store_file(b, path, sizeof path);
    /* The agent keeps zeroed space written ahead of its pages (see
     * store_write_ahead): cut the half of what holds pages. */
    size_t len = 0;
    char *bytes = h_read_file(path, &len);
    H_REQUIRE(bytes, "read %s", path);
    size_t used = len;
    while (used > 0 && bytes[used - 1] == 0)
        used--;
    free(bytes);
    off_t cut = (off_t)(used / 2 / 4096 * 4096);
    H_REQUIRE(truncate(path, cut) == 0, "truncate %s", path);
    h_note("data.mdb (%zu bytes, pages in the first %zu) cut to %lld bytes",
           len, used, (long long)cut);
    expect_refused(b, "data.mdb cut to half");
}

static void random_pages_are_refused(void)
{
    h_org *b = make_store();
    const char *env_seed = getenv("STORE_CHECK_SEED");
    unsigned seed = env_seed ? (unsigned)strtoul(env_seed, NULL, 10)
                             : (unsigned)time(NULL) ^ (unsigned)getpid();
    h_note("STORE_CHECK_SEED=%u", seed);
    size_t len = 0, psize = 0, pages[512];
    char *intact = read_store(b, &len);
    size_t n = used_pages(b->store, intact, len, pages, 512, &psize);
    H_REQUIRE(n >= 4, "the store has pages with entries (%zu)", n);
    char path[600];
    store_file(b, path, sizeof path);
    for (int round = 0; round < 6; round++) {
        write_all(path, intact, len);
        int k = 1 + round % 3;
        char what[128];
        int w = snprintf(what, sizeof what, "round %d: page", round);
        for (int i = 0; i < k; i++) {
            size_t pg = pages[(size_t)rand_r(&seed) % n];
            H_REQUIRE(pg >= 2, "never a meta page here");
            overwrite_page(path, psize, pg, &seed);
            w += snprintf(what + w, sizeof what - (size_t)w, " %zu", pg);
        }
        expect_refused(b, what);
    }
    write_all(path, intact, len);
    free(intact);
    h_agent_start_connected(b); /* the same store, restored, serves */
    H_CHECK(h_referral_list(b, "in", NULL, NULL) == N_REFERRALS,
            "the restored store serves its %d referrals", N_REFERRALS);
}

static void meta_pages_are_refused(void)
{
    h_org *b = make_store();
    size_t len = 0, psize = 0, pages[8];
    char *intact = read_store(b, &len);
    used_pages(b->store, intact, len, pages, 8, &psize);
    free(intact);
    char path[600];
    store_file(b, path, sizeof path);
    unsigned seed = 1;
    overwrite_page(path, psize, 0, &seed);
    overwrite_page(path, psize, 1, &seed);
    expect_refused(b, "both meta pages overwritten");
}

int main(int argc, char **argv)
{
    h_init(argc, argv, "store_check_test");
    H_CASE(intact_store_checks_sound);
    H_CASE(truncated_store_is_refused);
    H_CASE(random_pages_are_refused);
    H_CASE(meta_pages_are_refused);
    return h_finish();
}
