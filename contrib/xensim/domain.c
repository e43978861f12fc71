/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/domain.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/sched.h>

_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t is 32 bytes");
_Static_assert(XSIM_MAX_VCPUS * sizeof(ioreq_t) <= XSIM_PAGE_SIZE, "slots fit a page");
_Static_assert(sizeof(buffered_iopage_t) <= XSIM_PAGE_SIZE, "ring fits a page");

/* A shared page (or RAM) as a memfd mapped here; the device model maps it too. */
static void *memfd_map(const char *name, uint64_t size, int *fd_out, GError **error)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    /* Sealed at its size: whoever gets the fd (a device model, the scripted
     * guest's xen_guest_memfd) cannot shrink it under xensim (SIGBUS). */
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "memfd %s: %s", name,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "mmap %s: %s", name,
                    g_strerror(errno));
        close(fd);
        return NULL;
    }
    *fd_out = fd;
    return p;
}

struct xsim_domain *xsim_domain_new(uint32_t domid, enum hv_arch arch, uint64_t mem,
                                    uint64_t mmio_hole, unsigned int nr_vcpus, struct xsim_ratelimit *rl,
                                    const gint *stopping, GError **error)
{
    struct xsim_ram_layout layout;
    if (!xsim_ram_layout_compute_hole(arch, mem, mmio_hole, &layout)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "domain %u: bad memory size %" PRIu64 " or MMIO hole %" PRIu64, domid, mem,
                    mmio_hole);
        return NULL;
    }
    struct xsim_domain *d = g_new0(struct xsim_domain, 1);
    d->ram = memfd_map("xensim-guest-ram", layout.total, &d->ram_fd, error);
    if (!d->ram) {
        g_free(d);
        return NULL;
    }
    d->domid = domid;
    d->arch = arch;
    d->nr_vcpus = nr_vcpus;
    d->mem = mem;
    d->layout = layout;
    d->rl = rl;
    d->stopping = stopping;
    d->vcpu_lock = g_new0(GMutex, nr_vcpus);
    for (unsigned int i = 0; i < nr_vcpus; i++)
        g_mutex_init(&d->vcpu_lock[i]);
    g_mutex_init(&d->lock);
    g_cond_init(&d->changed);
    xsim_evtchn_table_init(&d->evtchns);
    xsim_gnttab_init(&d->gnttab, &d->layout, d->ram);
    xsim_dirty_init(&d->dirty);
    d->gnttab.dirty = &d->dirty;
    d->state = XSIM_DOMAIN_RUNNING;
    g_mutex_init(&d->listeners_lock);
    d->listeners = g_ptr_array_new();
    return d;
}

static void kill_server_locked(struct xsim_domain *d, unsigned int id);

void xsim_domain_free(struct xsim_domain *d)
{
    if (!d)
        return;
    for (unsigned int id = 0; id < XSIM_MAX_SERVERS; id++) {
        if (d->server[id])
            kill_server_locked(d, id);
    }
    xsim_evtchn_table_destroy(&d->evtchns);
    xsim_gnttab_destroy(&d->gnttab);
    xsim_dirty_clear(&d->dirty);
    munmap(d->ram, d->layout.total);
    close(d->ram_fd);
    for (unsigned int i = 0; i < d->nr_vcpus; i++)
        g_mutex_clear(&d->vcpu_lock[i]);
    g_free(d->vcpu_lock);
    g_mutex_clear(&d->lock);
    g_cond_clear(&d->changed);
    g_mutex_clear(&d->listeners_lock);
    g_ptr_array_free(d->listeners, TRUE);
    g_free(d);
}

/* ------------------------------------------------------------------ servers */

void xsim_server_unref(struct xsim_server *s)
{
    if (!s || !g_atomic_int_dec_and_test(&s->refcount))
        return;
    for (unsigned int i = 0; i < s->nr_vcpus; i++)
        xsim_evtchn_unref(s->vcpu_port[i]);
    g_free(s->vcpu_port);
    xsim_evtchn_unref(s->buf_port);
    if (s->slots)
        munmap(s->slots, XSIM_PAGE_SIZE);
    if (s->slot_fd >= 0)
        close(s->slot_fd);
    if (s->buf)
        munmap(s->buf, XSIM_PAGE_SIZE);
    if (s->buf_fd >= 0)
        close(s->buf_fd);
    g_free(s);
}

