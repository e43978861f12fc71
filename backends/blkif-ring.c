/* SPDX-License-Identifier: MIT */
#include "backends/blkif-ring.h"

#include <string.h>

#include <xen/io/protocols.h>

/* Shared ring header (<xen/io/ring.h>): four indexes, then padding up to
 * 64 bytes, then the entries. */
struct sring_header {
    uint32_t req_prod, req_event;
    uint32_t rsp_prod, rsp_event;
};
#define SRING_ENTRIES_OFFSET 64

/* Where each field sits in one ABI's request. Segments are 8 bytes in
 * both (gref, first_sect, last_sect, 2 bytes of padding). */
struct blkif_layout {
    size_t entry_size;
    size_t id, sector, seg;              /* read/write */
    size_t discard_nr_sectors;           /* discard: id and sector as above */
    size_t ind_id, ind_sector, ind_handle, ind_grefs;
};

static const struct blkif_layout layout_64 = {
    .entry_size = 112, .id = 8, .sector = 16, .seg = 24, .discard_nr_sectors = 24,
    .ind_id = 8, .ind_sector = 16, .ind_handle = 24, .ind_grefs = 28,
};

static const struct blkif_layout layout_x86_32 = {
    .entry_size = 108, .id = 4, .sector = 12, .seg = 20, .discard_nr_sectors = 20,
    .ind_id = 4, .ind_sector = 12, .ind_handle = 20, .ind_grefs = 24,
};

/* Responses: id at 0, operation at 8, status at 10 in both; only the
 * slot stride differs. */
#define RSP_ID 0
#define RSP_OPERATION 8
#define RSP_STATUS 10

static const struct blkif_layout *layout_of(enum blkif_abi abi)
{
    return abi == BLKIF_ABI_X86_32 ? &layout_x86_32 : &layout_64;
}

bool blkif_abi_from_protocol(const char *protocol, enum blkif_abi *abi)
{
    if (!protocol || !*protocol || !strcmp(protocol, XEN_IO_PROTO_ABI_X86_64) ||
        !strcmp(protocol, XEN_IO_PROTO_ABI_ARM)) {
        *abi = BLKIF_ABI_64;
        return true;
    }
    if (!strcmp(protocol, XEN_IO_PROTO_ABI_X86_32)) {
        *abi = BLKIF_ABI_X86_32;
        return true;
    }
    return false;
}

uint32_t blkif_ring_entries(unsigned int nr_pages, enum blkif_abi abi)
{
    size_t room = (size_t)nr_pages * BLKIF_PAGE_SIZE - SRING_ENTRIES_OFFSET;
    size_t n = room / layout_of(abi)->entry_size;
    uint32_t pow2 = 1;

    while ((size_t)pow2 * 2 <= n)
        pow2 *= 2;
    return pow2;
}

static struct sring_header *header(const struct blkif_ring *r)
{
    return r->sring;
}

static uint8_t *entry(const struct blkif_ring *r, uint32_t idx)
{
    return (uint8_t *)r->sring + SRING_ENTRIES_OFFSET + (size_t)(idx & (r->size - 1)) * r->entry_size;
}

bool blkif_ring_init(struct blkif_ring *r, void *sring, unsigned int nr_pages, enum blkif_abi abi)
{
    if (!sring || nr_pages == 0 || nr_pages > BLKIF_MAX_RING_PAGES || (nr_pages & (nr_pages - 1)))
        return false;
    *r = (struct blkif_ring){
        .sring = sring,
        .nr_pages = nr_pages,
        .abi = abi,
        .size = blkif_ring_entries(nr_pages, abi),
        .entry_size = layout_of(abi)->entry_size,
    };
    uint32_t start = __atomic_load_n(&header(r)->rsp_prod, __ATOMIC_ACQUIRE);
    r->req_cons = start;
    r->rsp_prod_pvt = start;
    return true;
}

uint32_t blkif_ring_read_producer(const struct blkif_ring *r)
{
    /* Acquire: the entries up to req_prod are read only after it. */
    return __atomic_load_n(&header(r)->req_prod, __ATOMIC_ACQUIRE);
}

