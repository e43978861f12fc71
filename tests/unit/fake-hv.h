/* SPDX-License-Identifier: MIT */
/* A hypervisor for unit tests: guest RAM is an anonymous mapping, ranges
 * and notifications are recorded, nothing leaves the process. */
#ifndef IOREQD_FAKE_HV_H
#define IOREQD_FAKE_HV_H

#include "ioreq/hv.h"

/* guest RAM at 0..4 MiB + 2 pages: the last bucket is only partly RAM */
#define FAKE_RAM_SIZE ((4u << 20) + 8192)
#define FAKE_VCPUS 2

struct fake_range {
    enum hv_range_type type;
    uint64_t start, end;
};

struct fake_msi {
    uint64_t addr;
    uint32_t data;
};

struct fake_hv {
    struct hv hv;
    uint8_t *ram;
    shared_iopage_t *slots;
    buffered_iopage_t *buffered;
    GArray *ranges;      /* struct fake_range currently mapped */
    unsigned int notifies;
    unsigned int frames_mapped; /* outstanding map_frames pages */
    int fail_map_range;  /* errno to fail map_range with, 0 = succeed */
    /* interrupts and domain control, as devices asked for them */
    bool isa_irq_level[16];
    unsigned int isa_irq_raises[16]; /* low -> high transitions */
    uint8_t link_route[4];
    unsigned int link_route_calls;
    unsigned int shutdowns;
    unsigned int shutdown_reason;
    GArray *msis;                 /* struct fake_msi, in injection order */
    bool pci_intx_level[32][4];   /* bus 0: [device][INTA..INTD] */
    unsigned int pci_intx_calls;
    /* dirty tracking: what devices reported, what the next bitmap holds */
    uint64_t modified_pages;      /* summed over every modified_memory call */
    struct hv_pfn_range last_modified;
    uint64_t vram_first_pfn;
    uint32_t vram_nr;
    unsigned long vram_dirty[HV_DIRTY_BITMAP_LONGS(HV_MAX_VRAM_PAGES)];
};

struct fake_hv *fake_hv_new(void);
void fake_hv_free(struct fake_hv *f);
bool fake_hv_has_range(struct fake_hv *f, enum hv_range_type type, uint64_t start, uint64_t end);

#endif
