/* SPDX-License-Identifier: MIT */
#include "ioreq/ioreq-server.h"

#include <errno.h>
#include <string.h>

#define DEV "ioreq"

/* Tell the CPU we are spinning (lets the sibling hyperthread run). */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t all_ones(unsigned int size)
{
    return size >= 8 ? UINT64_MAX : (1ULL << (size * 8)) - 1;
}

static bool valid_size(unsigned int size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* ---- single accesses ---------------------------------------------------- */

static uint64_t region_read(struct ioreq_server *s, enum hv_range_type type, uint64_t addr,
                            unsigned int size)
{
    struct io_region *r = dispatch_find(s->dispatch, type, addr, size);

    if (!r) {
        /* Routed to us but not ours any more (a BAR just moved): the guest
         * sees what an unclaimed access sees. */
        return all_ones(size);
    }
    return r->ops->read(r->opaque, addr - r->base, size) & all_ones(size);
}

static void region_write(struct ioreq_server *s, enum hv_range_type type, uint64_t addr,
                         uint64_t value, unsigned int size)
{
    struct io_region *r = dispatch_find(s->dispatch, type, addr, size);

    if (r)
        r->ops->write(r->opaque, addr - r->base, value & all_ones(size), size);
}

/* ---- rep and data_is_ptr -------------------------------------------------- */

/* Element i of a rep: the RAM pointer always moves, the device address
 * moves for MMIO but not for port I/O. df=1 walks downwards. */
static uint64_t step(uint64_t base, uint32_t i, unsigned int size, bool df)
{
    uint64_t delta = (uint64_t)i * size;
    return df ? base - delta : base + delta;
}

static void serve_pointer_element(struct ioreq_server *s, enum hv_range_type type,
                                  const ioreq_t *req, uint32_t i)
{
    uint64_t dev_addr = type == HV_RANGE_MMIO ? step(req->addr, i, req->size, req->df) : req->addr;
    uint64_t gpa = step(req->data, i, req->size, req->df);
    uint64_t value = 0;

    if (req->dir == IOREQ_READ) {
        value = region_read(s, type, dev_addr, req->size);
        if (mapcache_write(s->mapcache, gpa, &value, req->size) < 0)
            log_limited(&s->bad_request_log, s->hv->domid, DEV,
                        "rep read: guest address 0x%" G_GINT64_MODIFIER "x is not RAM", gpa);
    } else if (mapcache_read(s->mapcache, gpa, &value, req->size) == 0) {
        region_write(s, type, dev_addr, value, req->size);
    } else {
        log_limited(&s->bad_request_log, s->hv->domid, DEV,
                    "rep write: guest address 0x%" G_GINT64_MODIFIER "x is not RAM", gpa);
    }
}

/* Without a pointer a rep repeats one value (rep stos) or reads count
 * times, keeping the last value. */
static void serve_value_element(struct ioreq_server *s, enum hv_range_type type, ioreq_t *req,
                                uint32_t i)
{
    uint64_t dev_addr = type == HV_RANGE_MMIO ? step(req->addr, i, req->size, req->df) : req->addr;

    if (req->dir == IOREQ_READ)
        req->data = region_read(s, type, dev_addr, req->size);
    else
        region_write(s, type, dev_addr, req->data, req->size);
}

static void serve_io(struct ioreq_server *s, enum hv_range_type type, ioreq_t *req)
{
    uint32_t count = req->count ? req->count : 1;

    for (uint32_t i = 0; i < count; i++) {
        if (req->data_is_ptr)
            serve_pointer_element(s, type, req, i);
        else
            serve_value_element(s, type, req, i);
    }
    if (req->data_is_ptr && req->dir == IOREQ_READ)
        mapcache_flush_dirty(s->mapcache); /* before the guest sees the answer */
}

/* ---- PCI config ----------------------------------------------------------- */

static void serve_pci_config(struct ioreq_server *s, ioreq_t *req)
{
    uint32_t sbdf = (uint32_t)(req->addr >> 32);
    uint32_t reg = (uint32_t)req->addr & 0xfff;
    uint32_t value = UINT32_MAX;

    if (req->dir == IOREQ_READ) {
        dispatch_pci_read(s->dispatch, sbdf, reg, req->size, &value);
        req->data = value & all_ones(req->size);
    } else {
        dispatch_pci_write(s->dispatch, sbdf, reg, (uint32_t)req->data, req->size);
    }
}

/* ---- one request ------------------------------------------------------------ */

static bool request_is_sane(struct ioreq_server *s, const ioreq_t *req)
{
    bool ok = valid_size(req->size);

    if (req->type == IOREQ_TYPE_PIO && req->size == 8)
        ok = false;
    if (req->type == IOREQ_TYPE_PCI_CONFIG && (req->size == 8 || req->data_is_ptr || req->count > 1))
        ok = false;
    if (req->count > IOREQ_MAX_REP_COUNT)
        ok = false;
    if (!ok) {
        s->stats.invalid++;
        log_limited(&s->bad_request_log, s->hv->domid, DEV,
                    "bad request: type %u size %u count %u ptr %u addr 0x%" G_GINT64_MODIFIER
                    "x: answered all-ones",
                    req->type, req->size, req->count, req->data_is_ptr, req->addr);
    }
    return ok;
}

static void answer_invalid(ioreq_t *req)
{
    if (req->dir == IOREQ_READ && !req->data_is_ptr)
        req->data = all_ones(valid_size(req->size) ? req->size : 8);
}

void ioreq_server_serve(struct ioreq_server *s, ioreq_t *req)
{
    s->stats.handled++;
    switch (req->type) {
    case IOREQ_TYPE_PIO:
    case IOREQ_TYPE_COPY:
    case IOREQ_TYPE_PCI_CONFIG:
        if (!request_is_sane(s, req)) {
            answer_invalid(req);
            return;
        }
        if (req->type == IOREQ_TYPE_PCI_CONFIG)
            serve_pci_config(s, req);
        else
            serve_io(s, req->type == IOREQ_TYPE_PIO ? HV_RANGE_PORT : HV_RANGE_MMIO, req);
        return;
    case IOREQ_TYPE_TIMEOFFSET:
        return; /* the guest moved its RTC; nothing of ours keeps time */
    case IOREQ_TYPE_INVALIDATE:
        mapcache_invalidate(s->mapcache);
        return;
    default:
        s->stats.invalid++;
        if (!s->warned_type[req->type]) {
            s->warned_type[req->type] = true;
            log_warn(s->hv->domid, DEV, "unknown ioreq type %u: answered all-ones", req->type);
        }
        answer_invalid(req);
        return;
    }
}

/* ---- the shared pages ------------------------------------------------------- */

/* The state nibble shares its byte with other bitfields; read and write
 * it through a volatile view so the compiler neither caches nor merges. */
static uint8_t slot_state(volatile ioreq_t *slot)
{
    return slot->state;
}

static void slot_set_state(volatile ioreq_t *slot, uint8_t state)
{
    slot->state = state;
}

bool ioreq_server_handle_slot(struct ioreq_server *s, unsigned int vcpu)
{
    volatile ioreq_t *slot = &s->pages.slots->vcpu_ioreq[vcpu];
    ioreq_t req;

    if (slot_state(slot) != STATE_IOREQ_READY)
        return false; /* spurious event, or the request was withdrawn */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(&req, (const void *)slot, sizeof(req));
    slot_set_state(slot, STATE_IOREQ_INPROCESS);

    ioreq_server_drain_buffered(s);
    ioreq_server_serve(s, &req);

    slot->data = req.data;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    slot_set_state(slot, STATE_IORESP_READY);
    return true;
}

static void serve_buffered(struct ioreq_server *s, const buf_ioreq_t *b, uint64_t data)
{
    static const unsigned int sizes[4] = { 1, 2, 4, 8 };
    ioreq_t req = {
        .addr = b->addr, .data = data, .count = 1, .size = sizes[b->size],
        .state = STATE_IOREQ_READY, .dir = b->dir, .type = b->type,
    };

    s->stats.buffered++;
    /* Xen only buffers writes; a buffered read could not be answered. */
    if (req.dir != IOREQ_WRITE) {
        s->stats.invalid++;
        log_limited(&s->bad_request_log, s->hv->domid, DEV, "buffered read ignored");
        return;
    }
    ioreq_server_serve(s, &req);
}

unsigned int ioreq_server_drain_buffered(struct ioreq_server *s)
{
    volatile buffered_iopage_t *page = s->pages.buffered;
    unsigned int served = 0;

    if (!page)
        return 0;
    for (;;) {
        uint32_t rp = page->read_pointer;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint32_t wp = page->write_pointer;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        /* A writer never runs more than a ring ahead; anything else is a
         * corrupt page and we stop rather than spin on garbage. */
        if (wp == rp || wp - rp > IOREQ_BUFFER_SLOT_NUM) {
            if (wp != rp)
                log_limited(&s->bad_request_log, s->hv->domid, DEV,
                            "buffered ring pointers corrupt (read %u write %u)", rp, wp);
            return served;
        }
        buf_ioreq_t b = page->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM];
        uint64_t data = b.data;
        uint32_t used = 1;
        if (b.size == 3) {
            if (wp - rp < 2)
                return served; /* high half not published yet */
            buf_ioreq_t hi = page->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM];
            data |= (uint64_t)hi.data << 32;
            used = 2;
        }
        serve_buffered(s, &b, data);
        served++;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        /* Atomic mode: Xen folds both pointers down when read_pointer
         * passes the ring size, so only ever add to it. */
        __atomic_fetch_add((uint32_t *)&page->read_pointer, used, __ATOMIC_SEQ_CST);
    }
}

