/* SPDX-License-Identifier: MIT */
#include "devices/pci/pci.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci/msi.h"
#include "devices/pci/msix.h"
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
#define REG_ROM 0x30
#define REG_INTERRUPT_LINE 0x3c
#define REG_INTERRUPT_PIN 0x3d

#define CMD_IO 0x0001
#define CMD_MEMORY 0x0002
#define CMD_WRITABLE 0x0547   /* io, memory, master, parity, serr, intx-disable */
#define STATUS_W1C 0xf900     /* parity, target/master aborts, serr, parity error */
#define CMD_INTX_DISABLE 0x0400
#define STATUS_INTERRUPT 0x0008
#define ROM_ENABLE 0x1u
#define ROM_MIN_SIZE 2048u    /* the ROM BAR's address field starts at bit 11 */

struct pci_bus {
    struct dispatch *dispatch;
    uint32_t domid;
    struct hv *hv; /* for interrupts; NULL: none signalled */
    struct pci_device *devices[PCI_SLOTS * PCI_FUNCS];
    /* Where memory BARs may not decode (pci_bus_set_memmap). */
    bool have_memmap;
    bool ram_size_known;
    struct memmap memmap;
};

void pci_bus_set_hv(struct pci_bus *bus, struct hv *hv)
{
    bus->hv = hv;
}

struct hv *pci_device_hv(const struct pci_device *d)
{
    return d->attached && d->bus ? d->bus->hv : NULL;
}

uint32_t pci_bus_domid(const struct pci_bus *bus)
{
    return bus->domid;
}

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
    d->irq_log_limit = (struct ratelimit)RATELIMIT_INIT;
    d->bar_log_limit = (struct ratelimit)RATELIMIT_INIT;
}

