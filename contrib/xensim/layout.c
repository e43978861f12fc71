/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/layout.h"

#include <string.h>

bool xsim_ram_layout_compute(enum hv_arch arch, uint64_t mem, struct xsim_ram_layout *layout)
{
    return xsim_ram_layout_compute_hole(arch, mem, MEMMAP_DEFAULT_MMIO_HOLE, layout);
}

bool xsim_ram_layout_compute_hole(enum hv_arch arch, uint64_t mem, uint64_t mmio_hole,
                                  struct xsim_ram_layout *layout)
{
    memset(layout, 0, sizeof(*layout));
    if (mem == 0 || mem % XSIM_PAGE_SIZE)
        return false;
    if (arch == HV_ARCH_ARM) {
        layout->region[0] = (struct xsim_ram_region){ XSIM_ARM_RAM_START, mem, 0 };
    } else {
        struct memmap map;
        if (!memmap_compute(mem, mmio_hole, &map, NULL))
            return false;
        uint64_t low = map.low_ram_end;
        layout->mmio_hole = mmio_hole;
        layout->region[0] = (struct xsim_ram_region){ 0, low, 0 };
        if (low > XSIM_X86_VGA_HOLE_START) {
            layout->hole_start = XSIM_X86_VGA_HOLE_START;
            layout->hole_end = low < XSIM_X86_VGA_HOLE_END ? low : XSIM_X86_VGA_HOLE_END;
        }
        if (map.high_ram_size)
            layout->region[1] =
                (struct xsim_ram_region){ XSIM_X86_HIGH_START, map.high_ram_size, low };
    }
    layout->total = mem;
    return true;
}

static bool in_hole(const struct xsim_ram_layout *layout, uint64_t gpa)
{
    return gpa >= layout->hole_start && gpa < layout->hole_end;
}

bool xsim_ram_layout_find(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                          uint64_t *offset)
{
    if (len && gpa < layout->hole_end &&
        (gpa >= layout->hole_start || layout->hole_start - gpa < len))
        return false; /* [gpa, gpa+len) overlaps the hole */
    for (unsigned i = 0; i < XSIM_RAM_REGIONS; i++) {
        const struct xsim_ram_region *r = &layout->region[i];
        if (r->size == 0 || gpa < r->gpa)
            continue;
        uint64_t rel = gpa - r->gpa;
        if (rel < r->size && len <= r->size - rel) {
            *offset = r->offset + rel;
            return true;
        }
    }
    return false;
}

uint64_t xsim_ram_layout_run(const struct xsim_ram_layout *layout, uint64_t gpa, uint64_t len,
                             bool *is_ram)
{
    uint64_t run = len;
    *is_ram = false;
    if (in_hole(layout, gpa)) {
        uint64_t left = layout->hole_end - gpa;
        return left < len ? left : len;
    }
    for (unsigned i = 0; i < XSIM_RAM_REGIONS; i++) {
        const struct xsim_ram_region *r = &layout->region[i];
        if (r->size == 0)
            continue;
        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
            uint64_t left = r->size - (gpa - r->gpa);
            if (gpa < layout->hole_start && layout->hole_start - gpa < left)
                left = layout->hole_start - gpa;
            *is_ram = true;
            return left < len ? left : len;
        }
        /* not RAM here: stop where the next region begins */
        if (r->gpa > gpa && r->gpa - gpa < run)
            run = r->gpa - gpa;
    }
    return run;
}
