/* SPDX-License-Identifier: MIT */
/*
 * xensim control protocol: what ioreqd's hv-sim.c says to xensim in place
 * of Xen's hypercalls. One SOCK_SEQPACKET connection per ioreqd process at
 * DIR/control. Each request is one datagram `struct xsim_request`; each
 * answer is one datagram `struct xsim_reply`, possibly carrying fds by
 * SCM_RIGHTS. After set-up the fast path is shared memory and eventfds: no
 * socket traffic per ioreq.
 *
 * Every field is hostile to xensim: a datagram of the wrong size, an unknown
 * op, an id the connection does not own, a range out of bounds is answered
 * with status -errno and never crashes xensim. The first request on a
 * connection must be XSIM_OP_OPEN; it binds the connection to one domain for
 * its whole life. When the connection closes, every ioreq server it created
 * is destroyed (ranges freed, waiting vCPUs completed with all-ones).
 *
 * Like a dom0 process on Xen, whose hypercalls name the domain they act on,
 * a request may name another domain in `target` (XSIM_TARGET_OTHER | domid)
 * and act on it instead of the connection's own. After XSIM_OP_RESTRICT
 * the connection gets -EPERM for any domain but its own, whatever the op
 * (what a restricted Xen handle gets): that is what dm_restrict protects.
 * Ops that keep per-connection state of the guest's grant table (GRANT_*)
 * work on the connection's own domain only (-EOPNOTSUPP elsewhere); OPEN
 * takes no target.
 */
#ifndef XENSIM_PROTOCOL_H
#define XENSIM_PROTOCOL_H

#include <stdint.h>

#define XSIM_CONTROL_SOCKET "control"     /* DIR/control */
#define XSIM_XENSTORE_SOCKET "xenstore"   /* DIR/xenstore (dom0's view) */
#define XSIM_QTEST_FMT "dom%u.qtest"      /* DIR/domN.qtest: scripted guest */
#define XSIM_GUEST_XENSTORE_FMT "dom%u.xenstore" /* DIR/domN.xenstore: as the guest */

#define XSIM_PROTOCOL_VERSION 1
#define XSIM_MAX_SERVERS 8        /* per domain (Xen's MAX_NR_IOREQ_SERVERS) */
#define XSIM_MAX_RANGES 256       /* per server and range type */
#define XSIM_MAX_VCPUS 128        /* one 32-byte slot each in a 4 KiB page */
#define XSIM_MAX_FDS 4            /* fds in one reply at most */

enum xsim_op {
    /* arg0 = domid, arg1 = XSIM_PROTOCOL_VERSION.
     * reply: val0 = nr_vcpus, val1 = arch (0 x86, 1 arm),
     *        ram[] = the guest RAM layout; fds[0] = guest RAM memfd
     *        (a region's bytes live at ram[i].offset in it). */
    XSIM_OP_OPEN = 1,
    /* arg0 = 1 for a buffered ring (x86 only; -EINVAL on ARM), 0 without.
     * reply: val0 = server id (0..7), -ENOSPC when 8 exist. */
    XSIM_OP_CREATE_SERVER = 2,
    /* arg0 = id. reply: fds[0] = memfd of the slot page (4096 bytes,
     * vp_eport of every vCPU filled in), fds[1] = memfd of the buffered page
     * if the server has one; val0 = buffered event port (or 0). */
    XSIM_OP_GET_SERVER_PAGES = 3,
    /* arg0 = id, arg1 = 1 enable / 0 disable. Nothing is routed to a
     * disabled server. */
    XSIM_OP_SET_SERVER_STATE = 4,
    /* arg0 = id, arg1 = enum hv_range_type, arg2 = start, arg3 = end
     * (inclusive). -EINVAL if start > end or the type is unknown, -EEXIST if
     * it overlaps a range of the same server and type, -ENOSPC past 256. */
    XSIM_OP_MAP_RANGE = 5,
    /* same args; -ENOENT unless exactly that range is mapped. */
    XSIM_OP_UNMAP_RANGE = 6,
    /* arg0 = id. */
    XSIM_OP_DESTROY_SERVER = 7,
    /* arg0 = remote port (a port of the domain: an ioreq vCPU port, the
     * buffered port, or one a PV frontend allocated unbound for dom0).
     * reply: val0 = local port number; fds[0] = eventfd that becomes
     * readable when the guest side notifies, fds[1] = eventfd to write 1
     * to notify the guest side. -ENOENT for an unknown port, -EBUSY if bound. */
    XSIM_OP_EVTCHN_BIND = 8,
    /* arg0 = local port. */
    XSIM_OP_EVTCHN_UNBIND = 9,
    /* arg0 = irq (0..15), arg1 = level. */
    XSIM_OP_SET_ISA_IRQ = 10,
    /* arg0 = sbdf of the device (fn ignored), arg1 = intx (0..3 = A..D), arg2 = level */
    XSIM_OP_SET_PCI_INTX = 11,
    /* arg0 = link (0..3), arg1 = isa irq (0..15, 0 = disabled) */
    XSIM_OP_SET_PCI_LINK_ROUTE = 12,
    /* arg0 = address, arg1 = data */
    XSIM_OP_INJECT_MSI = 13,
    /* arg0 = irq (ARM SPI, 32 <= irq < vGIC limit), arg1 = level */
    XSIM_OP_SET_SPI = 14,
    /* arg0 = SHUTDOWN_* reason (<xen/sched.h>) */
    XSIM_OP_SHUTDOWN = 15,
    /* no args: from now on this connection refuses any other domain (it
     * already serves only one: this marks it, for the dm_restrict tests). */
    XSIM_OP_RESTRICT = 16,

