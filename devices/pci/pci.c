/* SPDX-License-Identifier: MIT */
#include "devices/pci/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ioreq/log.h"

/* Config header offsets and bits (PCI Local Bus spec 3.0, type 0). */
#define REG_VENDOR 0x00
#define REG_DEVICE 0x02
#define REG_COMMAND 0x04
#define REG_STATUS 0x06
#define REG_REVISION 0x08
#define REG_CLASS 0x09
#define REG_CACHE_LINE 0x0c
#define REG_LATENCY 0x0d
#define REG_BAR0 0x10
#define REG_SUBSYS_VENDOR 0x2c
#define REG_SUBSYS_ID 0x2e
#define REG_INTERRUPT_LINE 0x3c

#define CMD_IO 0x0001
#define CMD_MEMORY 0x0002
#define CMD_WRITABLE 0x0547   /* io, memory, master, parity, serr, intx-disable */
#define STATUS_W1C 0xf900     /* parity, target/master aborts, serr, parity error */

struct pci_bus {
    struct dispatch *dispatch;
    uint32_t domid;
    struct pci_device *devices[PCI_SLOTS * PCI_FUNCS];
};

struct pci_bus *pci_bus_new(struct dispatch *dispatch, uint32_t domid)
{
    struct pci_bus *bus = g_new0(struct pci_bus, 1);
    bus->dispatch = dispatch;
    bus->domid = domid;
    return bus;
}

void pci_bus_free(struct pci_bus *bus)
{
    g_free(bus);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

void pci_device_init(struct pci_device *d, const char *id, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision)
{
    memset(d, 0, sizeof(*d));
    d->id = g_strdup(id);
    put16(d->config + REG_VENDOR, vendor);
    put16(d->config + REG_DEVICE, device);
    d->config[REG_REVISION] = revision;
    d->config[REG_CLASS] = class_code & 0xff;
    d->config[REG_CLASS + 1] = (class_code >> 8) & 0xff;
    d->config[REG_CLASS + 2] = (class_code >> 16) & 0xff;
    /* The subsystem ids QEMU gives its Red Hat devices, which guests know. */
    put16(d->config + REG_SUBSYS_VENDOR, 0x1af4);
    put16(d->config + REG_SUBSYS_ID, 0x1100);
    put16(d->wmask + REG_COMMAND, CMD_WRITABLE);
    put16(d->w1cmask + REG_STATUS, STATUS_W1C);
    d->wmask[REG_CACHE_LINE] = 0xff;
    d->wmask[REG_LATENCY] = 0xff;
    d->wmask[REG_INTERRUPT_LINE] = 0xff;
}

void pci_device_cleanup(struct pci_device *d)
{
    pci_bus_detach(d);
    g_free(d->id);
    d->id = NULL;
}

void pci_device_set_bar(struct pci_device *d, unsigned int bar, unsigned int flags, uint64_t size,
                        const struct io_ops *ops, void *opaque)
{
    bool is64 = flags & PCI_BAR_MEM64;
    uint8_t *reg = d->config + REG_BAR0 + bar * 4;
    uint64_t addr_mask = ~(size - 1);

    g_assert(bar < PCI_NUM_BARS && (!is64 || bar + 1 < PCI_NUM_BARS));
    g_assert(size && (size & (size - 1)) == 0 && size >= ((flags & PCI_BAR_IO) ? 4 : 16));
    d->bars[bar] = (struct pci_bar){ .size = size, .flags = flags };
    io_region_init(&d->bars[bar].region, d->id, (flags & PCI_BAR_IO) ? HV_RANGE_PORT : HV_RANGE_MMIO,
                   size, ops, opaque);
    if (flags & PCI_BAR_IO) {
        put32(reg, 0x1);
        put32(d->wmask + REG_BAR0 + bar * 4, (uint32_t)addr_mask & ~0x3u);
        return;
    }
    put32(reg, (is64 ? 0x4 : 0) | ((flags & PCI_BAR_PREFETCH) ? 0x8 : 0));
    put32(d->wmask + REG_BAR0 + bar * 4, (uint32_t)addr_mask & ~0xfu);
    if (is64)
        put32(d->wmask + REG_BAR0 + (bar + 1) * 4, (uint32_t)(addr_mask >> 32));
}

bool pci_bar_address(const struct pci_device *d, unsigned int bar, uint64_t *addr)
{
    const struct pci_bar *b = &d->bars[bar];
    uint16_t cmd = get16(d->config + REG_COMMAND);
    uint32_t lo = get32(d->config + REG_BAR0 + bar * 4);
    uint64_t base, limit;

    if (!b->size)
        return false;
    if (b->flags & PCI_BAR_IO) {
        if (!(cmd & CMD_IO))
            return false;
        base = lo & ~0x3u;
        limit = 0xffff;
    } else {
        if (!(cmd & CMD_MEMORY))
            return false;
        base = lo & ~0xfu;
        limit = UINT32_MAX;
        if (b->flags & PCI_BAR_MEM64) {
            base |= (uint64_t)get32(d->config + REG_BAR0 + (bar + 1) * 4) << 32;
            limit = UINT64_MAX;
        }
    }
    /* Address 0 and a window ending at the very top of the decode space are
     * what sizing leaves behind, not a placement: don't decode there. */
    uint64_t last = base + b->size - 1;
    if (base == 0 || last < base || last >= limit)
        return false;
    *addr = base;
    return true;
}

static void update_bar_mappings(struct pci_device *d)
{
    for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &d->bars[i];
        uint64_t addr;

        if (!b->size)
            continue;
        if (!d->attached || !pci_bar_address(d, i, &addr)) {
            dispatch_unmap_region(d->bus->dispatch, &b->region);
            continue;
        }
        int rc = dispatch_map_region(d->bus->dispatch, &b->region, addr);
        if (rc < 0)
            log_warn(d->bus->domid, d->id, "BAR%u at 0x%" G_GINT64_MODIFIER "x not decoded: %s",
                     i, addr, g_strerror(-rc));
    }
}

