/* SPDX-License-Identifier: MIT */
/*
 * The x86 HVM guest memory map, computed in one place from the RAM size and
 * the MMIO hole so that xensim (which owns guest RAM) and ioreqd (which must
 * never put a BAR over RAM) agree on it.
 *
 * libxl passes the hole to the device model as max-ram-below-4g = 4 GiB -
 * mmio_hole. RAM fills [0, max-ram-below-4g) (minus the legacy VGA/BIOS
 * area), whatever does not fit continues at 4 GiB. The hole itself is
 * [max-ram-below-4g, 4 GiB) even when the guest has less RAM than that,
 * because hvmloader starts its PCI window at 4 GiB - mmio_hole.
 *
 * Constants below are facts of Xen's hvmloader and of the PC platform.
 */
#ifndef FIRMWARE_MEMMAP_H
#define FIRMWARE_MEMMAP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MEMMAP_MIB ((uint64_t)1 << 20)
#define MEMMAP_4G ((uint64_t)0x100000000)

/* xl.cfg mmio_hole: 256 MiB (Xen's default) to 3840 MiB. */
#define MEMMAP_DEFAULT_MMIO_HOLE (256 * MEMMAP_MIB)
#define MEMMAP_MIN_MMIO_HOLE (256 * MEMMAP_MIB)
#define MEMMAP_MAX_MMIO_HOLE (3840 * MEMMAP_MIB)
#define MEMMAP_PAGE_SIZE 4096ull
/* RAM the map accepts: far beyond any test, small enough that no sum overflows. */
#define MEMMAP_MAX_RAM (1ull << 44)

/* Low 1 MiB: hvmloader reports the page below 640 KiB (EBDA) and the BIOS
 * ROM as reserved; 0xA0000-0xBFFFF is the VGA window (MMIO), 0xC0000-0xEFFFF
 * option ROMs. None of 0x9F000-0xFFFFF is usable RAM for the guest. */
#define MEMMAP_EBDA_START 0x9F000ull
#define MEMMAP_VGA_START 0xA0000ull
#define MEMMAP_VGA_END 0xC0000ull /* exclusive */
#define MEMMAP_BIOS_START 0xF0000ull
#define MEMMAP_LOW_1M 0x100000ull

/* Top of the 4 GiB space: hvmloader stops its PCI window at PCI_MEM_END =
 * RESERVED_MEMBASE and reports [RESERVED_MEMBASE, 4 GiB) reserved, because
 * Xen's own platform devices live there: */
#define MEMMAP_PCI_MEM_END 0xFC000000ull  /* hvmloader PCI_MEM_END */
#define MEMMAP_RESERVED_BASE 0xFC000000ull /* hvmloader RESERVED_MEMBASE (ACPI info, tables) */
#define MEMMAP_IOAPIC_BASE 0xFEC00000ull
#define MEMMAP_HPET_BASE 0xFED00000ull
#define MEMMAP_LAPIC_BASE 0xFEE00000ull

/* Port space hvmloader hands to PCI I/O BARs. */
#define MEMMAP_PCI_IO_START 0xC000u
#define MEMMAP_PCI_IO_END 0x10000u /* exclusive */

/* 64-bit BARs that do not fit the hole go above high RAM, below this
 * (48 bits of guest-physical address, as x86-64 guests assume). */
#define MEMMAP_PHYS_LIMIT (1ull << 48)

enum memmap_e820_type {
    MEMMAP_E820_RAM = 1,
    MEMMAP_E820_RESERVED = 2,
};

struct memmap_e820_entry {
    uint64_t addr, size;
    enum memmap_e820_type type;
};

#define MEMMAP_E820_MAX 8

struct memmap {
    uint64_t ram_size;
    uint64_t mmio_hole;       /* bytes below 4 GiB that are not RAM */
    uint64_t low_ram_end;     /* RAM is [0, low_ram_end) minus the legacy area */
    uint64_t high_ram_size;   /* RAM at [4 GiB, 4 GiB + high_ram_size) */
    uint64_t pci_mem_start;   /* PCI window below 4 GiB: [pci_mem_start, pci_mem_end) */
    uint64_t pci_mem_end;
    uint64_t pci_high_start;  /* window for 64-bit BARs: above high RAM */
    uint64_t pci_high_end;
    unsigned int nr_e820;     /* sorted by address, never overlapping */
    struct memmap_e820_entry e820[MEMMAP_E820_MAX];
};

/* Validate an mmio_hole (256 MiB..3840 MiB, page multiple). */
bool memmap_check_hole(uint64_t mmio_hole, GError **error);
/* max-ram-below-4g -> mmio_hole, validated. */
bool memmap_hole_from_max_ram_below_4g(uint64_t max_ram_below_4g, uint64_t *mmio_hole,
                                       GError **error);

/* Compute *map for ram_size bytes (page multiple, 1 MiB..MEMMAP_MAX_RAM). */
bool memmap_compute(uint64_t ram_size, uint64_t mmio_hole, struct memmap *map, GError **error);

/* true if [addr, addr + size) overlaps RAM or a reserved E820 range. */
bool memmap_overlaps_e820(const struct memmap *map, uint64_t addr, uint64_t size);

const char *memmap_e820_type_name(enum memmap_e820_type type);

#endif
