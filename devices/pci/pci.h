/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 of this process and type-0 config space: per-byte write masks,
 * write-1-to-clear status bits, BAR sizing, and BAR decoding that follows
 * the command register. Every BAR change moves the device's ranges with
 * the hypervisor through dispatch. Only functions attached here are
 * registered: a slot no process claims reads all-ones (the hypervisor's
 * answer for unclaimed config cycles).
 */
#ifndef IOREQD_PCI_H
#define IOREQD_PCI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "firmware/memmap.h"
#include "ioreq/dispatch.h"
#include "ioreq/log.h"

#define PCI_CONFIG_SIZE 256
#define PCI_NUM_BARS 6
#define PCI_SLOTS 32
#define PCI_FUNCS 8

enum pci_bar_flags {
    PCI_BAR_IO = 1 << 0,
    PCI_BAR_MEM64 = 1 << 1,
    PCI_BAR_PREFETCH = 1 << 2,
};

struct pci_bar {
    uint64_t size; /* 0 = not implemented; a power of two otherwise */
    unsigned int flags;
    struct io_region region;
    /* The guest placed it where it must not decode (RAM, the VGA window,
     * another BAR of ours...): the value stays in config space, nothing is
     * registered. refused_at is that address, so each placement is logged
     * once; the bus retries overlaps when another BAR moves away. */
    bool refused;
    uint64_t refused_at;
};

struct pci_bus;
struct pci_msi;
struct pci_msix;

struct pci_device {
    char *id;
    struct pci_bus *bus;
    uint8_t devfn;
    bool attached;
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];
    uint8_t w1cmask[PCI_CONFIG_SIZE];
    struct pci_bar bars[PCI_NUM_BARS];
    /* Called after a config write has been applied (NULL: nothing to do),
     * so a device can act on its own registers (e.g. PIIX3 link routes). */
    void (*after_config_write)(struct pci_device *d, uint32_t reg, unsigned int size);
    /* Capability list: where the next capability goes (0 = none added yet). */
    uint8_t cap_next_free;
    /* Interrupt capabilities (capability.h, msi.h, msix.h); NULL when absent. */
    struct pci_msi *msi;
    struct pci_msix *msix;
    /* INTx: the level the device drives, and what the hypervisor was told
     * last (INTx-disable masks the first from the second). */
    bool intx_level;
    bool intx_asserted;
    struct ratelimit irq_log_limit; /* the guest can make interrupts fail often */
    struct ratelimit bar_log_limit; /* and misplace BARs as often as it likes */
    /* Expansion ROM (0x30): read-only contents, size a power of two. */
    struct pci_bar rom;
    uint8_t *rom_data;
    size_t rom_len;
};

struct pci_bus *pci_bus_new(struct dispatch *dispatch, uint32_t domid);
void pci_bus_free(struct pci_bus *bus);

/* Fill the header: ids, class (24-bit base/sub/prog-if), revision. */
void pci_device_init(struct pci_device *d, const char *id, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision);
void pci_device_cleanup(struct pci_device *d);
/* size must be a power of two (>= 4 for I/O, >= 16 for memory). A 64-bit
 * BAR also uses the next BAR index. */
void pci_device_set_bar(struct pci_device *d, unsigned int bar, unsigned int flags, uint64_t size,
                        const struct io_ops *ops, void *opaque);

/* Parse "SLOT[.FN]" (hex, as QEMU's addr=). */
bool pci_parse_devfn(const char *text, int *devfn, GError **error);
/* devfn < 0 picks the lowest free slot from 1 up (slot 0 is the host bridge). */
bool pci_bus_attach(struct pci_bus *bus, struct pci_device *d, int devfn, GError **error);
void pci_bus_detach(struct pci_device *d);

uint32_t pci_config_read(struct pci_device *d, uint32_t reg, unsigned int size);
void pci_config_write(struct pci_device *d, uint32_t reg, uint32_t value, unsigned int size);

/* The guest memory map (x86) that memory BARs and ROMs are checked
 * against; copied. ram_size_known false: the map was computed as if RAM
 * filled everything below the hole (and nothing is known above 4 GiB).
 * Until set (and on ARM) no placement is refused. A
 * memory BAR or ROM overlapping low RAM, the VGA window 0xA0000-0xBFFFF,
 * high RAM, the reserved top [MEMMAP_PCI_MEM_END, 4 GiB) or reaching past
 * MEMMAP_PHYS_LIMIT keeps its value but is not registered. */
void pci_bus_set_memmap(struct pci_bus *bus, const struct memmap *map, bool ram_size_known);
/* Why a memory window [addr, addr + size) must not decode on this bus, or
 * NULL if it may. */
const char *pci_bus_memory_conflict(const struct pci_bus *bus, uint64_t addr, uint64_t size);

/* Where a BAR's config value points and whether decoding is on: false for
 * decoding off or sizing residue (address 0, running past the decode
 * space). A true answer may still be refused (pci_bus_memory_conflict). */
bool pci_bar_address(const struct pci_device *d, unsigned int bar, uint64_t *addr);

/* The hypervisor for interrupts (machine->hv; NULL: interrupts only change
 * state). Call before devices signal anything. */
void pci_bus_set_hv(struct pci_bus *bus, struct hv *hv);
/* The hypervisor a device signals through, or NULL if detached/none. */
struct hv *pci_device_hv(const struct pci_device *d);
uint32_t pci_bus_domid(const struct pci_bus *bus);

/* INTx. pin 1..4 = INTA..INTD (0: no INTx); read-only for the guest. */
void pci_device_set_intx_pin(struct pci_device *d, uint8_t pin);
/* Drive the device's INTx line. Status bit 3 follows the level; the
 * hypervisor sees it only while the command register's INTx-disable bit is
 * clear. */
void pci_set_irq(struct pci_device *d, bool level);

/* Expansion ROM from a file, served read-only at the ROM BAR (0x30) while
 * its enable bit and memory decoding are on. Size rounded up to a power of
 * two (at least 2 KiB); files larger than PCI_ROM_MAX_SIZE are refused. */
#define PCI_ROM_MAX_SIZE (16u << 20)
bool pci_device_load_rom(struct pci_device *d, const char *path, GError **error);
/* The same from memory (copied). */
void pci_device_set_rom(struct pci_device *d, const void *data, size_t len);
/* Where the ROM's config value points with decoding on, or false (as
 * pci_bar_address). */
bool pci_rom_address(const struct pci_device *d, uint64_t *addr);

#endif
