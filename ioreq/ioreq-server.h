/* SPDX-License-Identifier: MIT */
/*
 * One ioreq server of this process: its shared pages, one event port per
 * vCPU plus the buffered port, and the handling of every request type
 * against the dispatch tables. The state machine follows DESIGN.md: the
 * slot page is guest-adjacent memory, so each request is copied once and
 * never fetched again.
 */
#ifndef IOREQD_IOREQ_SERVER_H
#define IOREQD_IOREQ_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "ioreq/dispatch.h"
#include "ioreq/hv.h"
#include "ioreq/log.h"
#include "ioreq/mapcache.h"

/* Xen clips a rep instruction to at most this many elements per ioreq; a
 * larger count can only come from a broken or hostile sender. */
#define IOREQ_MAX_REP_COUNT 4096

struct ioreq_stats {
    uint64_t handled;
    uint64_t buffered;
    uint64_t invalid;
};

struct ioreq_server {
    struct hv *hv;
    uint16_t id;
    bool created, enabled;
    unsigned int nr_vcpus;
    struct hv_server_pages pages;
    hv_port_t *vcpu_ports;   /* local port per vCPU */
    hv_port_t buffered_port; /* -1 without a buffered ring */
    struct dispatch *dispatch;
    struct mapcache *mapcache;
    struct ioreq_stats stats;
    struct ratelimit bad_request_log;
    bool warned_type[256];   /* unknown types are logged once each */
};

/* Create the server, map its pages, bind its ports. Nothing is routed to
 * it until ioreq_server_enable(). */
int ioreq_server_setup(struct ioreq_server *s, struct hv *hv, unsigned int nr_vcpus,
                       bool want_buffered);
int ioreq_server_enable(struct ioreq_server *s);
/* Disable, destroy (the hypervisor drops every range), unbind, free. */
void ioreq_server_teardown(struct ioreq_server *s);

/* Event for a local port: returns false if the port is not ours. */
bool ioreq_server_handle_port(struct ioreq_server *s, hv_port_t port);

/* A request handled in polling mode ends the poll after this many, so the
 * main loop (signals, consoles, backends) gets its turn under load. */
#define IOREQ_POLL_MAX_BATCH 1024

/* Monotonic nanoseconds; a parameter so unit tests can drive time. */
typedef uint64_t (*ioreq_clock_fn)(void *opaque);

/* Polling mode: serve READY slots and the buffered ring without sleeping
 * until budget_ns pass with nothing to do (each request served restarts
 * the budget), or IOREQ_POLL_MAX_BATCH requests were served. Returns the
 * number of synchronous requests served. Only ever called after an event,
 * so an idle guest costs no CPU. */
unsigned int ioreq_server_poll(struct ioreq_server *s, uint64_t budget_ns, ioreq_clock_fn now,
                               void *opaque);

/* The pieces, exposed for unit tests. */
bool ioreq_server_handle_slot(struct ioreq_server *s, unsigned int vcpu);
unsigned int ioreq_server_drain_buffered(struct ioreq_server *s);
/* Serve one request (a local copy): fills req->data for non-pointer reads. */
void ioreq_server_serve(struct ioreq_server *s, ioreq_t *req);

#endif
