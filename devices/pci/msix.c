/* SPDX-License-Identifier: MIT */
#include "devices/pci/msix.h"

#include "devices/pci/capability.h"

/* Message control (PCIe base spec 3.0, 7.7). */
#define CTRL_TABLE_SIZE_MASK 0x07ff
#define CTRL_FUNCTION_MASK 0x4000
#define CTRL_ENABLE 0x8000

/* Table entry dwords. */
#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 1
#define ENTRY_DATA 2
#define ENTRY_CTRL 3
#define VECTOR_MASKED 0x1u

#define PAGE 4096u

static uint16_t control(const struct pci_device *d)
{
    return (uint16_t)(d->config[d->msix->cap + 2] | (d->config[d->msix->cap + 3] << 8));
}

bool pci_msix_enabled(const struct pci_device *d)
{
    return d->msix && (control(d) & CTRL_ENABLE);
}

static bool function_masked(const struct pci_device *d)
{
    return control(d) & CTRL_FUNCTION_MASK;
}

static bool pending(const struct pci_msix *x, unsigned int v)
{
    return x->pba[v / 64] & (1ull << (v % 64));
}

static void set_pending(struct pci_msix *x, unsigned int v, bool on)
{
    if (on)
        x->pba[v / 64] |= 1ull << (v % 64);
    else
        x->pba[v / 64] &= ~(1ull << (v % 64));
}

static void deliver(struct pci_msix *x, unsigned int v)
{
    const uint32_t *e = &x->table[v * 4];
    uint64_t addr = e[ENTRY_ADDR_LO] | (uint64_t)e[ENTRY_ADDR_HI] << 32;
    struct hv *hv = pci_device_hv(x->dev);

    x->injected++;
    if (!hv || !hv->ops->inject_msi)
        return;
    int rc = hv->ops->inject_msi(hv, addr, e[ENTRY_DATA]);
    if (rc < 0)
        log_limited(&x->log_limit, hv->domid, x->dev->id,
                    "MSI-X vector %u (0x%" G_GINT64_MODIFIER "x/0x%x) not injected: %s", v, addr,
                    e[ENTRY_DATA], g_strerror(-rc));
}

static bool vector_masked(const struct pci_msix *x, unsigned int v)
{
    return function_masked(x->dev) || (x->table[v * 4 + ENTRY_CTRL] & VECTOR_MASKED);
}

/* Deliver what is pending and no longer masked (after an unmask, a
 * function unmask or an enable). */
static void flush_pending(struct pci_msix *x, unsigned int first, unsigned int count)
{
    if (!pci_msix_enabled(x->dev) || function_masked(x->dev))
        return;
    for (unsigned int v = first; v < first + count; v++) {
        if (pending(x, v) && !vector_masked(x, v)) {
            set_pending(x, v, false);
            deliver(x, v);
        }
    }
}

bool pci_msix_notify(struct pci_device *d, unsigned int vector)
{
    struct pci_msix *x = d->msix;

    if (!pci_msix_enabled(d) || vector >= x->vectors)
        return false;
    if (vector_masked(x, vector))
        set_pending(x, vector, true);
    else
        deliver(x, vector);
    return true;
}

void pci_msix_config_written(struct pci_device *d, uint32_t reg, unsigned int size)
{
    struct pci_msix *x = d->msix;

    if (x && reg < x->cap + 4u && reg + size > x->cap + 2u)
        flush_pending(x, 0, x->vectors);
}

static void bad_access(struct pci_msix *x, const char *what, uint64_t offset, unsigned int size)
{
    struct hv *hv = pci_device_hv(x->dev);
    log_limited(&x->log_limit, hv ? hv->domid : 0, x->dev->id,
                "MSI-X %s at BAR%u+0x%" G_GINT64_MODIFIER "x size %u ignored", what, x->bar,
                offset, size);
}

static uint64_t all_ones(unsigned int size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
}

/* [offset, offset+size) inside [start, end), written so offsets near
 * UINT64_MAX cannot wrap around into range. */
static bool within(uint64_t offset, unsigned int size, uint64_t start, uint64_t end)
{
    return offset >= start && offset < end && size <= end - offset;
}

static bool in_table(const struct pci_msix *x, uint64_t offset, unsigned int size)
{
    return within(offset, size, x->table_offset,
                  x->table_offset + (uint64_t)x->vectors * PCI_MSIX_ENTRY_SIZE);
}

static bool in_pba(const struct pci_msix *x, uint64_t offset, unsigned int size)
{
    return within(offset, size, x->pba_offset,
                  x->pba_offset + (uint64_t)((x->vectors + 63) / 64) * 8);
}

