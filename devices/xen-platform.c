/* SPDX-License-Identifier: MIT */
/*
 * The Xen platform PCI device (5853:0001, class 0xff80): the function PV
 * drivers in an HVM guest bind to. BAR0 is 256 ports of nothing, BAR1 16
 * MiB of prefetchable MMIO that the guest uses as space to map its grant
 * table and shared info into (the hypervisor replaces those pages, so the
 * device only ever sees accesses to the parts left unmapped).
 *
 * The fixed ports 0x10-0x1f speak the hvm-emulated-unplug protocol (Xen's
 * docs/misc/hvm-emulated-unplug.pandoc). Offset: access -> meaning
 *   0x10: 16-bit read   magic 0x49d2 (0xd249 would blacklist the drivers)
 *   0x10: 8-bit r/w     platform flags
 *   0x10: 16-bit write  unplug mask (bit 0 IDE/SCSI disks, 1 NICs,
 *                       2 IDE disks but the primary master, 3 NVMe disks)
 *   0x10: 32-bit write  driver build number
 *   0x12: 8-bit read    protocol version (1)
 *   0x12: 16-bit write  driver product number
 *   0x12: 8-bit write   driver log, a byte at a time, lines end in '\n'
 * Any other width or port reads all-ones and ignores writes.
 * Older SUSE and Novell drivers unplug by writing BAR1 offsets 4 and 8.
 */
#include <stddef.h>

#include "devices/machine.h"
#include "devices/xen-platform.h"
#include "ioreq/log.h"

#define PLATFORM_VENDOR 0x5853
#define PLATFORM_DEVICE 0x0001
#define PLATFORM_REVISION 0x01
#define CLASS_OTHER_UNASSIGNED 0xff8000
#define REG_SUBSYS_VENDOR 0x2c
#define REG_SUBSYS_ID 0x2e
#define REG_INTERRUPT_PIN 0x3d

#define BAR0_SIZE 256
#define BAR1_SIZE (16u << 20)

#define UNPLUG_PORT_BASE 0x10
#define UNPLUG_PORTS 16
#define MAGIC_OFFSET 0          /* also flags, unplug mask, build number */
#define VERSION_OFFSET 2        /* also product number, log bytes */
#define UNPLUG_MAGIC 0x49d2
#define UNPLUG_PROTOCOL_VERSION 1
#define PLATFORM_FLAGS_WRITABLE 0x01 /* ROM-area lock: nothing to lock here */

/* BAR1 offsets of the pre-protocol SUSE / Novell VMDP unplug writes. */
#define LEGACY_UNPLUG_ALL 4
#define LEGACY_UNPLUG_SOME 8

#define KNOWN_UNPLUG_BITS 0x0fu
#define LOG_LINE_MAX 256

struct xen_platform {
    struct pci_device pci;
    int devfn;
    struct machine *machine;
    struct io_region unplug_ports;
    uint8_t flags;
    uint32_t unplugged;
    uint16_t product;
    uint32_t build;
    char line[LOG_LINE_MAX + 1];
    size_t line_len;
    struct ratelimit driver_log; /* the guest's own log lines */
    struct ratelimit guest_log;  /* our complaints about guest behaviour */
};

uint32_t xen_platform_unplugged(const struct xen_platform *p)
{
    return p->unplugged;
}

uint16_t xen_platform_product(const struct xen_platform *p)
{
    return p->product;
}

uint32_t xen_platform_build(const struct xen_platform *p)
{
    return p->build;
}

static uint32_t domid_of(const struct xen_platform *p)
{
    return p->machine ? p->machine->domid : 0;
}

static uint64_t all_ones(unsigned int size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

static void unplug(struct xen_platform *p, uint32_t mask, const char *how)
{
    /* Nothing in this process emulates IDE, NICs or NVMe yet: the mask is
     * recorded for the devices that will, and reported. */
    p->unplugged |= mask & KNOWN_UNPLUG_BITS;
    log_limited(&p->guest_log, domid_of(p), p->pci.id,
                "%s unplug 0x%x:%s%s%s%s%s", how, mask,
                (mask & XEN_UNPLUG_ALL_IDE_DISKS) ? " IDE/SCSI disks" : "",
                (mask & XEN_UNPLUG_ALL_NICS) ? " NICs" : "",
                (mask & XEN_UNPLUG_AUX_IDE_DISKS) ? " secondary IDE disks" : "",
                (mask & XEN_UNPLUG_ALL_NVME_DISKS) ? " NVMe disks" : "",
                (mask & ~KNOWN_UNPLUG_BITS) ? " (unknown bits ignored)" : "");
}

static void flush_log_line(struct xen_platform *p)
{
    p->line[p->line_len] = '\0';
    log_limited(&p->driver_log, domid_of(p), p->pci.id, "guest driver: %s", p->line);
    p->line_len = 0;
}

static void log_byte(struct xen_platform *p, uint8_t c)
{
    if (c == '\n') {
        flush_log_line(p);
        return;
    }
    if (c == '\r')
        return;
    /* Guest bytes go into our log: keep it one printable line per line. */
    p->line[p->line_len++] = g_ascii_isprint(c) ? (char)c : '?';
    if (p->line_len == LOG_LINE_MAX)
        flush_log_line(p);
}

static uint64_t unplug_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct xen_platform *p = opaque;

    if (offset == MAGIC_OFFSET && size == 2)
        return UNPLUG_MAGIC;
    if (offset == MAGIC_OFFSET && size == 1)
        return p->flags;
    if (offset == VERSION_OFFSET && size == 1)
        return UNPLUG_PROTOCOL_VERSION;
    return all_ones(size);
}