    /* Grants (grant table v1 in the guest's RAM, set up by the guest with
     * the qtest command xen_gnttab_setup). Every ioreqd connection is a
     * dom0 backend: an entry must name domid 0. GRANT_MAP and GRANT_COPY are
     * variable-length: the datagram is the struct xsim_request header
     * followed by exactly arg[0] items, and their replies are the struct
     * xsim_reply header followed by one item per request item (success
     * only for GRANT_MAP). A length that disagrees with arg[0] is -EINVAL.
     *
     * GRANT_MAP: arg[0] = count (1..XSIM_GRANT_MAX_REFS), arg[1] = 1
     * writable / 0 read-only, arg[2] = arg[3] = 0; then count uint32_t refs.
     * reply: val[0] = handle; then count uint64_t: the RAM memfd offset of
     * each granted page (page aligned, inside ram[] of OPEN), for mmap
     * MAP_SHARED|MAP_FIXED. All or nothing: on failure val[0] = index of
     * the first refused ref, val[1] = its GNTST_* code (as int64_t), status
     * -EINVAL (bad_gntref), -EACCES (permission_denied), -EFAULT (bad_page),
     * -EIO (entry kept changing), -ENOSPC (connection limits). While mapped,
     * each entry has GTF_reading (and GTF_writing when writable) set. */
    XSIM_OP_GRANT_MAP = 17,
    /* arg0 = handle: clears the flags of what it mapped. -ENOENT. Unmap the
     * pages locally first: the guest may reuse them once this returns. */
    XSIM_OP_GRANT_UNMAP = 18,
    /* GRANT_COPY: arg[0] = count (1..XSIM_GRANT_MAX_COPY_SEGS), arg[1..3] =
     * 0; then count struct xsim_grant_copy_seg. reply: status 0 (the call
     * worked), then count struct xsim_grant_copy_result. xensim copies no
     * bytes (the local buffers are in the caller's memory): it validates
     * each segment, sets GTF_reading (+ GTF_writing toward the guest) and
     * answers where the bytes are; the caller copies through its RAM
     * mapping, then sends GRANT_COPY_DONE, which clears those flags. One
     * round trip per batch; the flags cover the copy as Xen's do. A new
     * GRANT_COPY or the connection closing ends an unfinished one too. */
    XSIM_OP_GRANT_COPY = 19,
    /* No args and, alone among the ops, NO reply (so it costs no round
     * trip): ends the last GRANT_COPY. Ignored if none is pending. */
    XSIM_OP_GRANT_COPY_DONE = 20,