static struct xsim_server *server_new(struct xsim_domain *d, unsigned int id, const void *owner,
                                      bool want_buffered, int *err)
{
    struct xsim_server *s = g_new0(struct xsim_server, 1);
    s->refcount = 1;
    s->id = id;
    s->owner = owner;
    s->nr_vcpus = d->nr_vcpus;
    s->slot_fd = s->buf_fd = -1;
    s->vcpu_port = g_new0(struct xsim_evtchn *, d->nr_vcpus);

    GError *error = NULL;
    s->slots = memfd_map("xensim-ioreq-slots", XSIM_PAGE_SIZE, &s->slot_fd, &error);
    if (s->slots && want_buffered)
        s->buf = memfd_map("xensim-ioreq-buffered", XSIM_PAGE_SIZE, &s->buf_fd, &error);
    if (error) {
        xsim_log("dom%u: server %u pages: %s", d->domid, id, error->message);
        g_error_free(error);
        *err = -ENOMEM;
        xsim_server_unref(s);
        return NULL;
    }
    for (unsigned int i = 0; i < d->nr_vcpus; i++) {
        s->vcpu_port[i] = xsim_evtchn_alloc(&d->evtchns, XSIM_EVTCHN_IOREQ, err);
        if (!s->vcpu_port[i])
            goto fail_ports;
        s->slots[i].vp_eport = s->vcpu_port[i]->port;
    }
    if (want_buffered) {
        s->buf_port = xsim_evtchn_alloc(&d->evtchns, XSIM_EVTCHN_BUFIOREQ, err);
        if (!s->buf_port)
            goto fail_ports;
    }
    return s;

fail_ports:
    for (unsigned int i = 0; i < d->nr_vcpus && s->vcpu_port[i]; i++)
        xsim_evtchn_close(&d->evtchns, s->vcpu_port[i]->port);
    xsim_server_unref(s);
    return NULL;
}

int xsim_domain_create_server(struct xsim_domain *d, const void *owner, bool want_buffered,
                              unsigned int *id)
{
    if (want_buffered && d->arch == HV_ARCH_ARM)
        return -EINVAL;
    int err = 0;
    g_mutex_lock(&d->lock);
    int slot = xsim_routing_add_server(&d->routing);
    if (slot < 0) {
        err = slot;
    } else {
        struct xsim_server *s = server_new(d, (unsigned int)slot, owner, want_buffered, &err);
        if (s) {
            d->server[slot] = s;
            *id = (unsigned int)slot;
        } else {
            xsim_routing_remove_server(&d->routing, (unsigned int)slot);
        }
    }
    g_mutex_unlock(&d->lock);
    return err;
}

static int check_owner_locked(struct xsim_domain *d, const void *owner, uint64_t id)
{
    if (id >= XSIM_MAX_SERVERS)
        return -EINVAL;
    if (!d->server[id])
        return -ENOENT;
    if (d->server[id]->owner != owner)
        return -EPERM;
    return 0;
}

int xsim_domain_get_server(struct xsim_domain *d, const void *owner, uint64_t id,
                           struct xsim_server **out)
{
    g_mutex_lock(&d->lock);
    int err = check_owner_locked(d, owner, id);
    if (!err) {
        *out = d->server[id];
        g_atomic_int_inc(&(*out)->refcount);
    }
    g_mutex_unlock(&d->lock);
    return err;
}

/* Unroute, close its ports, and wake any vCPU waiting on it: the waiter
 * sees `dead` and completes the access with all-ones. */
static void kill_server_locked(struct xsim_domain *d, unsigned int id)
{
    struct xsim_server *s = d->server[id];
    d->server[id] = NULL;
    xsim_routing_remove_server(&d->routing, id);
    g_atomic_int_set(&s->dead, 1);
    for (unsigned int i = 0; i < s->nr_vcpus; i++) {
        xsim_eventfd_signal(s->vcpu_port[i]->to_guest_fd);
        xsim_evtchn_close(&d->evtchns, s->vcpu_port[i]->port);
    }
    if (s->buf_port)
        xsim_evtchn_close(&d->evtchns, s->buf_port->port);
    xsim_server_unref(s);
    g_cond_broadcast(&d->changed);
}

int xsim_domain_destroy_server(struct xsim_domain *d, const void *owner, uint64_t id)
{
    g_mutex_lock(&d->lock);
    int err = check_owner_locked(d, owner, id);
    if (!err)
        kill_server_locked(d, (unsigned int)id);
    g_mutex_unlock(&d->lock);
    return err;
}

void xsim_domain_destroy_owned_servers(struct xsim_domain *d, const void *owner)
{
    g_mutex_lock(&d->lock);
    for (unsigned int id = 0; id < XSIM_MAX_SERVERS; id++) {
        if (d->server[id] && d->server[id]->owner == owner) {
            xsim_log("dom%u: server %u destroyed with its connection", d->domid, id);
            kill_server_locked(d, id);
        }
    }
    g_mutex_unlock(&d->lock);
}

