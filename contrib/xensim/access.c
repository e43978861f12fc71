/* SPDX-License-Identifier: MIT */
/*
 * The guest side of a domain: what a vCPU's port I/O, MMIO and RAM accesses
 * do. RAM is served here; everything else becomes an ioreq routed exactly as
 * Xen routes it (routing.c), buffered for VGA-window writes (bufring.c) or
 * sent synchronously through the chosen server's slot for this vCPU.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "contrib/xensim/bufring.h"
#include "contrib/xensim/domain.h"

/* The state/data_is_ptr/dir/df bitfield byte of an ioreq_t (bits 0-3, 4, 5,
 * 6 on a little-endian ABI). It is read and written as one byte so state
 * changes are single atomic stores. */
#define SLOT_FLAGS_OFFSET 30
_Static_assert(offsetof(ioreq_t, type) == SLOT_FLAGS_OFFSET + 1, "flags byte precedes type");
#define FLAG_STATE_MASK 0x0F
#define FLAG_DATA_IS_PTR 0x10
#define FLAG_DIR_READ 0x20
#define FLAG_DF 0x40

/* internal: the access found no live server, complete it as unclaimed */
#define SEND_UNCLAIMED 1
#define WAIT_POLL_MS 100

static uint8_t *slot_flags(ioreq_t *slot)
{
    return (uint8_t *)slot + SLOT_FLAGS_OFFSET;
}

static uint64_t size_mask(unsigned int size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static bool valid_mem_size(uint64_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static bool valid_pio_size(uint64_t size)
{
    return size == 1 || size == 2 || size == 4;
}

uint8_t *xsim_domain_ram(struct xsim_domain *d, uint64_t gpa, uint64_t len)
{
    uint64_t offset;
    if (len == 0 || !xsim_ram_layout_find(&d->layout, gpa, len, &offset))
        return NULL;
    return d->ram + offset;
}

static int state_result_locked(struct xsim_domain *d)
{
    if (g_atomic_int_get(d->stopping))
        return XSIM_IO_STOPPED;
    switch (d->state) {
    case XSIM_DOMAIN_RUNNING:
        return XSIM_IO_OK;
    case XSIM_DOMAIN_SHUTDOWN:
        return XSIM_IO_SHUTDOWN;
    case XSIM_DOMAIN_CRASHED:
    default:
        return XSIM_IO_CRASHED;
    }
}

static int check_running(struct xsim_domain *d)
{
    g_mutex_lock(&d->lock);
    int rc = state_result_locked(d);
    g_mutex_unlock(&d->lock);
    return rc;
}

/* ------------------------------------------------------- synchronous ioreqs */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until the device model answers in slot; the state may only move
 * READY -> INPROCESS -> IORESP_READY (INPROCESS may be skipped). */
static int wait_response(struct xsim_domain *d, struct xsim_server *s, unsigned int vcpu,
                         ioreq_t *req)
{
    ioreq_t *slot = &s->slots[vcpu];
    uint8_t *flags = slot_flags(slot);
    bool seen_inprocess = false;
    int fd = s->vcpu_port[vcpu]->to_guest_fd;
    uint64_t spin_until = d->vcpu_spin_ns ? monotonic_ns() + d->vcpu_spin_ns : 0;

    for (;;) {
        uint8_t state = __atomic_load_n(flags, __ATOMIC_ACQUIRE) & FLAG_STATE_MASK;
        if (state == STATE_IORESP_READY) {
            req->data = __atomic_load_n(&slot->data, __ATOMIC_RELAXED);
            uint8_t f = __atomic_load_n(flags, __ATOMIC_RELAXED);
            __atomic_store_n(flags, (uint8_t)(f & ~FLAG_STATE_MASK), __ATOMIC_RELEASE);
            return XSIM_IO_OK;
        }
        if (state == STATE_IOREQ_INPROCESS) {
            seen_inprocess = true;
        } else if (state != STATE_IOREQ_READY || seen_inprocess) {
            char why[96];
            g_snprintf(why, sizeof(why), "server %u vcpu %u: ioreq state went to %u", s->id, vcpu,
                       state);
            if (!g_atomic_int_get(&s->dead)) {
                xsim_domain_crash(d, why);
                return XSIM_IO_CRASHED;
            }
        }
        if (g_atomic_int_get(&s->dead))
            return SEND_UNCLAIMED;
        if (g_atomic_int_get(d->stopping))
            return XSIM_IO_STOPPED;
        if (spin_until && monotonic_ns() < spin_until)
            continue; /* --poll-us: re-read the slot instead of sleeping */
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, WAIT_POLL_MS) > 0)
            xsim_eventfd_drain(fd);
    }
}

