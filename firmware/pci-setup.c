/* SPDX-License-Identifier: MIT */
#include "firmware/pci-setup.h"

#include <inttypes.h>

#define PCI_CF8_PORT 0xCF8
#define PCI_CFC_PORT 0xCFC
#define PCI_CF8_ENABLE 0x80000000u

#define PCI_REG_VENDOR 0x00
#define PCI_REG_COMMAND 0x04
#define PCI_REG_HEADER_TYPE 0x0E
#define PCI_REG_BAR0 0x10
#define PCI_REG_ROM 0x30        /* type 0 header */
#define PCI_REG_BRIDGE_ROM 0x38 /* type 1 header */
#define PCI_ROM_ADDRESS_MASK 0xFFFFF800u
#define PCI_ROM_ENABLE 0x1u
#define PCI_MIN_ROM_BAR 2048
#define PCI_REG_INTERRUPT_LINE 0x3C
#define PCI_REG_INTERRUPT_PIN 0x3D

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_BAR_IS_IO 0x1
#define PCI_BAR_MEM_TYPE_64 0x4
#define PCI_BAR_MEM_PREFETCH 0x8

/* PIIX3 (8086:7000) at 00:01.0: PIRQ route registers 0x60-0x63; bit 7 set
 * means the link is not routed (the reset value 0x80). */
#define PIIX3_DEVFN 0x08
#define PIIX3_ID 0x70008086u
#define PIIX3_PIRQ_BASE 0x60
#define PIIX3_PIRQ_DISABLED 0x80

/* Smallest decoder a BAR can have (PCI spec): 16 bytes MMIO, 4 ports. */
#define PCI_MIN_MEM_BAR 16
#define PCI_MIN_IO_BAR 4

static GQuark pci_setup_error_quark(void)
{
    return g_quark_from_static_string("pci-setup-error");
}

uint8_t pci_setup_default_link_irq(unsigned int link)
{
    static const uint8_t irqs[4] = { 5, 10, 11, 5 };
    return irqs[link & 3];
}

/* -------------------------------------------------------------- placement */

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Sizes descending; ties in bus order so the result is reproducible. */
static int cmp_largest_first(const void *a, const void *b, void *user_data)
{
    const struct pci_bar_request *bars = user_data;
    const struct pci_bar_request *x = &bars[*(const size_t *)a];
    const struct pci_bar_request *y = &bars[*(const size_t *)b];
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    if (x->devfn != y->devfn)
        return x->devfn < y->devfn ? -1 : 1;
    if (x->rom_reg != y->rom_reg)
        return x->rom_reg < y->rom_reg ? -1 : 1; /* BARs before the ROM */
    return (int)x->index - (int)y->index;
}

/* Bump-allocate the selected BARs (in the given order) into [start, end),
 * each naturally aligned. With power-of-two sizes in descending order this
 * leaves no gaps after the first BAR, so it fails only when the window
 * really is too small (or too badly aligned). */
static bool pack(struct pci_bar_request *bars, const size_t *order, size_t n, const bool *skip,
                 uint64_t start, uint64_t end, bool commit)
{
    uint64_t cursor = start;
    for (size_t k = 0; k < n; k++) {
        struct pci_bar_request *bar = &bars[order[k]];
        if (skip && skip[order[k]])
            continue;
        if (bar->size > end - start)
            return false;
        uint64_t aligned = (cursor + bar->size - 1) & ~(bar->size - 1);
        if (aligned < cursor || aligned > end || bar->size > end - aligned)
            return false;
        if (commit)
            bar->addr = aligned;
        cursor = aligned + bar->size;
    }
    return true;
}

/* The smallest MMIO hole (whole MiB, as xl.cfg takes it) that holds the
 * BARs that must stay below 4 GiB; 0 if even the largest does not. */
static uint64_t needed_hole(const struct memmap *map, struct pci_bar_request *bars,
                            const size_t *order, size_t n, const bool *not_low)
{
    uint64_t first = (map->mmio_hole + MEMMAP_MIB) & ~(MEMMAP_MIB - 1);
    for (uint64_t hole = MAX(first, MEMMAP_MIN_MMIO_HOLE); hole <= MEMMAP_MAX_MMIO_HOLE;
         hole += MEMMAP_MIB) {
        struct memmap candidate;
        if (!memmap_compute(map->ram_size, hole, &candidate, NULL))
            return 0;
        if (pack(bars, order, n, not_low, candidate.pci_mem_start, candidate.pci_mem_end, false))
            return hole;
    }
    return 0;
}

