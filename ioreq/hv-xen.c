/* SPDX-License-Identifier: MIT */
/*
 * hv-xen: the hypervisor interface on a real Xen host, through the stable
 * tools libraries (libxendevicemodel, libxenevtchn, libxenforeignmemory,
 * libxengnttab, libxentoolcore). No libxenctrl: everything we need about the
 * domain (vCPU count) has a devicemodel call, which also keeps us inside
 * what dm_restrict permits.
 *
 * State lives in the handle only; the file has no mutable globals.
 */
/* The toolstack half of the public headers (HVM_IOREQSRV_*, the
 * XENMEM_resource_* ABI) is only visible to tools; a device model is one. */
#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xentoolcore.h>
#include <xen/memory.h>

/* This file is only ever built when Xen support is on; say so for hv.h's
 * prototype even when a unit test compiles it on its own. */
#ifndef IOREQD_HAVE_XEN
#define IOREQD_HAVE_XEN 1
#endif
#include "hv.h"

/* The guest's arch is the build host's: a dom0 device model serves guests of
 * its own architecture. Overridable only so unit tests can take the ARM
 * paths on an x86 build. */
#ifndef HV_XEN_ARCH
#if defined(__aarch64__) || defined(__arm__)
#define HV_XEN_ARCH HV_ARCH_ARM
#else
#define HV_XEN_ARCH HV_ARCH_X86
#endif
#endif

/* Xen's ABI page size (the ioreq pages are 4 KiB on every arch). */
#define HV_XEN_PAGE_SIZE 4096u
/* Xen allows 8 ioreq servers per domain, so one handle never owns more. */
#define HV_XEN_MAX_SERVERS 8
/* Per-call cap for HV_RANGE_PCI: one bus worth of devfns, and Xen's own
 * limit of 256 ranges per type and server. Larger requests get -E2BIG. */
#define HV_XEN_MAX_PCI_PER_CALL 256u
/* The slot page is one Xen page of ioreq_t, one per vCPU (resource frame
 * ioreq(0); Xen 4.17 has no second one). */
#define HV_XEN_MAX_VCPUS (HV_XEN_PAGE_SIZE / sizeof(ioreq_t))
/* First SPI on the GIC; lower INTIDs are SGIs/PPIs, not ours to drive. */
#define HV_XEN_FIRST_SPI 32u

struct hv_xen_server {
    bool used;
    bool buffered;
    ioservid_t id;
    xenforeignmemory_resource_handle *res; /* NULL until pages are mapped */
    void *addr;
    uint32_t buffered_port;
};

struct hv_xen {
    struct hv base;
    xendevicemodel_handle *dm;
    xenevtchn_handle *xce;
    xenforeignmemory_handle *fmem;
    xengnttab_handle *xgt; /* opened at start so restrict_all covers it */
    int evtchn_fd;
    unsigned int nr_vcpus;
    struct hv_xen_server servers[HV_XEN_MAX_SERVERS];
};

/* The libraries report failure as -1 plus errno; keep a nonzero code even if
 * one forgets to set errno. */
static int neg_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

static struct hv_xen *to_xen(struct hv *hv)
{
    return (struct hv_xen *)hv;
}

static domid_t dom(const struct hv_xen *x)
{
    return (domid_t)x->base.domid;
}

static struct hv_xen_server *find_server(struct hv_xen *x, uint16_t id)
{
    for (size_t i = 0; i < HV_XEN_MAX_SERVERS; i++)
        if (x->servers[i].used && x->servers[i].id == id)
            return &x->servers[i];
    return NULL;
}