int xsim_domain_set_server_state(struct xsim_domain *d, const void *owner, uint64_t id,
                                 uint64_t enabled)
{
    if (enabled > 1)
        return -EINVAL;
    g_mutex_lock(&d->lock);
    int err = check_owner_locked(d, owner, id);
    if (!err) {
        xsim_routing_set_enabled(&d->routing, (unsigned int)id, enabled);
        g_cond_broadcast(&d->changed);
    }
    g_mutex_unlock(&d->lock);
    return err;
}

int xsim_domain_map_range(struct xsim_domain *d, const void *owner, uint64_t id, uint64_t type,
                          uint64_t start, uint64_t end, bool map)
{
    if (type >= XSIM_RANGE_TYPES)
        return -EINVAL;
    g_mutex_lock(&d->lock);
    int err = check_owner_locked(d, owner, id);
    if (!err) {
        err = map ? xsim_routing_map(&d->routing, (unsigned int)id, (unsigned int)type, start, end)
                  : xsim_routing_unmap(&d->routing, (unsigned int)id, (unsigned int)type, start,
                                       end);
    }
    g_mutex_unlock(&d->lock);
    return err;
}

unsigned int xsim_domain_enabled_servers(struct xsim_domain *d)
{
    g_mutex_lock(&d->lock);
    unsigned int n = xsim_routing_enabled_count(&d->routing);
    g_mutex_unlock(&d->lock);
    return n;
}

bool xsim_domain_wait_servers(struct xsim_domain *d, unsigned int n, uint64_t timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    bool ok;
    g_mutex_lock(&d->lock);
    for (;;) {
        ok = xsim_routing_enabled_count(&d->routing) >= n;
        if (ok || g_atomic_int_get(d->stopping))
            break;
        /* wake up now and then to notice xensim stopping */
        gint64 wake = MIN(deadline, g_get_monotonic_time() + 100 * 1000);
        if (!g_cond_wait_until(&d->changed, &d->lock, wake) && wake >= deadline)
            break;
    }
    ok = xsim_routing_enabled_count(&d->routing) >= n;
    g_mutex_unlock(&d->lock);
    return ok;
}

static void describe_ranges(GString *out, const char *name, const struct xsim_range_set *set)
{
    g_string_append_printf(out, ",%s=", name);
    for (unsigned int i = 0; i < set->count; i++)
        g_string_append_printf(out, "%s0x%" PRIx64 "-0x%" PRIx64, i ? "+" : "",
                               set->range[i].start, set->range[i].end);
}