/* Hand req to server s through this vCPU's slot and wait for the answer. */
static int send_sync(struct xsim_domain *d, struct xsim_server *s, unsigned int vcpu,
                     ioreq_t *req)
{
    ioreq_t *slot = &s->slots[vcpu];
    uint8_t *flags = slot_flags(slot);
    uint8_t state = __atomic_load_n(flags, __ATOMIC_ACQUIRE) & FLAG_STATE_MASK;
    uint32_t eport = __atomic_load_n(&slot->vp_eport, __ATOMIC_RELAXED);

    if (state != STATE_IOREQ_NONE || eport != s->vcpu_port[vcpu]->port) {
        char why[96];
        g_snprintf(why, sizeof(why), "server %u vcpu %u: slot not free (state %u, port %u)",
                   s->id, vcpu, state, eport);
        xsim_domain_crash(d, why);
        return XSIM_IO_CRASHED;
    }
    slot->addr = req->addr;
    slot->data = req->data;
    slot->count = req->count;
    slot->size = req->size;
    slot->type = req->type;
    uint8_t f = (req->data_is_ptr ? FLAG_DATA_IS_PTR : 0) | (req->dir ? FLAG_DIR_READ : 0) |
                (req->df ? FLAG_DF : 0);
    __atomic_store_n(flags, f, __ATOMIC_RELAXED);
    /* the request is complete before READY becomes visible */
    __atomic_store_n(flags, (uint8_t)(f | STATE_IOREQ_READY), __ATOMIC_RELEASE);
    xsim_eventfd_signal(s->vcpu_port[vcpu]->to_dm_fd);
    return wait_response(d, s, vcpu, req);
}

/* What an access nobody claims does: reads see all-ones, writes vanish. */
static void complete_unclaimed(struct xsim_domain *d, ioreq_t *req)
{
    if (req->dir != IOREQ_READ)
        return;
    if (!req->data_is_ptr) {
        req->data = UINT64_MAX;
        return;
    }
    uint64_t first, last;
    if (xsim_rep_span(req->data, req->size, req->count, req->df, &first, &last)) {
        uint8_t *ram = xsim_domain_ram(d, first, last - first + 1);
        if (ram)
            memset(ram, 0xFF, last - first + 1);
    }
}

static struct xsim_server *route_ref_locked(struct xsim_domain *d, enum hv_range_type type,
                                            uint64_t first, uint64_t last)
{
    int id = xsim_route(&d->routing, type, first, last);
    if (id < 0 || !d->server[id])
        return NULL;
    g_atomic_int_inc(&d->server[id]->refcount);
    return d->server[id];
}

/* Route req by [first, last] of type and carry it out. */
static int dispatch(struct xsim_domain *d, unsigned int vcpu, ioreq_t *req,
                    enum hv_range_type type, uint64_t first, uint64_t last)
{
    g_mutex_lock(&d->lock);
    int rc = state_result_locked(d);
    if (rc != XSIM_IO_OK) {
        g_mutex_unlock(&d->lock);
        return rc;
    }
    struct xsim_server *s = route_ref_locked(d, type, first, last);
    if (s && s->buf && req->type == IOREQ_TYPE_COPY &&
        xsim_access_bufferable(req->addr, req->size, req->count, req->data_is_ptr,
                               req->dir == IOREQ_READ) &&
        xsim_bufring_write(s->buf, IOREQ_TYPE_COPY, (uint32_t)req->addr, req->size, req->data)) {
        xsim_eventfd_signal(s->buf_port->to_dm_fd);
        g_mutex_unlock(&d->lock);
        xsim_server_unref(s);
        return XSIM_IO_OK;
    }
    g_mutex_unlock(&d->lock);

