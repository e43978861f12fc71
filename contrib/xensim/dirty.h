/* SPDX-License-Identifier: MIT */
/*
 * Dirty page tracking for one domain: the VRAM window a display model
 * polls with TRACK_DIRTY_VRAM, and the pages device models report with
 * MODIFIED_MEMORY (protocol.h). Its own lock: vCPU threads mark pages
 * while the control thread reads the bitmap.
 */
#ifndef XENSIM_DIRTY_H
#define XENSIM_DIRTY_H

#include <glib.h>
#include <stdint.h>

#include "contrib/xensim/layout.h"
#include "contrib/xensim/protocol.h"

struct xsim_dirty {
    GMutex lock;
    gint tracking;        /* nr != 0, read without the lock on the write path */
    uint64_t first_pfn;
    uint32_t nr;          /* 0: not tracking */
    uint64_t bitmap[XSIM_MAX_VRAM_PAGES / 64];
    uint64_t modified_pages; /* reported by device models, in total */
    uint64_t modified_calls;
};

void xsim_dirty_init(struct xsim_dirty *t);
void xsim_dirty_clear(struct xsim_dirty *t);
/* Bytes [gpa, gpa+len) of RAM were written. */
void xsim_dirty_mark(struct xsim_dirty *t, uint64_t gpa, uint64_t len);
/* TRACK_DIRTY_VRAM: copy out and clear the bitmap, (re)starting tracking
 * of that range; -EINVAL for a range that is not all RAM or too long. */
int xsim_dirty_track_vram(struct xsim_dirty *t, const struct xsim_ram_layout *layout,
                          uint64_t first_pfn, uint64_t nr, uint64_t *bitmap_out);
/* MODIFIED_MEMORY: all extents valid, or -EINVAL with *bad_index. */
int xsim_dirty_modified(struct xsim_dirty *t, const struct xsim_ram_layout *layout,
                        const struct xsim_pfn_extent *ext, unsigned int count,
                        unsigned int *bad_index);
uint64_t xsim_dirty_modified_pages(struct xsim_dirty *t);

#endif
