/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/mman.h>

#include "fake-hv.h"

static struct fake_hv *fake(struct hv *hv)
{
    return (struct fake_hv *)hv;
}

static int f_get_info(struct hv *hv, struct hv_domain_info *info)
{
    *info = (struct hv_domain_info){ .domid = hv->domid, .nr_vcpus = FAKE_VCPUS };
    return 0;
}

static int f_create_server(struct hv *hv, bool want_buffered, uint16_t *id)
{
    *id = 3;
    return 0;
}

static int f_map_server_pages(struct hv *hv, uint16_t id, struct hv_server_pages *pages)
{
    struct fake_hv *f = fake(hv);

    for (unsigned int v = 0; v < FAKE_VCPUS; v++)
        f->slots->vcpu_ioreq[v].vp_eport = 10 + v;
    *pages = (struct hv_server_pages){ .slots = f->slots, .buffered = f->buffered,
                                       .buffered_port = 20 };
    return 0;
}

static int f_ok(struct hv *hv, uint16_t id, bool enabled)
{
    return 0;
}

static int f_map_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                       uint64_t end)
{
    struct fake_hv *f = fake(hv);
    struct fake_range r = { type, start, end };

    if (f->fail_map_range)
        return -f->fail_map_range;
    g_array_append_val(f->ranges, r);
    return 0;
}

static int f_unmap_range(struct hv *hv, uint16_t id, enum hv_range_type type, uint64_t start,
                         uint64_t end)
{
    struct fake_hv *f = fake(hv);

    for (unsigned int i = 0; i < f->ranges->len; i++) {
        struct fake_range *r = &g_array_index(f->ranges, struct fake_range, i);
        if (r->type == type && r->start == start && r->end == end) {
            g_array_remove_index(f->ranges, i);
            return 0;
        }
    }
    return -ENOENT;
}

static int f_destroy(struct hv *hv, uint16_t id)
{
    g_array_set_size(fake(hv)->ranges, 0);
    return 0;
}

static int f_bind(struct hv *hv, uint32_t remote, hv_port_t *local)
{
    *local = (hv_port_t)remote + 100; /* local numbering differs from remote */
    return 0;
}

static int f_port_ok(struct hv *hv, hv_port_t port)
{
    return 0;
}

static int f_notify(struct hv *hv, hv_port_t port)
{
    fake(hv)->notifies++;
    return 0;
}

static void *f_map_frames(struct hv *hv, uint64_t gfn, size_t nr, bool writable, int *err)
{
    struct fake_hv *f = fake(hv);
    uint64_t start = gfn << 12, len = (uint64_t)nr << 12;

    if (start >= FAKE_RAM_SIZE || len > FAKE_RAM_SIZE - start) {
        *err = -EFAULT;
        return NULL;
    }
    f->frames_mapped += (unsigned int)nr;
    return f->ram + start;
}

static int f_unmap_frames(struct hv *hv, void *addr, size_t nr)
{
    fake(hv)->frames_mapped -= (unsigned int)nr;
    return 0;
}

static int f_set_isa_irq_level(struct hv *hv, uint8_t irq, bool level)
{
    struct fake_hv *f = fake(hv);

    if (irq >= G_N_ELEMENTS(f->isa_irq_level))
        return -EINVAL;
    if (level && !f->isa_irq_level[irq])
        f->isa_irq_raises[irq]++;
    f->isa_irq_level[irq] = level;
    return 0;
}

static int f_set_pci_link_route(struct hv *hv, uint8_t link, uint8_t isa_irq)
{
    struct fake_hv *f = fake(hv);

    /* Xen's own checks: four links, ISA IRQs 0 (no route) to 15 */
    if (link >= G_N_ELEMENTS(f->link_route) || isa_irq > 15)
        return -EINVAL;
    f->link_route[link] = isa_irq;
    f->link_route_calls++;
    return 0;
}

