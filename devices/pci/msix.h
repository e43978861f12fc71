/* SPDX-License-Identifier: MIT */
/*
 * MSI-X capability (ID 0x11) with its vector table and pending-bit array
 * in a memory BAR of their own. Table entries: address low/high, data,
 * vector control (bit 0 = mask; every vector starts masked). The message
 * control word holds the function mask (bit 14) and enable (bit 15). A
 * vector fired while masked (by itself or the function mask) sets its
 * pending bit and is delivered when unmasked.
 *
 * Every table/PBA access is the guest's and checked: table accesses must
 * be an aligned dword or an aligned qword, PBA accesses likewise and read
 * only. Anything else is logged (rate-limited) and reads all-ones (bad
 * size or alignment) or zero (outside the table and PBA); writes are
 * dropped.
 */
#ifndef IOREQD_PCI_MSIX_H
#define IOREQD_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/pci.h"
#include "ioreq/log.h"

#define PCI_MSIX_MAX_VECTORS 2048
#define PCI_MSIX_ENTRY_SIZE 16

struct pci_msix {
    struct pci_device *dev;
    uint8_t cap;               /* config offset of the capability */
    uint8_t bar;               /* BAR holding table and PBA */
    unsigned int vectors;      /* 1..2048 */
    uint32_t table_offset;     /* both within the BAR */
    uint32_t pba_offset;
    uint32_t *table;           /* 4 dwords per vector */
    uint64_t *pba;             /* one bit per vector */
    unsigned int injected;     /* messages delivered */
    struct ratelimit log_limit;
};

/* Add the capability and claim BAR `bar` (32-bit memory) for table + PBA:
 * table at 0, PBA on the next 4 KiB boundary. False if config space is
 * full or vectors is out of range. */
bool pci_msix_init(struct pci_device *d, unsigned int bar, unsigned int vectors);
void pci_msix_free(struct pci_device *d);
bool pci_msix_enabled(const struct pci_device *d);
/* Fire a vector; false when MSI-X is off or the vector does not exist. */
bool pci_msix_notify(struct pci_device *d, unsigned int vector);
/* pci.c calls this after every config write touching the capability. */
void pci_msix_config_written(struct pci_device *d, uint32_t reg, unsigned int size);

#endif
