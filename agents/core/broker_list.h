/* broker_list.h — the agent's `broker =`: one address, or the addresses of
 * a broker pair separated by spaces, and which one to use next.
 *
 * Why: a broker pair (broker/ha.h) has one active broker; an agent talks
 * to one address at a time and moves on when it is silent or answers that
 * it is passive (agents/net/link.c). The list and the choice of the next
 * address are pure, so they are tested without sockets. */
#ifndef POLKU_AGENT_BROKER_LIST_H
#define POLKU_AGENT_BROKER_LIST_H

#include <stddef.h>

#define BROKER_LIST_MAX 8
#define BROKER_ADDR_MAX 255

typedef struct broker_list {
    char addr[BROKER_LIST_MAX][BROKER_ADDR_MAX + 1];
    size_t n;
} broker_list;

/* Splits s at spaces and tabs into out. POLKU_OK, or POLKU_ECONFIG with
 * why set: no address, more than BROKER_LIST_MAX, one too long, not a
 * ZeroMQ endpoint (tcp://, ipc://) or listed twice. */
int broker_list_parse(const char *s, broker_list *out, char *why,
                      size_t why_len);

/* Where to go after the address at `at`: named (the active one, as a
 * passive broker names it) when it is in the list and not `at`, else the
 * one after `at`, round. */
size_t broker_list_next(const broker_list *l, size_t at, const char *named);

#endif
