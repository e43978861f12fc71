/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM layout: where a domain's RAM sits in guest-physical space and
 * where its bytes sit in the single RAM memfd. Kept in one place because a
 * later change makes the MMIO hole configurable and shares this with
 * ioreqd's firmware/ memory map.
 */
#ifndef XENSIM_LAYOUT_H
#define XENSIM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "contrib/xensim/protocol.h"
#include "ioreq/hv.h"

#define XSIM_PAGE_SIZE 4096u
/* Xen's default x86 MMIO hole: 256 MiB below 4 GiB. */
#define XSIM_X86_HOLE_START 0xF0000000ull
#define XSIM_X86_HIGH_START 0x100000000ull
#define XSIM_ARM_RAM_START 0x40000000ull
/* Guest-physical addresses the scripted guest may name (48-bit, as x86-64 and ARMv8). */
#define XSIM_GPA_LIMIT (1ull << 48)

struct xsim_ram_layout {
    struct xsim_ram_region region[XSIM_RAM_REGIONS];
    uint64_t total; /* bytes of the memfd */
    uint64_t hole_start, hole_end; /* a non-RAM window inside region 0 (or empty) */
};

/* Fill *layout for mem bytes of RAM (a page multiple) on arch. */
bool xsim_ram_layout_compute(enum hv_arch arch, uint64_t mem, struct xsim_ram_layout *layout);

/* Offset in the memfd of [gpa, gpa+len) if it lies entirely in one region. */
bool xsim_ram_layout_find(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                          uint64_t *offset);

/* Bytes from gpa that are RAM (>0, *is_ram true) or not RAM (*is_ram false)
 * before the answer changes, capped at len. */
uint64_t xsim_ram_layout_run(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                             bool *is_ram);

#endif
