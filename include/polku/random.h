/* random.h — random bytes for nonces and id suffixes, without a system
 * call each time.
 *
 * libsodium's randombytes_buf asks the kernel (getrandom) on every call;
 * an agent made one such call per message id and per sealed text, which on
 * a virtual machine costs more than the cryptography itself. This hands
 * out bytes from a pool that libsodium refills a page at a time. The bytes
 * are as unpredictable as libsodium's; a child of fork() never reuses the
 * parent's pool. Keys are not made from it: they use randombytes_buf. */
#ifndef POLKU_RANDOM_H
#define POLKU_RANDOM_H

#include <stddef.h>

/* Fills buf with n random bytes (thread-safe). */
void polku_random_bytes(void *buf, size_t n);

#endif