void pci_device_cleanup(struct pci_device *d)
{
    pci_bus_detach(d);
    pci_msix_free(d);
    g_clear_pointer(&d->msi, g_free);
    g_clear_pointer(&d->rom_data, g_free);
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

bool pci_rom_address(const struct pci_device *d, uint64_t *addr)
{
    uint32_t reg = get32(d->config + REG_ROM);
    uint64_t base = reg & ~(uint32_t)(d->rom.size - 1);

    if (!d->rom.size || !(reg & ROM_ENABLE) || !(get16(d->config + REG_COMMAND) & CMD_MEMORY))
        return false;
    /* as for BARs: 0 or a window running past 4 GiB is sizing residue */
    if (base == 0 || base + d->rom.size - 1 > UINT32_MAX)
        return false;
    *addr = base;
    return true;
}

static bool ranges_overlap(uint64_t addr, uint64_t last, uint64_t start, uint64_t end)
{
    return end > start && addr < end && start <= last;
}

const char *pci_bus_memory_conflict(const struct pci_bus *bus, uint64_t addr, uint64_t size)
{
    const struct memmap *m = &bus->memmap;
    uint64_t last = addr + size - 1;

    if (!bus->have_memmap)
        return NULL;
    if (size == 0 || last < addr || last >= MEMMAP_PHYS_LIMIT)
        return "the space past the 48-bit guest-physical limit";
    /* Checked before low RAM, which surrounds it, to name it precisely. */
    if (ranges_overlap(addr, last, MEMMAP_VGA_START, MEMMAP_VGA_END))
        return "the VGA window 0xa0000-0xbffff";
    if (ranges_overlap(addr, last, 0, m->low_ram_end))
        return bus->ram_size_known ? "low RAM" : "low RAM (everything below the MMIO hole)";
    /* Xen's own devices (IOAPIC, HPET, LAPIC) and the ACPI tables live in
     * the reserved top; hvmloader's PCI window ends where it starts. */
    if (ranges_overlap(addr, last, MEMMAP_PCI_MEM_END, MEMMAP_4G))
        return "the reserved range 0xfc000000-0xffffffff past the hole's PCI window";
    if (ranges_overlap(addr, last, MEMMAP_4G, MEMMAP_4G + m->high_ram_size))
        return "high RAM";
    return NULL;
}

void pci_bus_set_memmap(struct pci_bus *bus, const struct memmap *map, bool ram_size_known)
{
    bus->have_memmap = map != NULL;
    bus->ram_size_known = ram_size_known;
    if (map)
        bus->memmap = *map;
}

/* Decode b at addr (decode true) or not at all, refusing a placement over
 * memory the guest needs or over another range of ours. The register keeps
 * whatever the guest wrote, as hardware does; each refused placement and
 * each recovery is logged once (rate-limited: the guest chooses how often). */
static void place_region(struct pci_device *d, struct pci_bar *b, const char *what, bool decode,
                         uint64_t addr)
{
    struct dispatch *dispatch = d->bus->dispatch;
    bool was_refused = b->refused;
    const char *why = NULL;
    int rc = 0;

    if (!decode) {
        dispatch_unmap_region(dispatch, &b->region);
        b->refused = false;
        return;
    }
    if (b->region.type == HV_RANGE_MMIO)
        why = pci_bus_memory_conflict(d->bus, addr, b->size);
    if (why)
        dispatch_unmap_region(dispatch, &b->region);
    else
        rc = dispatch_map_region(dispatch, &b->region, addr);
    if (!why && rc == 0) {
        b->refused = false;
        if (was_refused)
            log_limited(&d->bar_log_limit, d->bus->domid, d->id,
                        "%s decoded at 0x%" G_GINT64_MODIFIER "x again", what, addr);
        return;
    }
    b->refused = true;
    if (was_refused && b->refused_at == addr)
        return; /* the same placement again: already said */
    b->refused_at = addr;
    if (!why)
        why = rc == -EEXIST ? "another range this process decodes" : g_strerror(-rc);
    log_limited(&d->bar_log_limit, d->bus->domid, d->id,
                "%s at 0x%" G_GINT64_MODIFIER "x (size 0x%" G_GINT64_MODIFIER
                "x) overlaps %s: not decoded until moved",
                what, addr, b->size, why);
}

/* Place b; true if that gave up (or moved away from) a range it held. */
static bool place_and_release(struct pci_device *d, struct pci_bar *b, const char *what,
                              bool decode, uint64_t addr)
{
    bool was_mapped = b->region.mapped;
    uint64_t before = b->region.base;

    place_region(d, b, what, decode, addr);
    return was_mapped && (!b->region.mapped || b->region.base != before);
}

/* Apply d's config space to its registered ranges; true if any range was
 * given up (so a BAR refused for overlapping it may fit now). */
static bool map_device_ranges(struct pci_device *d)
{
    static const char *const names[PCI_NUM_BARS] = { "BAR0", "BAR1", "BAR2",
                                                      "BAR3", "BAR4", "BAR5" };
    bool released = false;
    uint64_t addr = 0;

    if (d->rom.size) {
        bool decode = d->attached && pci_rom_address(d, &addr);
        released |= place_and_release(d, &d->rom, "ROM", decode, addr);
    }
    for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
        if (!d->bars[i].size)
            continue;
        bool decode = d->attached && pci_bar_address(d, i, &addr);
        released |= place_and_release(d, &d->bars[i], names[i], decode, addr);
    }
    return released;
}

static bool has_refused_region(const struct pci_device *d)
{
    if (d->rom.refused)
        return true;
    for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
        if (d->bars[i].refused)
            return true;
    return false;
}