uint32_t pci_config_read(struct pci_device *d, uint32_t reg, unsigned int size)
{
    uint32_t value = 0;

    for (unsigned int i = 0; i < size; i++) {
        uint32_t r = reg + i;
        /* Beyond the 256-byte conventional space nothing is implemented. */
        uint8_t byte = r < PCI_CONFIG_SIZE ? d->config[r] : 0xff;
        value |= (uint32_t)byte << (8 * i);
    }
    return value;
}

static bool touches(uint32_t reg, unsigned int size, uint32_t start, uint32_t len)
{
    return reg < start + len && start < reg + size;
}

void pci_config_write(struct pci_device *d, uint32_t reg, uint32_t value, unsigned int size)
{
    for (unsigned int i = 0; i < size; i++) {
        uint32_t r = reg + i;
        uint8_t byte = (value >> (8 * i)) & 0xff;
        if (r >= PCI_CONFIG_SIZE)
            continue;
        d->config[r] = (d->config[r] & ~d->wmask[r]) | (byte & d->wmask[r]);
        d->config[r] &= ~(byte & d->w1cmask[r]);
    }
    if (touches(reg, size, REG_COMMAND, 2) || touches(reg, size, REG_BAR0, 4 * PCI_NUM_BARS))
        update_bar_mappings(d);
    if (d->after_config_write)
        d->after_config_write(d, reg, size);
}

bool pci_parse_devfn(const char *text, int *devfn, GError **error)
{
    char *end;
    unsigned long slot = strtoul(text, &end, 16), fn = 0;

    if (end != text && *end == '.') {
        const char *f = end + 1;
        fn = strtoul(f, &end, 16);
        if (end == f)
            end = (char *)text; /* "3." is malformed */
    }
    if (end == text || *end || slot >= PCI_SLOTS || fn >= PCI_FUNCS) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "addr '%s' is not a PCI slot[.function] (slot 0-1f, function 0-7)", text);
        return false;
    }
    *devfn = (int)(slot << 3 | fn);
    return true;
}

static uint32_t bus_config_read(void *opaque, uint32_t reg, unsigned int size)
{
    return pci_config_read(opaque, reg, size);
}

static void bus_config_write(void *opaque, uint32_t reg, uint32_t value, unsigned int size)
{
    pci_config_write(opaque, reg, value, size);
}

static const struct pci_config_ops bus_config_ops = {
    .read = bus_config_read,
    .write = bus_config_write,
};

bool pci_bus_attach(struct pci_bus *bus, struct pci_device *d, int devfn, GError **error)
{
    if (devfn < 0) {
        for (int slot = 1; slot < PCI_SLOTS && devfn < 0; slot++)
            if (!bus->devices[slot << 3])
                devfn = slot << 3;
        if (devfn < 0) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "%s: PCI bus is full", d->id);
            return false;
        }
    }
    if (bus->devices[devfn]) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: PCI address %02x.%x is taken by %s", d->id, devfn >> 3, devfn & 7,
                    bus->devices[devfn]->id);
        return false;
    }
    int rc = dispatch_add_pci_function(bus->dispatch, hv_sbdf(0, 0, (uint8_t)(devfn >> 3),
                                                              (uint8_t)(devfn & 7)),
                                       d->id, &bus_config_ops, d);
    if (rc < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s: registering PCI %02x.%x failed: %s", d->id, devfn >> 3, devfn & 7,
                    g_strerror(-rc));
        return false;
    }
    d->bus = bus;
    d->devfn = (uint8_t)devfn;
    d->attached = true;
    bus->devices[devfn] = d;
    update_bar_mappings(d);
    return true;
}

void pci_bus_detach(struct pci_device *d)
{
    if (!d->attached)
        return;
    d->attached = false;
    update_bar_mappings(d);
    dispatch_remove_pci_function(d->bus->dispatch,
                                 hv_sbdf(0, 0, (uint8_t)(d->devfn >> 3), (uint8_t)(d->devfn & 7)));
    d->bus->devices[d->devfn] = NULL;
}
