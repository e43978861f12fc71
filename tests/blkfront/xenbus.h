/* SPDX-License-Identifier: MIT */
/*
 * xenbus as the guest: the real libxenstore on DIR/domN.xenstore (xensim
 * serves it as domain N, with Xen's permission rules).
 */
#ifndef BLKFRONT_XENBUS_H
#define BLKFRONT_XENBUS_H

#include <stdbool.h>
#include <stdint.h>
#include <xenstore.h>

struct xenbus {
    struct xs_handle *xs;
    char *watched; /* the path watched by xenbus_wait_state, or NULL */
};

bool xenbus_open(struct xenbus *xb, const char *dir, unsigned int domid, char **err);
void xenbus_close(struct xenbus *xb);

/* dir/key as a string (g_free) or NULL if missing or unreadable. */
char *xenbus_read(struct xenbus *xb, const char *dir, const char *key);
/* dir/key as an unsigned number; def when missing; false if malformed. */
bool xenbus_read_uint(struct xenbus *xb, const char *dir, const char *key, uint64_t def,
                      uint64_t *out);

/* Writes collected and committed in one transaction (retried on EAGAIN). */
struct xenbus_batch;
struct xenbus_batch *xenbus_batch_new(void);
void xenbus_batch_add(struct xenbus_batch *b, const char *dir, const char *key,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool xenbus_batch_commit(struct xenbus *xb, struct xenbus_batch *b, char **err);
void xenbus_batch_free(struct xenbus_batch *b);

bool xenbus_write_state(struct xenbus *xb, const char *dir, unsigned int state, char **err);

/* Wait until dir/state satisfies accept(state) (watching it), or
 * timeout_ms. Returns the state seen last (0 if missing) in *state. */
bool xenbus_wait_state(struct xenbus *xb, const char *dir, bool (*accept)(unsigned int state),
                       int timeout_ms, unsigned int *state);

const char *xenbus_state_name(unsigned int state);

#endif
