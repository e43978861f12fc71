/* SPDX-License-Identifier: MIT */
#include "firmware/memmap.h"

#include <inttypes.h>

static GQuark memmap_error_quark(void)
{
    return g_quark_from_static_string("memmap-error");
}

bool memmap_check_hole(uint64_t mmio_hole, GError **error)
{
    if (mmio_hole < MEMMAP_MIN_MMIO_HOLE || mmio_hole > MEMMAP_MAX_MMIO_HOLE ||
        mmio_hole % MEMMAP_PAGE_SIZE) {
        g_set_error(error, memmap_error_quark(), 0,
                    "MMIO hole of %" PRIu64 " bytes: must be 256 MiB to 3840 MiB, "
                    "4 KiB aligned (max-ram-below-4g 256M..3840M)",
                    mmio_hole);
        return false;
    }
    return true;
}

bool memmap_hole_from_max_ram_below_4g(uint64_t max_ram_below_4g, uint64_t *mmio_hole,
                                       GError **error)
{
    if (max_ram_below_4g >= MEMMAP_4G) {
        g_set_error(error, memmap_error_quark(), 0,
                    "max-ram-below-4g=%" PRIu64 " leaves no MMIO hole below 4 GiB",
                    max_ram_below_4g);
        return false;
    }
    if (!memmap_check_hole(MEMMAP_4G - max_ram_below_4g, error))
        return false;
    *mmio_hole = MEMMAP_4G - max_ram_below_4g;
    return true;
}

static void add_entry(struct memmap *map, uint64_t addr, uint64_t end, enum memmap_e820_type type)
{
    if (end <= addr)
        return;
    /* MEMMAP_E820_MAX is sized for the fixed list built below */
    g_assert(map->nr_e820 < MEMMAP_E820_MAX);
    map->e820[map->nr_e820++] = (struct memmap_e820_entry){ addr, end - addr, type };
}

bool memmap_compute(uint64_t ram_size, uint64_t mmio_hole, struct memmap *map, GError **error)
{
    *map = (struct memmap){ 0 };
    if (!memmap_check_hole(mmio_hole, error))
        return false;
    if (ram_size < MEMMAP_LOW_1M || ram_size > MEMMAP_MAX_RAM || ram_size % MEMMAP_PAGE_SIZE) {
        g_set_error(error, memmap_error_quark(), 0,
                    "RAM size %" PRIu64 ": must be 1 MiB to 16 TiB, 4 KiB aligned", ram_size);
        return false;
    }
    uint64_t max_below_4g = MEMMAP_4G - mmio_hole;
    map->ram_size = ram_size;
    map->mmio_hole = mmio_hole;
    map->low_ram_end = MIN(ram_size, max_below_4g);
    map->high_ram_size = ram_size - map->low_ram_end;
    map->pci_mem_start = max_below_4g;
    map->pci_mem_end = MEMMAP_PCI_MEM_END;
    map->pci_high_start = MEMMAP_4G + map->high_ram_size;
    map->pci_high_end = MEMMAP_PHYS_LIMIT;

    /* What hvmloader hands the guest, in address order. */
    add_entry(map, 0, MIN(map->low_ram_end, MEMMAP_EBDA_START), MEMMAP_E820_RAM);
    add_entry(map, MEMMAP_EBDA_START, MEMMAP_VGA_START, MEMMAP_E820_RESERVED);
    add_entry(map, MEMMAP_BIOS_START, MEMMAP_LOW_1M, MEMMAP_E820_RESERVED);
    add_entry(map, MEMMAP_LOW_1M, map->low_ram_end, MEMMAP_E820_RAM);
    add_entry(map, MEMMAP_RESERVED_BASE, MEMMAP_4G, MEMMAP_E820_RESERVED);
    add_entry(map, MEMMAP_4G, MEMMAP_4G + map->high_ram_size, MEMMAP_E820_RAM);
    return true;
}

bool memmap_overlaps_e820(const struct memmap *map, uint64_t addr, uint64_t size)
{
    if (size == 0)
        return false;
    uint64_t end = addr + size;
    if (end < addr)
        return true; /* wraps: overlaps everything that matters */
    for (unsigned int i = 0; i < map->nr_e820; i++) {
        const struct memmap_e820_entry *e = &map->e820[i];
        if (addr < e->addr + e->size && e->addr < end)
            return true;
    }
    return false;
}

const char *memmap_e820_type_name(enum memmap_e820_type type)
{
    switch (type) {
    case MEMMAP_E820_RAM: return "RAM";
    case MEMMAP_E820_RESERVED: return "reserved";
    }
    return "unknown";
}
