/* SPDX-License-Identifier: MIT */
/* firmware/memmap and the BAR placement of firmware/pci-setup: pure functions. */
#include <glib.h>
#include <string.h>

#include "firmware/memmap.h"
#include "firmware/pci-setup.h"

#define MIB MEMMAP_MIB
#define GIB ((uint64_t)1 << 30)

/* Invariants every map must satisfy, whatever the inputs. */
static void check_map(const struct memmap *m)
{
    uint64_t ram = 0;
    g_assert_cmpuint(m->nr_e820, >, 0);
    for (unsigned int i = 0; i < m->nr_e820; i++) {
        const struct memmap_e820_entry *e = &m->e820[i];
        g_assert_cmpuint(e->size, >, 0);
        g_assert_cmpuint(e->addr % MEMMAP_PAGE_SIZE, ==, 0);
        if (i)
            g_assert_cmphex(m->e820[i - 1].addr + m->e820[i - 1].size, <=, e->addr);
        if (e->type == MEMMAP_E820_RAM) {
            ram += e->size;
            /* no RAM in the legacy area or in the hole */
            g_assert_false(e->addr < MEMMAP_LOW_1M && e->addr + e->size > MEMMAP_EBDA_START);
            g_assert_false(e->addr < MEMMAP_4G && e->addr + e->size > m->pci_mem_start);
        }
    }
    /* every byte of RAM is reported except the 0x9F000-0xFFFFF legacy area */
    uint64_t legacy = m->low_ram_end > MEMMAP_EBDA_START
                          ? MIN(m->low_ram_end, MEMMAP_LOW_1M) - MEMMAP_EBDA_START : 0;
    g_assert_cmpuint(ram + legacy, ==, m->ram_size);
    g_assert_cmphex(m->low_ram_end + m->high_ram_size, ==, m->ram_size);
    g_assert_cmphex(m->pci_mem_start, ==, MEMMAP_4G - m->mmio_hole);
    g_assert_cmphex(m->pci_mem_end, ==, 0xFC000000);
    g_assert_cmphex(m->low_ram_end, <=, m->pci_mem_start);
    g_assert_cmphex(m->pci_high_start, ==, MEMMAP_4G + m->high_ram_size);
    /* nothing of the PCI window is RAM or reserved */
    g_assert_false(memmap_overlaps_e820(m, m->pci_mem_start, m->pci_mem_end - m->pci_mem_start));
    g_assert_true(memmap_overlaps_e820(m, MEMMAP_LAPIC_BASE, 4096));
    g_assert_true(memmap_overlaps_e820(m, MEMMAP_IOAPIC_BASE, 4096));
    g_assert_true(memmap_overlaps_e820(m, MEMMAP_HPET_BASE, 1024));
}

static void test_many_sizes(void)
{
    const uint64_t rams[] = { MIB, 2 * MIB, 64 * MIB, 255 * MIB, GIB, 3 * GIB + 4096,
                              3840 * MIB, 4 * GIB, 5 * GIB, 64 * GIB, 1ull << 44 };
    const uint64_t holes[] = { 256 * MIB, 512 * MIB, 1 * GIB, 2 * GIB, 3 * GIB,
                               3584 * MIB, 3840 * MIB, 256 * MIB + 4096 };
    for (size_t r = 0; r < G_N_ELEMENTS(rams); r++) {
        for (size_t h = 0; h < G_N_ELEMENTS(holes); h++) {
            struct memmap m;
            GError *error = NULL;
            g_assert_true(memmap_compute(rams[r], holes[h], &m, &error));
            g_assert_no_error(error);
            check_map(&m);
            g_assert_cmphex(m.low_ram_end, ==, MIN(rams[r], MEMMAP_4G - holes[h]));
        }
    }
}

