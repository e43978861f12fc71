/* SPDX-License-Identifier: MIT */
#include "tests/blkfront/blkfront.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

#define SECTOR 512u
#define SECTORS_PER_PAGE (GUEST_PAGE_SIZE / SECTOR)
#define SRING_HEADER 64u /* req_prod, req_event, rsp_prod, rsp_event, padding */
#define SEG_SIZE 8u      /* gref, first_sect, last_sect, padding */
#define SEGS_PER_INDIRECT_PAGE (GUEST_PAGE_SIZE / SEG_SIZE)
#define BACKEND_DOMID 0
#define GRANT_RELEASE_MS 2000 /* a backend holding a grant longer after its response is broken */

/* The native layout is the public header's: check our offsets against it. */
_Static_assert(offsetof(struct blkif_sring, ring) == SRING_HEADER, "sring header");
_Static_assert(sizeof(union blkif_sring_entry) == 112, "x86_64 entry");
_Static_assert(offsetof(struct blkif_request, id) == 8, "id");
_Static_assert(offsetof(struct blkif_request, sector_number) == 16, "sector");
_Static_assert(offsetof(struct blkif_request, seg) == 24, "seg");
_Static_assert(sizeof(struct blkif_request_segment) == SEG_SIZE, "segment");
_Static_assert(offsetof(struct blkif_request_discard, nr_sectors) == 24, "nr_sectors");
_Static_assert(offsetof(struct blkif_request_indirect, indirect_grefs) == 28, "grefs");
_Static_assert(offsetof(struct blkif_response, status) == 10, "status");

static const struct blkfront_layout layout_x86_64 = {
    .protocol = XEN_IO_PROTO_ABI_X86_64, .entry = 112, .id = 8, .sector = 16, .seg = 24,
    .discard_nr = 24, .ind_nseg = 2, .ind_id = 8, .ind_sector = 16, .ind_handle = 24,
    .ind_grefs = 28, .rsp_id = 0, .rsp_op = 8, .rsp_status = 10,
};
/* i386 aligns 64-bit fields to 4 bytes: id at 4, the rest shifted by 4. */
static const struct blkfront_layout layout_x86_32 = {
    .protocol = XEN_IO_PROTO_ABI_X86_32, .entry = 108, .id = 4, .sector = 12, .seg = 20,
    .discard_nr = 20, .ind_nseg = 2, .ind_id = 4, .ind_sector = 12, .ind_handle = 20,
    .ind_grefs = 24, .rsp_id = 0, .rsp_op = 8, .rsp_status = 10,
};

void blkfront_opts_init(struct blkfront_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->abi = BLKFRONT_ABI_NATIVE;
    o->write_protocol = true;
    o->queues = BLKFRONT_AUTO;
    o->ring_order = BLKFRONT_AUTO;
    o->persistent = o->flush = o->discard = o->indirect = BLKFRONT_AUTO;
    o->max_segments = 256;
    o->first_ref = BLKFRONT_FIRST_REF;
    o->queue_depth = 32;
    o->connect_timeout_ms = 10000;
    o->io_timeout_ms = 30000;
    o->evtchn = GUEST_EVTCHN_DIRECT;
}

void blkfront_put(uint8_t *p, size_t off, uint64_t v, size_t size)
{
    memcpy(p + off, &v, size); /* little endian host, as the ring */
}

static uint64_t get(const uint8_t *p, size_t off, size_t size)
{
    uint64_t v = 0;
    memcpy(&v, p + off, size);
    return v;
}

