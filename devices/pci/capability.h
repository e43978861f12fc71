/* SPDX-License-Identifier: MIT */
/*
 * Capability lists in type-0 config space: status bit 4 says a list exists,
 * 0x34 points at the first entry, each entry starts with its ID and the
 * offset of the next (0 ends the list). Capabilities are placed from 0x40
 * up, dword aligned, in the order they are added.
 */
#ifndef IOREQD_PCI_CAPABILITY_H
#define IOREQD_PCI_CAPABILITY_H

#include <stdint.h>

#include "devices/pci/pci.h"

#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_MSIX 0x11

/* Reserve `size` bytes (>= 2) for capability `id`, link it at the end of the
 * list and return its offset; 0 if config space is full. The ID and next
 * pointer are read-only; the caller fills the body and sets its wmask. */
uint8_t pci_add_capability(struct pci_device *d, uint8_t id, uint8_t size);
/* Offset of the first capability `id`, 0 if none. Walks at most 48 entries
 * so a corrupted list cannot loop. */
uint8_t pci_find_capability(const struct pci_device *d, uint8_t id);

#endif
