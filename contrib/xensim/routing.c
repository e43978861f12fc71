/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/routing.h"

#include <errno.h>
#include <string.h>

#include "contrib/xensim/layout.h"

int xsim_routing_add_server(struct xsim_routing *rt)
{
    for (unsigned int id = 0; id < XSIM_MAX_SERVERS; id++) {
        if (!rt->server[id].present) {
            memset(&rt->server[id], 0, sizeof(rt->server[id]));
            rt->server[id].present = true;
            return (int)id;
        }
    }
    return -ENOSPC;
}

void xsim_routing_remove_server(struct xsim_routing *rt, unsigned int id)
{
    if (id < XSIM_MAX_SERVERS)
        memset(&rt->server[id], 0, sizeof(rt->server[id]));
}

bool xsim_routing_has_server(const struct xsim_routing *rt, unsigned int id)
{
    return id < XSIM_MAX_SERVERS && rt->server[id].present;
}

void xsim_routing_set_enabled(struct xsim_routing *rt, unsigned int id, bool enabled)
{
    if (xsim_routing_has_server(rt, id))
        rt->server[id].enabled = enabled;
}

unsigned int xsim_routing_enabled_count(const struct xsim_routing *rt)
{
    unsigned int n = 0;
    for (unsigned int id = 0; id < XSIM_MAX_SERVERS; id++)
        n += rt->server[id].present && rt->server[id].enabled;
    return n;
}

uint64_t xsim_range_type_limit(enum hv_range_type type)
{
    switch (type) {
    case HV_RANGE_PORT:
        return 0xFFFF;
    case HV_RANGE_PCI:
        return 0xFFFFFFFFu;
    case HV_RANGE_MMIO:
    default:
        return UINT64_MAX;
    }
}

static int check_range_args(const struct xsim_routing *rt, unsigned int id, unsigned int type,
                            uint64_t start, uint64_t end)
{
    if (type >= XSIM_RANGE_TYPES || start > end || end > xsim_range_type_limit(type))
        return -EINVAL;
    if (!xsim_routing_has_server(rt, id))
        return -ENOENT;
    return 0;
}

int xsim_routing_map(struct xsim_routing *rt, unsigned int id, unsigned int type, uint64_t start,
                     uint64_t end)
{
    int err = check_range_args(rt, id, type, start, end);
    if (err)
        return err;
    struct xsim_range_set *set = &rt->server[id].set[type];
    for (unsigned int i = 0; i < set->count; i++) {
        if (start <= set->range[i].end && set->range[i].start <= end)
            return -EEXIST;
    }
    if (set->count >= XSIM_MAX_RANGES)
        return -ENOSPC;
    set->range[set->count++] = (struct xsim_range){ start, end };
    return 0;
}

int xsim_routing_unmap(struct xsim_routing *rt, unsigned int id, unsigned int type,
                       uint64_t start, uint64_t end)
{
    int err = check_range_args(rt, id, type, start, end);
    if (err)
        return err;
    struct xsim_range_set *set = &rt->server[id].set[type];
    for (unsigned int i = 0; i < set->count; i++) {
        if (set->range[i].start == start && set->range[i].end == end) {
            set->range[i] = set->range[--set->count]; /* order does not matter */
            return 0;
        }
    }
    return -ENOENT;
}

static bool set_contains(const struct xsim_range_set *set, uint64_t first, uint64_t last)
{
    for (unsigned int i = 0; i < set->count; i++) {
        if (set->range[i].start <= first && last <= set->range[i].end)
            return true;
    }
    return false;
}

int xsim_route(const struct xsim_routing *rt, enum hv_range_type type, uint64_t first,
               uint64_t last)
{
    if ((unsigned int)type >= XSIM_RANGE_TYPES || first > last)
        return -1;
    for (int id = XSIM_MAX_SERVERS - 1; id >= 0; id--) {
        const struct xsim_route_server *s = &rt->server[id];
        if (s->present && s->enabled && set_contains(&s->set[type], first, last))
            return id;
    }
    return -1;
}

bool xsim_cf8_decode(uint32_t cf8, uint32_t port, unsigned int size, uint32_t *sbdf,
                     uint64_t *ioreq_addr)
{
    if (!(cf8 & XSIM_CF8_ENABLE))
        return false;
    if (size != 1 && size != 2 && size != 4)
        return false;
    if (port < XSIM_PCI_CFC || port + size > XSIM_PCI_CFC + 4)
        return false;
    /* bus 23:16, device 15:11, function 10:8 -> seg 0 SBDF */
    uint32_t bdf = (cf8 >> 8) & 0xFFFF;
    uint64_t reg = (cf8 & 0xFC) | (port & 3);
    *sbdf = bdf;
    *ioreq_addr = ((uint64_t)bdf << 32) | reg;
    return true;
}

bool xsim_rep_span(uint64_t addr, unsigned int size, uint64_t count, bool df, uint64_t *first,
                   uint64_t *last)
{
    if (size == 0 || count == 0)
        return false;
    uint64_t extra;
    if (__builtin_mul_overflow(count - 1, (uint64_t)size, &extra))
        return false;
    if (df) {
        if (addr < extra || addr > UINT64_MAX - (size - 1))
            return false;
        *first = addr - extra;
        *last = addr + size - 1;
    } else {
        uint64_t total;
        if (__builtin_add_overflow(extra, (uint64_t)size - 1, &total) || addr > UINT64_MAX - total)
            return false;
        *first = addr;
        *last = addr + total;
    }
    return true;
}

/* Elements that fit in addr's page in the direction of travel. */
static uint64_t fit_in_page(uint64_t addr, unsigned int size, bool df)
{
    uint64_t page_off = addr & (XSIM_PAGE_SIZE - 1);
    if (page_off + size > XSIM_PAGE_SIZE)
        return 1; /* the first element crosses the page: it goes alone */
    if (df)
        return page_off / size + 1;
    return (XSIM_PAGE_SIZE - page_off) / size;
}

uint32_t xsim_rep_chunk(uint64_t addr, bool has_ptr, uint64_t ptr, unsigned int size,
                        uint32_t count, bool df)
{
    if (count <= 1 || size == 0)
        return 1;
    uint64_t n = fit_in_page(addr, size, df);
    if (has_ptr) {
        uint64_t m = fit_in_page(ptr, size, df);
        if (m < n)
            n = m;
    }
    if (n > count)
        n = count;
    return n ? (uint32_t)n : 1;
}

bool xsim_access_bufferable(uint64_t addr, unsigned int size, uint32_t count, bool data_is_ptr,
                            bool is_read)
{
    if (is_read || data_is_ptr || count != 1)
        return false;
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return false;
    return addr >= XSIM_VGA_START && addr + size - 1 <= XSIM_VGA_END;
}
