/* SPDX-License-Identifier: MIT */
#include "devices/pci/msi.h"

#include "devices/pci/capability.h"
#include "ioreq/log.h"

/* Message control bits (PCI Local Bus spec 3.0, 6.8.1). */
#define CTRL_ENABLE 0x0001
#define CTRL_MMC_SHIFT 1
#define CTRL_MME_SHIFT 4
#define CTRL_MME_MASK 0x0070
#define CTRL_64BIT 0x0080
#define CTRL_PER_VECTOR_MASK 0x0100

/* Register offsets inside the capability depend on the address width. */
static unsigned int off_data(const struct pci_msi *m)
{
    return m->is64 ? 0x0c : 0x08;
}

static unsigned int off_mask(const struct pci_msi *m)
{
    return m->is64 ? 0x10 : 0x0c;
}

static unsigned int off_pending(const struct pci_msi *m)
{
    return m->is64 ? 0x14 : 0x10;
}

static uint32_t cfg32(const struct pci_device *d, unsigned int reg)
{
    return d->config[reg] | (d->config[reg + 1] << 8) | (d->config[reg + 2] << 16) |
           ((uint32_t)d->config[reg + 3] << 24);
}

static void set_cfg32(uint8_t *space, unsigned int reg, uint32_t v)
{
    for (unsigned int i = 0; i < 4; i++)
        space[reg + i] = (v >> (8 * i)) & 0xff;
}

static uint16_t control(const struct pci_device *d)
{
    return (uint16_t)(d->config[d->msi->cap + 2] | (d->config[d->msi->cap + 3] << 8));
}

bool pci_msi_init(struct pci_device *d, unsigned int vectors, bool is64, bool per_vector_mask)
{
    unsigned int log2 = 0;

    while ((1u << log2) < vectors && log2 < 5)
        log2++;
    uint8_t size = (uint8_t)((is64 ? 0x0e : 0x0a) + (per_vector_mask ? 0x0a : 0));
    uint8_t cap = pci_add_capability(d, PCI_CAP_ID_MSI, size);
    if (!cap)
        return false;
    struct pci_msi *m = g_new0(struct pci_msi, 1);
    m->cap = cap;
    m->vectors = 1u << log2;
    m->is64 = is64;
    m->per_vector_mask = per_vector_mask;
    m->log_limit = (struct ratelimit)RATELIMIT_INIT;
    d->msi = m;

    uint16_t ctrl = (uint16_t)(log2 << CTRL_MMC_SHIFT) | (is64 ? CTRL_64BIT : 0) |
                    (per_vector_mask ? CTRL_PER_VECTOR_MASK : 0);
    d->config[cap + 2] = ctrl & 0xff;
    d->config[cap + 3] = ctrl >> 8;
    /* enable and multiple-message enable are the guest's; the rest is ours */
    d->wmask[cap + 2] = CTRL_ENABLE | CTRL_MME_MASK;
    set_cfg32(d->wmask, cap + 4, 0xfffffffc); /* dword-aligned address */
    if (is64)
        set_cfg32(d->wmask, cap + 8, 0xffffffff);
    d->wmask[cap + off_data(m)] = 0xff;
    d->wmask[cap + off_data(m) + 1] = 0xff;
    if (per_vector_mask) {
        /* only the vectors that exist can be masked; pending is read-only */
        uint32_t bits = m->vectors == 32 ? 0xffffffffu : (1u << m->vectors) - 1;
        set_cfg32(d->wmask, cap + off_mask(m), bits);
    }
    return true;
}

bool pci_msi_enabled(const struct pci_device *d)
{
    return d->msi && (control(d) & CTRL_ENABLE);
}

unsigned int pci_msi_enabled_vectors(const struct pci_device *d)
{
    if (!d->msi)
        return 0;
    /* MME beyond MMC (the guest asked for more than we offer) is clamped,
     * as the spec leaves the result undefined. */
    unsigned int mme = (control(d) & CTRL_MME_MASK) >> CTRL_MME_SHIFT;
    unsigned int n = mme > 5 ? 32 : 1u << mme;
    return n < d->msi->vectors ? n : d->msi->vectors;
}

static void deliver(struct pci_device *d, unsigned int vector)
{
    struct pci_msi *m = d->msi;
    uint64_t addr = cfg32(d, m->cap + 4);
    uint32_t data = d->config[m->cap + off_data(m)] | (d->config[m->cap + off_data(m) + 1] << 8);
    unsigned int n = pci_msi_enabled_vectors(d);

    if (m->is64)
        addr |= (uint64_t)cfg32(d, m->cap + 8) << 32;
    /* With n vectors the device owns the low log2(n) bits of the data. */
    data = (data & ~(n - 1)) | vector;
    m->injected++;
    struct hv *hv = pci_device_hv(d);
    if (hv && hv->ops->inject_msi) {
        int rc = hv->ops->inject_msi(hv, addr, data);
        if (rc < 0)
            log_limited(&m->log_limit, hv->domid, d->id, "MSI 0x%" G_GINT64_MODIFIER "x/0x%x not injected: %s",
                     addr, data, g_strerror(-rc));
    }
}

bool pci_msi_notify(struct pci_device *d, unsigned int vector)
{
    struct pci_msi *m = d->msi;

    if (!pci_msi_enabled(d) || vector >= pci_msi_enabled_vectors(d))
        return false;
    if (m->per_vector_mask && (cfg32(d, m->cap + off_mask(m)) & (1u << vector))) {
        uint32_t pending = cfg32(d, m->cap + off_pending(m)) | (1u << vector);
        set_cfg32(d->config, m->cap + off_pending(m), pending);
        return true;
    }
    deliver(d, vector);
    return true;
}

void pci_msi_config_written(struct pci_device *d, uint32_t reg, unsigned int size)
{
    struct pci_msi *m = d->msi;

    if (!m || !m->per_vector_mask || reg >= m->cap + off_pending(m) + 4u || reg + size <= m->cap)
        return;
    if (!pci_msi_enabled(d))
        return; /* pending bits wait for the enable */
    /* Any unmasked pending vector (after an unmask or an enable) goes now. */
    uint32_t pending = cfg32(d, m->cap + off_pending(m));
    uint32_t mask = cfg32(d, m->cap + off_mask(m));
    unsigned int n = pci_msi_enabled_vectors(d);
    for (unsigned int v = 0; v < n; v++) {
        uint32_t bit = 1u << v;
        if ((pending & bit) && !(mask & bit)) {
            pending &= ~bit;
            set_cfg32(d->config, m->cap + off_pending(m), pending);
            deliver(d, v);
        }
    }
}