static struct hv_xen_server *free_server_slot(struct hv_xen *x)
{
    for (size_t i = 0; i < HV_XEN_MAX_SERVERS; i++)
        if (!x->servers[i].used)
            return &x->servers[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Open / close                                                         */

/* Close whatever is open, in reverse order of opening. Safe on a
 * half-opened handle, so every error path of open ends here. */
static void close_handles(struct hv_xen *x)
{
    if (x->xgt)
        xengnttab_close(x->xgt);
    if (x->fmem)
        xenforeignmemory_close(x->fmem);
    if (x->xce)
        xenevtchn_close(x->xce);
    if (x->dm)
        xendevicemodel_close(x->dm);
    free(x);
}

/* Destroy first so Xen stops routing to the server, then drop our view of
 * its pages; the mapping keeps them alive until then. */
static int release_server(struct hv_xen *x, struct hv_xen_server *s)
{
    int rc = 0;

    if (xendevicemodel_destroy_ioreq_server(x->dm, dom(x), s->id) < 0)
        rc = neg_errno();
    if (s->res && xenforeignmemory_unmap_resource(x->fmem, s->res) < 0 && rc == 0)
        rc = neg_errno();
    memset(s, 0, sizeof(*s));
    return rc;
}

static void xen_close(struct hv *hv)
{
    struct hv_xen *x = to_xen(hv);

    /* A server left behind would keep trapping the guest's I/O to a dead
     * process; tear down every one this handle created. */
    for (size_t i = 0; i < HV_XEN_MAX_SERVERS; i++)
        if (x->servers[i].used)
            release_server(x, &x->servers[i]);
    close_handles(x);
}

static int xen_get_info(struct hv *hv, struct hv_domain_info *info)
{
    struct hv_xen *x = to_xen(hv);

    info->domid = x->base.domid;
    info->nr_vcpus = x->nr_vcpus;
    info->arch = HV_XEN_ARCH;
    info->ram_size = 0; /* no DM op reports it: libxl's -m is the source */
    return 0;
}

/* ------------------------------------------------------------------ */
/* ioreq servers                                                        */

static int xen_create_server(struct hv *hv, bool want_buffered, uint16_t *id)
{
    struct hv_xen *x = to_xen(hv);
    struct hv_xen_server *s = free_server_slot(x);
    /* ATOMIC: the ring's pointers are read/written as one 64-bit word, so
     * a reader never sees a torn pair. ARM has no buffered ring at all. */
    bool buffered = want_buffered && HV_XEN_ARCH == HV_ARCH_X86;
    int mode = buffered ? HVM_IOREQSRV_BUFIOREQ_ATOMIC : HVM_IOREQSRV_BUFIOREQ_OFF;
    ioservid_t sid;

    if (!s)
        return -ENOSPC;
    if (xendevicemodel_create_ioreq_server(x->dm, dom(x), mode, &sid) < 0)
        return neg_errno();
    *s = (struct hv_xen_server){.used = true, .buffered = buffered, .id = sid};
    *id = sid;
    return 0;
}

static void fill_pages(const struct hv_xen_server *s, struct hv_server_pages *pages)
{
    char *base = s->addr;

    /* Frame order in the resource is buffered page first, then slots; we
     * only mapped the buffered frame if the server has one. */
    pages->buffered = s->buffered ? (buffered_iopage_t *)base : NULL;
    pages->slots = (shared_iopage_t *)(s->buffered ? base + HV_XEN_PAGE_SIZE : base);
    pages->buffered_port = s->buffered_port;
}

/* Map the server's pages as a resource (Xen >= 4.12), so they never appear
 * in the guest's physmap. On failure the server is destroyed: without its
 * pages it can never be served, and enabling it would hang the guest. */
static int xen_map_server_pages(struct hv *hv, uint16_t id, struct hv_server_pages *pages)
{
    struct hv_xen *x = to_xen(hv);
    struct hv_xen_server *s = find_server(x, id);
    unsigned long frame, nr;
    evtchn_port_t port = 0;
    int rc;

    if (!s)
        return -ENOENT;
    if (s->res) {
        fill_pages(s, pages); /* idempotent: hand out the existing mapping */
        return 0;
    }
    frame = s->buffered ? XENMEM_resource_ioreq_server_frame_bufioreq
                        : XENMEM_resource_ioreq_server_frame_ioreq(0);
    nr = s->buffered ? 2 : 1;
    s->addr = NULL;
    s->res = xenforeignmemory_map_resource(x->fmem, dom(x), XENMEM_resource_ioreq_server, s->id,
                                           frame, nr, &s->addr, PROT_READ | PROT_WRITE, 0);
    if (!s->res) {
        rc = neg_errno();
        release_server(x, s);
        return rc;
    }
    if (s->buffered &&
        xendevicemodel_get_ioreq_server_info(x->dm, dom(x), s->id, NULL, NULL, &port) < 0) {
        rc = neg_errno();
        release_server(x, s);
        return rc;
    }
    s->buffered_port = port;
    fill_pages(s, pages);
    return 0;
}

static int xen_set_server_state(struct hv *hv, uint16_t id, bool enabled)
{
    struct hv_xen *x = to_xen(hv);

    if (!find_server(x, id))
        return -ENOENT;
    if (xendevicemodel_set_ioreq_server_state(x->dm, dom(x), id, enabled) < 0)
        return neg_errno();
    return 0;
}

static int xen_destroy_server(struct hv *hv, uint16_t id)
{
    struct hv_xen *x = to_xen(hv);
    struct hv_xen_server *s = find_server(x, id);

    if (!s)
        return -ENOENT;
    return release_server(x, s);
}

/* ------------------------------------------------------------------ */
/* Ranges                                                               */

static int pcidev(struct hv_xen *x, uint16_t id, uint32_t sbdf, bool map)
{
    uint16_t seg = (uint16_t)(sbdf >> 16);
    uint8_t bus = (uint8_t)(sbdf >> 8);
    uint8_t devno = (uint8_t)((sbdf >> 3) & 0x1f);
    uint8_t fn = (uint8_t)(sbdf & 7);
    int r = map ? xendevicemodel_map_pcidev_to_ioreq_server(x->dm, dom(x), id, seg, bus, devno, fn)
                : xendevicemodel_unmap_pcidev_from_ioreq_server(x->dm, dom(x), id, seg, bus,
                                                                 devno, fn);

    return r < 0 ? neg_errno() : 0;
}

/* Xen takes PCI devices one SBDF at a time. Mapping is all-or-nothing: on a
 * refusal, the SBDFs this call already added are taken out again. */
static int map_pci_range(struct hv_xen *x, uint16_t id, uint32_t first, uint32_t last)
{
    for (uint32_t sbdf = first;; sbdf++) {
        int rc = pcidev(x, id, sbdf, true);

        if (rc < 0) {
            while (sbdf-- > first)
                pcidev(x, id, sbdf, false);
            return rc;
        }
        if (sbdf == last)
            return 0;
    }
}

/* Unmapping is best effort: try every SBDF, report the first failure. */
static int unmap_pci_range(struct hv_xen *x, uint16_t id, uint32_t first, uint32_t last)
{
    int first_rc = 0;

    for (uint32_t sbdf = first;; sbdf++) {
        int rc = pcidev(x, id, sbdf, false);

        if (rc < 0 && first_rc == 0)
            first_rc = rc;
        if (sbdf == last)
            return first_rc;
    }
}

static int check_range(enum hv_range_type type, uint64_t start, uint64_t end)
{
    if (start > end)
        return -EINVAL;
    switch (type) {
    case HV_RANGE_PORT:
        return end <= 0xffff ? 0 : -EINVAL;
    case HV_RANGE_MMIO:
        return 0;
    case HV_RANGE_PCI:
        if (end > UINT32_MAX)
            return -EINVAL;
        return end - start < HV_XEN_MAX_PCI_PER_CALL ? 0 : -E2BIG;
    }
    return -EINVAL;
}

static int change_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                        uint64_t end, bool map)
{
    struct hv_xen *x = to_xen(hv);
    int is_mmio = type == HV_RANGE_MMIO;
    int rc = check_range(type, start, end);

    if (rc < 0)
        return rc;
    if (!find_server(x, id))
        return -ENOENT;
    if (type == HV_RANGE_PCI)
        return map ? map_pci_range(x, id, (uint32_t)start, (uint32_t)end)
                   : unmap_pci_range(x, id, (uint32_t)start, (uint32_t)end);
    rc = map ? xendevicemodel_map_io_range_to_ioreq_server(x->dm, dom(x), id, is_mmio, start, end)
             : xendevicemodel_unmap_io_range_from_ioreq_server(x->dm, dom(x), id, is_mmio, start,
                                                               end);
    return rc < 0 ? neg_errno() : 0;
}

static int xen_map_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                         uint64_t end)
{
    return change_range(hv, id, type, start, end, true);
}

