/* SPDX-License-Identifier: MIT */
/*
 * The PCI set-up stage Xen's hvmloader runs before the BIOS: enumerate bus
 * 0, size every BAR, place the BARs in the MMIO hole (largest first; 64-bit
 * BARs move above high RAM when the hole is full), enable decoding and bus
 * mastering, and program interrupt lines from the PIIX3 link routing.
 *
 * Expansion ROM BARs are sized and placed as hvmloader does: as 32-bit
 * memory BARs in the hole (never above 4 GiB), largest first among the
 * others, with memory decoding enabled but the ROM's own enable bit left as
 * it was (off after reset): whoever copies the option ROM turns it on.
 *
 * Only bus 0 is enumerated, as hvmloader does: PCI-PCI bridges are not
 * followed (ioreqd emulates none). A bridge's two BARs and its ROM (0x38)
 * are placed; its bus-number and window registers are never touched.
 *
 * It talks to the bus only through port I/O on 0xCF8/0xCFC supplied by the
 * caller, so in xensim the config cycles are routed to the ioreqd processes
 * exactly as a guest's would be. The placement is a pure function, tested
 * on its own.
 */
#ifndef FIRMWARE_PCI_SETUP_H
#define FIRMWARE_PCI_SETUP_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/memmap.h"

enum pci_bar_kind {
    PCI_BAR_KIND_IO,
    PCI_BAR_KIND_MEM32,
    PCI_BAR_KIND_MEM64,
};

struct pci_bar_request {
    uint8_t devfn;
    uint8_t index;       /* BAR register 0..5 (a 64-bit BAR also uses index + 1) */
    /* Nonzero: this is the expansion ROM BAR at that register (0x30, or 0x38
     * on a PCI-PCI bridge), kind MEM32, at least 2 KiB; index is unused. */
    uint8_t rom_reg;
    enum pci_bar_kind kind;
    bool prefetchable;
    uint64_t size;       /* a power of two */
    uint64_t addr;       /* out: where it was placed */
};

/* Place every BAR: I/O in MEMMAP_PCI_IO_START..END, memory in the hole
 * [pci_mem_start, pci_mem_end) largest first with natural alignment, and as
 * many 64-bit BARs as needed (largest first) in [pci_high_start,
 * pci_high_end). On failure *error names the MMIO hole that would do. */
bool pci_place_bars(const struct memmap *map, struct pci_bar_request *bars, size_t n,
                    GError **error);

/* One guest port access (size 1, 2 or 4); false if the access failed (the
 * domain crashed, the simulator is stopping) and *why says so. */
struct pci_setup_io {
    bool (*pio)(void *opaque, uint16_t port, unsigned int size, bool is_read, uint32_t *value,
                const char **why);
    void *opaque;
};

struct pci_setup_report {
    unsigned int functions;
    unsigned int bars_io, bars_low, bars_high; /* bars_low counts ROMs too */
    unsigned int roms;
    unsigned int irq_lines;
};

/* Run the whole stage on bus 0. false: *error is the one message to show. */
bool pci_setup_run(const struct pci_setup_io *io, const struct memmap *map,
                   struct pci_setup_report *report, GError **error);

/* PIIX3 PIRQ defaults hvmloader programs: links A-D get the PCI-capable ISA
 * IRQs (mask 0x0c20: 5, 10, 11) in turn. */
uint8_t pci_setup_default_link_irq(unsigned int link);

#endif
