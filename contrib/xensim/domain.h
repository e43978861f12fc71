/* SPDX-License-Identifier: MIT */
/*
 * A simulated domain: its RAM (one memfd), its ioreq servers and their
 * routing table, its event channel ports, the CF8 latch, interrupt state,
 * and the guest-side accesses that the qtest connections issue.
 *
 * Threads: control connections run on the main loop; each qtest connection
 * is its own thread (its accesses may wait for a device model). `lock`
 * guards everything mutable below it and is never held while waiting for a
 * device model; each vCPU has its own mutex so one vCPU has one request in
 * flight.
 */
#ifndef XENSIM_DOMAIN_H
#define XENSIM_DOMAIN_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "contrib/xensim/dirty.h"
#include "contrib/xensim/evtchn.h"
#include "contrib/xensim/gnttab.h"
#include "contrib/xensim/irq.h"
#include "contrib/xensim/layout.h"
#include "contrib/xensim/log.h"
#include "contrib/xensim/routing.h"
#include "ioreq/hv.h"

enum xsim_domain_state {
    XSIM_DOMAIN_RUNNING,
    XSIM_DOMAIN_CRASHED,
    XSIM_DOMAIN_SHUTDOWN,
};

/* One ioreq server: its pages and ports. Refcounted: a vCPU waiting on it
 * keeps its slot page mapped after the owner destroyed it. */
struct xsim_server {
    gint refcount;
    unsigned int id;
    const void *owner; /* the control connection that created it */
    gint dead;         /* set (atomically) when destroyed; waiters give up */
    unsigned int nr_vcpus;
    int slot_fd;
    ioreq_t *slots;
    int buf_fd;             /* -1 without a buffered ring */
    buffered_iopage_t *buf; /* NULL without a buffered ring */
    struct xsim_evtchn **vcpu_port;
    struct xsim_evtchn *buf_port;
};

/* Something that wants the domain's asynchronous qtest lines (IRQ ...). */
struct xsim_listener {
    void (*send_line)(struct xsim_listener *listener, const char *line);
    bool intercept_irq;
};

/* pci-setup=on (guest-start.h): hvmloader's PCI stage before the guest's
 * first access. */
enum xsim_start_state { XSIM_START_PENDING, XSIM_START_RUNNING, XSIM_START_DONE };

struct xsim_domain {
    uint32_t domid;
    enum hv_arch arch;
    unsigned int nr_vcpus;
    uint64_t mem;
    struct xsim_ram_layout layout;
    int ram_fd;
    uint8_t *ram;
    struct xsim_ratelimit *rl;
    const gint *stopping; /* xensim is shutting down: waiters give up */
    GMutex *vcpu_lock;    /* nr_vcpus of them */
    /* --poll-us (benchmarks): a waiting vCPU spins this long on its slot
     * before sleeping on the event channel. 0: sleep at once (the default;
     * a real vCPU is descheduled, it never spins). Set before any access. */
    uint64_t vcpu_spin_ns;
    /* pci-setup=on: run the PCI stage once before the first guest access.
     * Set before any access; start_state is guarded by lock. */
    bool pci_setup_at_start;
    enum xsim_start_state start_state;

    GMutex lock;
    GCond changed; /* server set or state changed (xen_wait_servers) */
    struct xsim_routing routing;
    struct xsim_server *server[XSIM_MAX_SERVERS];
    struct xsim_evtchn_table evtchns;
    uint32_t cf8;
    struct xsim_irq_state irq;
    enum xsim_domain_state state;
    unsigned int shutdown_reason;
    uint64_t clock_ns;

    /* Grant table v1 in guest RAM (its own lock, see gnttab.h). */
    struct xsim_gnttab gnttab;
    /* Dirty pages: the VRAM window, MODIFIED_MEMORY (dirty.h). */
    struct xsim_dirty dirty;

    GMutex listeners_lock; /* taken alone, never with `lock` held inside */
    GPtrArray *listeners;
};

/* mmio_hole: x86 bytes below 4 GiB that are not RAM (firmware/memmap.h). */
struct xsim_domain *xsim_domain_new(uint32_t domid, enum hv_arch arch, uint64_t mem,
                                    uint64_t mmio_hole, unsigned int nr_vcpus, struct xsim_ratelimit *rl,
                                    const gint *stopping, GError **error);
void xsim_domain_free(struct xsim_domain *d);

/* --- the control side (device model ops). owner identifies the caller. --- */
int xsim_domain_create_server(struct xsim_domain *d, const void *owner, bool want_buffered,
                              unsigned int *id);
