/* backup.h — an operator's consistent copy of an agent's store, and its
 * return.
 *
 * A copy of data.mdb taken with cp while the agent writes can be torn;
 * backup_make asks LMDB for a consistent, compacted copy (mdb_env_copy2
 * with MDB_CP_COMPACT) of a store in use, without stopping the agent.
 * backup_restore puts such a copy back in place of a stopped agent's store
 * and gives it a new incarnation: the restored log is older than what the
 * other organisations and the broker hold, and on its next connection the
 * broker says how far it had seen, so the agent continues after that and
 * never reuses a sequence (eventlog_continue_after). docs/operations.md
 * says when to use which. */
#ifndef POLKU_AGENT_BACKUP_H
#define POLKU_AGENT_BACKUP_H

#include <stdint.h>

/* Copies the store in store_dir (in use or not) into dest_dir, which must
 * not exist or be empty. POLKU_OK, POLKU_EEXIST (dest_dir holds a file),
 * POLKU_ENOTFOUND (no store), POLKU_EIO, POLKU_ESTORE; logged. *last_seq:
 * the copy's last event. */
int backup_make(const char *store_dir, const char *dest_dir,
                uint64_t *last_seq);

/* Replaces the store of org in store_dir by the copy in backup_dir (made
 * by backup_make) and starts a new incarnation. The agent must be stopped.
 * POLKU_OK, POLKU_ENOTFOUND (no copy there), POLKU_EINVAL (the copy is
 * another organisation's), POLKU_ECORRUPT, POLKU_EIO; logged. *last_seq
 * and *incarnation: the restored store's. */
int backup_restore(const char *backup_dir, const char *store_dir,
                   const char *org, uint64_t *last_seq, uint64_t *incarnation);

#endif
