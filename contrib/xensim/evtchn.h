/* SPDX-License-Identifier: MIT */
/*
 * Event channels of one domain. Each port is a pair of eventfds: to_dm
 * (xensim writes it to notify the device model / backend, which polls it)
 * and to_guest (the device model writes it; xensim's vCPU thread, the
 * frontend's qtest connection or, after xen_evtchn_fds, the test frontend
 * itself polls it). Ports are refcounted because a
 * waiting vCPU, a server and a control connection's binding may each hold
 * one while another thread closes it. The table itself is protected by the
 * domain lock.
 */
#ifndef XENSIM_EVTCHN_H
#define XENSIM_EVTCHN_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define XSIM_MAX_EVTCHN_PORTS 4096

enum xsim_evtchn_kind {
    XSIM_EVTCHN_IOREQ,    /* one vCPU's port of an ioreq server */
    XSIM_EVTCHN_BUFIOREQ, /* an ioreq server's buffered ring */
    XSIM_EVTCHN_FRONTEND, /* allocated unbound by a PV frontend (qtest) */
};

struct xsim_evtchn {
    gint refcount;
    uint32_t port;
    enum xsim_evtchn_kind kind;
    int to_dm_fd;
    int to_guest_fd;
    bool bound;             /* a control connection holds it (domain lock) */
    uint32_t remote_domid;  /* FRONTEND: who may bind it */
    const void *owner;      /* FRONTEND: the qtest connection that made it */
    bool guest_has_fds;     /* FRONTEND: the guest got both eventfds and polls
                               to_guest itself (the owner's thread only) */
};

struct xsim_evtchn_table {
    GHashTable *ports; /* port -> struct xsim_evtchn * (holding a ref) */
};

void xsim_evtchn_table_init(struct xsim_evtchn_table *table);
void xsim_evtchn_table_destroy(struct xsim_evtchn_table *table);

/* Allocate the lowest free port (>= 1) with fresh eventfds; the table holds
 * one ref, the caller gets another. NULL with *err on failure. */
struct xsim_evtchn *xsim_evtchn_alloc(struct xsim_evtchn_table *table,
                                      enum xsim_evtchn_kind kind, int *err);
struct xsim_evtchn *xsim_evtchn_lookup(struct xsim_evtchn_table *table, uint32_t port);
/* Drop the table's ref and free the port number. */
void xsim_evtchn_close(struct xsim_evtchn_table *table, uint32_t port);

struct xsim_evtchn *xsim_evtchn_ref(struct xsim_evtchn *ch);
void xsim_evtchn_unref(struct xsim_evtchn *ch);

/* Add 1 to an eventfd (notify). */
void xsim_eventfd_signal(int fd);
/* Read and clear an eventfd; true if it had been signalled. */
bool xsim_eventfd_drain(int fd);

#endif