static bool place_io(struct pci_bar_request *bars, const size_t *order, size_t n,
                     GError **error)
{
    bool *not_io = g_new0(bool, n ? n : 1);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        not_io[i] = bars[i].kind != PCI_BAR_KIND_IO;
        if (!not_io[i])
            total += bars[i].size;
    }
    bool ok = pack(bars, order, n, not_io, MEMMAP_PCI_IO_START, MEMMAP_PCI_IO_END, true);
    g_free(not_io);
    if (!ok)
        g_set_error(error, pci_setup_error_quark(), 0,
                    "PCI I/O BARs need %" PRIu64 " ports, only %u (0x%X-0x%X) are for PCI",
                    total, MEMMAP_PCI_IO_END - MEMMAP_PCI_IO_START, MEMMAP_PCI_IO_START,
                    MEMMAP_PCI_IO_END - 1);
    return ok;
}

static bool place_mem(const struct memmap *map, struct pci_bar_request *bars,
                      const size_t *order, size_t n, GError **error)
{
    /* high[i]: BAR i goes above 4 GiB. Start with everything in the hole and
     * move 64-bit BARs out, largest first, until the rest fits. */
    bool *high = g_new0(bool, n ? n : 1);
    bool *not_low = g_new0(bool, n ? n : 1);
    bool ok = false;
    for (size_t i = 0; i < n; i++)
        high[i] = bars[i].kind == PCI_BAR_KIND_IO; /* I/O is neither low nor high memory */
    size_t next64 = 0;
    for (;;) {
        if (pack(bars, order, n, high, map->pci_mem_start, map->pci_mem_end, true)) {
            ok = true;
            break;
        }
        while (next64 < n && bars[order[next64]].kind != PCI_BAR_KIND_MEM64)
            next64++;
        if (next64 == n)
            break;
        high[order[next64++]] = true;
    }
    if (ok) {
        /* now pack the ones marked high (and not I/O) above high RAM */
        for (size_t i = 0; i < n; i++)
            not_low[i] = !high[i] || bars[i].kind == PCI_BAR_KIND_IO;
        ok = pack(bars, order, n, not_low, map->pci_high_start, map->pci_high_end, true);
        if (!ok)
            g_set_error(error, pci_setup_error_quark(), 0,
                        "64-bit PCI BARs do not fit between high RAM (0x%" PRIx64
                        ") and the %u-bit physical address limit",
                        map->pci_high_start, 48);
    } else {
        for (size_t i = 0; i < n; i++)
            not_low[i] = bars[i].kind != PCI_BAR_KIND_MEM32;
        uint64_t need = needed_hole(map, bars, order, n, not_low);
        if (need)
            g_set_error(error, pci_setup_error_quark(), 0,
                        "PCI BARs need %" PRIu64 " MiB of MMIO hole, the hole is %" PRIu64
                        " MiB: set mmio_hole=%" PRIu64 " (or more)",
                        need / MEMMAP_MIB, map->mmio_hole / MEMMAP_MIB, need / MEMMAP_MIB);
        else
            g_set_error(error, pci_setup_error_quark(), 0,
                        "PCI BARs need more than the largest MMIO hole (%" PRIu64
                        " MiB) below 4 GiB, the hole is %" PRIu64
                        " MiB: use fewer devices or 64-bit BARs",
                        MEMMAP_MAX_MMIO_HOLE / MEMMAP_MIB, map->mmio_hole / MEMMAP_MIB);
    }
    g_free(high);
    g_free(not_low);
    return ok;
}