/* As Xen: ranges must lie in the guest's RAM (here the fake RAM). */
static int f_modified_memory(struct hv *hv, const struct hv_pfn_range *ranges, unsigned int count)
{
    struct fake_hv *f = fake(hv);
    const uint64_t ram_pages = FAKE_RAM_SIZE / 4096;

    if (!ranges || !count)
        return -EINVAL;
    for (unsigned int i = 0; i < count; i++)
        if (!ranges[i].nr || ranges[i].first_pfn >= ram_pages ||
            ranges[i].nr > ram_pages - ranges[i].first_pfn)
            return -EINVAL;
    for (unsigned int i = 0; i < count; i++)
        f->modified_pages += ranges[i].nr;
    f->last_modified = ranges[count - 1];
    return 0;
}

/* Hands out vram_dirty (what the test put there) and clears it. */
static int f_track_dirty_vram(struct hv *hv, uint64_t first_pfn, uint32_t nr,
                              unsigned long *bitmap)
{
    struct fake_hv *f = fake(hv);

    if (nr > HV_MAX_VRAM_PAGES || (nr && !bitmap))
        return -EINVAL;
    f->vram_first_pfn = first_pfn;
    f->vram_nr = nr;
    memcpy(bitmap, f->vram_dirty, HV_DIRTY_BITMAP_LONGS(nr) * sizeof(unsigned long));
    memset(f->vram_dirty, 0, sizeof(f->vram_dirty));
    return 0;
}

static int f_shutdown(struct hv *hv, unsigned int reason)
{
    fake(hv)->shutdowns++;
    fake(hv)->shutdown_reason = reason;
    return 0;
}

static int f_inject_msi(struct hv *hv, uint64_t addr, uint32_t data)
{
    struct fake_msi msi = { .addr = addr, .data = data };

    g_array_append_val(fake(hv)->msis, msi);
    return 0;
}

static int f_set_pci_intx_level(struct hv *hv, uint16_t seg, uint8_t bus, uint8_t dev,
                                uint8_t intx, bool level)
{
    struct fake_hv *f = fake(hv);

    if (seg || bus || dev >= 32 || intx >= 4)
        return -EINVAL;
    f->pci_intx_level[dev][intx] = level;
    f->pci_intx_calls++;
    return 0;
}

static const struct hv_ops fake_ops = {
    .name = "fake",
    .get_info = f_get_info,
    .create_server = f_create_server,
    .map_server_pages = f_map_server_pages,
    .set_server_state = f_ok,
    .map_range = f_map_range,
    .unmap_range = f_unmap_range,
    .destroy_server = f_destroy,
    .evtchn_bind = f_bind,
    .evtchn_unbind = f_port_ok,
    .evtchn_unmask = f_port_ok,
    .evtchn_notify = f_notify,
    .map_frames = f_map_frames,
    .unmap_frames = f_unmap_frames,
    .set_isa_irq_level = f_set_isa_irq_level,
    .set_pci_link_route = f_set_pci_link_route,
    .modified_memory = f_modified_memory,
    .track_dirty_vram = f_track_dirty_vram,
    .shutdown = f_shutdown,
    .inject_msi = f_inject_msi,
    .set_pci_intx_level = f_set_pci_intx_level,
};

struct fake_hv *fake_hv_new(void)
{
    struct fake_hv *f = g_new0(struct fake_hv, 1);

    f->hv.ops = &fake_ops;
    f->hv.domid = 7;
    f->ram = mmap(NULL, FAKE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    f->slots = g_malloc0(4096);
    f->buffered = g_malloc0(4096);
    f->ranges = g_array_new(FALSE, FALSE, sizeof(struct fake_range));
    f->msis = g_array_new(FALSE, FALSE, sizeof(struct fake_msi));
    g_assert(f->ram != MAP_FAILED);
    return f;
}

void fake_hv_free(struct fake_hv *f)
{
    munmap(f->ram, FAKE_RAM_SIZE);
    g_free(f->slots);
    g_free(f->buffered);
    g_array_free(f->ranges, TRUE);
    g_array_free(f->msis, TRUE);
    g_free(f);
}

bool fake_hv_has_range(struct fake_hv *f, enum hv_range_type type, uint64_t start, uint64_t end)
{
    for (unsigned int i = 0; i < f->ranges->len; i++) {
        struct fake_range *r = &g_array_index(f->ranges, struct fake_range, i);
        if (r->type == type && r->start == start && r->end == end)
            return true;
    }
    return false;
}
