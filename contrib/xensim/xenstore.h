/* SPDX-License-Identifier: MIT */
/*
 * xensim's xenstore: an in-memory store serving the xenstore wire protocol
 * (<xen/io/xs_wire.h>) on unix sockets, so the real libxenstore and the
 * xenstore-utils tools work against it with XENSTORED_PATH set.
 *
 * All functions must be called from the thread that runs the GMainContext
 * given to xs_store_new(); the store is not otherwise locked.
 */
#ifndef XENSIM_XENSTORE_H
#define XENSIM_XENSTORE_H

#include <glib.h>
#include <stdbool.h>

struct xs_store;

/* Create the store and serve dom0 (privileged) connections at socket_path. */
struct xs_store *xs_store_new(GMainContext *ctx, const char *socket_path, GError **error);
void xs_store_free(struct xs_store *xs);

/* Serve connections at socket_path acting as domain domid, with Xen's
 * permission rules for an unprivileged domain. */
bool xs_store_add_guest_socket(struct xs_store *xs, unsigned int domid, const char *socket_path,
                               GError **error);

/* What the toolstack does when a domain is created / destroyed:
 * introduce makes /local/domain/ID (owned by ID, readable by dom0) and
 * fires @introduceDomain; release removes it, closes that domain's guest
 * connections and fires @releaseDomain. */
void xs_store_introduce_domain(struct xs_store *xs, unsigned int domid);
void xs_store_release_domain(struct xs_store *xs, unsigned int domid);

/* Privileged in-process access (as dom0), firing watches like a client. */
bool xs_store_write(struct xs_store *xs, const char *path, const char *value);
char *xs_store_read(struct xs_store *xs, const char *path); /* g_free; NULL if absent */
bool xs_store_rm(struct xs_store *xs, const char *path);

#endif
