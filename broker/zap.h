/* zap.h — the ZAP handler that lets only the directory's organisations
 * connect (zap.c says why the broker needs its own). */
#ifndef POLKU_BROKER_ZAP_H
#define POLKU_BROKER_ZAP_H

#include "broker_state.h"

/* Binds the ZAP handler on b's context and loop; must run before the
 * ROUTER binds. POLKU_OK or POLKU_EZMQ (logged). */
int zap_start(broker *b);

#endif
