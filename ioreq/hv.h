/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor interface: the one seam between ioreqd and the world that
 * routes guest I/O to it. Two implementations: hv-xen.c (libxen* on a real
 * Xen host) and hv-sim.c (contrib/xensim over a unix socket). Everything
 * above this header is identical on both.
 *
 * Conventions: functions return 0 or a negative errno; they never abort on
 * a hypervisor refusal. An hv handle serves exactly one target domain.
 */
#ifndef IOREQD_HV_H
#define IOREQD_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

enum hv_arch { HV_ARCH_X86 = 0, HV_ARCH_ARM = 1 };

/* What the three range kinds of an ioreq server mean (XEN_DMOP_IO_RANGE_*). */
enum hv_range_type {
    HV_RANGE_PORT = 0, /* start..end are port numbers, inclusive */
    HV_RANGE_MMIO = 1, /* start..end are guest-physical addresses, inclusive */
    HV_RANGE_PCI = 2,  /* start..end are SBDFs (seg<<16|bus<<8|dev<<3|fn) */
};

/* Encode an SBDF as used by PCI_CONFIG ioreqs and HV_RANGE_PCI. */
static inline uint32_t hv_sbdf(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn)
{
    return ((uint32_t)seg << 16) | ((uint32_t)bus << 8) | ((uint32_t)(dev & 0x1f) << 3) | (fn & 7);
}

struct hv_domain_info {
    uint32_t domid;
    unsigned int nr_vcpus;
    enum hv_arch arch;
    /* Bytes of guest RAM, or 0 when the hypervisor interface cannot say
     * (libxendevicemodel has no such call: on Xen, -m is authoritative). */
    uint64_t ram_size;
};

/* The two shared pages of one ioreq server. buffered is NULL when the
 * server has no buffered ring (always on ARM). */
struct hv_server_pages {
    shared_iopage_t *slots;       /* one ioreq_t per vCPU */
    buffered_iopage_t *buffered;  /* or NULL */
    uint32_t buffered_port;       /* remote (Xen-side) port of the ring, if any */
};

/* A local event channel port. On Xen every port shares one fd; under
 * xensim each port has its own. Either way: poll evtchn_fd(port) for
 * readability, then call evtchn_pending(fd) once to learn which port fired,
 * handle it, then evtchn_unmask(port). */
typedef int32_t hv_port_t;

/* One segment of a grant copy: `len` bytes between a page the guest granted
 * us (ref, at offset) and a local buffer, in the direction to_guest says.
 * Offset + len must stay within one page. status is a GNTST_* code from
 * <xen/grant_table.h> (GNTST_okay = 0) for that segment alone. */
struct hv_grant_copy_seg {
    uint32_t ref;
    uint16_t offset;
    uint16_t len;
    bool to_guest;
    void *local;
    int16_t status;
};

/* Guest pages first_pfn .. first_pfn + nr - 1 (nr >= 1). */
struct hv_pfn_range {
    uint64_t first_pfn;
    uint32_t nr;
};

/* Most pages one track_dirty_vram call may watch (256 MiB of VRAM): the
 * bitmap is nr bits, in unsigned longs. */
#define HV_MAX_VRAM_PAGES 65536u
#define HV_DIRTY_BITMAP_LONGS(nr) (((size_t)(nr) + 8 * sizeof(unsigned long) - 1) / \
                                   (8 * sizeof(unsigned long)))

struct hv;

struct hv_ops {
    const char *name;
    void (*close)(struct hv *hv);
    int (*get_info)(struct hv *hv, struct hv_domain_info *info);

    /* ioreq server lifecycle (XEN_DMOP_*_ioreq_server) */
    int (*create_server)(struct hv *hv, bool want_buffered, uint16_t *id);
    int (*map_server_pages)(struct hv *hv, uint16_t id, struct hv_server_pages *pages);
    int (*set_server_state)(struct hv *hv, uint16_t id, bool enabled);
    int (*map_range)(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                     uint64_t end);
    int (*unmap_range)(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                       uint64_t end);
    int (*destroy_server)(struct hv *hv, uint16_t id);

