/* SPDX-License-Identifier: MIT */
/*
 * fake-libxen: link-time stand-ins for the libxen* calls ioreq/hv-xen.c
 * makes, with the prototypes of the real headers. Each call appends one
 * line ("name key=value ...") to a log in a context the test owns, can be
 * made to fail with a chosen errno, and hands out real memory for pages so
 * ASan/LSan see any mapping or handle hv-xen.c forgets to release.
 *
 * The test includes this file with FAKE_LIBXEN_DECLS_ONLY defined to get
 * the context type and the control functions below: one definition, no
 * separate header to keep in step.
 */
#ifndef FAKE_LIBXEN_API
#define FAKE_LIBXEN_API

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct fake_xen {
    GString *log;             /* one line per call, '\n'-terminated */
    unsigned int nr_vcpus;    /* what xendevicemodel_nr_vcpus reports */
    uint16_t next_server_id;  /* id the next created server gets */
    uint32_t buffered_port;   /* what get_ioreq_server_info reports */
    int next_local_port;      /* next port bind_interdomain returns */
    int pending_port;         /* what xenevtchn_pending returns; < 0: none */
    int evtchn_fd;            /* what xenevtchn_fd returns */
    /* Failure injection: the call named fail_fn fails with fail_errno
     * after fail_skip calls of it have succeeded. */
    const char *fail_fn;
    int fail_errno;
    unsigned int fail_skip;
    /* xenforeignmemory_map reports bad_frame_errno for this index (< 0: none). */
    long bad_frame;
    int bad_frame_errno;
    /* Live objects: must all be zero once the hv handle is closed. */
    int open_handles;
    int live_resources;
    int live_foreign_maps;
    int live_grant_maps;
    /* Grants: refs at or past bad_gref fail to map (errno bad_gref_errno)
     * and copy with GNTST_permission_denied; copies use one fake granted
     * page per ref: grant_page (so tests see the bytes). */
    uint32_t bad_gref;
    int bad_gref_errno;
    uint8_t grant_page[4096];
    /* track_dirty_vram writes this to every word of the bitmap it is given. */
    unsigned long dirty_word;
};

/* Fill ctx with defaults and route every fake call to it. */
void fake_xen_install(struct fake_xen *ctx);
/* Return the log so far (caller frees) and start a new one. */
char *fake_xen_take_log(struct fake_xen *ctx);
/* Release what install allocated; the fakes are unrouted afterwards. */
void fake_xen_uninstall(struct fake_xen *ctx);

#endif /* FAKE_LIBXEN_API */

#ifndef FAKE_LIBXEN_DECLS_ONLY

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xentoolcore.h>

#define FAKE_PAGE 4096u

/* Test scaffolding: the fakes have the libraries' signatures, so the only
 * way to reach the test's context is a pointer kept here. */
static struct fake_xen *fx;

void fake_xen_install(struct fake_xen *ctx)
{
    *ctx = (struct fake_xen){
        .log = g_string_new(NULL),
        .nr_vcpus = 4,
        .next_server_id = 3,
        .buffered_port = 17,
        .next_local_port = 40,
        .pending_port = -1,
        .evtchn_fd = 99,
        .bad_frame = -1,
        .bad_gref = UINT32_MAX,
        .bad_gref_errno = EFAULT,
    };
    fx = ctx;
}

char *fake_xen_take_log(struct fake_xen *ctx)
{
    char *s = g_string_free(ctx->log, FALSE);

    ctx->log = g_string_new(NULL);
    return s;
}

void fake_xen_uninstall(struct fake_xen *ctx)
{
    g_string_free(ctx->log, TRUE);
    ctx->log = NULL;
    fx = NULL;
}

/* Log one call; true when it is the one chosen to fail (errno is set). */
G_GNUC_PRINTF(2, 3) static bool fake_call(const char *fn, const char *fmt, ...)
{
    va_list ap;
    char *args;

    g_assert_nonnull(fx);
    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_string_append(fx->log, fn);
    if (args[0])
        g_string_append_printf(fx->log, " %s", args);
    g_free(args);
    if (fx->fail_fn && strcmp(fx->fail_fn, fn) == 0) {
        if (fx->fail_skip == 0) {
            fx->fail_fn = NULL;
            g_string_append_printf(fx->log, " FAIL(%d)\n", fx->fail_errno);
            errno = fx->fail_errno;
            return true;
        }
        fx->fail_skip--;
    }
    g_string_append_c(fx->log, '\n');
    return false;
}

static void *fake_pages(size_t n)
{
    void *p = aligned_alloc(FAKE_PAGE, n * FAKE_PAGE);

    g_assert_nonnull(p);
    memset(p, 0, n * FAKE_PAGE);
    return p;
}

