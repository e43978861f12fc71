/* SPDX-License-Identifier: MIT */
/*
 * Dispatch: the one registration API between devices and the ioreq server.
 * A device declares port ranges, MMIO ranges and PCI functions; dispatch
 * keeps them in lookup tables and mirrors every change to the hypervisor
 * (map/unmap on the ioreq server) so the guest's accesses reach us exactly
 * for what we serve. Ranges can move at run time (a BAR reprogrammed).
 */
#ifndef IOREQD_DISPATCH_H
#define IOREQD_DISPATCH_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ioreq/hv.h"

/* offset is relative to the region's base; size is 1, 2, 4 or 8. */
struct io_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned int size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned int size);
};

/* A PCI function's config space; reg < 4096, size 1, 2 or 4. */
struct pci_config_ops {
    uint32_t (*read)(void *opaque, uint32_t reg, unsigned int size);
    void (*write)(void *opaque, uint32_t reg, uint32_t value, unsigned int size);
};

/* Owned by the device (usually embedded in its state); dispatch only links it. */
struct io_region {
    const char *name;          /* for logs: the device's id */
    enum hv_range_type type;   /* HV_RANGE_PORT or HV_RANGE_MMIO */
    uint64_t size;
    const struct io_ops *ops;
    void *opaque;
    /* managed by dispatch */
    uint64_t base;
    bool mapped;
};

struct dispatch;

/* hv/server may be NULL (unit tests): then nothing is mirrored. */
struct dispatch *dispatch_new(struct hv *hv, uint16_t server_id);
void dispatch_free(struct dispatch *d);

void io_region_init(struct io_region *r, const char *name, enum hv_range_type type,
                    uint64_t size, const struct io_ops *ops, void *opaque);

/* Map r at base (unmapping it first if it was mapped elsewhere). -EEXIST if
 * it would overlap another region of ours, -EINVAL for a range that wraps;
 * on failure the region is left unmapped. */
int dispatch_map_region(struct dispatch *d, struct io_region *r, uint64_t base);
void dispatch_unmap_region(struct dispatch *d, struct io_region *r);

int dispatch_add_pci_function(struct dispatch *d, uint32_t sbdf, const char *name,
                              const struct pci_config_ops *ops, void *opaque);
void dispatch_remove_pci_function(struct dispatch *d, uint32_t sbdf);
bool dispatch_has_pci_function(const struct dispatch *d, uint32_t sbdf);

/* Lookups for the ioreq handler: the region containing [addr, addr+size). */
struct io_region *dispatch_find(const struct dispatch *d, enum hv_range_type type,
                                uint64_t addr, unsigned int size);
bool dispatch_pci_read(const struct dispatch *d, uint32_t sbdf, uint32_t reg, unsigned int size,
                       uint32_t *value);
bool dispatch_pci_write(const struct dispatch *d, uint32_t sbdf, uint32_t reg, uint32_t value,
                        unsigned int size);

#endif