static void test_default_layout(void)
{
    struct memmap m;
    g_assert_true(memmap_compute(5 * GIB, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_cmpuint(m.nr_e820, ==, 6);
    g_assert_cmphex(m.e820[0].addr, ==, 0);
    g_assert_cmphex(m.e820[0].size, ==, 0x9F000);
    g_assert_cmpint(m.e820[1].type, ==, MEMMAP_E820_RESERVED);
    g_assert_cmphex(m.e820[2].addr, ==, 0xF0000);
    g_assert_cmphex(m.e820[3].addr, ==, 0x100000);
    g_assert_cmphex(m.e820[3].addr + m.e820[3].size, ==, 0xF0000000);
    g_assert_cmphex(m.e820[4].addr, ==, 0xFC000000);
    g_assert_cmphex(m.e820[4].size, ==, 0x4000000);
    g_assert_cmphex(m.e820[5].addr, ==, MEMMAP_4G);
    g_assert_cmphex(m.e820[5].size, ==, GIB + 256 * MIB);
    g_assert_cmphex(m.pci_mem_start, ==, 0xF0000000);
    g_assert_cmphex(m.pci_high_start, ==, MEMMAP_4G + GIB + 256 * MIB);
    g_assert_cmpstr(memmap_e820_type_name(m.e820[0].type), ==, "RAM");
}

static void test_tiny_guest(void)
{
    struct memmap m;
    g_assert_true(memmap_compute(MIB, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_cmpuint(m.nr_e820, ==, 4); /* low RAM, EBDA, BIOS, top reserved */
    g_assert_cmphex(m.high_ram_size, ==, 0);
    g_assert_cmphex(m.pci_high_start, ==, MEMMAP_4G);
}

static void test_invalid(void)
{
    struct memmap m;
    GError *error = NULL;
    uint64_t hole;
    g_assert_false(memmap_compute(0, MEMMAP_DEFAULT_MMIO_HOLE, &m, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
    g_assert_false(memmap_compute(64 * MIB + 1, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_false(memmap_compute(512 * 1024, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_false(memmap_compute((1ull << 44) + 4096, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_false(memmap_compute(UINT64_MAX & ~4095ull, MEMMAP_DEFAULT_MMIO_HOLE, &m, NULL));
    g_assert_false(memmap_compute(64 * MIB, 0, &m, NULL));
    g_assert_false(memmap_compute(64 * MIB, 255 * MIB, &m, NULL));
    g_assert_false(memmap_compute(64 * MIB, 3841 * MIB, &m, NULL));
    g_assert_false(memmap_compute(64 * MIB, MEMMAP_4G, &m, NULL));
    g_assert_false(memmap_compute(64 * MIB, UINT64_MAX, &m, &error));
    g_assert_nonnull(strstr(error->message, "256 MiB to 3840 MiB"));
    g_clear_error(&error);
    g_assert_true(memmap_hole_from_max_ram_below_4g(3 * GIB, &hole, NULL));
    g_assert_cmphex(hole, ==, GIB);
    g_assert_true(memmap_hole_from_max_ram_below_4g(256 * MIB, &hole, NULL));
    g_assert_false(memmap_hole_from_max_ram_below_4g(MEMMAP_4G, &hole, NULL));
    g_assert_false(memmap_hole_from_max_ram_below_4g(UINT64_MAX, &hole, NULL));
    g_assert_false(memmap_hole_from_max_ram_below_4g(0, &hole, NULL));
    g_assert_false(memmap_hole_from_max_ram_below_4g(3840 * MIB + 1, &hole, NULL));
    g_assert_false(memmap_overlaps_e820(&m, 0, 0));
}

/* ------------------------------------------------------------- placement */

static struct memmap map_with_hole(uint64_t ram, uint64_t hole)
{
    struct memmap m;
    g_assert_true(memmap_compute(ram, hole, &m, NULL));
    return m;
}

static void check_placed(const struct memmap *m, const struct pci_bar_request *bars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct pci_bar_request *b = &bars[i];
        g_assert_cmphex(b->addr % b->size, ==, 0);
        if (b->kind == PCI_BAR_KIND_IO) {
            g_assert_cmphex(b->addr, >=, MEMMAP_PCI_IO_START);
            g_assert_cmphex(b->addr + b->size, <=, MEMMAP_PCI_IO_END);
        } else if (b->addr < MEMMAP_4G) {
            g_assert_cmphex(b->addr, >=, m->pci_mem_start);
            g_assert_cmphex(b->addr + b->size, <=, m->pci_mem_end);
        } else {
            g_assert_cmpint(b->kind, ==, PCI_BAR_KIND_MEM64);
            g_assert_cmphex(b->addr, >=, m->pci_high_start);
        }
        g_assert_false(b->kind != PCI_BAR_KIND_IO && memmap_overlaps_e820(m, b->addr, b->size));
        for (size_t k = 0; k < i; k++) {
            const struct pci_bar_request *o = &bars[k];
            if ((o->kind == PCI_BAR_KIND_IO) != (b->kind == PCI_BAR_KIND_IO))
                continue;
            g_assert_true(o->addr + o->size <= b->addr || b->addr + b->size <= o->addr);
        }
    }
}

static void test_place_largest_first(void)
{
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_bar_request bars[] = {
        { .devfn = 0x18, .index = 0, .kind = PCI_BAR_KIND_MEM32, .size = 4096 },
        { .devfn = 0x18, .index = 1, .kind = PCI_BAR_KIND_IO, .size = 256 },
        { .devfn = 0x10, .index = 1, .kind = PCI_BAR_KIND_MEM32, .size = 16 * MIB,
          .prefetchable = true },
        { .devfn = 0x10, .index = 0, .kind = PCI_BAR_KIND_IO, .size = 256 },
        { .devfn = 0x20, .index = 2, .kind = PCI_BAR_KIND_MEM64, .size = 64 * MIB },
        { .devfn = 0x20, .index = 0, .kind = PCI_BAR_KIND_MEM32, .size = 16 },
    };
    GError *error = NULL;
    g_assert_true(pci_place_bars(&m, bars, G_N_ELEMENTS(bars), &error));
    g_assert_no_error(error);
    check_placed(&m, bars, G_N_ELEMENTS(bars));
    g_assert_cmphex(bars[4].addr, ==, 0xF0000000); /* largest first, at the hole's start */
    g_assert_cmphex(bars[2].addr, ==, 0xF4000000);
    g_assert_cmphex(bars[0].addr, ==, 0xF5000000);
    g_assert_cmphex(bars[5].addr, ==, 0xF5001000);
    g_assert_cmphex(bars[3].addr, ==, 0xC000); /* same size: bus order */
    g_assert_cmphex(bars[1].addr, ==, 0xC100);
}

static void test_place_64bit_overflow(void)
{
    /* 4 GiB of RAM with the default hole: 192 MiB of window. Two 128 MiB
     * 64-bit BARs and one 32-bit: the largest 64-bit one moves above RAM. */
    struct memmap m = map_with_hole(4 * GIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_bar_request bars[] = {
        { .devfn = 0x18, .index = 0, .kind = PCI_BAR_KIND_MEM64, .size = 128 * MIB },
        { .devfn = 0x20, .index = 0, .kind = PCI_BAR_KIND_MEM64, .size = 128 * MIB },
        { .devfn = 0x28, .index = 0, .kind = PCI_BAR_KIND_MEM32, .size = 32 * MIB },
        { .devfn = 0x30, .index = 2, .kind = PCI_BAR_KIND_MEM64, .size = 8 * GIB },
    };
    g_assert_true(pci_place_bars(&m, bars, G_N_ELEMENTS(bars), NULL));
    check_placed(&m, bars, G_N_ELEMENTS(bars));
    g_assert_cmphex(bars[3].addr, ==, 8 * GIB); /* 8 GiB aligned above RAM ending at 4.25 GiB */
    g_assert_cmphex(bars[0].addr, ==, 16 * GIB);
    g_assert_cmphex(bars[1].addr, ==, 0xF0000000); /* the smaller ones stay low */
    g_assert_cmphex(bars[2].addr, ==, 0xF8000000);
}

static void test_place_needs_hole(void)
{
    /* 24 x 128 MiB 32-bit BARs: 3 GiB, 128 MiB aligned below 0xFC000000 */
    struct pci_bar_request bars[24];
    for (unsigned int i = 0; i < 24; i++)
        bars[i] = (struct pci_bar_request){ .devfn = (uint8_t)((i + 3) << 3), .index = 0,
                                            .kind = PCI_BAR_KIND_MEM32, .size = 128 * MIB };
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    GError *error = NULL;
    g_assert_false(pci_place_bars(&m, bars, 24, &error));
    g_assert_nonnull(error);
    g_assert_cmpstr(error->message, ==,
                    "PCI BARs need 3200 MiB of MMIO hole, the hole is 256 MiB: "
                    "set mmio_hole=3200 (or more)");
    g_clear_error(&error);
    m = map_with_hole(64 * MIB, 3200 * MIB);
    g_assert_true(pci_place_bars(&m, bars, 24, NULL));
    check_placed(&m, bars, 24);
    m = map_with_hole(64 * MIB, 3199 * MIB);
    g_assert_false(pci_place_bars(&m, bars, 24, NULL));
    m = map_with_hole(64 * MIB, 3584 * MIB);
    g_assert_true(pci_place_bars(&m, bars, 24, NULL));
    check_placed(&m, bars, 24);
    /* as 64-bit BARs they fit with the default hole, above 4 GiB */
    for (unsigned int i = 0; i < 24; i++)
        bars[i].kind = PCI_BAR_KIND_MEM64;
    m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    g_assert_true(pci_place_bars(&m, bars, 24, NULL));
    check_placed(&m, bars, 24);
}

static void test_place_impossible(void)
{
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    GError *error = NULL;
    struct pci_bar_request huge[] = {
        { .devfn = 0x18, .kind = PCI_BAR_KIND_MEM32, .size = 2 * GIB },
        { .devfn = 0x20, .kind = PCI_BAR_KIND_MEM32, .size = 2 * GIB },
    };
    g_assert_false(pci_place_bars(&m, huge, 2, &error));
    g_assert_nonnull(strstr(error->message, "more than the largest MMIO hole (3840 MiB)"));
    g_clear_error(&error);
    struct pci_bar_request bad_sizes[][1] = {
        { { .kind = PCI_BAR_KIND_MEM32, .size = 0 } },
        { { .kind = PCI_BAR_KIND_MEM32, .size = 3 * MIB } },
        { { .kind = PCI_BAR_KIND_MEM32, .size = 8 } },
        { { .kind = PCI_BAR_KIND_MEM32, .size = 8 * GIB } },
        { { .kind = PCI_BAR_KIND_IO, .size = 2 } },
        { { .kind = PCI_BAR_KIND_IO, .size = 1u << 16 } },
        { { .kind = PCI_BAR_KIND_MEM64, .index = 5, .size = 4096 } },
        { { .kind = PCI_BAR_KIND_MEM32, .index = 6, .size = 4096 } },
        { { .kind = (enum pci_bar_kind)7, .size = 4096 } },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad_sizes); i++) {
        g_assert_false(pci_place_bars(&m, bad_sizes[i], 1, &error));
        g_assert_nonnull(strstr(error->message, "impossible size"));
        g_clear_error(&error);
    }
    /* 17 KiB of ports do not fit 0xC000-0xFFFF */
    struct pci_bar_request io[5];
    for (unsigned int i = 0; i < 5; i++)
        io[i] = (struct pci_bar_request){ .devfn = (uint8_t)(i << 3), .kind = PCI_BAR_KIND_IO,
                                          .size = 4096 };
    g_assert_false(pci_place_bars(&m, io, 5, &error));
    g_assert_nonnull(strstr(error->message, "I/O BARs need 20480 ports"));
    g_clear_error(&error);
    g_assert_true(pci_place_bars(&m, io, 4, NULL));
    check_placed(&m, io, 4);
    g_assert_true(pci_place_bars(&m, NULL, 0, NULL));
    /* a 64-bit BAR too large for the physical address space */
    struct pci_bar_request giant = { .kind = PCI_BAR_KIND_MEM64, .size = 1ull << 62 };
    g_assert_false(pci_place_bars(&m, &giant, 1, &error));
    g_assert_nonnull(strstr(error->message, "64-bit PCI BARs do not fit"));
    g_clear_error(&error);
}


/* ------------------------------------------------- the whole stage on a fake bus */

/* A tiny config space behind 0xCF8/0xCFC: per function 256 bytes, BAR
 * sizing masks, and write counts, enough to check what the stage does. */
struct fake_fn {
    bool present;
    uint8_t cfg[256];
    uint64_t bar_size[6]; /* 0: not implemented; for a 64-bit BAR, on the low index */
    uint8_t bar_flags[6]; /* low bits a BAR reads back (I/O bit, type, prefetch) */
    uint32_t rom_size;    /* 0: no expansion ROM */
};

struct fake_bus {
    struct fake_fn fn[256];
    uint32_t cf8;
    unsigned int accesses;
    unsigned int fail_after; /* 0: never fail */
};

static uint32_t fake_bar_read(struct fake_fn *f, unsigned int i)
{
    uint32_t raw;
    memcpy(&raw, &f->cfg[0x10 + 4 * i], 4);
    return raw;
}

static void fake_cfg_write(struct fake_fn *f, uint8_t reg, unsigned int size, uint32_t value)
{
    for (unsigned int b = 0; b < size; b++) {
        uint8_t r = (uint8_t)(reg + b);
        if (r < 0x04 || (r >= 0x08 && r < 0x10) || r == 0x3D)
            continue; /* read-only: ids, class, header type, pin */
        f->cfg[r] = (uint8_t)(value >> (8 * b));
    }
    /* BARs: only the address bits above the size stick; type bits are fixed.
     * A bridge (type 1) has two; bus numbers and windows follow them. */
    unsigned int nr_bars = (f->cfg[0x0E] & 0x7F) == 1 ? 2 : 6;
    for (unsigned int i = 0; i < nr_bars; i++) {
        uint64_t size = f->bar_size[i];
        uint32_t lo = fake_bar_read(f, i);
        if (size == 0) {
            bool upper_of_64 = i > 0 && f->bar_size[i - 1] &&
                               (f->bar_flags[i - 1] == 0x4 || f->bar_flags[i - 1] == 0xC);
            if (!upper_of_64)
                lo = 0;
            else
                lo &= (uint32_t)(~(f->bar_size[i - 1] - 1) >> 32);
        } else {
            uint32_t keep = (f->bar_flags[i] & 1) ? 3 : 0xF;
            lo = (lo & (uint32_t)~(size - 1) & ~keep) | f->bar_flags[i];
        }
        memcpy(&f->cfg[0x10 + 4 * i], &lo, 4);
    }
    /* the ROM register: address bits above the size and the enable bit */
    uint8_t rom_reg = (f->cfg[0x0E] & 0x7F) == 1 ? 0x38 : 0x30;
    uint32_t rom;
    memcpy(&rom, &f->cfg[rom_reg], 4);
    rom = f->rom_size ? rom & ((~(f->rom_size - 1) & 0xFFFFF800u) | 1) : 0;
    memcpy(&f->cfg[rom_reg], &rom, 4);
}

static uint32_t fake_rom(struct fake_fn *f)
{
    uint32_t rom;
    memcpy(&rom, &f->cfg[(f->cfg[0x0E] & 0x7F) == 1 ? 0x38 : 0x30], 4);
    return rom;
}

static bool fake_pio(void *opaque, uint16_t port, unsigned int size, bool is_read,
                     uint32_t *value, const char **why)
{
    struct fake_bus *bus = opaque;
    if (bus->fail_after && ++bus->accesses > bus->fail_after) {
        *why = "domain crashed";
        return false;
    }
    if (port == 0xCF8) {
        g_assert_cmpuint(size, ==, 4);
        g_assert_false(is_read);
        bus->cf8 = *value;
        return true;
    }
    g_assert_cmpuint(port & ~3u, ==, 0xCFC);
    g_assert_true(bus->cf8 & 0x80000000u);
    g_assert_cmpuint((bus->cf8 >> 16) & 0xFF, ==, 0); /* bus 0 only */
    struct fake_fn *f = &bus->fn[(bus->cf8 >> 8) & 0xFF];
    uint8_t reg = (uint8_t)((bus->cf8 & 0xFC) | (port & 3));
    g_assert_cmpuint((reg & 3) + size, <=, 4);
    if (!f->present) {
        if (is_read)
            *value = size == 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
        return true;
    }
    if (is_read) {
        uint32_t v = 0;
        for (unsigned int b = 0; b < size; b++)
            v |= (uint32_t)f->cfg[reg + b] << (8 * b);
        *value = v;
    } else {
        fake_cfg_write(f, reg, size, *value);
    }
    return true;
}

static struct fake_fn *fake_add(struct fake_bus *bus, uint8_t devfn, uint16_t vendor,
                                uint16_t device)
{
    struct fake_fn *f = &bus->fn[devfn];
    f->present = true;
    f->cfg[0] = (uint8_t)vendor;
    f->cfg[1] = (uint8_t)(vendor >> 8);
    f->cfg[2] = (uint8_t)device;
    f->cfg[3] = (uint8_t)(device >> 8);
    return f;
}

static void fake_bar(struct fake_fn *f, unsigned int i, uint64_t size, uint8_t flags)
{
    f->bar_size[i] = size;
    f->bar_flags[i] = flags;
    fake_cfg_write(f, 0x10, 0, 0); /* settle the read-back bits */
}

static uint64_t fake_bar_addr(struct fake_fn *f, unsigned int i)
{
    uint64_t lo = fake_bar_read(f, i);
    if (f->bar_flags[i] & 1)
        return lo & ~3ull;
    uint64_t addr = lo & ~0xFull;
    if (f->bar_flags[i] == 0x4 || f->bar_flags[i] == 0xC)
        addr |= (uint64_t)fake_bar_read(f, i + 1) << 32;
    return addr;
}

static void test_run_on_fake_bus(void)
{
    struct fake_bus *bus = g_new0(struct fake_bus, 1);
    fake_add(bus, 0x00, 0x8086, 0x1237);                       /* host bridge, no BARs */
    struct fake_fn *piix3 = fake_add(bus, 0x08, 0x8086, 0x7000);
    piix3->cfg[0x0E] = 0x80;                                   /* multi-function */
    memset(&piix3->cfg[0x60], 0x80, 4);                        /* links unrouted */
    piix3->cfg[0x61] = 9;                                      /* link B preset: kept */
    struct fake_fn *pm = fake_add(bus, 0x0B, 0x8086, 0x7113);  /* 01.3 */
    pm->cfg[0x3D] = 1;
    struct fake_fn *a = fake_add(bus, 0x18, 0x1b36, 0x0005);   /* 03.0 */
    fake_bar(a, 0, 4096, 0x0);
    fake_bar(a, 1, 256, 0x1);
    a->cfg[0x3D] = 2;                                          /* pin B: link (3+1)&3 = 0 */
    struct fake_fn *b = fake_add(bus, 0x20, 0x1234, 0x1111);   /* 04.0 */
    fake_bar(b, 0, 256 * MIB, 0xC);                            /* 64-bit prefetchable */
    fake_bar(b, 2, 64 * MIB, 0x0);
    fake_bar(b, 5, 16, 0x0);
    b->cfg[0x3D] = 1;                                          /* pin A: link 0 */
    struct fake_fn *hidden = fake_add(bus, 0x29, 0x1234, 0x2222); /* 05.1 without 05.0 */
    fake_bar(hidden, 0, 4096, 0x0);
    b->cfg[0x04] = 0x0;
    a->cfg[0x10 + 0] = 0; /* stale */

    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_setup_io io = { .pio = fake_pio, .opaque = bus };
    struct pci_setup_report report;
    GError *error = NULL;
    g_assert_true(pci_setup_run(&io, &m, &report, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(report.functions, ==, 5);
    /* 192 MiB window: 64 MiB 32-bit + 4K + 16 low, the 256 MiB 64-bit BAR high */
    g_assert_cmpuint(report.bars_high, ==, 1);
    g_assert_cmpuint(report.bars_low, ==, 3);
    g_assert_cmpuint(report.bars_io, ==, 1);
    g_assert_cmphex(fake_bar_addr(b, 0), ==, MEMMAP_4G);
    g_assert_cmphex(fake_bar_addr(b, 2), ==, 0xF0000000);
    g_assert_cmphex(fake_bar_addr(a, 0), ==, 0xF4000000);
    g_assert_cmphex(fake_bar_addr(b, 5), ==, 0xF4001000);
    g_assert_cmphex(fake_bar_addr(a, 1), ==, 0xC000);
    g_assert_cmphex(fake_bar_addr(hidden, 0), ==, 0); /* function 1 of a missing slot: unseen */
    g_assert_cmphex(a->cfg[0x04] & 7, ==, 7);
    g_assert_cmphex(b->cfg[0x04] & 7, ==, 6); /* no I/O BAR: no I/O decoding */
    g_assert_cmphex(bus->fn[0].cfg[0x04] & 7, ==, 4);
    /* links: A=5 (default), B=9 (preset kept), C=11, D=5 */
    g_assert_cmpuint(piix3->cfg[0x60], ==, 5);
    g_assert_cmpuint(piix3->cfg[0x61], ==, 9);
    g_assert_cmpuint(piix3->cfg[0x62], ==, 11);
    g_assert_cmpuint(piix3->cfg[0x63], ==, 5);
    g_assert_cmpuint(a->cfg[0x3C], ==, 5);
    g_assert_cmpuint(b->cfg[0x3C], ==, 5);
    g_assert_cmpuint(pm->cfg[0x3C], ==, 9); /* (1 + 1 - 1) & 3 = link B */
    g_assert_cmpuint(report.irq_lines, ==, 3);

    /* a domain that crashes half-way: one clear failure, nothing more */
    bus->fail_after = 40;
    bus->accesses = 0;
    g_assert_false(pci_setup_run(&io, &m, &report, &error));
    g_assert_cmpstr(error->message, ==, "config cycle failed: domain crashed");
    g_clear_error(&error);
    g_free(bus);
}

static void test_run_does_not_fit(void)
{
    struct fake_bus *bus = g_new0(struct fake_bus, 1);
    for (unsigned int slot = 3; slot < 27; slot++) {
        struct fake_fn *f = fake_add(bus, (uint8_t)(slot << 3), 0x1b36, 0x0005);
        fake_bar(f, 0, 128 * MIB, 0x0);
        f->cfg[0x10] = 0x00; /* reads back 0 until programmed */
    }
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_setup_io io = { .pio = fake_pio, .opaque = bus };
    struct pci_setup_report report;
    GError *error = NULL;
    g_assert_false(pci_setup_run(&io, &m, &report, &error));
    g_assert_cmpstr(error->message, ==,
                    "PCI BARs need 3200 MiB of MMIO hole, the hole is 256 MiB: "
                    "set mmio_hole=3200 (or more)");
    g_clear_error(&error);
    for (unsigned int slot = 3; slot < 27; slot++) {
        g_assert_cmphex(fake_bar_addr(&bus->fn[slot << 3], 0), ==, 0); /* restored */
        g_assert_cmphex(bus->fn[slot << 3].cfg[0x04], ==, 0);
    }
    m = map_with_hole(64 * MIB, 3200 * MIB);
    g_assert_true(pci_setup_run(&io, &m, &report, &error));
    g_assert_cmpuint(report.bars_low, ==, 24);
    g_free(bus);
}

/* A device whose BAR reads back garbage after all-ones (every bit, or an
 * I/O BAR wider than 16 bits) must not break placement of the others. */
static void test_run_hostile_bars(void)
{
    struct fake_bus *bus = g_new0(struct fake_bus, 1);
    struct fake_fn *f = fake_add(bus, 0x18, 0x1234, 0x5678);
    fake_bar(f, 0, 4096, 0x0);
    fake_bar(f, 5, 4096, 0x4);    /* 64-bit type in the last BAR: sized as 32-bit */
    struct fake_fn *bridge = fake_add(bus, 0x20, 0x8086, 0x0001);
    bridge->cfg[0x0E] = 0x01;     /* type 1: only BAR0/1 are BARs */
    fake_bar(bridge, 0, 4096, 0x0);
    bridge->bar_size[3] = 4096;   /* would be a bus-number register, not a BAR */
    struct fake_fn *odd = fake_add(bus, 0x28, 0x1234, 0x9999);
    fake_bar(odd, 0, 4096, 0x0);
    odd->bar_size[0] = 0x7FFFF000; /* a mask with holes: sized by its lowest bit */
    fake_bar(odd, 1, 1ull << 20, 0x1); /* 1 MiB of ports: no such I/O BAR, skipped */
    fake_bar(odd, 2, 1ull << 32, 0x0); /* no writable address bit: skipped */
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_setup_io io = { .pio = fake_pio, .opaque = bus };
    struct pci_setup_report report;
    g_assert_true(pci_setup_run(&io, &m, &report, NULL));
    g_assert_cmpuint(report.bars_low, ==, 4);
    g_assert_cmpuint(report.bars_io, ==, 0);
    g_assert_cmphex(fake_bar_addr(odd, 0) % 4096, ==, 0);
    g_free(bus);
}

/* Expansion ROMs are placed as hvmloader places them: 32-bit memory in the
 * hole, sorted with the BARs, never above 4 GiB, enable bit untouched; a
 * bridge's ROM is at 0x38 and its bus numbers are left alone. */
static void test_run_places_roms(void)
{
    struct fake_bus *bus = g_new0(struct fake_bus, 1);
    struct fake_fn *a = fake_add(bus, 0x18, 0x1b36, 0x0005);
    fake_bar(a, 0, 4096, 0x0);
    a->rom_size = 64 * 1024;
    struct fake_fn *b = fake_add(bus, 0x20, 0x1234, 0x1111);
    fake_bar(b, 0, 128 * MIB, 0xC); /* 64-bit: moves above 4 GiB when the hole is short */
    b->rom_size = 16 * MIB;
    b->cfg[0x30] = 0x01;            /* enabled before set-up: stays enabled */
    fake_cfg_write(b, 0x30, 0, 0);
    struct fake_fn *bridge = fake_add(bus, 0x28, 0x8086, 0x0001);
    bridge->cfg[0x0E] = 0x01;
    bridge->rom_size = 2048;
    bridge->cfg[0x18] = 0x00;       /* primary bus */
    bridge->cfg[0x19] = 0x01;       /* secondary bus */
    bridge->cfg[0x1A] = 0x01;       /* subordinate bus */
    bridge->cfg[0x30] = 0x12;       /* I/O base upper: not a ROM on a bridge */
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    struct pci_setup_io io = { .pio = fake_pio, .opaque = bus };
    struct pci_setup_report report;
    GError *error = NULL;
    g_assert_true(pci_setup_run(&io, &m, &report, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(report.roms, ==, 3);
    /* the 192 MiB window: 128 MiB BAR, 16 MiB ROM, 64 KiB ROM, 4 KiB, 2 KiB ROM */
    g_assert_cmphex(fake_bar_addr(b, 0), ==, 0xF0000000);
    g_assert_cmphex(fake_rom(b), ==, 0xF8000000 | 1);
    g_assert_cmphex(fake_rom(a), ==, 0xF9000000);        /* placed, not enabled */
    g_assert_cmphex(fake_bar_addr(a, 0), ==, 0xF9010000);
    g_assert_cmphex(fake_rom(bridge), ==, 0xF9011000);
    g_assert_cmphex(a->cfg[0x04] & 2, ==, 2);            /* memory decoding for the ROM */
    g_assert_cmphex(bridge->cfg[0x04] & 2, ==, 2);
    g_assert_cmpuint(bridge->cfg[0x19], ==, 1);          /* bus numbers untouched */
    g_assert_cmpuint(bridge->cfg[0x1A], ==, 1);
    g_assert_cmpuint(bridge->cfg[0x30], ==, 0x12);
    g_assert_cmpuint(report.bars_high, ==, 0);

    /* a hole too small for the ROMs moves the 64-bit BAR up, never a ROM */
    b->rom_size = 128 * MIB;
    fake_cfg_write(b, 0x30, 4, 0);
    g_assert_true(pci_setup_run(&io, &m, &report, &error));
    g_assert_cmpuint(report.bars_high, ==, 1);
    g_assert_cmphex(fake_bar_addr(b, 0), ==, MEMMAP_4G);
    g_assert_cmphex(fake_rom(b) & ~1u, ==, 0xF0000000);
    /* ROMs alone that cannot fit: the hole message counts them */
    struct fake_bus *big = g_new0(struct fake_bus, 1);
    for (unsigned int slot = 3; slot < 5; slot++)
        fake_add(big, (uint8_t)(slot << 3), 0x1234, 0x2222)->rom_size = 128 * MIB;
    struct pci_setup_io big_io = { .pio = fake_pio, .opaque = big };
    g_assert_false(pci_setup_run(&big_io, &m, &report, &error));
    g_assert_cmpstr(error->message, ==,
                    "PCI BARs need 384 MiB of MMIO hole, the hole is 256 MiB: "
                    "set mmio_hole=384 (or more)"); /* 128 MiB aligned */
    g_clear_error(&error);
    g_free(big);
    g_free(bus);
}

/* pci_place_bars refuses a ROM request that cannot be one. */
static void test_place_rom_requests(void)
{
    struct memmap m = map_with_hole(64 * MIB, MEMMAP_DEFAULT_MMIO_HOLE);
    GError *error = NULL;
    struct pci_bar_request bad[][1] = {
        { { .rom_reg = 0x30, .kind = PCI_BAR_KIND_MEM32, .size = 1024 } },
        { { .rom_reg = 0x30, .kind = PCI_BAR_KIND_MEM64, .size = 4096 } },
        { { .rom_reg = 0x34, .kind = PCI_BAR_KIND_MEM32, .size = 4096 } },
        { { .rom_reg = 0x30, .kind = PCI_BAR_KIND_IO, .size = 4096 } },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(pci_place_bars(&m, bad[i], 1, &error));
        g_assert_nonnull(strstr(error->message, "impossible size"));
        g_clear_error(&error);
    }
    struct pci_bar_request ok[] = {
        { .devfn = 0x18, .rom_reg = 0x30, .kind = PCI_BAR_KIND_MEM32, .size = 2048 },
        { .devfn = 0x18, .index = 0, .kind = PCI_BAR_KIND_MEM32, .size = 2048 },
    };
    g_assert_true(pci_place_bars(&m, ok, 2, &error));
    g_assert_cmphex(ok[1].addr, ==, 0xF0000000); /* same size: the BAR first */
    g_assert_cmphex(ok[0].addr, ==, 0xF0000800);
}

static void test_default_link_irqs(void)
{
    g_assert_cmpuint(pci_setup_default_link_irq(0), ==, 5);
    g_assert_cmpuint(pci_setup_default_link_irq(1), ==, 10);
    g_assert_cmpuint(pci_setup_default_link_irq(2), ==, 11);
    g_assert_cmpuint(pci_setup_default_link_irq(3), ==, 5);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/memmap/many-sizes", test_many_sizes);
    g_test_add_func("/memmap/default-layout", test_default_layout);
    g_test_add_func("/memmap/tiny-guest", test_tiny_guest);
    g_test_add_func("/memmap/invalid", test_invalid);
    g_test_add_func("/pci-setup/place-largest-first", test_place_largest_first);
    g_test_add_func("/pci-setup/place-64bit-overflow", test_place_64bit_overflow);
    g_test_add_func("/pci-setup/place-needs-hole", test_place_needs_hole);
    g_test_add_func("/pci-setup/place-impossible", test_place_impossible);
    g_test_add_func("/pci-setup/default-link-irqs", test_default_link_irqs);
    g_test_add_func("/pci-setup/run-on-fake-bus", test_run_on_fake_bus);
    g_test_add_func("/pci-setup/run-does-not-fit", test_run_does_not_fit);
    g_test_add_func("/pci-setup/run-hostile-bars", test_run_hostile_bars);
    g_test_add_func("/pci-setup/run-places-roms", test_run_places_roms);
    g_test_add_func("/pci-setup/place-rom-requests", test_place_rom_requests);
    return g_test_run();
}