char *xsim_domain_describe_servers(struct xsim_domain *d)
{
    GString *out = g_string_new(NULL);
    unsigned int count = 0;
    g_mutex_lock(&d->lock);
    for (unsigned int id = 0; id < XSIM_MAX_SERVERS; id++) {
        const struct xsim_route_server *rs = &d->routing.server[id];
        if (!rs->present || !d->server[id])
            continue;
        count++;
        g_string_append_printf(out, " %u,%s,%s", id, rs->enabled ? "on" : "off",
                               d->server[id]->buf ? "buf" : "nobuf");
        describe_ranges(out, "port", &rs->set[HV_RANGE_PORT]);
        describe_ranges(out, "mmio", &rs->set[HV_RANGE_MMIO]);
        describe_ranges(out, "pci", &rs->set[HV_RANGE_PCI]);
    }
    g_mutex_unlock(&d->lock);
    char *head = g_strdup_printf("%u", count);
    g_string_prepend(out, head);
    g_free(head);
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------- domain state */

void xsim_domain_crash(struct xsim_domain *d, const char *why)
{
    g_mutex_lock(&d->lock);
    bool first = d->state == XSIM_DOMAIN_RUNNING;
    if (first)
        d->state = XSIM_DOMAIN_CRASHED;
    g_cond_broadcast(&d->changed);
    g_mutex_unlock(&d->lock);
    if (first)
        xsim_log("dom%u: domain crashed: %s", d->domid, why);
}

enum xsim_domain_state xsim_domain_get_state(struct xsim_domain *d, unsigned int *reason)
{
    g_mutex_lock(&d->lock);
    enum xsim_domain_state st = d->state;
    if (reason)
        *reason = d->shutdown_reason;
    g_mutex_unlock(&d->lock);
    return st;
}

const char *xsim_shutdown_reason_name(unsigned int reason)
{
    switch (reason) {
    case SHUTDOWN_poweroff: return "poweroff";
    case SHUTDOWN_reboot: return "reboot";
    case SHUTDOWN_suspend: return "suspend";
    case SHUTDOWN_crash: return "crash";
    case SHUTDOWN_watchdog: return "watchdog";
    case 5: return "soft_reset"; /* SHUTDOWN_soft_reset */
    default: return NULL;
    }
}

int xsim_domain_shutdown(struct xsim_domain *d, uint64_t reason)
{
    if (reason > UINT32_MAX || !xsim_shutdown_reason_name((unsigned int)reason))
        return -EINVAL;
    g_mutex_lock(&d->lock);
    if (d->state == XSIM_DOMAIN_RUNNING) {
        d->state = XSIM_DOMAIN_SHUTDOWN;
        d->shutdown_reason = (unsigned int)reason;
    }
    g_cond_broadcast(&d->changed);
    g_mutex_unlock(&d->lock);
    xsim_log("dom%u: shutdown requested: %s", d->domid,
             xsim_shutdown_reason_name((unsigned int)reason));
    return 0;
}

/* --------------------------------------------------------------- interrupts */

void xsim_domain_add_listener(struct xsim_domain *d, struct xsim_listener *l)
{
    g_mutex_lock(&d->listeners_lock);
    g_ptr_array_add(d->listeners, l);
    g_mutex_unlock(&d->listeners_lock);
}

void xsim_domain_remove_listener(struct xsim_domain *d, struct xsim_listener *l)
{
    g_mutex_lock(&d->listeners_lock);
    g_ptr_array_remove(d->listeners, l);
    g_mutex_unlock(&d->listeners_lock);
}

static void broadcast_irq_line(struct xsim_domain *d, bool raise, unsigned int irq)
{
    char line[64];
    g_snprintf(line, sizeof(line), "IRQ %s %u", raise ? "raise" : "lower", irq);
    g_mutex_lock(&d->listeners_lock);
    for (guint i = 0; i < d->listeners->len; i++) {
        struct xsim_listener *l = g_ptr_array_index(d->listeners, i);
        if (l->intercept_irq)
            l->send_line(l, line);
    }
    g_mutex_unlock(&d->listeners_lock);
}

static void announce_isa_changes(struct xsim_domain *d, uint16_t before, uint16_t after)
{
    for (unsigned int irq = 0; irq < XSIM_ISA_IRQS; irq++) {
        if (((before ^ after) >> irq) & 1)
            broadcast_irq_line(d, (after >> irq) & 1, irq);
    }
}

/* Apply one x86 ISA-affecting change and announce what it changed. */
static int isa_change(struct xsim_domain *d, int (*apply)(struct xsim_irq_state *, uint64_t,
                                                          uint64_t, uint64_t),
                      uint64_t a, uint64_t b, uint64_t c)
{
    if (d->arch != HV_ARCH_X86)
        return -EOPNOTSUPP;
    g_mutex_lock(&d->lock);
    uint16_t before = xsim_irq_isa_levels(&d->irq);
    int err = apply(&d->irq, a, b, c);
    uint16_t after = xsim_irq_isa_levels(&d->irq);
    g_mutex_unlock(&d->lock);
    if (!err)
        announce_isa_changes(d, before, after);
    return err;
}

static int apply_isa(struct xsim_irq_state *st, uint64_t irq, uint64_t level, uint64_t unused)
{
    return xsim_irq_set_isa(st, irq, level);
}

static int apply_intx(struct xsim_irq_state *st, uint64_t sbdf, uint64_t pin, uint64_t level)
{
    return xsim_irq_set_intx(st, sbdf, pin, level);
}

static int apply_link(struct xsim_irq_state *st, uint64_t link, uint64_t irq, uint64_t unused)
{
    return xsim_irq_set_link_route(st, link, irq);
}

int xsim_domain_set_isa_irq(struct xsim_domain *d, uint64_t irq, uint64_t level)
{
    return isa_change(d, apply_isa, irq, level, 0);
}

int xsim_domain_set_pci_intx(struct xsim_domain *d, uint64_t sbdf, uint64_t pin, uint64_t level)
{
    return isa_change(d, apply_intx, sbdf, pin, level);
}

int xsim_domain_set_link_route(struct xsim_domain *d, uint64_t link, uint64_t isa_irq)
{
    return isa_change(d, apply_link, link, isa_irq, 0);
}

int xsim_domain_inject_msi(struct xsim_domain *d, uint64_t addr, uint64_t data)
{
    if (d->arch != HV_ARCH_X86)
        return -EOPNOTSUPP;
    g_mutex_lock(&d->lock);
    int err = xsim_irq_inject_msi(&d->irq, addr, data);
    g_mutex_unlock(&d->lock);
    return err;
}

int xsim_domain_set_spi(struct xsim_domain *d, uint64_t irq, uint64_t level)
{
    if (d->arch != HV_ARCH_ARM)
        return -EOPNOTSUPP;
    g_mutex_lock(&d->lock);
    bool before = irq < XSIM_SPI_LIMIT && xsim_irq_spi_level(&d->irq, (uint32_t)irq);
    int err = xsim_irq_set_spi(&d->irq, irq, level);
    g_mutex_unlock(&d->lock);
    if (!err && before != (level != 0))
        broadcast_irq_line(d, level != 0, (unsigned int)irq);
    return err;
}
