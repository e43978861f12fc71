/* SPDX-License-Identifier: MIT */
/*
 * MSI capability (ID 0x05): 32- or 64-bit message address, 1..32 vectors
 * (multiple-message capable/enable), optional per-vector mask and pending
 * bits. A vector fired while masked sets its pending bit and is delivered
 * when unmasked (or when MSI is enabled again); delivery goes through the
 * hypervisor's inject_msi(addr, data).
 */
#ifndef IOREQD_PCI_MSI_H
#define IOREQD_PCI_MSI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/pci.h"
#include "ioreq/log.h"

struct pci_msi {
    uint8_t cap;            /* config offset of the capability */
    unsigned int vectors;   /* capable: 1, 2, 4, 8, 16 or 32 */
    bool is64;
    bool per_vector_mask;
    unsigned int injected;  /* messages delivered, for tests and stats */
    struct ratelimit log_limit; /* guest-triggered failures */
};

/* Add the capability; vectors is rounded up to a power of two (max 32).
 * False if config space is full. */
bool pci_msi_init(struct pci_device *d, unsigned int vectors, bool is64, bool per_vector_mask);
bool pci_msi_enabled(const struct pci_device *d);
/* Vectors the guest enabled (1 << MME, capped at the capable count). */
unsigned int pci_msi_enabled_vectors(const struct pci_device *d);
/* Fire vector `vector`; false when MSI is off or the vector is not enabled
 * (nothing happens then). A masked vector becomes pending. */
bool pci_msi_notify(struct pci_device *d, unsigned int vector);
/* pci.c calls this after every config write touching the capability. */
void pci_msi_config_written(struct pci_device *d, uint32_t reg, unsigned int size);

#endif