    /* Dirty tracking, as Xen's DM ops of the same names (display VRAM;
     * live migration). A page counts as written when the guest writes it
     * (a vCPU, the scripted guest's write/memset), when xensim writes it
     * for a backend (a grant copy toward the guest, a writable grant
     * mapping when it is unmapped), or when a device model reports it with
     * MODIFIED_MEMORY. Writes a device model makes through its own RAM
     * mapping are invisible, as on Xen: it must report them.
     *
     * TRACK_DIRTY_VRAM: arg0 = first pfn, arg1 = nr pages (0 stops
     * tracking; at most XSIM_MAX_VRAM_PAGES). Every page must be guest RAM,
     * else -EINVAL (also for nr too large). reply: val0 = nr, then the
     * bitmap of the pages written since the last call (bit i = page
     * first+i; little-endian uint64_t words, (nr + 63) / 64 of them); the
     * bits are cleared. A range other than the last one starts with every
     * bit set (Xen does the same: the first picture is a full redraw). */
    XSIM_OP_TRACK_DIRTY_VRAM = 21,
    /* MODIFIED_MEMORY (variable-length, as GRANT_MAP): arg[0] = count
     * (1..XSIM_MAX_MODIFIED_EXTENTS), arg[1..3] = 0, then count struct
     * xsim_pfn_extent. All or nothing: each extent needs nr >= 1, no pfn
     * overflow and only guest RAM; else -EINVAL and val[0] = the index of
     * the first bad extent. xensim logs it and counts the pages (qtest
     * xen_modified_pages). */
    XSIM_OP_MODIFIED_MEMORY = 22,
    /* No args. reply: as OPEN's (val0 = nr_vcpus, val1 = arch, ram[],
     * fds[0] = the RAM memfd) for the target domain: how a device model
     * maps another domain's memory (the connection's own RAM came with
     * OPEN). */
    XSIM_OP_GET_RAM = 23,
};

#define XSIM_OP_LAST XSIM_OP_GET_RAM
#define XSIM_TARGET_OTHER 0x80000000u /* in xsim_request.target, | domid */

#define XSIM_MAX_VRAM_PAGES 65536        /* 256 MiB of tracked VRAM */
#define XSIM_MAX_MODIFIED_EXTENTS 256    /* extents in one MODIFIED_MEMORY */

struct xsim_pfn_extent {
    uint64_t first_pfn;
    uint32_t nr;
    uint32_t reserved; /* must be 0 */
};

#define XSIM_GRANT_BACKEND_DOMID 0      /* every control connection is dom0 */
#define XSIM_GRANT_MAX_REFS 1024        /* refs in one GRANT_MAP */
#define XSIM_GRANT_MAX_COPY_SEGS 1024   /* segments in one GRANT_COPY */
#define XSIM_GRANT_MAX_MAPPED 65536     /* pages one connection holds mapped */
#define XSIM_GRANT_MAX_HANDLES 16384    /* live GRANT_MAP handles per connection */
#define XSIM_GRANT_MAX_FRAMES 32        /* xen_gnttab_setup NFRAMES */
#define XSIM_GRANT_COPY_TO_GUEST 1u     /* xsim_grant_copy_seg.flags */

struct xsim_grant_copy_seg {
    uint32_t ref;
    uint16_t offset; /* offset + len <= 4096, else GNTST_bad_copy_arg */
    uint16_t len;
    uint32_t flags;    /* XSIM_GRANT_COPY_TO_GUEST: local to guest */
    uint32_t reserved; /* must be 0 */
};

struct xsim_grant_copy_result {
    int32_t status;   /* GNTST_* for this segment */
    uint32_t reserved;
    uint64_t offset;  /* GNTST_okay: RAM memfd offset of the segment's first byte */
};

struct xsim_request {
    uint32_t op;
    uint32_t target; /* 0: the connection's domain; XSIM_TARGET_OTHER | domid */
    uint64_t arg[4];
};

struct xsim_ram_region {
    uint64_t gpa;    /* guest-physical start, page aligned */
    uint64_t size;   /* bytes, page multiple; 0 = unused entry */
    uint64_t offset; /* where its bytes start in the RAM memfd */
};

#define XSIM_RAM_REGIONS 2 /* x86: below the MMIO hole, above 4 GiB */

/* Largest datagram either side sends (GRANT_COPY with every segment). */
#define XSIM_MAX_REQUEST_SIZE \
    (sizeof(struct xsim_request) + XSIM_GRANT_MAX_COPY_SEGS * sizeof(struct xsim_grant_copy_seg))

/* x86: the legacy VGA window inside ram[0] is never populated (libxl leaves
 * it so): it is MMIO, and mapping its frames fails as on Xen, although the
 * memfd has bytes behind it. */
#define XSIM_X86_VGA_HOLE_START 0xA0000ull
#define XSIM_X86_VGA_HOLE_END 0xC0000ull /* exclusive */

struct xsim_reply {
    int32_t status;  /* 0 or -errno */
    uint32_t nr_fds; /* fds carried by SCM_RIGHTS with this datagram */
    uint64_t val[2];
    struct xsim_ram_region ram[XSIM_RAM_REGIONS]; /* XSIM_OP_OPEN only */
};

#endif
