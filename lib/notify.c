/* notify.c — sd_notify when libsystemd is there (see polku/notify.h). */
#include "polku/notify.h"

#ifdef POLKU_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void polku_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "ready");
}

void polku_notify_status(const char *status)
{
    if (status)
        sd_notifyf(0, "STATUS=%s", status);
}

void polku_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

#else

void polku_notify_ready(const char *status)
{
    (void)status;
}

void polku_notify_status(const char *status)
{
    (void)status;
}

void polku_notify_stopping(void)
{
}

#endif