    rc = s ? send_sync(d, s, vcpu, req) : SEND_UNCLAIMED;
    xsim_server_unref(s);
    if (rc == SEND_UNCLAIMED) {
        complete_unclaimed(d, req);
        rc = XSIM_IO_OK;
    }
    if (rc == XSIM_IO_OK && req->dir == IOREQ_READ && !req->data_is_ptr)
        req->data &= size_mask(req->size);
    return rc;
}

static ioreq_t make_req(uint8_t type, uint64_t addr, unsigned int size, uint32_t count,
                        bool is_read, uint64_t data)
{
    ioreq_t req;
    memset(&req, 0, sizeof(req));
    req.type = type;
    req.addr = addr;
    req.size = size;
    req.count = count;
    req.dir = is_read ? IOREQ_READ : IOREQ_WRITE;
    req.data = data;
    return req;
}

/* ----------------------------------------------------------------- port I/O */

static int pio_locked_vcpu(struct xsim_domain *d, unsigned int vcpu, uint32_t port,
                           unsigned int size, bool is_read, uint64_t *value)
{
    g_mutex_lock(&d->lock);
    int rc = state_result_locked(d);
    uint32_t cf8 = d->cf8;
    bool latch = rc == XSIM_IO_OK && port == XSIM_PCI_CF8 && size == 4;
    if (latch) {
        /* CF8 is the hypervisor's: 4-byte accesses latch the config address */
        if (is_read)
            *value = d->cf8;
        else
            d->cf8 = (uint32_t)*value;
    }
    g_mutex_unlock(&d->lock);
    if (rc != XSIM_IO_OK || latch)
        return rc;

    ioreq_t req = make_req(IOREQ_TYPE_PIO, port, size, 1, is_read, is_read ? 0 : *value);
    uint32_t sbdf;
    uint64_t config_addr;
    if (xsim_cf8_decode(cf8, port, size, &sbdf, &config_addr)) {
        req.type = IOREQ_TYPE_PCI_CONFIG;
        req.addr = config_addr;
        rc = dispatch(d, vcpu, &req, HV_RANGE_PCI, sbdf, sbdf);
    } else {
        rc = dispatch(d, vcpu, &req, HV_RANGE_PORT, port, port + size - 1);
    }
    if (rc == XSIM_IO_OK && is_read)
        *value = req.data;
    return rc;
}