bool pci_place_bars(const struct memmap *map, struct pci_bar_request *bars, size_t n,
                    GError **error)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t min = bars[i].kind == PCI_BAR_KIND_IO ? PCI_MIN_IO_BAR : PCI_MIN_MEM_BAR;
        if (bars[i].rom_reg)
            min = PCI_MIN_ROM_BAR;
        bool bad = !is_pow2(bars[i].size) || bars[i].size < min || bars[i].index > 5 ||
                   (bars[i].rom_reg && ((bars[i].rom_reg != PCI_REG_ROM &&
                                         bars[i].rom_reg != PCI_REG_BRIDGE_ROM) ||
                                        bars[i].kind != PCI_BAR_KIND_MEM32)) ||
                   (bars[i].kind == PCI_BAR_KIND_IO && bars[i].size > UINT16_MAX) ||
                   (bars[i].kind == PCI_BAR_KIND_MEM32 && bars[i].size > UINT32_MAX) ||
                   (bars[i].kind == PCI_BAR_KIND_MEM64 && bars[i].index > 4) ||
                   bars[i].kind > PCI_BAR_KIND_MEM64;
        if (bad) {
            g_set_error(error, pci_setup_error_quark(), 0,
                        "%02x:%02x.%x BAR%u: impossible size 0x%" PRIx64, 0,
                        bars[i].devfn >> 3, bars[i].devfn & 7, bars[i].index, bars[i].size);
            return false;
        }
        bars[i].addr = 0;
    }
    size_t *order = g_new(size_t, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    g_qsort_with_data(order, (gint)n, sizeof(*order), cmp_largest_first, bars);
    bool ok = place_io(bars, order, n, error) && place_mem(map, bars, order, n, error);
    g_free(order);
    return ok;
}

/* ------------------------------------------------------------ config cycles */

struct cfg {
    const struct pci_setup_io *io;
    const char *failed; /* first failed access: every later one is skipped */
};

static uint32_t cfg_access(struct cfg *c, uint8_t devfn, uint8_t reg, unsigned int size,
                           bool is_read, uint32_t value)
{
    if (c->failed)
        return UINT32_MAX;
    uint32_t address = PCI_CF8_ENABLE | ((uint32_t)devfn << 8) | (reg & 0xFCu);
    const char *why = "port access failed";
    if (!c->io->pio(c->io->opaque, PCI_CF8_PORT, 4, false, &address, &why) ||
        !c->io->pio(c->io->opaque, (uint16_t)(PCI_CFC_PORT + (reg & 3)), size, is_read, &value,
                    &why)) {
        c->failed = why;
        return UINT32_MAX;
    }
    return value;
}

static uint32_t cfg_read(struct cfg *c, uint8_t devfn, uint8_t reg, unsigned int size)
{
    return cfg_access(c, devfn, reg, size, true, 0);
}

static void cfg_write(struct cfg *c, uint8_t devfn, uint8_t reg, unsigned int size,
                      uint32_t value)
{
    cfg_access(c, devfn, reg, size, false, value);
}

/* Size the BARs of one function (decoding off meanwhile so the all-ones
 * probe never decodes anywhere), appending to bars. */
