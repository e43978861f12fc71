/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM layout: where a domain's RAM sits in guest-physical space and
 * where its bytes sit in the single RAM memfd. On x86 the split between
 * low and high RAM comes from firmware/memmap (the map ioreqd shares), so
 * the MMIO hole is whatever the domain was given (mmio_hole=).
 */
#ifndef XENSIM_LAYOUT_H
#define XENSIM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "contrib/xensim/protocol.h"
#include "firmware/memmap.h"
#include "ioreq/hv.h"

#define XSIM_PAGE_SIZE 4096u
/* Where low RAM ends with Xen's default x86 MMIO hole (256 MiB below 4 GiB). */
#define XSIM_X86_HOLE_START (MEMMAP_4G - MEMMAP_DEFAULT_MMIO_HOLE)
#define XSIM_X86_HIGH_START MEMMAP_4G
#define XSIM_ARM_RAM_START 0x40000000ull
/* Guest-physical addresses the scripted guest may name (48-bit, as x86-64 and ARMv8). */
#define XSIM_GPA_LIMIT (1ull << 48)

struct xsim_ram_layout {
    struct xsim_ram_region region[XSIM_RAM_REGIONS];
    uint64_t total; /* bytes of the memfd */
    uint64_t hole_start, hole_end; /* a non-RAM window inside region 0 (or empty) */
    uint64_t mmio_hole; /* x86: bytes below 4 GiB left to MMIO (0 on ARM) */
};

/* Fill *layout for mem bytes of RAM (a page multiple) on arch, with Xen's
 * default MMIO hole on x86. */
bool xsim_ram_layout_compute(enum hv_arch arch, uint64_t mem, struct xsim_ram_layout *layout);
/* The same with an explicit x86 MMIO hole (256 MiB..3840 MiB; ignored on ARM). */
bool xsim_ram_layout_compute_hole(enum hv_arch arch, uint64_t mem, uint64_t mmio_hole,
                                  struct xsim_ram_layout *layout);

/* Offset in the memfd of [gpa, gpa+len) if it lies entirely in one region. */
bool xsim_ram_layout_find(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                          uint64_t *offset);

/* Bytes from gpa that are RAM (>0, *is_ram true) or not RAM (*is_ram false)
 * before the answer changes, capped at len. */
uint64_t xsim_ram_layout_run(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                             bool *is_ram);

#endif
