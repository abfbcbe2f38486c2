/* notify.h — telling a service manager how a daemon is doing.
 *
 * Under systemd (Type=notify units, dist/systemd/) the broker and the
 * agents say READY=1 once they listen and serve, so `systemctl start`
 * returns when the service can be used and dependent units start after
 * it, and STOPPING=1 when they shut down. Built without libsystemd, or run
 * outside systemd (NOTIFY_SOCKET unset), every call does nothing. */
#ifndef POLKU_NOTIFY_H
#define POLKU_NOTIFY_H

/* READY=1 with a one-line STATUS= (e.g. "listening on tcp://...:5570"). */
void polku_notify_ready(const char *status);

/* STATUS= alone: what the daemon is doing now (e.g. "broker refused the
 * key"); shown by `systemctl status`. */
void polku_notify_status(const char *status);

/* STOPPING=1. */
void polku_notify_stopping(void);

#endif
