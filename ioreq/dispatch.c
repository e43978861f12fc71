/* SPDX-License-Identifier: MIT */
#include "ioreq/dispatch.h"

#include <errno.h>

#include "ioreq/log.h"

struct pci_function {
    uint32_t sbdf;
    const char *name;
    const struct pci_config_ops *ops;
    void *opaque;
};

/* Mapped regions of one type, kept sorted by base so lookups are a binary
 * search: this is on the path of every guest access. */
struct region_table {
    GPtrArray *sorted;
};

struct dispatch {
    struct hv *hv;
    uint16_t server_id;
    struct region_table tables[2]; /* HV_RANGE_PORT, HV_RANGE_MMIO */
    GHashTable *pci;               /* sbdf -> struct pci_function */
};

struct dispatch *dispatch_new(struct hv *hv, uint16_t server_id)
{
    struct dispatch *d = g_new0(struct dispatch, 1);

    d->hv = hv;
    d->server_id = server_id;
    for (unsigned int i = 0; i < G_N_ELEMENTS(d->tables); i++)
        d->tables[i].sorted = g_ptr_array_new();
    d->pci = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    return d;
}

void dispatch_free(struct dispatch *d)
{
    if (!d)
        return;
    for (unsigned int i = 0; i < G_N_ELEMENTS(d->tables); i++)
        g_ptr_array_free(d->tables[i].sorted, TRUE);
    g_hash_table_destroy(d->pci);
    g_free(d);
}

void io_region_init(struct io_region *r, const char *name, enum hv_range_type type,
                    uint64_t size, const struct io_ops *ops, void *opaque)
{
    *r = (struct io_region){
        .name = name, .type = type, .size = size, .ops = ops, .opaque = opaque,
    };
}

static struct region_table *table_for(const struct dispatch *d, enum hv_range_type type)
{
    g_assert(type == HV_RANGE_PORT || type == HV_RANGE_MMIO);
    return (struct region_table *)&d->tables[type];
}

static uint64_t region_last(const struct io_region *r)
{
    return r->base + r->size - 1;
}

/* Index of the first region whose last byte is >= addr. */
static unsigned int lower_bound(GPtrArray *sorted, uint64_t addr)
{
    unsigned int lo = 0, hi = sorted->len;

    while (lo < hi) {
        unsigned int mid = lo + (hi - lo) / 2;
        if (region_last(g_ptr_array_index(sorted, mid)) < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct io_region *dispatch_find(const struct dispatch *d, enum hv_range_type type,
                                uint64_t addr, unsigned int size)
{
    GPtrArray *sorted = table_for(d, type)->sorted;
    unsigned int i = lower_bound(sorted, addr);
    uint64_t last = addr + size - 1;

    if (size == 0 || last < addr || i >= sorted->len)
        return NULL;
    struct io_region *r = g_ptr_array_index(sorted, i);
    return (r->base <= addr && last <= region_last(r)) ? r : NULL;
}

static bool overlaps_any(GPtrArray *sorted, uint64_t base, uint64_t last)
{
    unsigned int i = lower_bound(sorted, base);

    return i < sorted->len && ((struct io_region *)g_ptr_array_index(sorted, i))->base <= last;
}

int dispatch_map_region(struct dispatch *d, struct io_region *r, uint64_t base)
{
    struct region_table *t = table_for(d, r->type);
    uint64_t last = base + r->size - 1;

    if (r->mapped && r->base == base)
        return 0;
    dispatch_unmap_region(d, r);
    if (r->size == 0 || last < base || (r->type == HV_RANGE_PORT && last > 0xffff))
        return -EINVAL;
    if (overlaps_any(t->sorted, base, last))
        return -EEXIST;
    if (d->hv) {
        int rc = d->hv->ops->map_range(d->hv, d->server_id, r->type, base, last);
        if (rc < 0)
            return rc;
    }
    r->base = base;
    r->mapped = true;
    g_ptr_array_insert(t->sorted, (int)lower_bound(t->sorted, base), r);
    return 0;
}

void dispatch_unmap_region(struct dispatch *d, struct io_region *r)
{
    if (!r->mapped)
        return;
    g_ptr_array_remove(table_for(d, r->type)->sorted, r);
    if (d->hv) {
        int rc = d->hv->ops->unmap_range(d->hv, d->server_id, r->type, r->base, region_last(r));
        if (rc < 0)
            log_warn(d->hv->domid, r->name, "unmapping 0x%" G_GINT64_MODIFIER "x failed: %s",
                     r->base, g_strerror(-rc));
    }
    r->mapped = false;
}

int dispatch_add_pci_function(struct dispatch *d, uint32_t sbdf, const char *name,
                              const struct pci_config_ops *ops, void *opaque)
{
    if (g_hash_table_contains(d->pci, GUINT_TO_POINTER(sbdf)))
        return -EEXIST;
    if (d->hv) {
        int rc = d->hv->ops->map_range(d->hv, d->server_id, HV_RANGE_PCI, sbdf, sbdf);
        if (rc < 0)
            return rc;
    }
    struct pci_function *f = g_new(struct pci_function, 1);
    *f = (struct pci_function){ .sbdf = sbdf, .name = name, .ops = ops, .opaque = opaque };
    g_hash_table_insert(d->pci, GUINT_TO_POINTER(sbdf), f);
    return 0;
}

void dispatch_remove_pci_function(struct dispatch *d, uint32_t sbdf)
{
    if (!g_hash_table_remove(d->pci, GUINT_TO_POINTER(sbdf)))
        return;
    if (d->hv)
        d->hv->ops->unmap_range(d->hv, d->server_id, HV_RANGE_PCI, sbdf, sbdf);
}

bool dispatch_has_pci_function(const struct dispatch *d, uint32_t sbdf)
{
    return g_hash_table_contains(d->pci, GUINT_TO_POINTER(sbdf));
}

bool dispatch_pci_read(const struct dispatch *d, uint32_t sbdf, uint32_t reg, unsigned int size,
                       uint32_t *value)
{
    struct pci_function *f = g_hash_table_lookup(d->pci, GUINT_TO_POINTER(sbdf));

    if (!f)
        return false;
    *value = f->ops->read(f->opaque, reg, size);
    return true;
}

bool dispatch_pci_write(const struct dispatch *d, uint32_t sbdf, uint32_t reg, uint32_t value,
                        unsigned int size)
{
    struct pci_function *f = g_hash_table_lookup(d->pci, GUINT_TO_POINTER(sbdf));

    if (!f)
        return false;
    f->ops->write(f->opaque, reg, value, size);
    return true;
}
