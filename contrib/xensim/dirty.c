/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/dirty.h"

#include <errno.h>
#include <string.h>

void xsim_dirty_init(struct xsim_dirty *t)
{
    memset(t, 0, sizeof(*t));
    g_mutex_init(&t->lock);
}

void xsim_dirty_clear(struct xsim_dirty *t)
{
    g_mutex_clear(&t->lock);
}

static void mark_pages_locked(struct xsim_dirty *t, uint64_t first_pfn, uint64_t last_pfn)
{
    uint64_t end = t->first_pfn + t->nr; /* exclusive; no overflow: checked when set */
    uint64_t from = MAX(first_pfn, t->first_pfn), to = MIN(last_pfn + 1, end);

    for (uint64_t pfn = from; pfn < to; pfn++) {
        uint64_t i = pfn - t->first_pfn;
        t->bitmap[i / 64] |= 1ull << (i % 64);
    }
}

void xsim_dirty_mark(struct xsim_dirty *t, uint64_t gpa, uint64_t len)
{
    if (!len || !g_atomic_int_get(&t->tracking))
        return; /* the common case costs one load */
    g_mutex_lock(&t->lock);
    if (t->nr)
        mark_pages_locked(t, gpa / XSIM_PAGE_SIZE, (gpa + len - 1) / XSIM_PAGE_SIZE);
    g_mutex_unlock(&t->lock);
}

/* Is every page of [first_pfn, first_pfn + nr) guest RAM? */
static bool pages_are_ram(const struct xsim_ram_layout *layout, uint64_t first_pfn, uint64_t nr)
{
    uint64_t offset;

    if (nr == 0 || first_pfn > (XSIM_GPA_LIMIT / XSIM_PAGE_SIZE) ||
        nr > (XSIM_GPA_LIMIT / XSIM_PAGE_SIZE) - first_pfn)
        return false;
    uint64_t gpa = first_pfn * XSIM_PAGE_SIZE, len = nr * XSIM_PAGE_SIZE;
    if (!xsim_ram_layout_find(layout, gpa, len, &offset))
        return false;
    /* the window inside region 0 that is not populated (x86 VGA) */
    return gpa + len <= layout->hole_start || gpa >= layout->hole_end;
}

int xsim_dirty_track_vram(struct xsim_dirty *t, const struct xsim_ram_layout *layout,
                          uint64_t first_pfn, uint64_t nr, uint64_t *bitmap_out)
{
    if (nr > XSIM_MAX_VRAM_PAGES || (nr && !pages_are_ram(layout, first_pfn, nr)))
        return -EINVAL;
    size_t words = (size_t)((nr + 63) / 64);
    g_mutex_lock(&t->lock);
    if (nr != t->nr || first_pfn != t->first_pfn) {
        /* a new window: everything in it counts as changed */
        memset(t->bitmap, 0, sizeof(t->bitmap));
        memset(t->bitmap, 0xff, words * sizeof(uint64_t));
        if (nr % 64)
            t->bitmap[words - 1] = (1ull << (nr % 64)) - 1;
        t->first_pfn = first_pfn;
        t->nr = (uint32_t)nr;
        g_atomic_int_set(&t->tracking, nr != 0);
    }
    memcpy(bitmap_out, t->bitmap, words * sizeof(uint64_t));
    memset(t->bitmap, 0, words * sizeof(uint64_t));
    g_mutex_unlock(&t->lock);
    return 0;
}

int xsim_dirty_modified(struct xsim_dirty *t, const struct xsim_ram_layout *layout,
                        const struct xsim_pfn_extent *ext, unsigned int count,
                        unsigned int *bad_index)
{
    uint64_t pages = 0;

    for (unsigned int i = 0; i < count; i++) {
        if (ext[i].reserved || !pages_are_ram(layout, ext[i].first_pfn, ext[i].nr)) {
            *bad_index = i;
            return -EINVAL;
        }
        pages += ext[i].nr;
    }
    g_mutex_lock(&t->lock);
    for (unsigned int i = 0; t->nr && i < count; i++)
        mark_pages_locked(t, ext[i].first_pfn, ext[i].first_pfn + ext[i].nr - 1);
    t->modified_pages += pages;
    t->modified_calls++;
    g_mutex_unlock(&t->lock);
    return 0;
}

uint64_t xsim_dirty_modified_pages(struct xsim_dirty *t)
{
    g_mutex_lock(&t->lock);
    uint64_t n = t->modified_pages;
    g_mutex_unlock(&t->lock);
    return n;
}