static uint64_t get_u64(const uint8_t *p, size_t off)
{
    uint64_t v;
    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint32_t get_u32(const uint8_t *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint16_t get_u16(const uint8_t *p, size_t off)
{
    uint16_t v;
    memcpy(&v, p + off, sizeof(v));
    return v;
}

static void parse_segment(const uint8_t *p, struct blkif_request_segment *seg)
{
    seg->gref = get_u32(p, 0);
    seg->first_sect = p[4];
    seg->last_sect = p[5];
}

/* Decodes the local copy `raw` (never the ring itself). */
static void decode_request(const uint8_t *raw, const struct blkif_layout *l, struct blkif_req *req)
{
    memset(req, 0, sizeof(*req));
    req->operation = raw[0];
    switch (req->operation) {
    case BLKIF_OP_DISCARD:
        req->discard_flag = raw[1];
        req->handle = get_u16(raw, 2);
        req->id = get_u64(raw, l->id);
        req->sector_number = get_u64(raw, l->sector);
        req->nr_sectors = get_u64(raw, l->discard_nr_sectors);
        break;
    case BLKIF_OP_INDIRECT:
        req->indirect_op = raw[1];
        req->nr_segments = get_u16(raw, 2);
        req->id = get_u64(raw, l->ind_id);
        req->sector_number = get_u64(raw, l->ind_sector);
        req->handle = get_u16(raw, l->ind_handle);
        for (unsigned int i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
            req->indirect_grefs[i] = get_u32(raw, l->ind_grefs + 4 * i);
        break;
    default:
        /* Read, write, flush, barrier and unknown operations share this
         * form; the id is what an error response needs. */
        req->nr_segments = raw[1];
        req->handle = get_u16(raw, 2);
        req->id = get_u64(raw, l->id);
        req->sector_number = get_u64(raw, l->sector);
        for (unsigned int i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; i++)
            parse_segment(raw + l->seg + 8 * i, &req->seg[i]);
        break;
    }
}

enum blkif_take blkif_ring_take(struct blkif_ring *r, uint32_t producer, struct blkif_req *req)
{
    /* Unsigned distances: a frontend may have at most a ring of requests
     * unanswered, so a producer further ahead of our responses is a lie
     * (or a corrupted page), whatever the wrap-around. */
    if (producer - r->rsp_prod_pvt > r->size)
        return BLKIF_TAKE_CORRUPT;
    /* A producer behind what we already took went backwards. */
    if (producer - r->req_cons > producer - r->rsp_prod_pvt)
        return BLKIF_TAKE_CORRUPT;
    if (producer == r->req_cons)
        return BLKIF_TAKE_NONE;
    /* Every slot holding a request we have not answered yet is still
     * ours to answer into; never take past them. */
    if (r->req_cons - r->rsp_prod_pvt >= r->size)
        return BLKIF_TAKE_NONE;

    uint8_t raw[112];
    memcpy(raw, entry(r, r->req_cons), r->entry_size);
    r->req_cons++;
    decode_request(raw, layout_of(r->abi), req);
    return BLKIF_TAKE_OK;
}

void blkif_ring_put_response(struct blkif_ring *r, uint64_t id, uint8_t operation, int16_t status)
{
    uint8_t *slot = entry(r, r->rsp_prod_pvt);

    memcpy(slot + RSP_ID, &id, sizeof(id));
    slot[RSP_OPERATION] = operation;
    slot[RSP_OPERATION + 1] = 0;
    memcpy(slot + RSP_STATUS, &status, sizeof(status));
    r->rsp_prod_pvt++;
}

bool blkif_ring_push_responses(struct blkif_ring *r)
{
    struct sring_header *h = header(r);
    uint32_t old = __atomic_load_n(&h->rsp_prod, __ATOMIC_RELAXED);
    uint32_t new = r->rsp_prod_pvt;

    /* Release: the frontend sees the responses before the index. */
    __atomic_store_n(&h->rsp_prod, new, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint32_t event = __atomic_load_n(&h->rsp_event, __ATOMIC_RELAXED);
    return (uint32_t)(new - event) < (uint32_t)(new - old);
}

bool blkif_ring_final_check(struct blkif_ring *r)
{
    struct sring_header *h = header(r);

    if (blkif_ring_read_producer(r) != r->req_cons)
        return true;
    __atomic_store_n(&h->req_event, r->req_cons + 1, __ATOMIC_RELAXED);
    /* Full barrier: our req_event must be visible before we look again,
     * or a request posted in between would be missed by both sides. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return blkif_ring_read_producer(r) != r->req_cons;
}

void blkif_parse_indirect_page(const void *page, unsigned int i, struct blkif_request_segment *seg)
{
    parse_segment((const uint8_t *)page + (size_t)(i % BLKIF_SEGS_PER_INDIRECT_PAGE) * 8, seg);
}