/* A ref to the caller's own server id: -EINVAL, -ENOENT, -EPERM. */
int xsim_domain_get_server(struct xsim_domain *d, const void *owner, uint64_t id,
                           struct xsim_server **out);
int xsim_domain_destroy_server(struct xsim_domain *d, const void *owner, uint64_t id);
void xsim_domain_destroy_owned_servers(struct xsim_domain *d, const void *owner);
int xsim_domain_set_server_state(struct xsim_domain *d, const void *owner, uint64_t id,
                                 uint64_t enabled);
int xsim_domain_map_range(struct xsim_domain *d, const void *owner, uint64_t id, uint64_t type,
                          uint64_t start, uint64_t end, bool map);
void xsim_server_unref(struct xsim_server *s);

/* Interrupt ops: validate, update, emit IRQ lines to intercepting listeners. */
int xsim_domain_set_isa_irq(struct xsim_domain *d, uint64_t irq, uint64_t level);
int xsim_domain_set_pci_intx(struct xsim_domain *d, uint64_t sbdf, uint64_t pin, uint64_t level);
int xsim_domain_set_link_route(struct xsim_domain *d, uint64_t link, uint64_t isa_irq);
int xsim_domain_inject_msi(struct xsim_domain *d, uint64_t addr, uint64_t data);
int xsim_domain_set_spi(struct xsim_domain *d, uint64_t irq, uint64_t level);
int xsim_domain_shutdown(struct xsim_domain *d, uint64_t reason);

void xsim_domain_add_listener(struct xsim_domain *d, struct xsim_listener *l);
void xsim_domain_remove_listener(struct xsim_domain *d, struct xsim_listener *l);

/* Crash the guest (never xensim): log why, every later access fails. */
void xsim_domain_crash(struct xsim_domain *d, const char *why);
enum xsim_domain_state xsim_domain_get_state(struct xsim_domain *d, unsigned int *reason);
const char *xsim_shutdown_reason_name(unsigned int reason);
unsigned int xsim_domain_enabled_servers(struct xsim_domain *d);
/* true once >= n servers are enabled, false after timeout_ms */
bool xsim_domain_wait_servers(struct xsim_domain *d, unsigned int n, uint64_t timeout_ms);
/* "N id,on|off,buf|nobuf,port=S-E+..,mmio=..,pci=.. ..." (g_free) */
char *xsim_domain_describe_servers(struct xsim_domain *d);

/* --- the guest side (access.c): what a vCPU does. Results: --- */
enum xsim_io_result {
    XSIM_IO_OK = 0,
    XSIM_IO_CRASHED = -1, /* the domain is (or just got) crashed */
    XSIM_IO_STOPPED = -2, /* xensim is shutting down */
    XSIM_IO_BADARG = -3,  /* e.g. a pointer outside RAM, a bad size */
    XSIM_IO_SHUTDOWN = -4,/* the domain is shut down */
};

/* Pointer to RAM at gpa if [gpa, gpa+len) is all RAM in one region. */
uint8_t *xsim_domain_ram(struct xsim_domain *d, uint64_t gpa, uint64_t len);

int xsim_guest_pio(struct xsim_domain *d, unsigned int vcpu, uint32_t port, unsigned int size,
                   bool is_read, uint64_t *value);
/* One access of size 1/2/4/8 anywhere (RAM or not). */
int xsim_guest_mem(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, unsigned int size,
                   bool is_read, uint64_t *value);
/* Byte buffers anywhere: RAM directly, the rest as naturally aligned accesses. */
int xsim_guest_mem_read(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, uint8_t *buf,
                        uint64_t len);
int xsim_guest_mem_write(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                         const uint8_t *buf, uint64_t len);
int xsim_guest_mem_set(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, uint8_t byte,
                       uint64_t len);
/* rep ins/outs (is_read = ins: device to RAM) with the data at gpa. */
int xsim_guest_rep_pio(struct xsim_domain *d, unsigned int vcpu, uint32_t port,
                       unsigned int size, uint32_t count, uint64_t gpa, bool df, bool is_read);
/* rep movs between MMIO at addr and RAM at gpa (is_read: addr to gpa). */
int xsim_guest_rep_mmio(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                        unsigned int size, uint32_t count, uint64_t gpa, bool df, bool is_read);
/* rep stos of value to MMIO at addr. */
int xsim_guest_rep_fill(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                        unsigned int size, uint32_t count, uint64_t value, bool df);
/* Synchronous INVALIDATE to every enabled server. */
int xsim_guest_invalidate(struct xsim_domain *d, unsigned int vcpu);

#endif