int xsim_guest_pio(struct xsim_domain *d, unsigned int vcpu, uint32_t port, unsigned int size,
                   bool is_read, uint64_t *value)
{
    if (vcpu >= d->nr_vcpus || !valid_pio_size(size) || port + size > 0x10000 ||
        d->arch != HV_ARCH_X86)
        return XSIM_IO_BADARG;
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = pio_locked_vcpu(d, vcpu, port, size, is_read, value);
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

/* ------------------------------------------------------------------- memory */

static bool gpa_range_ok(uint64_t addr, uint64_t len)
{
    return len > 0 && addr < XSIM_GPA_LIMIT && len <= XSIM_GPA_LIMIT - addr;
}

static int mmio_access(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                       unsigned int size, bool is_read, uint64_t *value)
{
    ioreq_t req = make_req(IOREQ_TYPE_COPY, addr, size, 1, is_read, is_read ? 0 : *value);
    int rc = dispatch(d, vcpu, &req, HV_RANGE_MMIO, addr, addr + size - 1);
    if (rc == XSIM_IO_OK && is_read)
        *value = req.data;
    return rc;
}

/* Largest naturally aligned access size (8, 4, 2, 1) at addr within len. */
static unsigned int aligned_piece(uint64_t addr, uint64_t len)
{
    unsigned int size = 8;
    while (size > 1 && ((addr & (size - 1)) || size > len))
        size /= 2;
    return size;
}

enum mem_op { MEM_READ, MEM_WRITE, MEM_SET };

/* Walk [addr, addr+len): RAM runs directly, other runs as aligned MMIO. */
static int mem_walk(struct xsim_domain *d, unsigned int vcpu, enum mem_op op, uint64_t addr,
                    uint8_t *buf, uint8_t byte, uint64_t len)
{
    int rc = check_running(d);
    while (rc == XSIM_IO_OK && len) {
        bool is_ram;
        uint64_t run = xsim_ram_layout_run(&d->layout, addr, len, &is_ram);
        if (is_ram) {
            uint8_t *ram = xsim_domain_ram(d, addr, run);
            if (op == MEM_READ)
                memcpy(buf, ram, run);
            else if (op == MEM_WRITE)
                memcpy(ram, buf, run);
            else
                memset(ram, byte, run);
            if (op != MEM_READ)
                xsim_dirty_mark(&d->dirty, addr, run);
        } else {
            run = aligned_piece(addr, run);
            uint64_t value = 0;
            if (op == MEM_WRITE)
                memcpy(&value, buf, run);
            else if (op == MEM_SET)
                memset(&value, byte, run);
            rc = mmio_access(d, vcpu, addr, (unsigned int)run, op == MEM_READ, &value);
            if (op == MEM_READ)
                memcpy(buf, &value, run);
        }
        addr += run;
        len -= run;
        if (buf)
            buf += run;
    }
    return rc;
}

static int mem_op_vcpu(struct xsim_domain *d, unsigned int vcpu, enum mem_op op, uint64_t addr,
                       uint8_t *buf, uint8_t byte, uint64_t len)
{
    if (vcpu >= d->nr_vcpus || !gpa_range_ok(addr, len))
        return XSIM_IO_BADARG;
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = mem_walk(d, vcpu, op, addr, buf, byte, len);
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

int xsim_guest_mem_read(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, uint8_t *buf,
                        uint64_t len)
{
    return mem_op_vcpu(d, vcpu, MEM_READ, addr, buf, 0, len);
}

int xsim_guest_mem_write(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                         const uint8_t *buf, uint64_t len)
{
    /* the walk only reads buf for MEM_WRITE */
    return mem_op_vcpu(d, vcpu, MEM_WRITE, addr, (uint8_t *)(uintptr_t)buf, 0, len);
}

int xsim_guest_mem_set(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, uint8_t byte,
                       uint64_t len)
{
    return mem_op_vcpu(d, vcpu, MEM_SET, addr, NULL, byte, len);
}

int xsim_guest_mem(struct xsim_domain *d, unsigned int vcpu, uint64_t addr, unsigned int size,
                   bool is_read, uint64_t *value)
{
    if (vcpu >= d->nr_vcpus || !valid_mem_size(size) || !gpa_range_ok(addr, size))
        return XSIM_IO_BADARG;
    bool is_ram;
    uint64_t run = xsim_ram_layout_run(&d->layout, addr, size, &is_ram);
    if (run < size) {
        /* straddles RAM and non-RAM: split like the hardware would */
        uint8_t bytes[8] = { 0 };
        if (!is_read)
            memcpy(bytes, value, size);
        int rc = is_read ? xsim_guest_mem_read(d, vcpu, addr, bytes, size)
                         : xsim_guest_mem_write(d, vcpu, addr, bytes, size);
        if (is_read) {
            *value = 0;
            memcpy(value, bytes, size);
        }
        return rc;
    }
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = check_running(d);
    if (rc == XSIM_IO_OK && is_ram) {
        uint8_t *ram = xsim_domain_ram(d, addr, size);
        if (is_read) {
            *value = 0;
            memcpy(value, ram, size);
        } else {
            memcpy(ram, value, size);
            xsim_dirty_mark(&d->dirty, addr, size);
        }
    } else if (rc == XSIM_IO_OK) {
        rc = mmio_access(d, vcpu, addr, size, is_read, value);
    }
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

/* ------------------------------------------------------ rep (string) I/O */

static uint64_t advance(uint64_t addr, unsigned int size, uint32_t count, bool df)
{
    uint64_t delta = (uint64_t)size * count;
    return df ? addr - delta : addr + delta;
}

/* The RAM of count elements at gpa (the pointer side of a rep), or NULL. */
static uint8_t *rep_ram(struct xsim_domain *d, uint64_t gpa, unsigned int size, uint32_t count,
                        bool df, uint64_t *first, uint64_t *len)
{
    uint64_t last;
    if (!xsim_rep_span(gpa, size, count, df, first, &last) || last >= XSIM_GPA_LIMIT)
        return NULL;
    *len = last - *first + 1;
    return xsim_domain_ram(d, *first, *len);
}

int xsim_guest_rep_pio(struct xsim_domain *d, unsigned int vcpu, uint32_t port,
                       unsigned int size, uint32_t count, uint64_t gpa, bool df, bool is_read)
{
    if (vcpu >= d->nr_vcpus || !valid_pio_size(size) || count == 0 || port + size > 0x10000 ||
        d->arch != HV_ARCH_X86)
        return XSIM_IO_BADARG;
    uint64_t first, len;
    if (!rep_ram(d, gpa, size, count, df, &first, &len))
        return XSIM_IO_BADARG; /* the whole buffer must be RAM */
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = XSIM_IO_OK;
    while (rc == XSIM_IO_OK && count) {
        /* the port stays put: only the RAM side is cut at pages */
        uint32_t n = xsim_rep_chunk(gpa, false, 0, size, count, df);
        ioreq_t req = make_req(IOREQ_TYPE_PIO, port, size, n, is_read, gpa);
        req.data_is_ptr = 1;
        req.df = df;
        rc = dispatch(d, vcpu, &req, HV_RANGE_PORT, port, port + size - 1);
        count -= n;
        if (count)
            gpa = advance(gpa, size, n, df);
    }
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

/* A rep movs whose device side turned out to be RAM: a plain copy. */
static void rep_ram_copy(uint8_t *mmio_side, uint8_t *ram_side, uint64_t len, bool is_read)
{
    if (is_read)
        memmove(ram_side, mmio_side, len);
    else
        memmove(mmio_side, ram_side, len);
}

static int rep_mmio_chunk(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                          unsigned int size, uint32_t n, uint64_t gpa, bool df, bool is_read)
{
    uint64_t first, last;
    if (!xsim_rep_span(addr, size, n, df, &first, &last) || last >= XSIM_GPA_LIMIT)
        return XSIM_IO_BADARG;
    uint64_t ptr_first = 0, ptr_len = 0;
    uint8_t *ptr_ram = rep_ram(d, gpa, size, n, df, &ptr_first, &ptr_len);
    uint8_t *dev_ram = xsim_domain_ram(d, first, last - first + 1);
    if (dev_ram) {
        int rc = check_running(d);
        if (rc == XSIM_IO_OK)
            rep_ram_copy(dev_ram, ptr_ram, ptr_len, is_read);
        return rc;
    }
    ioreq_t req = make_req(IOREQ_TYPE_COPY, addr, size, n, is_read, gpa);
    req.data_is_ptr = 1;
    req.df = df;
    return dispatch(d, vcpu, &req, HV_RANGE_MMIO, first, last);
}

int xsim_guest_rep_mmio(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                        unsigned int size, uint32_t count, uint64_t gpa, bool df, bool is_read)
{
    uint64_t first, len, last;
    if (vcpu >= d->nr_vcpus || !valid_mem_size(size) || count == 0 ||
        !xsim_rep_span(addr, size, count, df, &first, &last) || last >= XSIM_GPA_LIMIT ||
        !rep_ram(d, gpa, size, count, df, &first, &len))
        return XSIM_IO_BADARG;
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = XSIM_IO_OK;
    while (rc == XSIM_IO_OK && count) {
        uint32_t n = xsim_rep_chunk(addr, true, gpa, size, count, df);
        rc = rep_mmio_chunk(d, vcpu, addr, size, n, gpa, df, is_read);
        count -= n;
        if (count) {
            addr = advance(addr, size, n, df);
            gpa = advance(gpa, size, n, df);
        }
    }
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

static int rep_fill_chunk(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                          unsigned int size, uint32_t n, uint64_t value, bool df)
{
    uint64_t first, last;
    if (!xsim_rep_span(addr, size, n, df, &first, &last) || last >= XSIM_GPA_LIMIT)
        return XSIM_IO_BADARG;
    uint8_t *ram = xsim_domain_ram(d, first, last - first + 1);
    if (ram) {
        int rc = check_running(d);
        for (uint32_t i = 0; rc == XSIM_IO_OK && i < n; i++)
            memcpy(ram + (uint64_t)i * size, &value, size);
        return rc;
    }
    ioreq_t req = make_req(IOREQ_TYPE_COPY, addr, size, n, false, value & size_mask(size));
    req.df = df;
    return dispatch(d, vcpu, &req, HV_RANGE_MMIO, first, last);
}

int xsim_guest_rep_fill(struct xsim_domain *d, unsigned int vcpu, uint64_t addr,
                        unsigned int size, uint32_t count, uint64_t value, bool df)
{
    uint64_t first, last;
    if (vcpu >= d->nr_vcpus || !valid_mem_size(size) || count == 0 ||
        !xsim_rep_span(addr, size, count, df, &first, &last) || last >= XSIM_GPA_LIMIT)
        return XSIM_IO_BADARG;
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = XSIM_IO_OK;
    while (rc == XSIM_IO_OK && count) {
        uint32_t n = xsim_rep_chunk(addr, false, 0, size, count, df);
        rc = rep_fill_chunk(d, vcpu, addr, size, n, value, df);
        count -= n;
        if (count)
            addr = advance(addr, size, n, df);
    }
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}

/* -------------------------------------------------------------- invalidate */

static int invalidate_servers(struct xsim_domain *d, unsigned int vcpu)
{
    struct xsim_server *targets[XSIM_MAX_SERVERS];
    unsigned int n = 0;
    g_mutex_lock(&d->lock);
    int rc = state_result_locked(d);
    for (unsigned int id = 0; rc == XSIM_IO_OK && id < XSIM_MAX_SERVERS; id++) {
        if (d->server[id] && d->routing.server[id].enabled) {
            targets[n] = d->server[id];
            g_atomic_int_inc(&targets[n]->refcount);
            n++;
        }
    }
    g_mutex_unlock(&d->lock);
    for (unsigned int i = 0; i < n; i++) {
        if (rc == XSIM_IO_OK) {
            ioreq_t req = make_req(IOREQ_TYPE_INVALIDATE, 0, 4, 1, false, UINT64_MAX);
            int r = send_sync(d, targets[i], vcpu, &req);
            rc = r == SEND_UNCLAIMED ? XSIM_IO_OK : r;
        }
        xsim_server_unref(targets[i]);
    }
    return rc;
}

int xsim_guest_invalidate(struct xsim_domain *d, unsigned int vcpu)
{
    if (vcpu >= d->nr_vcpus)
        return XSIM_IO_BADARG;
    g_mutex_lock(&d->vcpu_lock[vcpu]);
    int rc = invalidate_servers(d, vcpu);
    g_mutex_unlock(&d->vcpu_lock[vcpu]);
    return rc;
}
