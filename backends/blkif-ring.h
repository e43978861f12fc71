/* SPDX-License-Identifier: MIT */
/*
 * The backend's side of one blkif shared ring (<xen/io/blkif.h>,
 * <xen/io/ring.h>): take requests off the ring, each copied once into a
 * canonical form whatever the frontend's ABI, and put responses back.
 *
 * The ring lives in a page the frontend can rewrite at any moment, so
 * nothing here reads a ring field twice and every index is checked
 * against the ring's size before use.
 */
#ifndef BACKENDS_BLKIF_RING_H
#define BACKENDS_BLKIF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/io/blkif.h>

/* Request layouts. A 64-bit frontend (x86_64 or ARM, "native" for us)
 * aligns the 64-bit fields to 8 bytes; a 32-bit x86 frontend packs them at
 * 4-byte alignment, which moves every field after the handle. */
enum blkif_abi { BLKIF_ABI_64, BLKIF_ABI_X86_32 };

/* Xen's grant and ring page size, whatever the host's page size. */
#define BLKIF_PAGE_SIZE 4096u
#define BLKIF_MAX_RING_PAGE_ORDER 4
#define BLKIF_MAX_RING_PAGES (1u << BLKIF_MAX_RING_PAGE_ORDER)
/* Segments one indirect page describes. */
#define BLKIF_SEGS_PER_INDIRECT_PAGE (BLKIF_PAGE_SIZE / sizeof(struct blkif_request_segment))

/* `protocol` as the frontend wrote it (NULL or "" = native). */
bool blkif_abi_from_protocol(const char *protocol, enum blkif_abi *abi);

/* One request, as the frontend sent it, in host form. For INDIRECT,
 * segments are not filled: the caller fetches them from the indirect
 * pages (blkif_parse_indirect_page). */
struct blkif_req {
    uint8_t operation;
    uint8_t indirect_op;    /* INDIRECT only */
    uint16_t nr_segments;   /* as claimed; not yet validated */
    uint16_t handle;
    uint64_t id;
    uint64_t sector_number;
    uint64_t nr_sectors;    /* DISCARD only */
    uint8_t discard_flag;   /* DISCARD only */
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
};

struct blkif_ring {
    void *sring;            /* nr_pages mapped, shared with the frontend */
    unsigned int nr_pages;
    enum blkif_abi abi;
    uint32_t size;          /* entries: a power of two */
    size_t entry_size;
    uint32_t req_cons;      /* next request to take */
    uint32_t rsp_prod_pvt;  /* next response slot; published by push */
};

/* Sets up r over nr_pages (1..BLKIF_MAX_RING_PAGES, a power of two) of
 * mapped ring. The frontend initialised the indexes; we start from them as
 * Linux's blkback does (req_cons = rsp_prod_pvt = rsp_prod), so a
 * reconnecting frontend that reset them is followed. */
bool blkif_ring_init(struct blkif_ring *r, void *sring, unsigned int nr_pages, enum blkif_abi abi);

/* Entries a ring of nr_pages holds in that ABI. */
uint32_t blkif_ring_entries(unsigned int nr_pages, enum blkif_abi abi);

enum blkif_take {
    BLKIF_TAKE_NONE,     /* nothing new (or every slot awaits a response) */
    BLKIF_TAKE_OK,       /* *req filled, req_cons advanced */
    BLKIF_TAKE_CORRUPT,  /* req_prod claims more than the ring holds */
};

/* Takes the next request. `producer` is the req_prod read once by the
 * caller for this batch (blkif_ring_read_producer), so a frontend moving
 * it mid-batch cannot make us run past what we checked. */
uint32_t blkif_ring_read_producer(const struct blkif_ring *r);
enum blkif_take blkif_ring_take(struct blkif_ring *r, uint32_t producer, struct blkif_req *req);

/* Writes one response in the next response slot (not yet visible). */
void blkif_ring_put_response(struct blkif_ring *r, uint64_t id, uint8_t operation, int16_t status);

/* Publishes the responses written so far; true when the frontend asked to
 * be notified (its rsp_event lies in the published range). */
bool blkif_ring_push_responses(struct blkif_ring *r);

/* Before going idle: asks the frontend for an event at the next request,
 * then re-checks. True when requests arrived meanwhile (keep going). */
bool blkif_ring_final_check(struct blkif_ring *r);

/* Segment i of an indirect page (mapped or copied, 4 KiB). */
void blkif_parse_indirect_page(const void *page, unsigned int i, struct blkif_request_segment *seg);

#endif