static void unplug_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct xen_platform *p = opaque;

    if (offset == MAGIC_OFFSET && size == 1) {
        p->flags = value & PLATFORM_FLAGS_WRITABLE;
    } else if (offset == MAGIC_OFFSET && size == 2) {
        unplug(p, (uint32_t)(value & 0xffff), "guest requests");
    } else if (offset == MAGIC_OFFSET && size == 4) {
        p->build = (uint32_t)value;
        log_limited(&p->guest_log, domid_of(p), p->pci.id,
                    "PV drivers: product %u, build %u", p->product, p->build);
    } else if (offset == VERSION_OFFSET && size == 1) {
        log_byte(p, (uint8_t)value);
    } else if (offset == VERSION_OFFSET && size == 2) {
        p->product = (uint16_t)value;
    } else {
        log_limited(&p->guest_log, domid_of(p), p->pci.id,
                    "ignored %u-byte write to port 0x%x", size,
                    (unsigned int)(UNPLUG_PORT_BASE + offset));
    }
}

static const struct io_ops unplug_ops = {
    .read = unplug_read,
    .write = unplug_write,
};

static uint64_t zero_read(void *opaque, uint64_t offset, unsigned int size)
{
    return 0;
}

static void bar0_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
}

static const struct io_ops bar0_ops = {
    .read = zero_read,
    .write = bar0_write,
};

static void bar1_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct xen_platform *p = opaque;

    if (offset == LEGACY_UNPLUG_ALL && value == 1)
        unplug(p, XEN_UNPLUG_ALL_IDE_DISKS | XEN_UNPLUG_ALL_NICS, "legacy (SUSE/VMDP)");
    else if (offset == LEGACY_UNPLUG_SOME && value == 1)
        unplug(p, XEN_UNPLUG_ALL_IDE_DISKS, "legacy (VMDP)");
    else if (offset == LEGACY_UNPLUG_SOME && value == 2)
        unplug(p, XEN_UNPLUG_ALL_NICS, "legacy (VMDP)");
}

static const struct io_ops bar1_ops = {
    .read = zero_read,
    .write = bar1_write,
};

static void platform_init_config(struct xen_platform *p, const char *id)
{
    struct pci_device *d = &p->pci;

    pci_device_init(d, id, PLATFORM_VENDOR, PLATFORM_DEVICE, CLASS_OTHER_UNASSIGNED,
                    PLATFORM_REVISION);
    /* PV drivers (Windows ones by SUBSYS_00015853) match the subsystem too */
    d->config[REG_SUBSYS_VENDOR] = PLATFORM_VENDOR & 0xff;
    d->config[REG_SUBSYS_VENDOR + 1] = PLATFORM_VENDOR >> 8;
    d->config[REG_SUBSYS_ID] = PLATFORM_DEVICE & 0xff;
    d->config[REG_SUBSYS_ID + 1] = PLATFORM_DEVICE >> 8;
    d->config[REG_INTERRUPT_PIN] = 0x01; /* INTA: the event channel callback */
    pci_device_set_bar(d, 0, PCI_BAR_IO, BAR0_SIZE, &bar0_ops, p);
    pci_device_set_bar(d, 1, PCI_BAR_PREFETCH, BAR1_SIZE, &bar1_ops, p);
}

static void *platform_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct xen_platform *p = g_new0(struct xen_platform, 1);
    const char *addr = opts_get_str(o, "addr", NULL);

    /* Without addr= it takes the first free slot after the chipset, as in
     * qemu-xen: 00:02.0, or 00:03.0 once an emulated VGA holds slot 2
     * (where Xen's DSDT expects the VGA). */
    p->devfn = -1;
    if (addr && !pci_parse_devfn(addr, &p->devfn, error)) {
        g_free(p);
        return NULL;
    }
    platform_init_config(p, id);
    p->driver_log = (struct ratelimit)RATELIMIT_INIT;
    p->guest_log = (struct ratelimit)RATELIMIT_INIT;
    io_region_init(&p->unplug_ports, p->pci.id, HV_RANGE_PORT, UNPLUG_PORTS, &unplug_ops, p);
    return p;
}

static bool platform_realize(void *state, struct machine *m, GError **error)
{
    struct xen_platform *p = state;

    p->machine = m;
    if (!pci_bus_attach(m->pci, &p->pci, p->devfn, error) ||
        !machine_map_ports(m, &p->unplug_ports, UNPLUG_PORT_BASE, error))
        return false;
    return true;
}

static void platform_destroy(void *state)
{
    struct xen_platform *p = state;

    if (p->line_len)
        flush_log_line(p); /* what the driver said last is often the point */
    if (p->unplug_ports.mapped)
        dispatch_unmap_region(p->machine->dispatch, &p->unplug_ports);
    pci_device_cleanup(&p->pci);
    g_free(p);
}

const struct device_class xen_platform_class = {
    .name = "xen-platform",
    .description = "Xen platform device 5853:0001 with the emulated-unplug ports 0x10-0x1f",
    .properties = "  addr=SLOT[.FN]  PCI address (default: first free slot, 2 on xenfv)\n"
                  "  id=NAME         device name in logs\n",
    .create = platform_create,
    .realize = platform_realize,
    .destroy = platform_destroy,
};