/* ---- handles ---- */

struct xendevicemodel_handle { int unused; };
struct xenevtchn_handle { int unused; };
struct xenforeignmemory_handle { int unused; };
struct xengntdev_handle { int unused; }; /* xengnttab_handle's real tag */
struct xenforeignmemory_resource_handle {
    void *mem;
    unsigned int id;
};

static void *fake_open(const char *fn, size_t size)
{
    if (fake_call(fn, "%s", ""))
        return NULL;
    fx->open_handles++;
    return g_malloc0(size);
}

static int fake_close(const char *fn, void *h)
{
    fake_call(fn, "%s", "");
    fx->open_handles--;
    g_free(h);
    return 0;
}

xendevicemodel_handle *xendevicemodel_open(struct xentoollog_logger *logger, unsigned int flags)
{
    return fake_open("dm_open", sizeof(xendevicemodel_handle));
}

int xendevicemodel_close(xendevicemodel_handle *h)
{
    return fake_close("dm_close", h);
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
    return fake_open("evtchn_open", sizeof(xenevtchn_handle));
}

int xenevtchn_close(xenevtchn_handle *h)
{
    return fake_close("evtchn_close", h);
}

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned flags)
{
    return fake_open("fmem_open", sizeof(xenforeignmemory_handle));
}

int xenforeignmemory_close(xenforeignmemory_handle *h)
{
    return fake_close("fmem_close", h);
}

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned flags)
{
    return fake_open("gnttab_open", sizeof(xengnttab_handle));
}

int xengnttab_close(xengnttab_handle *h)
{
    return fake_close("gnttab_close", h);
}

int xentoolcore_restrict_all(domid_t domid)
{
    return fake_call("toolcore_restrict_all", "dom=%u", domid) ? -1 : 0;
}

/* ---- devicemodel ---- */

int xendevicemodel_nr_vcpus(xendevicemodel_handle *h, domid_t domid, unsigned int *vcpus)
{
    if (fake_call("dm_nr_vcpus", "dom=%u", domid))
        return -1;
    *vcpus = fx->nr_vcpus;
    return 0;
}

int xendevicemodel_create_ioreq_server(xendevicemodel_handle *h, domid_t domid,
                                       int handle_bufioreq, ioservid_t *id)
{
    if (fake_call("dm_create_ioreq_server", "dom=%u bufioreq=%d", domid, handle_bufioreq))
        return -1;
    *id = fx->next_server_id++;
    return 0;
}

int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle *h, domid_t domid, ioservid_t id,
                                         xen_pfn_t *ioreq_gfn, xen_pfn_t *bufioreq_gfn,
                                         evtchn_port_t *bufioreq_port)
{
    if (fake_call("dm_get_ioreq_server_info", "dom=%u id=%u ioreq_gfn=%s bufioreq_gfn=%s port=%s",
                  domid, id, ioreq_gfn ? "ptr" : "NULL", bufioreq_gfn ? "ptr" : "NULL",
                  bufioreq_port ? "ptr" : "NULL"))
        return -1;
    if (bufioreq_port)
        *bufioreq_port = fx->buffered_port;
    return 0;
}

int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle *h, domid_t domid,
                                                ioservid_t id, int is_mmio, uint64_t start,
                                                uint64_t end)
{
    return fake_call("dm_map_io_range", "dom=%u id=%u mmio=%d 0x%" PRIx64 "-0x%" PRIx64, domid,
                     id, is_mmio, start, end) ? -1 : 0;
}

int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle *h, domid_t domid,
                                                    ioservid_t id, int is_mmio, uint64_t start,
                                                    uint64_t end)
{
    return fake_call("dm_unmap_io_range", "dom=%u id=%u mmio=%d 0x%" PRIx64 "-0x%" PRIx64, domid,
                     id, is_mmio, start, end) ? -1 : 0;
}

int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle *h, domid_t domid,
                                              ioservid_t id, uint16_t segment, uint8_t bus,
                                              uint8_t device, uint8_t function)
{
    return fake_call("dm_map_pcidev", "dom=%u id=%u %04x:%02x:%02x.%u", domid, id, segment, bus,
                     device, function) ? -1 : 0;
}

int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle *h, domid_t domid,
                                                  ioservid_t id, uint16_t segment, uint8_t bus,
                                                  uint8_t device, uint8_t function)
{
    return fake_call("dm_unmap_pcidev", "dom=%u id=%u %04x:%02x:%02x.%u", domid, id, segment,
                     bus, device, function) ? -1 : 0;
}

