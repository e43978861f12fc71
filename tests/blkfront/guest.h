/* SPDX-License-Identifier: MIT */
/*
 * The guest side of a test frontend on xensim: the domain's qtest socket
 * (event channels, the grant table placement) and its RAM, mapped through
 * xen_guest_memfd. Only what a real guest has: its own memory, a grant
 * table in it, event channels. Event channels are either the port's own
 * eventfds (xen_evtchn_fds: a write to notify, poll to wait, as cheap as
 * Xen's hypercall and upcall) or qtest text (xen_evtchn_send round trips
 * and EVTCHN lines relayed by xensim's qtest thread).
 */
#ifndef BLKFRONT_GUEST_H
#define BLKFRONT_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/grant_table.h>

#define GUEST_PAGE_SIZE 4096u
#define GUEST_MAX_REGIONS 2
#define GUEST_MAX_PORTS 64

struct guest_region {
    uint64_t gpa, size, offset;
};

enum guest_evtchn_mode {
    GUEST_EVTCHN_DIRECT, /* the port's eventfds (xen_evtchn_fds) */
    GUEST_EVTCHN_TEXT,   /* xen_evtchn_send and EVTCHN lines */
};

#define GUEST_PORT_WORDS ((GUEST_MAX_PORTS + 63) / 64)

struct guest {
    int fd;                 /* qtest socket */
    char buf[8192];         /* received, not yet split into lines */
    size_t len;
    uint8_t *ram;
    uint64_t ram_size;
    struct guest_region region[GUEST_MAX_REGIONS];
    unsigned int nr_regions;
    enum guest_evtchn_mode evtchn_mode; /* for ports allocated from now on */
    uint64_t pending[GUEST_PORT_WORDS]; /* events seen, by port */
    unsigned int pending_high;          /* EVTCHN lines for ports above the bitmap */
    uint64_t direct[GUEST_PORT_WORDS];  /* ports whose eventfds we hold */
    int send_fd[GUEST_MAX_PORTS];       /* valid where direct has the bit */
    int recv_fd[GUEST_MAX_PORTS];

    grant_entry_v1_t *gnttab; /* in guest RAM */
    uint32_t nr_grants;
};

/* Connect to DIR/domN.qtest and map the guest's RAM. false: *err (g_free). */
bool guest_open(struct guest *g, const char *dir, unsigned int domid, char **err);
void guest_close(struct guest *g);

/* One qtest command; its reply (g_free) or NULL when the socket died.
 * Asynchronous EVTCHN lines that arrive meanwhile are recorded. */
char *guest_cmd(struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Pointer to [gpa, gpa + len) if it is RAM inside one region. */
void *guest_ptr(struct guest *g, uint64_t gpa, uint64_t len);

/* The grant table: nframes at gpa (xen_gnttab_setup). */
bool guest_gnttab_setup(struct guest *g, uint64_t gpa, unsigned int nframes, char **err);
/* Use a table another frontend of this guest already set up at gpa. */
bool guest_gnttab_attach(struct guest *g, uint64_t gpa, unsigned int nframes, char **err);
/* Grant domid access to the frame at gpa (entry written as a guest does:
 * frame and domid first, then flags after a barrier). */
void guest_grant(struct guest *g, grant_ref_t ref, domid_t domid, uint64_t gpa, bool readonly);
/* End access: false if the backend still has the entry in use (reading or
 * writing bits set), in which case the entry is left alone. */
bool guest_grant_end(struct guest *g, grant_ref_t ref);
/* The entry's flags now (tests and diagnostics). */
uint16_t guest_grant_flags(struct guest *g, grant_ref_t ref);

/* Event channels: an unbound port for remote (in g->evtchn_mode: direct
 * also takes its eventfds), a notify, a close. */
bool guest_evtchn_alloc(struct guest *g, unsigned int remote, unsigned int *port, char **err);
bool guest_evtchn_send(struct guest *g, unsigned int port);
void guest_evtchn_close(struct guest *g, unsigned int port);
/* Wait up to timeout_ms for an event on any port (or one already seen):
 * a direct port's eventfd or an EVTCHN line. Returns true if any port
 * fired (all pending ports are cleared and the caller checks its rings);
 * false on timeout or a dead socket (*dead). */
bool guest_wait_event(struct guest *g, int timeout_ms, bool *dead);

#endif