const char *blkfront_status_name(int status)
{
    switch (status) {
    case BLKIF_RSP_OKAY: return "BLKIF_RSP_OKAY";
    case BLKIF_RSP_ERROR: return "BLKIF_RSP_ERROR";
    case BLKIF_RSP_EOPNOTSUPP: return "BLKIF_RSP_EOPNOTSUPP";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------ resources */

/* Pages from our guest-physical region. */
static bool alloc_pages(struct blkfront *bf, uint64_t pages, uint64_t *gpa, char **err)
{
    uint64_t end = bf->opt.gpa_base + bf->opt.gpa_size;
    if (pages > (end - bf->gpa_next) / GUEST_PAGE_SIZE) {
        *err = g_strdup_printf("--gpa-size 0x%" PRIx64 " too small: need %" PRIu64
                               " more pages (lower --queue-depth or --max-segments)",
                               bf->opt.gpa_size, pages);
        return false;
    }
    if (!guest_ptr(&bf->g, bf->gpa_next, pages * GUEST_PAGE_SIZE)) {
        *err = g_strdup_printf("0x%" PRIx64 "+%" PRIu64 " pages is not guest RAM in one region",
                               bf->gpa_next, pages);
        return false;
    }
    *gpa = bf->gpa_next;
    bf->gpa_next += pages * GUEST_PAGE_SIZE;
    return true;
}

static bool alloc_refs(struct blkfront *bf, uint64_t n, grant_ref_t *first, char **err)
{
    if (n > bf->ref_end - bf->ref_next) {
        *err = g_strdup_printf("need %" PRIu64 " more grant refs, the table has %u left "
                               "(lower --queue-depth or --max-segments)",
                               n, bf->ref_end - bf->ref_next);
        return false;
    }
    *first = bf->ref_next;
    bf->ref_next += (grant_ref_t)n;
    return true;
}

static uint8_t *entry_at(struct blkfront_queue *q, const struct blkfront_layout *l, uint32_t idx)
{
    return q->sring + SRING_HEADER + (size_t)(idx & (q->nr_ents - 1)) * l->entry;
}

static uint32_t *sring_word(struct blkfront_queue *q, unsigned int i)
{
    return (uint32_t *)(void *)(q->sring + 4 * i); /* 0 req_prod 1 req_event 2 rsp_prod 3 rsp_event */
}

/* Largest power of two entries that fit (ring.h's rounding). */
static unsigned int ring_entries(size_t bytes, size_t entry)
{
    size_t n = (bytes - SRING_HEADER) / entry, p = 1;
    while (p * 2 <= n)
        p *= 2;
    return (unsigned int)p;
}

static bool setup_ring(struct blkfront *bf, struct blkfront_queue *q, char **err)
{
    q->nr_pages = 1u << bf->ring_order;
    if (!alloc_pages(bf, q->nr_pages, &q->ring_gpa, err) ||
        !alloc_refs(bf, q->nr_pages, &q->ring_ref[0], err))
        return false;
    q->sring = guest_ptr(&bf->g, q->ring_gpa, (uint64_t)q->nr_pages * GUEST_PAGE_SIZE);
    memset(q->sring, 0, (size_t)q->nr_pages * GUEST_PAGE_SIZE);
    q->nr_ents = ring_entries((size_t)q->nr_pages * GUEST_PAGE_SIZE, bf->layout->entry);
    /* SHARED_RING_INIT: events wanted after the first request/response */
    *sring_word(q, 1) = 1;
    *sring_word(q, 3) = 1;
    for (unsigned int i = 0; i < q->nr_pages; i++) {
        q->ring_ref[i] = q->ring_ref[0] + i;
        guest_grant(&bf->g, q->ring_ref[i], BACKEND_DOMID, q->ring_gpa + i * GUEST_PAGE_SIZE,
                    false);
    }
    return guest_evtchn_alloc(&bf->g, BACKEND_DOMID, &q->port, err);
}

/* Data and indirect pages, after the features are known. Persistent
 * grants are granted once here (read-write data, read-only indirect
 * pages); otherwise per request. */
static bool setup_slots(struct blkfront *bf, struct blkfront_queue *q, char **err)
{
    q->depth = MIN(bf->opt.queue_depth, q->nr_ents);
    uint64_t data = (uint64_t)q->depth * bf->max_segs;
    uint64_t ind = bf->use_indirect ? (uint64_t)q->depth * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST : 0;
    if (!alloc_pages(bf, data, &q->data_gpa, err) || !alloc_refs(bf, data, &q->data_ref, err))
        return false;
    if (ind && (!alloc_pages(bf, ind, &q->ind_gpa, err) || !alloc_refs(bf, ind, &q->ind_ref, err)))
        return false;
    q->slots = g_new0(struct blkfront_slot, q->depth);
    if (bf->use_persistent) {
        for (uint64_t i = 0; i < data; i++)
            guest_grant(&bf->g, q->data_ref + (grant_ref_t)i, BACKEND_DOMID,
                        q->data_gpa + i * GUEST_PAGE_SIZE, false);
        for (uint64_t i = 0; i < ind; i++)
            guest_grant(&bf->g, q->ind_ref + (grant_ref_t)i, BACKEND_DOMID,
                        q->ind_gpa + i * GUEST_PAGE_SIZE, true);
    }
    return true;
}

bool blkfront_alloc_page(struct blkfront *bf, uint64_t *gpa, grant_ref_t *ref, char **err)
{
    return alloc_pages(bf, 1, gpa, err) && alloc_refs(bf, 1, ref, err);
}

uint64_t blkfront_slot_page(struct blkfront *bf, unsigned int qi, unsigned int s, unsigned int i,
                            grant_ref_t *ref)
{
    struct blkfront_queue *q = &bf->q[qi];
    uint64_t n = (uint64_t)s * bf->max_segs + i;
    *ref = q->data_ref + (grant_ref_t)n;
    return q->data_gpa + n * GUEST_PAGE_SIZE;
}

static uint64_t indirect_page(struct blkfront *bf, struct blkfront_queue *q, unsigned int s,
                              unsigned int i, grant_ref_t *ref)
{
    uint64_t n = (uint64_t)s * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST + i;
    *ref = q->ind_ref + (grant_ref_t)n;
    return q->ind_gpa + n * GUEST_PAGE_SIZE;
}

/* -------------------------------------------------------------- xenbus */

static bool read_backend_info(struct blkfront *bf, char **err)
{
    struct blkfront_backend_info *b = &bf->be;
    const char *d = bf->be_dir;
    uint64_t flush = 0, barrier = 0, discard = 0, secure = 0, persistent = 0;
    bool ok = xenbus_read_uint(&bf->xb, d, "sectors", 0, &b->sectors) &&
              xenbus_read_uint(&bf->xb, d, "sector-size", SECTOR, &b->sector_size) &&
              xenbus_read_uint(&bf->xb, d, "info", 0, &b->info) &&
              xenbus_read_uint(&bf->xb, d, "feature-flush-cache", 0, &flush) &&
              xenbus_read_uint(&bf->xb, d, "feature-barrier", 0, &barrier) &&
              xenbus_read_uint(&bf->xb, d, "feature-discard", 0, &discard) &&
              xenbus_read_uint(&bf->xb, d, "discard-secure", 0, &secure) &&
              xenbus_read_uint(&bf->xb, d, "discard-granularity", b->sector_size,
                               &b->discard_granularity) &&
              xenbus_read_uint(&bf->xb, d, "discard-alignment", 0, &b->discard_alignment) &&
              xenbus_read_uint(&bf->xb, d, "feature-persistent", 0, &persistent) &&
              xenbus_read_uint(&bf->xb, d, "feature-max-indirect-segments", 0, &b->max_indirect);
    if (!ok) {
        *err = g_strdup_printf("%s: a feature or size key is not a number", d);
        return false;
    }
    b->flush = flush, b->barrier = barrier, b->discard = discard;
    b->discard_secure = secure, b->persistent = persistent;
    return true;
}

static bool choose(int opt, bool backend)
{
    return opt == BLKFRONT_AUTO ? backend : opt != 0;
}

/* Before the rings: ring size and queue count (the InitWait keys). */
static void choose_ring_shape(struct blkfront *bf)
{
    const struct blkfront_opts *o = &bf->opt;
    bf->ring_order = o->ring_order == BLKFRONT_AUTO
                         ? (unsigned int)MIN(bf->be.max_ring_order, BLKFRONT_MAX_RING_ORDER)
                         : (unsigned int)o->ring_order;
    uint64_t queues = o->queues == BLKFRONT_AUTO ? MIN(MAX(bf->be.max_queues, 1), 4)
                                                 : (uint64_t)o->queues;
    bf->nr_queues = (unsigned int)queues;
    bf->use_persistent = choose(o->persistent, bf->be.persistent); /* re-checked at Connected */
}

/* Fit every slot's pages and grants in our region and ref range (a few
 * spare for raw requests): with indirect on auto, fewer segments per
 * request first; then, if even direct requests do not fit, fewer slots. */
static void fit_budget(struct blkfront *bf)
{
    uint64_t slots = 0;
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        slots += MIN(bf->opt.queue_depth, bf->q[i].nr_ents);
    uint64_t refs = bf->ref_end - bf->ref_next;
    uint64_t pages = (bf->opt.gpa_base + bf->opt.gpa_size - bf->gpa_next) / GUEST_PAGE_SIZE;
    uint64_t budget = MIN(refs, pages) > 64 ? MIN(refs, pages) - 64 : 0;
    uint64_t per_slot = budget / MAX(slots, 1);
    uint64_t ind = BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST;
    if (bf->opt.indirect == BLKFRONT_AUTO && bf->use_indirect && bf->max_segs + ind > per_slot) {
        bf->max_segs = per_slot > ind + BLKIF_MAX_SEGMENTS_PER_REQUEST
                           ? (unsigned int)(per_slot - ind)
                           : BLKIF_MAX_SEGMENTS_PER_REQUEST;
        bf->use_indirect = bf->max_segs > BLKIF_MAX_SEGMENTS_PER_REQUEST;
    }
    uint64_t need = bf->max_segs + (bf->use_indirect ? ind : 0);
    if (need * slots > budget) {
        uint64_t depth = budget / need / bf->nr_queues;
        bf->opt.queue_depth = (unsigned int)MAX(depth, 1);
    }
}

/* After Connected: the I/O features. */
static void choose_features(struct blkfront *bf)
{
    const struct blkfront_opts *o = &bf->opt;
    bf->use_persistent = choose(o->persistent, bf->be.persistent);
    bf->use_flush = choose(o->flush, bf->be.flush);
    bf->use_discard = choose(o->discard, bf->be.discard);
    unsigned int ind = o->indirect == BLKFRONT_AUTO ? (unsigned int)MIN(bf->be.max_indirect, 4096)
                                                    : (unsigned int)o->indirect;
    bf->use_indirect = ind > BLKIF_MAX_SEGMENTS_PER_REQUEST;
    bf->max_segs = bf->use_indirect ? MIN(ind, o->max_segments) : BLKIF_MAX_SEGMENTS_PER_REQUEST;
    if (bf->max_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST)
        bf->use_indirect = false;
    bf->max_segs = MIN(bf->max_segs,
                       BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * SEGS_PER_INDIRECT_PAGE);
    fit_budget(bf);
}

static void add_queue_keys(struct blkfront *bf, struct xenbus_batch *b, struct blkfront_queue *q)
{
    char *dir = bf->nr_queues > 1 ? g_strdup_printf("%s/queue-%u", bf->fe_dir, q->index)
                                  : g_strdup(bf->fe_dir);
    if (bf->ring_order == 0) {
        xenbus_batch_add(b, dir, "ring-ref", "%u", q->ring_ref[0]);
    } else {
        for (unsigned int i = 0; i < q->nr_pages; i++) {
            char key[32];
            snprintf(key, sizeof(key), "ring-ref%u", i);
            xenbus_batch_add(b, dir, key, "%u", q->ring_ref[i]);
        }
    }
    xenbus_batch_add(b, dir, "event-channel", "%u", q->port);
    g_free(dir);
}

static bool write_frontend_keys(struct blkfront *bf, char **err)
{
    struct xenbus_batch *b = xenbus_batch_new();
    if (bf->ring_order > 0)
        xenbus_batch_add(b, bf->fe_dir, "ring-page-order", "%u", bf->ring_order);
    if (bf->nr_queues > 1)
        xenbus_batch_add(b, bf->fe_dir, "multi-queue-num-queues", "%u", bf->nr_queues);
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        add_queue_keys(bf, b, &bf->q[i]);
    if (bf->opt.write_protocol)
        xenbus_batch_add(b, bf->fe_dir, "protocol", "%s", bf->layout->protocol);
    xenbus_batch_add(b, bf->fe_dir, "feature-persistent", "%u", bf->use_persistent ? 1 : 0);
    bool ok = xenbus_batch_commit(&bf->xb, b, err);
    xenbus_batch_free(b);
    return ok && xenbus_write_state(&bf->xb, bf->fe_dir, XenbusStateInitialised, err);
}

static bool want_initwait(unsigned int s)
{
    return s == XenbusStateInitWait || s == XenbusStateConnected || s >= XenbusStateClosing;
}

static bool want_connected(unsigned int s)
{
    return s == XenbusStateConnected || s >= XenbusStateClosing;
}

/* Wait for the backend; a timeout or a closing backend is an error naming
 * the state we waited for and the one we saw. */
static bool wait_backend(struct blkfront *bf, bool (*accept)(unsigned int), unsigned int want,
                         char **err)
{
    unsigned int s;
    bool ok = xenbus_wait_state(&bf->xb, bf->be_dir, accept, bf->opt.connect_timeout_ms, &s);
    if (ok && (s == want || (want == XenbusStateInitWait && s == XenbusStateConnected)))
        return true;
    char *why = ok ? g_strdup("gave up (the backend is closing)")
                   : g_strdup_printf("timed out after %d ms", bf->opt.connect_timeout_ms);
    *err = g_strdup_printf("%s waiting for the backend %s/state to reach %s (%u); it is %s (%u)",
                           why, bf->be_dir, xenbus_state_name(want), want, xenbus_state_name(s), s);
    g_free(why);
    return false;
}

static bool find_backend(struct blkfront *bf, char **err)
{
    bf->fe_dir = g_strdup_printf("/local/domain/%u/device/vbd/%u", bf->opt.domid, bf->opt.devid);
    bf->be_dir = xenbus_read(&bf->xb, bf->fe_dir, "backend");
    if (!bf->be_dir) {
        *err = g_strdup_printf("%s/backend: missing (no disk from the toolstack?)", bf->fe_dir);
        return false;
    }
    return true;
}

static bool negotiate_rings(struct blkfront *bf, char **err)
{
    if (!wait_backend(bf, want_initwait, XenbusStateInitWait, err))
        return false;
    uint64_t persistent;
    if (!xenbus_read_uint(&bf->xb, bf->be_dir, "max-ring-page-order", 0, &bf->be.max_ring_order) ||
        !xenbus_read_uint(&bf->xb, bf->be_dir, "multi-queue-max-queues", 1, &bf->be.max_queues) ||
        !xenbus_read_uint(&bf->xb, bf->be_dir, "feature-persistent", 0, &persistent)) {
        *err = g_strdup_printf("%s: max-ring-page-order, multi-queue-max-queues or "
                               "feature-persistent malformed", bf->be_dir);
        return false;
    }
    /* read early as well: our own feature-persistent goes with the rings */
    bf->be.persistent = persistent != 0;
    choose_ring_shape(bf);
    if (bf->nr_queues == 0 || bf->nr_queues > BLKFRONT_MAX_QUEUES ||
        bf->ring_order > BLKFRONT_MAX_RING_ORDER) {
        *err = g_strdup_printf("unsupported shape: %u queues, ring order %u", bf->nr_queues,
                               bf->ring_order);
        return false;
    }
    for (unsigned int i = 0; i < bf->nr_queues; i++) {
        bf->q[i].index = i;
        if (!setup_ring(bf, &bf->q[i], err))
            return false;
    }
    return write_frontend_keys(bf, err);
}

/* Our own table at the start of our region, or one another frontend of
 * this guest placed; then our range of refs in it. */
static bool grant_table(struct blkfront *bf, char **err)
{
    const struct blkfront_opts *o = &bf->opt;
    uint64_t table = o->shared_gnttab;
    bool ok = o->shared_gnttab
                  ? guest_gnttab_attach(&bf->g, table, BLKFRONT_GRANT_FRAMES, err)
                  : alloc_pages(bf, BLKFRONT_GRANT_FRAMES, &table, err) &&
                        guest_gnttab_setup(&bf->g, table, BLKFRONT_GRANT_FRAMES, err);
    if (!ok)
        return false;
    uint64_t end = o->nr_refs ? (uint64_t)o->first_ref + o->nr_refs : bf->g.nr_grants;
    if (o->first_ref < BLKFRONT_FIRST_REF || end > bf->g.nr_grants) {
        *err = g_strdup_printf("--grant-refs: refs %u..%" PRIu64 " are not in %u..%u",
                               o->first_ref, end - 1, BLKFRONT_FIRST_REF, bf->g.nr_grants - 1);
        return false;
    }
    bf->ref_end = (grant_ref_t)end;
    return true;
}

bool blkfront_connect(struct blkfront *bf, const struct blkfront_opts *o, char **err)
{
    memset(bf, 0, sizeof(*bf));
    bf->opt = *o;
    bf->g.fd = -1;
    bf->layout = o->abi == BLKFRONT_ABI_X86_32 ? &layout_x86_32 : &layout_x86_64;
    bf->gpa_next = o->gpa_base;
    bf->ref_next = o->first_ref;
    if (o->gpa_base % GUEST_PAGE_SIZE || !guest_open(&bf->g, o->dir, o->domid, err)) {
        if (o->gpa_base % GUEST_PAGE_SIZE)
            *err = g_strdup("--gpa-base must be page aligned");
        return false;
    }
    bf->g.evtchn_mode = o->evtchn;
    if (!grant_table(bf, err) || !xenbus_open(&bf->xb, o->dir, o->domid, err) || !find_backend(bf, err) ||
        !negotiate_rings(bf, err) ||
        !wait_backend(bf, want_connected, XenbusStateConnected, err) ||
        !read_backend_info(bf, err))
        return false;
    choose_features(bf);
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        if (!setup_slots(bf, &bf->q[i], err))
            return false;
    if (!xenbus_write_state(&bf->xb, bf->fe_dir, XenbusStateConnected, err))
        return false;
    bf->connected = true;
    return true;
}

/* -------------------------------------------------------------- requests */

static void grant_data(struct blkfront *bf, struct blkfront_queue *q, unsigned int s,
                       unsigned int nsegs, bool readonly)
{
    if (bf->use_persistent)
        return;
    for (unsigned int i = 0; i < nsegs; i++) {
        grant_ref_t ref;
        uint64_t gpa = blkfront_slot_page(bf, q->index, s, i, &ref);
        guest_grant(&bf->g, ref, BACKEND_DOMID, gpa, readonly);
    }
}

/* Segment i of a read/write: which sectors of page i. */
static void segment(const struct blkfront_io *io, unsigned int i, uint8_t *first, uint8_t *last)
{
    uint64_t end = io->first_sect + io->nr_sectors;                    /* exclusive */
    uint64_t page_start = (uint64_t)i * SECTORS_PER_PAGE;
    *first = (uint8_t)(i == 0 ? io->first_sect : 0);
    uint64_t stop = MIN(end, page_start + SECTORS_PER_PAGE);
    *last = (uint8_t)(stop - 1 - page_start);
}

static void fill_segments(struct blkfront *bf, struct blkfront_queue *q, unsigned int s,
                          const struct blkfront_io *io, unsigned int nsegs, uint8_t *segs)
{
    for (unsigned int i = 0; i < nsegs; i++) {
        grant_ref_t ref;
        uint8_t first, last;
        blkfront_slot_page(bf, q->index, s, i, &ref);
        segment(io, i, &first, &last);
        uint8_t *seg = segs + (size_t)i * SEG_SIZE;
        memset(seg, 0, SEG_SIZE);
        blkfront_put(seg, 0, ref, 4);
        seg[4] = first;
        seg[5] = last;
    }
}

static void build_rw(struct blkfront *bf, struct blkfront_queue *q, unsigned int s,
                     const struct blkfront_io *io, unsigned int nsegs, uint8_t *e)
{
    const struct blkfront_layout *l = bf->layout;
    if (nsegs <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        e[0] = io->op;
        e[1] = (uint8_t)nsegs;
        blkfront_put(e, 2, bf->opt.devid, 2);
        blkfront_put(e, l->id, s, 8);
        blkfront_put(e, l->sector, io->sector, 8);
        fill_segments(bf, q, s, io, nsegs, e + l->seg);
        return;
    }
    unsigned int nind = (nsegs + SEGS_PER_INDIRECT_PAGE - 1) / SEGS_PER_INDIRECT_PAGE;
    e[0] = BLKIF_OP_INDIRECT;
    e[1] = io->op;
    blkfront_put(e, l->ind_nseg, nsegs, 2);
    blkfront_put(e, l->ind_id, s, 8);
    blkfront_put(e, l->ind_sector, io->sector, 8);
    blkfront_put(e, l->ind_handle, bf->opt.devid, 2);
    for (unsigned int i = 0; i < nind; i++) {
        grant_ref_t ref;
        uint64_t gpa = indirect_page(bf, q, s, i, &ref);
        unsigned int n = MIN(nsegs - i * SEGS_PER_INDIRECT_PAGE, SEGS_PER_INDIRECT_PAGE);
        struct blkfront_io part = *io;
        uint8_t *page = guest_ptr(&bf->g, gpa, GUEST_PAGE_SIZE);
        for (unsigned int k = 0; k < n; k++) {
            unsigned int segno = i * SEGS_PER_INDIRECT_PAGE + k;
            grant_ref_t dref;
            uint8_t first, last;
            blkfront_slot_page(bf, q->index, s, segno, &dref);
            segment(&part, segno, &first, &last);
            uint8_t *seg = page + (size_t)k * SEG_SIZE;
            memset(seg, 0, SEG_SIZE);
            blkfront_put(seg, 0, dref, 4);
            seg[4] = first;
            seg[5] = last;
        }
        if (!bf->use_persistent)
            guest_grant(&bf->g, ref, BACKEND_DOMID, gpa, true);
        blkfront_put(e, l->ind_grefs + 4 * i, ref, 4);
    }
    q->slots[s].nind = nind;
}

static int free_slot(struct blkfront_queue *q)
{
    if (q->req_prod_pvt - q->rsp_cons >= q->nr_ents)
        return -1;
    for (unsigned int s = 0; s < q->depth; s++)
        if (!q->slots[s].busy)
            return (int)s;
    return -1;
}

static struct blkfront_queue *pick_queue(struct blkfront *bf, int want)
{
    if (want >= 0)
        return (unsigned int)want < bf->nr_queues ? &bf->q[want] : NULL;
    struct blkfront_queue *best = &bf->q[0];
    for (unsigned int i = 1; i < bf->nr_queues; i++)
        if (bf->q[i].in_flight < best->in_flight)
            best = &bf->q[i];
    return best;
}

int blkfront_submit(struct blkfront *bf, const struct blkfront_io *io)
{
    struct blkfront_queue *q = pick_queue(bf, io->queue);
    if (!q)
        return -EINVAL;
    int s = free_slot(q);
    if (s < 0)
        return -EAGAIN;
    bool rw = io->op == BLKIF_OP_READ || io->op == BLKIF_OP_WRITE;
    unsigned int nsegs = 0;
    if (rw) {
        if (io->first_sect >= SECTORS_PER_PAGE || io->nr_sectors == 0)
            return -EINVAL;
        nsegs = (io->first_sect + io->nr_sectors + SECTORS_PER_PAGE - 1) / SECTORS_PER_PAGE;
        if (nsegs > bf->max_segs)
            return -EINVAL;
    }
    struct blkfront_slot *slot = &q->slots[s];
    *slot = (struct blkfront_slot){ .busy = true, .op = io->op, .nsegs = nsegs, .tag = io->tag,
                                    .readonly_data = io->op == BLKIF_OP_WRITE };
    uint8_t *e = entry_at(q, bf->layout, q->req_prod_pvt);
    memset(e, 0, bf->layout->entry);
    if (rw) {
        grant_ref_t ref;
        uint8_t *data = guest_ptr(&bf->g, blkfront_slot_page(bf, q->index, (unsigned int)s, 0, &ref),
                                  (uint64_t)nsegs * GUEST_PAGE_SIZE);
        size_t off = (size_t)io->first_sect * SECTOR, len = (size_t)io->nr_sectors * SECTOR;
        if (io->op == BLKIF_OP_WRITE && io->write_from)
            memcpy(data + off, io->write_from, len);
        slot->read_to = io->op == BLKIF_OP_READ ? io->read_to : NULL;
        slot->read_off = off;
        slot->read_len = len;
        grant_data(bf, q, (unsigned int)s, nsegs, slot->readonly_data);
        build_rw(bf, q, (unsigned int)s, io, nsegs, e);
    } else {
        e[0] = io->op;
        e[1] = io->op == BLKIF_OP_DISCARD && io->secure ? BLKIF_DISCARD_SECURE : 0;
        blkfront_put(e, 2, bf->opt.devid, 2);
        blkfront_put(e, bf->layout->id, (uint64_t)s, 8);
        blkfront_put(e, bf->layout->sector, io->sector, 8);
        if (io->op == BLKIF_OP_DISCARD)
            blkfront_put(e, bf->layout->discard_nr, io->nr_sectors, 8);
    }
    q->req_prod_pvt++;
    q->in_flight++;
    return 0;
}

uint8_t *blkfront_raw_entry(struct blkfront *bf, unsigned int qi, unsigned int *slot)
{
    struct blkfront_queue *q = &bf->q[qi];
    int s = free_slot(q);
    if (s < 0)
        return NULL;
    *slot = (unsigned int)s;
    uint8_t *e = entry_at(q, bf->layout, q->req_prod_pvt);
    memset(e, 0, bf->layout->entry);
    return e;
}

void blkfront_raw_commit(struct blkfront *bf, unsigned int qi, unsigned int slot, uint8_t op,
                         uint64_t tag)
{
    struct blkfront_queue *q = &bf->q[qi];
    q->slots[slot] = (struct blkfront_slot){ .busy = true, .op = op, .tag = tag };
    q->req_prod_pvt++;
    q->in_flight++;
}

bool blkfront_raw_publish(struct blkfront *bf, unsigned int qi, uint32_t req_prod)
{
    struct blkfront_queue *q = &bf->q[qi];
    __atomic_store_n(sring_word(q, 0), req_prod, __ATOMIC_RELEASE);
    return guest_evtchn_send(&bf->g, q->port);
}

/* RING_PUSH_REQUESTS_AND_CHECK_NOTIFY */
static bool push(struct blkfront *bf, struct blkfront_queue *q)
{
    uint32_t old = q->pushed, new = q->req_prod_pvt;
    if (old == new)
        return true;
    __atomic_store_n(sring_word(q, 0), new, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->pushed = new;
    uint32_t event = __atomic_load_n(sring_word(q, 1), __ATOMIC_ACQUIRE);
    if ((uint32_t)(new - event) < (uint32_t)(new - old))
        return guest_evtchn_send(&bf->g, q->port);
    return true;
}

bool blkfront_kick(struct blkfront *bf)
{
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        if (!push(bf, &bf->q[i]))
            return false;
    return true;
}

unsigned int blkfront_in_flight(const struct blkfront *bf)
{
    unsigned int n = 0;
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        n += bf->q[i].in_flight;
    return n;
}

/* End access, allowing the backend's release a moment to land: on xensim
 * a grant copy's bits are cleared by an asynchronous COPY_DONE that may
 * trail the response (as a deferred free in a real frontend would wait). */
static bool end_grant_soon(struct blkfront *bf, grant_ref_t ref)
{
    for (int waited_us = 0; !guest_grant_end(&bf->g, ref); waited_us += 100) {
        if (waited_us >= GRANT_RELEASE_MS * 1000)
            return false;
        g_usleep(100);
    }
    return true;
}

/* Take back non-persistent grants; a backend still holding one after its
 * response broke the protocol. */
static bool end_grants(struct blkfront *bf, struct blkfront_queue *q, unsigned int s, char **err)
{
    struct blkfront_slot *slot = &q->slots[s];
    if (bf->use_persistent)
        return true;
    for (unsigned int i = 0; i < slot->nsegs + slot->nind; i++) {
        grant_ref_t ref;
        if (i < slot->nsegs)
            blkfront_slot_page(bf, q->index, s, i, &ref);
        else
            indirect_page(bf, q, s, i - slot->nsegs, &ref);
        if (!end_grant_soon(bf, ref)) {
            *err = g_strdup_printf("backend still uses grant ref %u (flags 0x%x) %d ms after "
                                   "answering request %u", ref, guest_grant_flags(&bf->g, ref),
                                   GRANT_RELEASE_MS, s);
            return false;
        }
    }
    return true;
}

static bool take_response(struct blkfront *bf, struct blkfront_queue *q, struct blkfront_done *d,
                          char **err)
{
    const struct blkfront_layout *l = bf->layout;
    uint8_t rsp[16];
    memcpy(rsp, entry_at(q, l, q->rsp_cons), sizeof(rsp)); /* copy once: backend-written */
    q->rsp_cons++;
    uint64_t id = get(rsp, l->rsp_id, 8);
    if (id >= q->depth || !q->slots[id].busy) {
        bf->protocol_errors++;
        *err = g_strdup_printf("queue %u: response with id %" PRIu64 " that is not in flight",
                               q->index, id);
        return false;
    }
    struct blkfront_slot *slot = &q->slots[id];
    *d = (struct blkfront_done){ .tag = slot->tag, .op = (uint8_t)get(rsp, l->rsp_op, 1),
                                 .status = (int16_t)get(rsp, l->rsp_status, 2),
                                 .queue = q->index };
    if (!end_grants(bf, q, (unsigned int)id, err))
        return false;
    if (slot->read_to && d->status == BLKIF_RSP_OKAY) {
        grant_ref_t ref;
        uint8_t *data = guest_ptr(&bf->g, blkfront_slot_page(bf, q->index, (unsigned int)id, 0, &ref),
                                  (uint64_t)slot->nsegs * GUEST_PAGE_SIZE);
        memcpy(slot->read_to, data + slot->read_off, slot->read_len);
    }
    slot->busy = false;
    q->in_flight--;
    return true;
}

/* RING_FINAL_CHECK_FOR_RESPONSES-style loop over one queue. */
static int drain_queue(struct blkfront *bf, struct blkfront_queue *q, struct blkfront_done *done,
                       int max, char **err)
{
    int n = 0;
    for (;;) {
        uint32_t prod = __atomic_load_n(sring_word(q, 2), __ATOMIC_ACQUIRE);
        if ((uint32_t)(prod - q->rsp_cons) > q->req_prod_pvt - q->rsp_cons) {
            *err = g_strdup_printf("queue %u: rsp_prod %u runs ahead of our requests (%u)",
                                   q->index, prod, q->req_prod_pvt);
            bf->protocol_errors++;
            return -1;
        }
        while (q->rsp_cons != prod && n < max)
            if (!take_response(bf, q, &done[n++], err))
                return -1;
        if (n == max)
            return n;
        __atomic_store_n(sring_word(q, 3), q->rsp_cons + 1, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(sring_word(q, 2), __ATOMIC_ACQUIRE) == q->rsp_cons)
            return n;
    }
}

int blkfront_complete(struct blkfront *bf, struct blkfront_done *done, int max, int timeout_ms,
                      char **err)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        int n = 0;
        for (unsigned int i = 0; i < bf->nr_queues && n < max; i++) {
            int r = drain_queue(bf, &bf->q[i], done + n, max - n, err);
            if (r < 0)
                return -1;
            n += r;
        }
        if (n > 0 || blkfront_in_flight(bf) == 0)
            return n;
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        bool dead = false;
        if (left <= 0 || (!guest_wait_event(&bf->g, (int)left, &dead) && dead)) {
            *err = dead ? g_strdup("qtest connection closed (xensim gone?)")
                        : g_strdup_printf("timed out after %d ms with %u requests in flight",
                                          timeout_ms, blkfront_in_flight(bf));
            return -1;
        }
    }
}

/* ------------------------------------------------------------- closing */

static void free_all(struct blkfront *bf)
{
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        g_free(bf->q[i].slots);
    xenbus_close(&bf->xb);
    guest_close(&bf->g);
    g_free(bf->fe_dir);
    g_free(bf->be_dir);
    bf->fe_dir = bf->be_dir = NULL;
}

void blkfront_abandon(struct blkfront *bf)
{
    free_all(bf);
}

static bool want_closing(unsigned int s)
{
    return s >= XenbusStateClosing || s == XenbusStateUnknown;
}

static bool want_closed(unsigned int s)
{
    return s == XenbusStateClosed || s == XenbusStateUnknown;
}

/* Every grant we made must be free once the backend is Closed. */
static bool check_released(struct blkfront *bf, char **err)
{
    for (grant_ref_t ref = bf->opt.first_ref; ref < bf->ref_next; ref++) {
        uint16_t flags = guest_grant_flags(&bf->g, ref);
        if (flags & (GTF_reading | GTF_writing)) {
            *err = g_strdup_printf("backend Closed but still uses grant ref %u (flags 0x%x)", ref,
                                   flags);
            return false;
        }
        guest_grant_end(&bf->g, ref);
    }
    return true;
}

bool blkfront_close(struct blkfront *bf, char **err)
{
    unsigned int s = 0;
    int t = bf->opt.connect_timeout_ms;
    bool ok = bf->fe_dir && xenbus_write_state(&bf->xb, bf->fe_dir, XenbusStateClosing, err);
    if (ok && !xenbus_wait_state(&bf->xb, bf->be_dir, want_closing, t, &s)) {
        *err = g_strdup_printf("timed out after %d ms waiting for the backend %s/state to reach "
                               "Closing (5); it is %s (%u)", t, bf->be_dir, xenbus_state_name(s), s);
        ok = false;
    }
    ok = ok && xenbus_write_state(&bf->xb, bf->fe_dir, XenbusStateClosed, err);
    if (ok && !xenbus_wait_state(&bf->xb, bf->be_dir, want_closed, t, &s)) {
        *err = g_strdup_printf("timed out after %d ms waiting for the backend %s/state to reach "
                               "Closed (6); it is %s (%u)", t, bf->be_dir, xenbus_state_name(s), s);
        ok = false;
    }
    ok = ok && check_released(bf, err);
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        if (bf->q[i].port)
            guest_evtchn_close(&bf->g, bf->q[i].port);
    free_all(bf);
    return ok;
}
