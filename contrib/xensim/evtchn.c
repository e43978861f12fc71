/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/evtchn.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

void xsim_evtchn_table_init(struct xsim_evtchn_table *table)
{
    table->ports = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)xsim_evtchn_unref);
}

void xsim_evtchn_table_destroy(struct xsim_evtchn_table *table)
{
    if (table->ports)
        g_hash_table_destroy(table->ports);
    table->ports = NULL;
}

struct xsim_evtchn *xsim_evtchn_alloc(struct xsim_evtchn_table *table,
                                      enum xsim_evtchn_kind kind, int *err)
{
    uint32_t port = 1;
    while (port < XSIM_MAX_EVTCHN_PORTS &&
           g_hash_table_contains(table->ports, GUINT_TO_POINTER(port)))
        port++;
    if (port >= XSIM_MAX_EVTCHN_PORTS) {
        *err = -ENOSPC;
        return NULL;
    }
    int to_dm = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int to_guest = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (to_dm < 0 || to_guest < 0) {
        *err = -errno;
        if (to_dm >= 0)
            close(to_dm);
        if (to_guest >= 0)
            close(to_guest);
        return NULL;
    }
    struct xsim_evtchn *ch = g_new0(struct xsim_evtchn, 1);
    ch->refcount = 2; /* the table's and the caller's */
    ch->port = port;
    ch->kind = kind;
    ch->to_dm_fd = to_dm;
    ch->to_guest_fd = to_guest;
    g_hash_table_insert(table->ports, GUINT_TO_POINTER(port), ch);
    return ch;
}

struct xsim_evtchn *xsim_evtchn_lookup(struct xsim_evtchn_table *table, uint32_t port)
{
    return g_hash_table_lookup(table->ports, GUINT_TO_POINTER(port));
}

void xsim_evtchn_close(struct xsim_evtchn_table *table, uint32_t port)
{
    g_hash_table_remove(table->ports, GUINT_TO_POINTER(port));
}

struct xsim_evtchn *xsim_evtchn_ref(struct xsim_evtchn *ch)
{
    g_atomic_int_inc(&ch->refcount);
    return ch;
}

void xsim_evtchn_unref(struct xsim_evtchn *ch)
{
    if (!ch || !g_atomic_int_dec_and_test(&ch->refcount))
        return;
    close(ch->to_dm_fd);
    close(ch->to_guest_fd);
    g_free(ch);
}

void xsim_eventfd_signal(int fd)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is saturated: still signalled */
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n;
}

bool xsim_eventfd_drain(int fd)
{
    uint64_t value;
    return read(fd, &value, sizeof(value)) == (ssize_t)sizeof(value);
}
