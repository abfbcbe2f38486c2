/* backup.c — consistent copies of a store and their return (see .h). */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "eventlog.h"
#include "polku/error.h"
#include "polku/log.h"
#include "store.h"

/* dir exists and is empty, or does not exist (then it is made). */
static int empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0) {
            log_error("cannot make %s: %s", dir, strerror(errno));
            return POLKU_EIO;
        }
        return POLKU_OK;
    }
    struct dirent *e;
    int rc = POLKU_OK;
    while ((e = readdir(d)) && rc == POLKU_OK)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            rc = POLKU_EEXIST;
    closedir(d);
    if (rc)
        log_error("%s is not empty: a backup goes into a new directory", dir);
    return rc;
}

static bool has_data(const char *dir)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The last event's sequence of an open environment. */
static uint64_t last_seq_of(MDB_env *env)
{
    MDB_txn *txn = NULL;
    MDB_dbi events;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint64_t last = 0;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
        return 0;
    if (mdb_dbi_open(txn, "events", 0, &events) == 0 &&
        mdb_cursor_open(txn, events, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            last = store_seq_from_key(k.mv_data);
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return last;
}

int backup_make(const char *store_dir, const char *dest_dir, uint64_t *last_seq)
{
    *last_seq = 0;
    if (!has_data(store_dir)) {
        log_error("no store in %s", store_dir);
        return POLKU_ENOTFOUND;
    }
    int rc = empty_dir(dest_dir);
    if (rc)
        return rc;
    MDB_env *env = NULL;
    int mrc = mdb_env_create(&env);
    if (!mrc)
        mrc = mdb_env_set_maxdbs(env, 16);
    if (!mrc) /* read-only, beside the running agent (LMDB's own locks) */
        mrc = mdb_env_open(env, store_dir, MDB_RDONLY | MDB_NOTLS, 0600);
    if (!mrc)
        *last_seq = last_seq_of(env);
    if (!mrc)
        mrc = mdb_env_copy2(env, dest_dir, MDB_CP_COMPACT);
    if (env)
        mdb_env_close(env);
    if (mrc) {
        log_error("cannot copy the store %s to %s: %s", store_dir, dest_dir,
                  mdb_strerror(mrc));
        return store_err(mrc);
    }
    return POLKU_OK;
}

/* Copies src to dst through dst.restoring, synced, then renamed: a crash
 * leaves either the old file or the new one. */
static int copy_file(const char *src, const char *dst)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.restoring", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out =
        in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = in < 0 || out < 0 ? POLKU_EIO : POLKU_OK;
    char buf[1 << 16];
    ssize_t n = 0;
    while (!rc && (n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t off = 0; !rc && off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0)
                rc = POLKU_EIO;
            else
                off += w;
        }
    if (!rc && (n < 0 || fsync(out) != 0))
        rc = POLKU_EIO;
    if (out >= 0 && close(out) != 0)
        rc = POLKU_EIO;
    if (in >= 0)
        close(in);
    if (!rc && rename(tmp, dst) != 0)
        rc = POLKU_EIO;
    if (rc) {
        log_error("cannot copy %s to %s: %s", src, dst, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

int backup_restore(const char *backup_dir, const char *store_dir,
                   const char *org, uint64_t *last_seq, uint64_t *incarnation)
{
    *last_seq = *incarnation = 0;
    if (!has_data(backup_dir)) {
        log_error("no backup in %s (data.mdb is missing)", backup_dir);
        return POLKU_ENOTFOUND;
    }
    /* the copy must be a sound store of this organisation before it
     * replaces anything */
    store probe;
    int rc = store_open(&probe, backup_dir, 1ull << 20, 1ull << 40, org);
    store_close(&probe);
    if (rc)
        return rc; /* logged: another org's, or damaged */
    if (mkdir(store_dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot make %s: %s", store_dir, strerror(errno));
        return POLKU_EIO;
    }
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/data.mdb", backup_dir);
    snprintf(dst, sizeof dst, "%s/data.mdb", store_dir);
    rc = copy_file(src, dst);
    if (rc)
        return rc;
    snprintf(dst, sizeof dst, "%s/lock.mdb", store_dir);
    unlink(dst); /* the stopped agent's reader table, rebuilt on open */
    /* a new incarnation: what it writes from now on is never confused
     * with what the copied log's sequences meant before */
    store st;
    batch b;
    outbox ob;
    eventlog log;
    rc = store_open(&st, store_dir, 1ull << 20, 1ull << 40, org);
    if (rc)
        return rc;
    batch_init(&b, &st);
    outbox_init(&ob, 1, 1, 1, 1, NULL, NULL);
    eventlog_init(&log, &st, &b, &ob, org);
    MDB_txn *txn = NULL;
    rc = store_err(mdb_txn_begin(st.env, NULL, 0, &txn));
    if (!rc)
        rc = eventlog_new_incarnation(&log, txn, NULL);
    /* what others sent after the copy went with the disk: asked for again
     * at the first Welcome */
    if (!rc)
        rc = eventlog_set_resend_needed(&log, txn, true);
    if (!rc)
        rc = store_last_seq(&st, txn, last_seq);
    if (!rc)
        rc = store_commit_durable(&st, txn);
    else if (txn)
        mdb_txn_abort(txn);
    *incarnation = log.incarnation;
    outbox_fini(&ob);
    store_close(&st);
    return rc;
}