/* Only aligned dwords and aligned qwords are defined for table and PBA. */
static bool well_formed(uint64_t offset, unsigned int size)
{
    return (size == 4 || size == 8) && (offset % size) == 0;
}

static uint64_t msix_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct pci_msix *x = opaque;
    bool table = in_table(x, offset, size), pba = in_pba(x, offset, size);

    if (!table && !pba) {
        bad_access(x, "read outside table and PBA", offset, size);
        return 0;
    }
    if (!well_formed(offset, size)) {
        bad_access(x, "read of unsupported size/alignment", offset, size);
        return all_ones(size);
    }
    if (pba) {
        uint64_t rel = offset - x->pba_offset;
        uint64_t word = x->pba[rel / 8];
        return size == 8 ? word : (word >> (8 * (rel % 8))) & 0xffffffffu;
    }
    uint64_t index = (offset - x->table_offset) / 4;
    uint64_t value = x->table[index];
    if (size == 8)
        value |= (uint64_t)x->table[index + 1] << 32;
    return value;
}

static void write_table_dword(struct pci_msix *x, uint64_t index, uint32_t value)
{
    unsigned int vector = (unsigned int)(index / 4);

    switch (index % 4) {
    case ENTRY_ADDR_LO:
        value &= ~0x3u; /* messages are dword-aligned writes */
        break;
    case ENTRY_CTRL:
        value &= VECTOR_MASKED; /* the other bits are reserved, read zero */
        break;
    default:
        break;
    }
    x->table[index] = value;
    if (index % 4 == ENTRY_CTRL && !(value & VECTOR_MASKED))
        flush_pending(x, vector, 1);
}

static void msix_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct pci_msix *x = opaque;

    if (in_pba(x, offset, size)) {
        bad_access(x, "write to read-only PBA", offset, size);
        return;
    }
    if (!in_table(x, offset, size)) {
        bad_access(x, "write outside table", offset, size);
        return;
    }
    if (!well_formed(offset, size)) {
        bad_access(x, "write of unsupported size/alignment", offset, size);
        return;
    }
    uint64_t index = (offset - x->table_offset) / 4;
    write_table_dword(x, index, (uint32_t)value);
    if (size == 8)
        write_table_dword(x, index + 1, (uint32_t)(value >> 32));
}

static const struct io_ops msix_ops = {
    .read = msix_read,
    .write = msix_write,
};

static uint32_t round_up(uint32_t v, uint32_t to)
{
    return (v + to - 1) / to * to;
}

bool pci_msix_init(struct pci_device *d, unsigned int bar, unsigned int vectors)
{
    if (vectors < 1 || vectors > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS)
        return false;
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_MSIX, 12);
    if (!cap)
        return false;
    struct pci_msix *x = g_new0(struct pci_msix, 1);
    x->dev = d;
    x->cap = cap;
    x->bar = (uint8_t)bar;
    x->vectors = vectors;
    x->table_offset = 0;
    x->pba_offset = round_up(vectors * PCI_MSIX_ENTRY_SIZE, PAGE);
    x->table = g_new0(uint32_t, (size_t)vectors * 4);
    x->pba = g_new0(uint64_t, (vectors + 63) / 64);
    x->log_limit = (struct ratelimit)RATELIMIT_INIT;
    for (unsigned int v = 0; v < vectors; v++)
        x->table[v * 4 + ENTRY_CTRL] = VECTOR_MASKED; /* reset state: masked */
    d->msix = x;

    uint32_t bar_size = PAGE;
    while (bar_size < x->pba_offset + PAGE)
        bar_size <<= 1;
    pci_device_set_bar(d, bar, 0, bar_size, &msix_ops, x);

    uint16_t ctrl = (uint16_t)(vectors - 1);
    d->config[cap + 2] = ctrl & 0xff;
    d->config[cap + 3] = ctrl >> 8;
    d->wmask[cap + 3] = (CTRL_FUNCTION_MASK | CTRL_ENABLE) >> 8;
    uint32_t table_reg = x->table_offset | bar, pba_reg = x->pba_offset | bar;
    for (unsigned int i = 0; i < 4; i++) {
        d->config[cap + 4 + i] = (table_reg >> (8 * i)) & 0xff;
        d->config[cap + 8 + i] = (pba_reg >> (8 * i)) & 0xff;
    }
    return true;
}

void pci_msix_free(struct pci_device *d)
{
    if (!d->msix)
        return;
    g_free(d->msix->table);
    g_free(d->msix->pba);
    g_clear_pointer(&d->msix, g_free);
}