static void size_bars(struct cfg *c, uint8_t devfn, unsigned int nr_bars, GArray *bars)
{
    uint32_t command = cfg_read(c, devfn, PCI_REG_COMMAND, 2);
    cfg_write(c, devfn, PCI_REG_COMMAND, 2,
              command & ~(uint32_t)(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (unsigned int i = 0; i < nr_bars && !c->failed; i++) {
        uint8_t reg = (uint8_t)(PCI_REG_BAR0 + 4 * i);
        uint32_t saved = cfg_read(c, devfn, reg, 4);
        cfg_write(c, devfn, reg, 4, UINT32_MAX);
        uint32_t probe = cfg_read(c, devfn, reg, 4);
        cfg_write(c, devfn, reg, 4, saved);
        if (probe == 0 || probe == UINT32_MAX)
            continue; /* not implemented (or nobody answers) */
        struct pci_bar_request bar = { .devfn = devfn, .index = (uint8_t)i };
        uint64_t mask;
        if (probe & PCI_BAR_IS_IO) {
            mask = probe & ~3u;
            if (!(mask & 0xFFFF0000u))
                mask |= 0xFFFF0000u; /* a 16-bit decoder */
            bar.kind = PCI_BAR_KIND_IO;
            mask |= 0xFFFFFFFF00000000ull;
        } else if ((probe & 0x6) == PCI_BAR_MEM_TYPE_64 && i + 1 < nr_bars) {
            uint8_t hi_reg = (uint8_t)(reg + 4);
            uint32_t saved_hi = cfg_read(c, devfn, hi_reg, 4);
            cfg_write(c, devfn, hi_reg, 4, UINT32_MAX);
            uint32_t probe_hi = cfg_read(c, devfn, hi_reg, 4);
            cfg_write(c, devfn, hi_reg, 4, saved_hi);
            mask = ((uint64_t)probe_hi << 32) | (probe & ~0xFu);
            bar.kind = PCI_BAR_KIND_MEM64;
            bar.prefetchable = probe & PCI_BAR_MEM_PREFETCH;
            i++; /* the upper half is not a BAR of its own */
        } else {
            mask = 0xFFFFFFFF00000000ull | (probe & ~0xFu);
            bar.kind = PCI_BAR_KIND_MEM32;
            bar.prefetchable = probe & PCI_BAR_MEM_PREFETCH;
        }
        /* The lowest writable address bit is the size. Taking that bit (not
         * ~mask + 1) keeps the size a power of two even for a device whose
         * mask has holes; sizes no BAR of that kind can have are skipped so
         * one odd device cannot stop the others from being placed. */
        bar.size = mask & (~mask + 1);
        uint64_t max = bar.kind == PCI_BAR_KIND_IO      ? UINT16_MAX
                       : bar.kind == PCI_BAR_KIND_MEM32 ? UINT32_MAX
                                                        : UINT64_MAX;
        if (bar.size && bar.size <= max)
            g_array_append_val(bars, bar);
    }
    cfg_write(c, devfn, PCI_REG_COMMAND, 2, command);
}

/* Size the expansion ROM BAR at reg, as hvmloader does: the address mask
 * with the enable bit clear, read back, restore. Its size is the lowest
 * writable address bit; a register that keeps none has no ROM. */
static void size_rom(struct cfg *c, uint8_t devfn, uint8_t reg, GArray *bars)
{
    uint32_t saved = cfg_read(c, devfn, reg, 4);
    cfg_write(c, devfn, reg, 4, (saved | PCI_ROM_ADDRESS_MASK) & ~PCI_ROM_ENABLE);
    uint32_t probe = cfg_read(c, devfn, reg, 4);
    cfg_write(c, devfn, reg, 4, saved);
    uint32_t mask = probe & PCI_ROM_ADDRESS_MASK;
    if (c->failed || probe == UINT32_MAX || mask == 0)
        return; /* no ROM (or nobody answers: all-ones) */
    struct pci_bar_request rom = {
        .devfn = devfn, .rom_reg = reg, .kind = PCI_BAR_KIND_MEM32, .size = mask & (~mask + 1),
    };
    g_array_append_val(bars, rom);
}

static void program_bar(struct cfg *c, const struct pci_bar_request *bar)
{
    if (bar->rom_reg) {
        /* the enable bit stays as it was: placing is not enabling */
        uint32_t enable = cfg_read(c, bar->devfn, bar->rom_reg, 4) & PCI_ROM_ENABLE;
        cfg_write(c, bar->devfn, bar->rom_reg, 4, (uint32_t)bar->addr | enable);
        return;
    }
    uint8_t reg = (uint8_t)(PCI_REG_BAR0 + 4 * bar->index);
    cfg_write(c, bar->devfn, reg, 4, (uint32_t)bar->addr);
    if (bar->kind == PCI_BAR_KIND_MEM64)
        cfg_write(c, bar->devfn, (uint8_t)(reg + 4), 4, (uint32_t)(bar->addr >> 32));
}

/* Functions present on bus 0, in devfn order. */
static GArray *enumerate(struct cfg *c)
{
    GArray *functions = g_array_new(false, false, sizeof(uint8_t));
    for (unsigned int dev = 0; dev < 32 && !c->failed; dev++) {
        unsigned int nr_fn = 1;
        for (unsigned int fn = 0; fn < nr_fn && !c->failed; fn++) {
            uint8_t devfn = (uint8_t)(dev << 3 | fn);
            uint32_t vendor = cfg_read(c, devfn, PCI_REG_VENDOR, 2);
            if (vendor == 0xFFFF || vendor == 0)
                continue;
            if (fn == 0 && (cfg_read(c, devfn, PCI_REG_HEADER_TYPE, 1) & PCI_HEADER_MULTIFUNCTION))
                nr_fn = 8;
            g_array_append_val(functions, devfn);
        }
    }
    return functions;
}

static unsigned int program_irq_lines(struct cfg *c, GArray *functions)
{
    if (cfg_read(c, PIIX3_DEVFN, PCI_REG_VENDOR, 4) != PIIX3_ID)
        return 0; /* no PIIX3 on this bus: nothing routes INTx */
    for (unsigned int link = 0; link < 4; link++) {
        uint8_t reg = (uint8_t)(PIIX3_PIRQ_BASE + link);
        if (cfg_read(c, PIIX3_DEVFN, reg, 1) & PIIX3_PIRQ_DISABLED)
            cfg_write(c, PIIX3_DEVFN, reg, 1, pci_setup_default_link_irq(link));
    }
    unsigned int programmed = 0;
    for (guint i = 0; i < functions->len; i++) {
        uint8_t devfn = g_array_index(functions, uint8_t, i);
        uint32_t pin = cfg_read(c, devfn, PCI_REG_INTERRUPT_PIN, 1);
        if (pin < 1 || pin > 4)
            continue;
        unsigned int link = ((devfn >> 3) + pin - 1) & 3;
        uint32_t route = cfg_read(c, PIIX3_DEVFN, (uint8_t)(PIIX3_PIRQ_BASE + link), 1);
        if (route & PIIX3_PIRQ_DISABLED)
            continue;
        cfg_write(c, devfn, PCI_REG_INTERRUPT_LINE, 1, route & 0xF);
        programmed++;
    }
    return programmed;
}

bool pci_setup_run(const struct pci_setup_io *io, const struct memmap *map,
                   struct pci_setup_report *report, GError **error)
{
    struct cfg c = { .io = io };
    *report = (struct pci_setup_report){ 0 };
    GArray *functions = enumerate(&c);
    GArray *bars = g_array_new(false, false, sizeof(struct pci_bar_request));
    for (guint i = 0; i < functions->len && !c.failed; i++) {
        uint8_t devfn = g_array_index(functions, uint8_t, i);
        unsigned int header = cfg_read(&c, devfn, PCI_REG_HEADER_TYPE, 1) & 0x7F;
        /* type 0: six BARs; a PCI-PCI bridge (type 1) has two, and its ROM
         * register where a type 0 header has BAR-free space */
        size_bars(&c, devfn, header == 0 ? 6 : header == 1 ? 2 : 0, bars);
        if (header <= 1)
            size_rom(&c, devfn, header == 0 ? PCI_REG_ROM : PCI_REG_BRIDGE_ROM, bars);
    }
    bool ok = !c.failed &&
              pci_place_bars(map, (struct pci_bar_request *)(void *)bars->data, bars->len, error);
    if (ok) {
        for (guint i = 0; i < bars->len; i++) {
            const struct pci_bar_request *bar = &g_array_index(bars, struct pci_bar_request, i);
            program_bar(&c, bar);
            report->roms += bar->rom_reg != 0;
            if (bar->kind == PCI_BAR_KIND_IO)
                report->bars_io++;
            else if (bar->addr >= MEMMAP_4G)
                report->bars_high++;
            else
                report->bars_low++;
        }
        for (guint i = 0; i < functions->len; i++) {
            uint8_t devfn = g_array_index(functions, uint8_t, i);
            uint32_t enable = PCI_COMMAND_MASTER;
            for (guint k = 0; k < bars->len; k++) {
                const struct pci_bar_request *bar =
                    &g_array_index(bars, struct pci_bar_request, k);
                if (bar->devfn == devfn)
                    enable |= bar->kind == PCI_BAR_KIND_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
            }
            uint32_t command = cfg_read(&c, devfn, PCI_REG_COMMAND, 2);
            cfg_write(&c, devfn, PCI_REG_COMMAND, 2, command | enable);
        }
        report->irq_lines = program_irq_lines(&c, functions);
        report->functions = functions->len;
    }
    if (c.failed) {
        g_clear_error(error);
        g_set_error(error, pci_setup_error_quark(), 0, "config cycle failed: %s", c.failed);
        ok = false;
    }
    g_array_free(functions, true);
    g_array_free(bars, true);
    return ok;
}