bool ioreq_server_handle_port(struct ioreq_server *s, hv_port_t port)
{
    if (s->buffered_port >= 0 && port == s->buffered_port) {
        ioreq_server_drain_buffered(s);
        s->hv->ops->evtchn_unmask(s->hv, port);
        return true;
    }
    for (unsigned int v = 0; v < s->nr_vcpus; v++) {
        if (s->vcpu_ports[v] != port)
            continue;
        s->hv->ops->evtchn_unmask(s->hv, port);
        if (ioreq_server_handle_slot(s, v))
            s->hv->ops->evtchn_notify(s->hv, port);
        return true;
    }
    return false;
}

/* ---- polling mode -------------------------------------------------------- */

static bool buffered_pending(struct ioreq_server *s)
{
    volatile buffered_iopage_t *page = s->pages.buffered;

    return page && page->read_pointer != page->write_pointer;
}

unsigned int ioreq_server_poll(struct ioreq_server *s, uint64_t budget_ns, ioreq_clock_fn now,
                               void *opaque)
{
    unsigned int served = 0;
    uint64_t deadline = now(opaque) + budget_ns;

    while (served < IOREQ_POLL_MAX_BATCH) {
        bool progress = false;
        for (unsigned int v = 0; v < s->nr_vcpus; v++) {
            if (slot_state(&s->pages.slots->vcpu_ioreq[v]) != STATE_IOREQ_READY)
                continue;
            /* The event that will still arrive for it finds the slot
             * answered and is ignored as spurious. */
            if (ioreq_server_handle_slot(s, v)) {
                s->hv->ops->evtchn_notify(s->hv, s->vcpu_ports[v]);
                served++;
                progress = true;
            }
        }
        if (buffered_pending(s) && ioreq_server_drain_buffered(s))
            progress = true;
        uint64_t t = now(opaque);
        if (progress)
            deadline = t + budget_ns;
        else if (t >= deadline)
            break;
        else
            cpu_relax();
    }
    return served;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int bind_ports(struct ioreq_server *s)
{
    int rc;

    for (unsigned int v = 0; v < s->nr_vcpus; v++) {
        uint32_t remote = s->pages.slots->vcpu_ioreq[v].vp_eport;
        rc = s->hv->ops->evtchn_bind(s->hv, remote, &s->vcpu_ports[v]);
        if (rc < 0) {
            log_warn(s->hv->domid, DEV, "binding vCPU %u port %u failed: %s", v, remote,
                     g_strerror(-rc));
            return rc;
        }
    }
    if (s->pages.buffered) {
        rc = s->hv->ops->evtchn_bind(s->hv, s->pages.buffered_port, &s->buffered_port);
        if (rc < 0) {
            log_warn(s->hv->domid, DEV, "binding buffered port %u failed: %s",
                     s->pages.buffered_port, g_strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int ioreq_server_setup(struct ioreq_server *s, struct hv *hv, unsigned int nr_vcpus,
                       bool want_buffered)
{
    int rc;

    *s = (struct ioreq_server){
        .hv = hv, .nr_vcpus = nr_vcpus, .buffered_port = -1,
        .bad_request_log = RATELIMIT_INIT,
    };
    s->vcpu_ports = g_new(hv_port_t, nr_vcpus);
    for (unsigned int v = 0; v < nr_vcpus; v++)
        s->vcpu_ports[v] = -1;

    rc = hv->ops->create_server(hv, want_buffered, &s->id);
    if (rc < 0) {
        log_warn(hv->domid, DEV, "creating the ioreq server failed: %s", g_strerror(-rc));
        return rc;
    }
    s->created = true;
    rc = hv->ops->map_server_pages(hv, s->id, &s->pages);
    if (rc < 0) {
        log_warn(hv->domid, DEV, "mapping the ioreq pages failed: %s", g_strerror(-rc));
        return rc;
    }
    rc = bind_ports(s);
    if (rc < 0)
        return rc;
    s->dispatch = dispatch_new(hv, s->id);
    s->mapcache = mapcache_new(hv, 64);
    return 0;
}

int ioreq_server_enable(struct ioreq_server *s)
{
    int rc = s->hv->ops->set_server_state(s->hv, s->id, true);

    if (rc == 0)
        s->enabled = true;
    return rc;
}

void ioreq_server_teardown(struct ioreq_server *s)
{
    if (s->enabled)
        s->hv->ops->set_server_state(s->hv, s->id, false);
    for (unsigned int v = 0; s->vcpu_ports && v < s->nr_vcpus; v++)
        if (s->vcpu_ports[v] >= 0)
            s->hv->ops->evtchn_unbind(s->hv, s->vcpu_ports[v]);
    if (s->buffered_port >= 0)
        s->hv->ops->evtchn_unbind(s->hv, s->buffered_port);
    /* Destroying the server frees its ranges with the hypervisor too. */
    if (s->created)
        s->hv->ops->destroy_server(s->hv, s->id);
    mapcache_free(s->mapcache);
    dispatch_free(s->dispatch);
    g_free(s->vcpu_ports);
    *s = (struct ioreq_server){ .buffered_port = -1 };
}