static int xen_unmap_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                           uint64_t end)
{
    return change_range(hv, id, type, start, end, false);
}

/* ------------------------------------------------------------------ */
/* Event channels: one xenevtchn handle, hence one fd for every port.    */

static int xen_evtchn_bind(struct hv *hv, uint32_t remote_port, hv_port_t *local)
{
    struct hv_xen *x = to_xen(hv);
    xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(x->xce, x->base.domid, remote_port);

    if (p < 0)
        return neg_errno();
    *local = p;
    return 0;
}

static int xen_evtchn_unbind(struct hv *hv, hv_port_t local)
{
    if (local < 0)
        return -EINVAL;
    return xenevtchn_unbind(to_xen(hv)->xce, (evtchn_port_t)local) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_fd(struct hv *hv, hv_port_t local)
{
    return local < 0 ? -EINVAL : to_xen(hv)->evtchn_fd;
}

/* Call once per readiness of the fd: the evtchn driver may block on a
 * second read even with O_NONBLOCK (see xenevtchn.h). */
static hv_port_t xen_evtchn_pending(struct hv *hv, int fd)
{
    struct hv_xen *x = to_xen(hv);
    xenevtchn_port_or_error_t p;

    if (fd != x->evtchn_fd)
        return -EBADF;
    p = xenevtchn_pending(x->xce);
    return p < 0 ? neg_errno() : p;
}

static int xen_evtchn_unmask(struct hv *hv, hv_port_t local)
{
    if (local < 0)
        return -EINVAL;
    return xenevtchn_unmask(to_xen(hv)->xce, (evtchn_port_t)local) < 0 ? neg_errno() : 0;
}

static int xen_evtchn_notify(struct hv *hv, hv_port_t local)
{
    if (local < 0)
        return -EINVAL;
    return xenevtchn_notify(to_xen(hv)->xce, (evtchn_port_t)local) < 0 ? neg_errno() : 0;
}

/* ------------------------------------------------------------------ */
/* Guest memory                                                         */

/* Map with a per-frame error array: without it the library may hand back
 * a partial mapping we could not tell apart from a good one. */
static void *map_checked(struct hv_xen *x, const xen_pfn_t *pfns, int *errs, size_t nr, int prot,
                         int *rc)
{
    void *p = xenforeignmemory_map(x->fmem, x->base.domid, prot, nr, pfns, errs);

    if (!p) {
        *rc = neg_errno();
        return NULL;
    }
    for (size_t i = 0; i < nr; i++) {
        if (errs[i]) {
            xenforeignmemory_unmap(x->fmem, p, nr);
            *rc = -EFAULT; /* hv.h: a frame that is not guest RAM */
            return NULL;
        }
    }
    *rc = 0;
    return p;
}

static void *xen_map_frames(struct hv *hv, uint64_t gfn, size_t nr, bool writable, int *err)
{
    struct hv_xen *x = to_xen(hv);
    int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    xen_pfn_t *pfns;
    int *errs;
    void *p = NULL;
    int rc = -ENOMEM;

    if (nr == 0 || gfn + nr < gfn) {
        rc = -EINVAL;
        goto out;
    }
    pfns = calloc(nr, sizeof(*pfns));
    errs = calloc(nr, sizeof(*errs));
    if (pfns && errs) {
        for (size_t i = 0; i < nr; i++)
            pfns[i] = (xen_pfn_t)(gfn + i);
        p = map_checked(x, pfns, errs, nr, prot, &rc);
    }
    free(pfns);
    free(errs);
out:
    if (err)
        *err = rc;
    return p;
}

static int xen_unmap_frames(struct hv *hv, void *addr, size_t nr)
{
    if (!addr || nr == 0)
        return -EINVAL;
    return xenforeignmemory_unmap(to_xen(hv)->fmem, addr, nr) < 0 ? neg_errno() : 0;
}

/* ------------------------------------------------------------------ */
/* Grants                                                               */

static void *xen_grant_map(struct hv *hv, const uint32_t *refs, unsigned int count, bool writable,
                           int *err)
{
    struct hv_xen *x = to_xen(hv);
    uint32_t *copy;
    void *p = NULL;
    int rc = -ENOMEM;

    if (!refs || count == 0) {
        rc = -EINVAL;
        goto out;
    }
    /* the library takes a non-const array: hand it our own copy */
    copy = malloc((size_t)count * sizeof(*copy));
    if (copy) {
        memcpy(copy, refs, (size_t)count * sizeof(*copy));
        /* all or nothing: gntdev unmaps a partial success itself */
        p = xengnttab_map_domain_grant_refs(x->xgt, count, x->base.domid, copy,
                                            writable ? PROT_READ | PROT_WRITE : PROT_READ);
        rc = p ? 0 : neg_errno();
    }
    free(copy);
out:
    if (err)
        *err = rc;
    return p;
}

static int xen_grant_unmap(struct hv *hv, void *addr, unsigned int count)
{
    if (!addr || count == 0)
        return -EINVAL;
    return xengnttab_unmap(to_xen(hv)->xgt, addr, count) < 0 ? neg_errno() : 0;
}

/* A segment crossing its page: gntdev would refuse the whole call with
 * EINVAL, so it is answered here and left out. */
static bool copy_seg_valid(const struct hv_grant_copy_seg *seg)
{
    return (uint32_t)seg->offset + seg->len <= HV_XEN_PAGE_SIZE && (seg->local || !seg->len);
}

static int xen_grant_copy(struct hv *hv, struct hv_grant_copy_seg *segs, unsigned int count)
{
    struct hv_xen *x = to_xen(hv);
    xengnttab_grant_copy_segment_t *xs;
    unsigned int *index; /* xs[i] is segs[index[i]] */
    uint32_t n = 0;
    int rc = 0;

    if (count == 0)
        return 0;
    if (!segs)
        return -EINVAL;
    xs = calloc(count, sizeof(*xs));
    index = calloc(count, sizeof(*index));
    if (!xs || !index) {
        free(xs);
        free(index);
        return -ENOMEM;
    }
    for (unsigned int i = 0; i < count; i++) {
        struct hv_grant_copy_seg *seg = &segs[i];
        xengnttab_grant_copy_segment_t *c = &xs[n];
        if (!copy_seg_valid(seg)) {
            seg->status = GNTST_bad_copy_arg;
            continue;
        }
        union xengnttab_copy_ptr guest = {
            .foreign = { .ref = seg->ref, .offset = seg->offset, .domid = dom(x) },
        };
        if (seg->to_guest) {
            c->source.virt = seg->local;
            c->dest = guest;
            c->flags = GNTCOPY_dest_gref;
        } else {
            c->source = guest;
            c->dest.virt = seg->local;
            c->flags = GNTCOPY_source_gref;
        }
        c->len = seg->len;
        index[n++] = i;
    }
    if (n && xengnttab_grant_copy(x->xgt, n, xs) < 0) {
        rc = neg_errno();
        for (uint32_t i = 0; i < n; i++)
            segs[index[i]].status = GNTST_general_error;
    } else {
        for (uint32_t i = 0; i < n; i++)
            segs[index[i]].status = xs[i].status;
    }
    free(xs);
    free(index);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Interrupts and domain control                                        */

static int xen_set_isa_irq_level(struct hv *hv, uint8_t irq, bool level)
{
    struct hv_xen *x = to_xen(hv);

    return xendevicemodel_set_isa_irq_level(x->dm, dom(x), irq, level) < 0 ? neg_errno() : 0;
}

static int xen_set_pci_intx_level(struct hv *hv, uint16_t seg, uint8_t bus, uint8_t dev,
                                  uint8_t intx, bool level)
{
    struct hv_xen *x = to_xen(hv);

    if (xendevicemodel_set_pci_intx_level(x->dm, dom(x), seg, bus, dev, intx, level) < 0)
        return neg_errno();
    return 0;
}

static int xen_set_pci_link_route(struct hv *hv, uint8_t link, uint8_t isa_irq)
{
    struct hv_xen *x = to_xen(hv);

    return xendevicemodel_set_pci_link_route(x->dm, dom(x), link, isa_irq) < 0 ? neg_errno() : 0;
}

static int xen_inject_msi(struct hv *hv, uint64_t addr, uint32_t data)
{
    struct hv_xen *x = to_xen(hv);

    return xendevicemodel_inject_msi(x->dm, dom(x), addr, data) < 0 ? neg_errno() : 0;
}

static int xen_set_spi_level(struct hv *hv, uint32_t irq, bool level)
{
    struct hv_xen *x = to_xen(hv);

    if (HV_XEN_ARCH != HV_ARCH_ARM)
        return -EOPNOTSUPP;
    /* The upper bound is the vGIC's, which only Xen knows: it checks it. */
    if (irq < HV_XEN_FIRST_SPI)
        return -EINVAL;
    return xendevicemodel_set_irq_level(x->dm, dom(x), irq, level) < 0 ? neg_errno() : 0;
}

/* ---- dirty tracking ---------------------------------------------------- */

/* Extents per bulk call: Xen continues long lists itself, this only bounds
 * our own allocation. */
#define MODIFIED_BATCH 1024u

static bool pfn_range_valid(uint64_t first_pfn, uint64_t nr)
{
    return nr >= 1 && first_pfn + (nr - 1) >= first_pfn;
}

static int modified_batch(struct hv_xen *x, const struct hv_pfn_range *ranges, unsigned int n)
{
    if (n == 1)
        return xendevicemodel_modified_memory(x->dm, dom(x), ranges[0].first_pfn, ranges[0].nr) < 0
                   ? neg_errno() : 0;
    struct xen_dm_op_modified_memory_extent *ext = calloc(n, sizeof(*ext));
    if (!ext)
        return -ENOMEM;
    for (unsigned int i = 0; i < n; i++) {
        ext[i].first_pfn = ranges[i].first_pfn;
        ext[i].nr = ranges[i].nr;
    }
    int rc = xendevicemodel_modified_memory_bulk(x->dm, dom(x), ext, n) < 0 ? neg_errno() : 0;
    free(ext);
    return rc;
}

static int xen_modified_memory(struct hv *hv, const struct hv_pfn_range *ranges,
                               unsigned int count)
{
    struct hv_xen *x = to_xen(hv);

    if (!ranges || count == 0)
        return -EINVAL;
    for (unsigned int i = 0; i < count; i++)
        if (!pfn_range_valid(ranges[i].first_pfn, ranges[i].nr))
            return -EINVAL;
    int rc = 0;
    for (unsigned int done = 0; rc == 0 && done < count;) {
        unsigned int n = count - done < MODIFIED_BATCH ? count - done : MODIFIED_BATCH;
        rc = modified_batch(x, ranges + done, n);
        done += n;
    }
    return rc;
}

static int xen_track_dirty_vram(struct hv *hv, uint64_t first_pfn, uint32_t nr,
                                unsigned long *bitmap)
{
    struct hv_xen *x = to_xen(hv);

    if (nr > HV_MAX_VRAM_PAGES || (nr && (!bitmap || !pfn_range_valid(first_pfn, nr))))
        return -EINVAL;
    return xendevicemodel_track_dirty_vram(x->dm, dom(x), first_pfn, nr, bitmap) < 0 ? neg_errno()
                                                                                    : 0;
}

static int xen_shutdown(struct hv *hv, unsigned int reason)
{
    struct hv_xen *x = to_xen(hv);

    return xendevicemodel_shutdown(x->dm, dom(x), reason) < 0 ? neg_errno() : 0;
}

/* Restricts every xen* handle of this process (all four of ours included)
 * to the target domain; irreversible by design. */
static int xen_restrict_to_domain(struct hv *hv)
{
    return xentoolcore_restrict_all(dom(to_xen(hv))) < 0 ? neg_errno() : 0;
}

static const struct hv_ops xen_ops = {
    .name = "xen",
    .close = xen_close,
    .get_info = xen_get_info,
    .create_server = xen_create_server,
    .map_server_pages = xen_map_server_pages,
    .set_server_state = xen_set_server_state,
    .map_range = xen_map_range,
    .unmap_range = xen_unmap_range,
    .destroy_server = xen_destroy_server,
    .evtchn_bind = xen_evtchn_bind,
    .evtchn_unbind = xen_evtchn_unbind,
    .evtchn_fd = xen_evtchn_fd,
    .evtchn_pending = xen_evtchn_pending,
    .evtchn_unmask = xen_evtchn_unmask,
    .evtchn_notify = xen_evtchn_notify,
    .map_frames = xen_map_frames,
    .unmap_frames = xen_unmap_frames,
    .grant_map = xen_grant_map,
    .grant_unmap = xen_grant_unmap,
    .grant_copy = xen_grant_copy,
    .set_isa_irq_level = xen_set_isa_irq_level,
    .set_pci_intx_level = xen_set_pci_intx_level,
    .set_pci_link_route = xen_set_pci_link_route,
    .inject_msi = xen_inject_msi,
    .set_spi_level = xen_set_spi_level,
    .modified_memory = xen_modified_memory,
    .track_dirty_vram = xen_track_dirty_vram,
    .shutdown = xen_shutdown,
    .restrict_to_domain = xen_restrict_to_domain,
};

static int open_handles(struct hv_xen *x)
{
    /* NULL logger: the libraries then log to stderr themselves. */
    x->dm = xendevicemodel_open(NULL, 0);
    if (!x->dm)
        return neg_errno();
    x->xce = xenevtchn_open(NULL, 0);
    if (!x->xce)
        return neg_errno();
    x->fmem = xenforeignmemory_open(NULL, 0);
    if (!x->fmem)
        return neg_errno();
    x->xgt = xengnttab_open(NULL, 0);
    if (!x->xgt)
        return neg_errno();
    x->evtchn_fd = xenevtchn_fd(x->xce);
    return x->evtchn_fd < 0 ? neg_errno() : 0;
}

struct hv *hv_xen_open(uint32_t domid, int *err)
{
    struct hv_xen *x;
    int rc;

    if (domid >= DOMID_FIRST_RESERVED) {
        *err = -EINVAL; /* DOMID_SELF, DOMID_IO, ...: no guest to serve */
        return NULL;
    }
    x = calloc(1, sizeof(*x));
    if (!x) {
        *err = -ENOMEM;
        return NULL;
    }
    x->base = (struct hv){.ops = &xen_ops, .domid = domid};
    rc = open_handles(x);
    if (rc == 0 && xendevicemodel_nr_vcpus(x->dm, dom(x), &x->nr_vcpus) < 0)
        rc = neg_errno();
    if (rc == 0 && x->nr_vcpus > HV_XEN_MAX_VCPUS)
        rc = -E2BIG; /* more slots than the one slot page holds */
    if (rc < 0) {
        close_handles(x);
        *err = rc;
        return NULL;
    }
    *err = 0;
    return &x->base;
}
