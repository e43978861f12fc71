/* SPDX-License-Identifier: MIT */
/*
 * A test blkif frontend (<xen/io/blkif.h>, <xen/io/ring.h>) playing the
 * guest on xensim: rings, data and indirect pages in guest RAM at a
 * region the caller names, grants it writes itself, event channels and
 * xenbus through the guest's own sockets. Library for the modes (modes.c)
 * and for other test programs.
 */
#ifndef BLKFRONT_H
#define BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/blkfront/guest.h"
#include "tests/blkfront/xenbus.h"

#define BLKFRONT_MAX_QUEUES 16
#define BLKFRONT_MAX_RING_ORDER 4
#define BLKFRONT_GRANT_FRAMES 32   /* 16384 entries: the most xensim allows */
#define BLKFRONT_FIRST_REF 8       /* refs below are reserved (console, xenstore) */
#define BLKFRONT_AUTO (-1)

enum blkfront_abi { BLKFRONT_ABI_NATIVE, BLKFRONT_ABI_X86_32, BLKFRONT_ABI_X86_64 };

struct blkfront_opts {
    const char *dir;
    unsigned int domid, devid;
    uint64_t gpa_base, gpa_size;  /* our part of guest RAM */
    uint64_t shared_gnttab;       /* 0: our own table at gpa_base; else another
                                     frontend's (of this guest) already there */
    uint32_t first_ref, nr_refs;  /* our grant refs (nr_refs 0: to the table's end) */
    enum blkfront_abi abi;
    bool write_protocol;          /* false: leave "protocol" unwritten */
    int queues;                   /* AUTO: the backend's maximum (capped at 4) */
    int ring_order;               /* AUTO: the backend's maximum */
    int persistent, flush, discard; /* AUTO (as the backend says), 0 off, 1 forced on */
    int indirect;                 /* AUTO, 0 off, N: use N segments whatever the backend says */
    unsigned int max_segments;    /* cap per request with indirect */
    unsigned int queue_depth;     /* requests in flight per queue (<= ring size) */
    int connect_timeout_ms, io_timeout_ms;
    enum guest_evtchn_mode evtchn; /* how the guest signals and waits (guest.h) */
};

void blkfront_opts_init(struct blkfront_opts *o);

/* What the backend advertised (xenbus keys). */
struct blkfront_backend_info {
    uint64_t sectors, sector_size, info;
    uint64_t max_ring_order, max_queues;
    bool flush, barrier, discard, discard_secure, persistent;
    uint64_t discard_granularity, discard_alignment, max_indirect;
};

/* Byte offsets of one ABI's ring entries (x86_32 packs 64-bit fields at 4). */
struct blkfront_layout {
    const char *protocol;
    size_t entry;
    size_t id, sector, seg;                 /* read/write; op at 0, nr_segments at 1, handle at 2 */
    size_t discard_nr;                      /* discard: flag at 1 */
    size_t ind_nseg, ind_id, ind_sector, ind_handle, ind_grefs; /* indirect: indirect_op at 1 */
    size_t rsp_id, rsp_op, rsp_status;
};

struct blkfront_slot {
    bool busy;
    uint8_t op;
    unsigned int nsegs, nind; /* data segments and indirect pages granted */
    bool readonly_data;
    void *read_to;            /* copy the data here on completion */
    size_t read_len, read_off;
    uint64_t tag;
};

struct blkfront_queue {
    unsigned int index;
    uint8_t *sring;           /* header, then nr_ents entries */
    uint64_t ring_gpa;
    unsigned int nr_pages, nr_ents, depth;
    grant_ref_t ring_ref[1u << BLKFRONT_MAX_RING_ORDER];
    unsigned int port;
    uint32_t req_prod_pvt, rsp_cons, pushed;
    unsigned int in_flight;
    struct blkfront_slot *slots;
    uint64_t data_gpa;        /* depth * max_segs pages */
    grant_ref_t data_ref;     /* depth * max_segs refs from here */
    uint64_t ind_gpa;         /* depth * 8 pages */
    grant_ref_t ind_ref;
};

