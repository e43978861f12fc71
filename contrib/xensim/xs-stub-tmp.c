/* SPDX-License-Identifier: MIT */
/* TEMPORARY: stands in for xenstore.c until it lands, so xensim links.
 * Deleted as soon as the real store is in the tree. */
#include "contrib/xensim/xenstore.h"

struct xs_store {
    int unused;
};

struct xs_store *xs_store_new(GMainContext *ctx, const char *socket_path, GError **error)
{
    return g_new0(struct xs_store, 1);
}

void xs_store_free(struct xs_store *xs)
{
    g_free(xs);
}

bool xs_store_add_guest_socket(struct xs_store *xs, unsigned int domid, const char *socket_path,
                               GError **error)
{
    return true;
}

void xs_store_introduce_domain(struct xs_store *xs, unsigned int domid) {}
void xs_store_release_domain(struct xs_store *xs, unsigned int domid) {}
bool xs_store_write(struct xs_store *xs, const char *path, const char *value)
{
    return true;
}
char *xs_store_read(struct xs_store *xs, const char *path)
{
    return NULL;
}
bool xs_store_rm(struct xs_store *xs, const char *path)
{
    return true;
}