int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *h, domid_t domid, ioservid_t id)
{
    return fake_call("dm_destroy_ioreq_server", "dom=%u id=%u", domid, id) ? -1 : 0;
}

int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *h, domid_t domid, ioservid_t id,
                                          int enabled)
{
    return fake_call("dm_set_ioreq_server_state", "dom=%u id=%u enabled=%d", domid, id, enabled)
               ? -1 : 0;
}

int xendevicemodel_set_pci_intx_level(xendevicemodel_handle *h, domid_t domid, uint16_t segment,
                                      uint8_t bus, uint8_t device, uint8_t intx,
                                      unsigned int level)
{
    return fake_call("dm_set_pci_intx_level", "dom=%u %04x:%02x:%02x intx=%u level=%u", domid,
                     segment, bus, device, intx, level) ? -1 : 0;
}

int xendevicemodel_set_isa_irq_level(xendevicemodel_handle *h, domid_t domid, uint8_t irq,
                                     unsigned int level)
{
    return fake_call("dm_set_isa_irq_level", "dom=%u irq=%u level=%u", domid, irq, level) ? -1 : 0;
}

int xendevicemodel_set_irq_level(xendevicemodel_handle *h, domid_t domid, unsigned int irq,
                                 unsigned int level)
{
    return fake_call("dm_set_irq_level", "dom=%u irq=%u level=%u", domid, irq, level) ? -1 : 0;
}

int xendevicemodel_set_pci_link_route(xendevicemodel_handle *h, domid_t domid, uint8_t link,
                                      uint8_t irq)
{
    return fake_call("dm_set_pci_link_route", "dom=%u link=%u irq=%u", domid, link, irq) ? -1 : 0;
}

int xendevicemodel_inject_msi(xendevicemodel_handle *h, domid_t domid, uint64_t msi_addr,
                              uint32_t msi_data)
{
    return fake_call("dm_inject_msi", "dom=%u addr=0x%" PRIx64 " data=0x%x", domid, msi_addr,
                     msi_data) ? -1 : 0;
}

int xendevicemodel_shutdown(xendevicemodel_handle *h, domid_t domid, unsigned int reason)
{
    return fake_call("dm_shutdown", "dom=%u reason=%u", domid, reason) ? -1 : 0;
}

int xendevicemodel_modified_memory(xendevicemodel_handle *h, domid_t domid, uint64_t first_pfn,
                                   uint32_t nr)
{
    return fake_call("dm_modified_memory", "dom=%u first=0x%" PRIx64 " nr=%u", domid, first_pfn,
                     nr) ? -1 : 0;
}

int xendevicemodel_modified_memory_bulk(xendevicemodel_handle *h, domid_t domid,
                                        struct xen_dm_op_modified_memory_extent extents[],
                                        uint32_t nr)
{
    GString *list = g_string_new(NULL);

    for (uint32_t i = 0; i < nr; i++)
        g_string_append_printf(list, "%s0x%" PRIx64 "+%u", i ? "," : "",
                               (uint64_t)extents[i].first_pfn, extents[i].nr);
    bool failed = fake_call("dm_modified_memory_bulk", "dom=%u n=%u %s", domid, nr, list->str);
    g_string_free(list, TRUE);
    return failed ? -1 : 0;
}

int xendevicemodel_track_dirty_vram(xendevicemodel_handle *h, domid_t domid, uint64_t first_pfn,
                                    uint32_t nr, unsigned long *dirty_bitmap)
{
    if (fake_call("dm_track_dirty_vram", "dom=%u first=0x%" PRIx64 " nr=%u", domid, first_pfn, nr))
        return -1;
    const size_t bits = 8 * sizeof(unsigned long);
    for (size_t i = 0; i < (nr + bits - 1) / bits; i++)
        dirty_bitmap[i] = fx->dirty_word;
    return 0;
}

/* ---- event channels ---- */

int xenevtchn_fd(xenevtchn_handle *h)
{
    if (fake_call("evtchn_fd", "%s", ""))
        return -1;
    return fx->evtchn_fd;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h, uint32_t domid,
                                                     evtchn_port_t remote_port)
{
    if (fake_call("evtchn_bind_interdomain", "dom=%u remote=%u", domid, remote_port))
        return -1;
    return fx->next_local_port++;
}

int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
    return fake_call("evtchn_unbind", "port=%u", port) ? -1 : 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h)
{
    int p = fx->pending_port;

    if (fake_call("evtchn_pending", "%s", ""))
        return -1;
    if (p < 0) {
        errno = EAGAIN;
        return -1;
    }
    fx->pending_port = -1; /* one event per readiness, as the driver does */
    return p;
}

int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
    return fake_call("evtchn_unmask", "port=%u", port) ? -1 : 0;
}