struct blkfront {
    struct blkfront_opts opt;
    struct guest g;
    struct xenbus xb;
    char *fe_dir, *be_dir;
    struct blkfront_backend_info be;
    const struct blkfront_layout *layout;
    unsigned int nr_queues, ring_order;
    bool use_persistent, use_flush, use_discard;
    unsigned int max_segs;    /* per request: 11 direct or the indirect count */
    bool use_indirect;
    uint64_t gpa_next;        /* bump allocator in [gpa_base, gpa_base + gpa_size) */
    grant_ref_t ref_next, ref_end;
    struct blkfront_queue q[BLKFRONT_MAX_QUEUES];
    bool connected;
    uint64_t protocol_errors;
};

/* One I/O; sectors are 512 bytes (the blkif unit without large sectors). */
struct blkfront_io {
    uint8_t op;               /* BLKIF_OP_READ/WRITE/FLUSH_DISKCACHE/DISCARD */
    uint64_t sector;
    uint32_t nr_sectors;
    unsigned int first_sect;  /* start inside the first page (0..7) for read/write */
    bool secure;              /* discard */
    const void *write_from;   /* write: nr_sectors * 512 bytes */
    void *read_to;            /* read: filled on completion (NULL: not copied) */
    uint64_t tag;
    int queue;                /* AUTO: round robin */
};

struct blkfront_done {
    uint64_t tag;
    uint8_t op;
    int16_t status;
    unsigned int queue;
};

/* Connect: xenbus handshake to Connected. false: *err says what failed,
 * naming the state waited for on a timeout. */
bool blkfront_connect(struct blkfront *bf, const struct blkfront_opts *o, char **err);
/* Closing -> Closed, waiting for the backend; checks it let go of every
 * grant. false: *err. Always frees. */
bool blkfront_close(struct blkfront *bf, char **err);
/* Free without telling the backend anything (a guest that vanishes). */
void blkfront_abandon(struct blkfront *bf);

/* Queue one request (pushed by blkfront_kick). 0, -EAGAIN if no slot is
 * free on the queue, -EINVAL if it cannot be expressed. */
int blkfront_submit(struct blkfront *bf, const struct blkfront_io *io);
/* Publish queued requests and notify where the backend asked to be. */
bool blkfront_kick(struct blkfront *bf);
/* Completions so far (waiting up to timeout_ms for the first): up to max
 * into done. -1 on a protocol error or dead socket (*err). */
int blkfront_complete(struct blkfront *bf, struct blkfront_done *done, int max, int timeout_ms,
                      char **err);
unsigned int blkfront_in_flight(const struct blkfront *bf);

/* raw requests: the next free entry of queue q and its slot, to fill by
 * hand; blkfront_raw_commit queues it. */
uint8_t *blkfront_raw_entry(struct blkfront *bf, unsigned int q, unsigned int *slot);
void blkfront_raw_commit(struct blkfront *bf, unsigned int q, unsigned int slot, uint8_t op,
                         uint64_t tag);
/* Write req_prod as given (a corrupt ring) and notify. */
bool blkfront_raw_publish(struct blkfront *bf, unsigned int q, uint32_t req_prod);
/* Data page i and its ref for slot s of queue q. */
uint64_t blkfront_slot_page(struct blkfront *bf, unsigned int q, unsigned int s, unsigned int i,
                            grant_ref_t *ref);

/* A page of our region and a grant ref of its own, not granted yet. */
bool blkfront_alloc_page(struct blkfront *bf, uint64_t *gpa, grant_ref_t *ref, char **err);

const char *blkfront_status_name(int status);
void blkfront_put(uint8_t *p, size_t off, uint64_t v, size_t size);

#endif