static void update_bar_mappings(struct pci_device *d)
{
    if (!d->bus)
        return; /* never attached: nothing was ever mapped */
    if (!map_device_ranges(d))
        return;
    /* A range was given up: BARs refused for overlapping it may decode now,
     * as they would on a real bus. Retrying only maps, so one pass is enough. */
    for (unsigned int i = 0; i < G_N_ELEMENTS(d->bus->devices); i++) {
        struct pci_device *other = d->bus->devices[i];
        if (other && has_refused_region(other))
            map_device_ranges(other);
    }
    if (has_refused_region(d))
        map_device_ranges(d); /* it may have overlapped its own old place */
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
    if (touches(reg, size, REG_COMMAND, 2) || touches(reg, size, REG_BAR0, 4 * PCI_NUM_BARS) ||
        touches(reg, size, REG_ROM, 4))
        update_bar_mappings(d);
    if (d->msi)
        pci_msi_config_written(d, reg, size);
    if (d->msix)
        pci_msix_config_written(d, reg, size);
    /* INTx-disable or an MSI/MSI-X enable may have changed what the line
     * shows; re-evaluating costs nothing when it did not. */
    pci_set_irq(d, d->intx_level);
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

void pci_device_set_intx_pin(struct pci_device *d, uint8_t pin)
{
    d->config[REG_INTERRUPT_PIN] = pin <= 4 ? pin : 0;
}

void pci_set_irq(struct pci_device *d, bool level)
{
    uint8_t pin = d->config[REG_INTERRUPT_PIN];
    /* A function with MSI or MSI-X enabled must not use its pin (PCI 3.0
     * 6.8), and INTx-disable masks it. */
    bool assert_now = level && pin && !(get16(d->config + REG_COMMAND) & CMD_INTX_DISABLE) &&
                      !pci_msi_enabled(d) && !pci_msix_enabled(d);

    d->intx_level = level;
    /* Interrupt status reports the device's own level, disabled or not. */
    if (level)
        d->config[REG_STATUS] |= STATUS_INTERRUPT;
    else
        d->config[REG_STATUS] &= ~STATUS_INTERRUPT;
    if (assert_now == d->intx_asserted)
        return;
    struct hv *hv = pci_device_hv(d);
    if (!hv || !hv->ops->set_pci_intx_level)
        return; /* nobody to tell: keep intx_asserted so we tell them later */
    int rc = hv->ops->set_pci_intx_level(hv, 0, 0, (uint8_t)(d->devfn >> 3), (uint8_t)(pin - 1),
                                         assert_now);
    if (rc < 0) {
        log_limited(&d->irq_log_limit, hv->domid, d->id, "INTx%c level %d not set: %s",
                    'A' + pin - 1, assert_now, g_strerror(-rc));
        return;
    }
    d->intx_asserted = assert_now;
}

static uint64_t rom_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct pci_device *d = opaque;
    uint64_t value = 0;

    /* the padding up to the power-of-two size reads as zero */
    for (unsigned int i = 0; i < size; i++)
        if (offset < d->rom_len && i < d->rom_len - offset)
            value |= (uint64_t)d->rom_data[offset + i] << (8 * i);
    return value;
}

static void rom_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    /* A ROM: writes are dropped, as real hardware ignores them. */
}

static const struct io_ops rom_ops = {
    .read = rom_read,
    .write = rom_write,
};

void pci_device_set_rom(struct pci_device *d, const void *data, size_t len)
{
    uint64_t size = ROM_MIN_SIZE;

    g_assert(len <= PCI_ROM_MAX_SIZE);
    while (size < len)
        size <<= 1;
    g_free(d->rom_data);
    d->rom_data = g_malloc(len ? len : 1);
    memcpy(d->rom_data, data, len);
    d->rom_len = len;
    d->rom = (struct pci_bar){ .size = size };
    io_region_init(&d->rom.region, d->id, HV_RANGE_MMIO, size, &rom_ops, d);
    put32(d->config + REG_ROM, 0);
    put32(d->wmask + REG_ROM, (uint32_t)~(size - 1) | ROM_ENABLE);
}

bool pci_device_load_rom(struct pci_device *d, const char *path, GError **error)
{
    GStatBuf st;
    gchar *contents = NULL;
    gsize len = 0;
    GError *err = NULL;

    /* check the size first so a huge file is not read in just to refuse it */
    if (g_stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)PCI_ROM_MAX_SIZE) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: romfile=%s is larger than %u MiB", d->id, path, PCI_ROM_MAX_SIZE >> 20);
        return false;
    }
    if (!g_file_get_contents(path, &contents, &len, &err)) {
        g_set_error(error, G_FILE_ERROR, err->code, "%s: romfile=%s: %s", d->id, path,
                    err->message);
        g_error_free(err);
        return false;
    }
    if (len == 0 || len > PCI_ROM_MAX_SIZE) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: romfile=%s is %s", d->id, path,
                    len ? "larger than 16 MiB" : "empty");
        g_free(contents);
        return false;
    }
    pci_device_set_rom(d, contents, len);
    g_free(contents);
    return true;
}