    /* Event channels to the target domain (interdomain binding). */
    int (*evtchn_bind)(struct hv *hv, uint32_t remote_port, hv_port_t *local);
    int (*evtchn_unbind)(struct hv *hv, hv_port_t local);
    int (*evtchn_fd)(struct hv *hv, hv_port_t local);
    hv_port_t (*evtchn_pending)(struct hv *hv, int fd); /* < 0: nothing pending */
    int (*evtchn_unmask)(struct hv *hv, hv_port_t local);
    int (*evtchn_notify)(struct hv *hv, hv_port_t local);

    /* Guest memory (foreign mapping). Maps nr frames starting at gfn,
     * contiguously; fails with -EFAULT if any frame is not guest RAM. */
    void *(*map_frames)(struct hv *hv, uint64_t gfn, size_t nr, bool writable, int *err);
    int (*unmap_frames)(struct hv *hv, void *addr, size_t nr);

    /* Grants from the target domain (PV backends). grant_map maps count
     * granted pages contiguously, read-only unless writable; it fails as a
     * whole (-EINVAL, -EACCES, -EFAULT...) if any ref is invalid, not
     * granted to us, or read-only when writable was asked. grant_copy does
     * every segment it can and reports each one's status; it returns 0 when
     * the call itself worked, even if segments failed. */
    void *(*grant_map)(struct hv *hv, const uint32_t *refs, unsigned int count, bool writable,
                       int *err);
    int (*grant_unmap)(struct hv *hv, void *addr, unsigned int count);
    int (*grant_copy)(struct hv *hv, struct hv_grant_copy_seg *segs, unsigned int count);

    /* Interrupts */
    int (*set_isa_irq_level)(struct hv *hv, uint8_t irq, bool level);
    int (*set_pci_intx_level)(struct hv *hv, uint16_t seg, uint8_t bus, uint8_t dev,
                              uint8_t intx, bool level);
    int (*set_pci_link_route)(struct hv *hv, uint8_t link, uint8_t isa_irq);
    int (*inject_msi)(struct hv *hv, uint64_t addr, uint32_t data);
    int (*set_spi_level)(struct hv *hv, uint32_t irq, bool level); /* ARM */

    /* Dirty tracking. modified_memory tells the hypervisor that we wrote
     * these guest pages through our own mappings (its log-dirty cannot see
     * such writes: live migration and the VRAM bitmap need them); count
     * >= 1, -EINVAL if a range is not the guest's. track_dirty_vram fills
     * bitmap (HV_DIRTY_BITMAP_LONGS(nr) longs, bit i = page first_pfn + i)
     * with the pages written since the previous call and clears them; a
     * range other than the previous one starts all dirty; nr = 0 stops
     * tracking; nr <= HV_MAX_VRAM_PAGES. */
    int (*modified_memory)(struct hv *hv, const struct hv_pfn_range *ranges, unsigned int count);
    int (*track_dirty_vram)(struct hv *hv, uint64_t first_pfn, uint32_t nr,
                            unsigned long *bitmap);

    /* Domain control: reason is SHUTDOWN_* from <xen/sched.h>. */
    int (*shutdown)(struct hv *hv, unsigned int reason);

    /* Restrict every handle to the target domain (dm_restrict). */
    int (*restrict_to_domain)(struct hv *hv);

    /* Optional: an fd that hangs up when the hypervisor goes away (xensim
     * exits); NULL or < 0 where that cannot happen (Xen). */
    int (*liveness_fd)(struct hv *hv);
};

struct hv {
    const struct hv_ops *ops;
    uint32_t domid;
};

/* Constructors. They return NULL and set *err (negative errno) on failure. */
struct hv *hv_sim_open(uint32_t domid, const char *dir, int *err);
/* Test hook for dm_restrict under xensim only: try to map another
 * domain's RAM, create a server for it and map a range, bind its event
 * channel 1 (that server's first vCPU port), set its IRQ 5, unmap a grant of it; returns "op=errno ..."
 * (0 where allowed). Leaves nothing behind. */
char *hv_sim_probe_foreign(struct hv *hv, uint32_t domid);
#ifdef IOREQD_HAVE_XEN
struct hv *hv_xen_open(uint32_t domid, int *err);
#endif

static inline void hv_close(struct hv *hv)
{
    if (hv)
        hv->ops->close(hv);
}

#endif