int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
    return fake_call("evtchn_notify", "port=%u", port) ? -1 : 0;
}

/* ---- foreign memory ---- */

xenforeignmemory_resource_handle *xenforeignmemory_map_resource(
    xenforeignmemory_handle *h, domid_t domid, unsigned int type, unsigned int id,
    unsigned long frame, unsigned long nr_frames, void **paddr, int prot, int flags)
{
    xenforeignmemory_resource_handle *res;

    if (fake_call("fmem_map_resource", "dom=%u type=%u id=%u frame=%lu nr=%lu prot=%d flags=%d",
                  domid, type, id, frame, nr_frames, prot, flags))
        return NULL;
    g_assert_null(*paddr); /* no placement hint wanted */
    res = g_new0(xenforeignmemory_resource_handle, 1);
    res->mem = fake_pages(nr_frames);
    res->id = id;
    *paddr = res->mem;
    fx->live_resources++;
    return res;
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle *h,
                                    xenforeignmemory_resource_handle *res)
{
    fake_call("fmem_unmap_resource", "id=%u", res->id);
    free(res->mem);
    g_free(res);
    fx->live_resources--;
    return 0;
}

void *xenforeignmemory_map(xenforeignmemory_handle *h, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[])
{
    bool contiguous = true;

    for (size_t i = 1; i < pages; i++)
        contiguous = contiguous && arr[i] == arr[0] + i;
    if (fake_call("fmem_map", "dom=%u prot=%d pages=%zu first=0x%" PRIx64 " contiguous=%d", dom,
                  prot, pages, (uint64_t)arr[0], contiguous))
        return NULL;
    g_assert_nonnull(err); /* hv-xen must always ask for per-frame errors */
    for (size_t i = 0; i < pages; i++)
        err[i] = (long)i == fx->bad_frame ? fx->bad_frame_errno : 0;
    fx->live_foreign_maps++;
    return fake_pages(pages);
}

int xenforeignmemory_unmap(xenforeignmemory_handle *h, void *addr, size_t pages)
{
    if (fake_call("fmem_unmap", "pages=%zu", pages))
        return -1;
    free(addr);
    fx->live_foreign_maps--;
    return 0;
}

/* ---- grants ---- */

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
                                      uint32_t *refs, int prot)
{
    GString *list = g_string_new(NULL);
    bool bad = false;

    for (uint32_t i = 0; i < count; i++) {
        g_string_append_printf(list, "%s%u", i ? "," : "", refs[i]);
        bad = bad || refs[i] >= fx->bad_gref;
    }
    bool fail = fake_call("gnttab_map", "dom=%u prot=%d refs=%s", domid, prot, list->str);
    g_string_free(list, TRUE);
    if (fail)
        return NULL;
    if (bad) {
        errno = fx->bad_gref_errno;
        return NULL;
    }
    fx->live_grant_maps++;
    return fake_pages(count);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
    if (fake_call("gnttab_unmap", "count=%u", count))
        return -1;
    free(start_address);
    fx->live_grant_maps--;
    return 0;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
                         xengnttab_grant_copy_segment_t *segs)
{
    GString *list = g_string_new(NULL);

    for (uint32_t i = 0; i < count; i++) {
        const xengnttab_grant_copy_segment_t *s = &segs[i];
        bool to_guest = s->flags == GNTCOPY_dest_gref;
        const union xengnttab_copy_ptr *g = to_guest ? &s->dest : &s->source;
        g_string_append_printf(list, " %s:%u:%u:%u:dom%u", to_guest ? "to" : "from",
                               g->foreign.ref, g->foreign.offset, s->len, g->foreign.domid);
    }
    bool fail = fake_call("gnttab_copy", "count=%u%s", count, list->str);
    g_string_free(list, TRUE);
    if (fail)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        xengnttab_grant_copy_segment_t *s = &segs[i];
        bool to_guest = s->flags == GNTCOPY_dest_gref;
        uint32_t ref = to_guest ? s->dest.foreign.ref : s->source.foreign.ref;
        uint16_t off = to_guest ? s->dest.foreign.offset : s->source.foreign.offset;
        g_assert_cmpuint((uint32_t)off + s->len, <=, FAKE_PAGE); /* hv-xen filters these */
        if (ref >= fx->bad_gref) {
            s->status = GNTST_permission_denied;
            continue;
        }
        if (to_guest)
            memcpy(fx->grant_page + off, s->source.virt, s->len);
        else
            memcpy(s->dest.virt, fx->grant_page + off, s->len);
        s->status = GNTST_okay;
    }
    return 0;
}

#endif /* !FAKE_LIBXEN_DECLS_ONLY */
