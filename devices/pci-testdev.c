/* SPDX-License-Identifier: MIT */
/*
 * pci-testdev (1b36:0005): a PCI function whose only purpose is to be
 * probed and poked. BAR0 is 4 KiB of MMIO scratch registers, BAR1 256
 * bytes of port I/O scratch registers: what the guest writes reads back,
 * at any width, little-endian, so tests can verify routing, BAR moves,
 * rep and direction-flag transfers byte for byte. bar0-size= makes BAR0
 * larger (as passthrough devices' BARs are, to fill an MMIO hole); only
 * its first 4 KiB are scratch, the rest reads zero and ignores writes.
 * bar0-mem64=on makes BAR0 a 64-bit prefetchable BAR (placed above 4 GiB
 * or over high RAM by tests), moving the I/O bank to BAR3. vga-window=on
 * also decodes the legacy VGA window 0xA0000-0xBFFFF as a VGA card does,
 * independent of its BARs (a BAR may never go there), showing BAR0's
 * scratch bank, so benchmarks can drive the buffered-ring path.
 *
 * Interrupts, for tests of the PCI core: intx=on gives it INTA (off by
 * default, so the bus other tests see keeps no interrupt pin); msi=on adds an MSI
 * capability (64-bit, 4 vectors, per-vector masking), msix-vectors=N an
 * MSI-X capability with table and PBA in BAR2; romfile= an expansion ROM.
 * The dword at BAR0+0xffc is the interrupt trigger: a write of 0 or 1 sets
 * the INTx level, a write of 0x100 + N fires vector N through MSI-X when
 * enabled, else MSI when enabled (otherwise it is dropped).
 */
#include <string.h>

#include "devices/machine.h"
#include "devices/pci/msi.h"
#include "devices/pci/msix.h"

#define TESTDEV_MMIO_SIZE 4096
#define TESTDEV_PIO_SIZE 256
/* bar0-size= upper bound: a 32-bit BAR can be no larger. */
#define TESTDEV_MAX_BAR0_SIZE (2ull << 30)
/* The interrupt trigger register in BAR0 (see the top of the file). */
#define TESTDEV_IRQ_REG 0xffc
#define TESTDEV_IRQ_VECTOR_BASE 0x100
#define TESTDEV_MSI_VECTORS 4
#define TESTDEV_MSIX_BAR 2
/* The legacy VGA window a VGA card decodes (vga-window=on). */
#define TESTDEV_VGA_BASE 0xA0000
#define TESTDEV_VGA_SIZE 0x20000

struct testdev_bank {
    uint8_t bytes[TESTDEV_MMIO_SIZE];
    uint64_t size;
};

struct pci_testdev {
    struct pci_device pci;
    int devfn;
    struct testdev_bank mmio, pio;
    bool vga_window;
    struct io_region vga;        /* mapped while vga_window */
    struct dispatch *dispatch;   /* where vga is mapped (set at realize) */
};

static uint64_t bank_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct testdev_bank *bank = opaque;
    uint64_t value = 0;

    /* dispatch only hands us accesses inside the BAR */
    for (unsigned int i = 0; i < size && offset + i < bank->size; i++)
        value |= (uint64_t)bank->bytes[offset + i] << (8 * i);
    return value;
}

static void bank_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct testdev_bank *bank = opaque;

    for (unsigned int i = 0; i < size && offset + i < bank->size; i++)
        bank->bytes[offset + i] = (value >> (8 * i)) & 0xff;
}

static const struct io_ops bank_ops = {
    .read = bank_read,
    .write = bank_write,
};

static void fire(struct pci_testdev *t, uint32_t command)
{
    if (command < TESTDEV_IRQ_VECTOR_BASE) {
        pci_set_irq(&t->pci, command & 1);
        return;
    }
    unsigned int vector = command - TESTDEV_IRQ_VECTOR_BASE;
    if (pci_msix_enabled(&t->pci))
        pci_msix_notify(&t->pci, vector);
    else if (pci_msi_enabled(&t->pci))
        pci_msi_notify(&t->pci, vector);
}

static uint64_t bar0_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct pci_testdev *t = opaque;
    return bank_read(&t->mmio, offset, size);
}

static void bar0_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct pci_testdev *t = opaque;

    bank_write(&t->mmio, offset, value, size);
    /* Any write covering the whole trigger dword acts on what it now holds. */
    if (offset <= TESTDEV_IRQ_REG && offset + size >= TESTDEV_IRQ_REG + 4)
        fire(t, (uint32_t)bank_read(&t->mmio, TESTDEV_IRQ_REG, 4));
}

static const struct io_ops bar0_ops = {
    .read = bar0_read,
    .write = bar0_write,
};

static void testdev_free(struct pci_testdev *t)
{
    if (t->dispatch)
        dispatch_unmap_region(t->dispatch, &t->vga);
    pci_device_cleanup(&t->pci);
    g_free(t);
}

static void *testdev_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct pci_testdev *t = g_new0(struct pci_testdev, 1);
    const char *addr = opts_get_str(o, "addr", NULL);
    uint64_t bar0_size;

    t->devfn = -1;
    if (addr && !pci_parse_devfn(addr, &t->devfn, error)) {
        g_free(t);
        return NULL;
    }
    if (!opts_get_u64(o, "bar0-size", TESTDEV_MMIO_SIZE, &bar0_size, error)) {
        g_free(t);
        return NULL;
    }
    if (bar0_size < TESTDEV_MMIO_SIZE || bar0_size > TESTDEV_MAX_BAR0_SIZE ||
        (bar0_size & (bar0_size - 1))) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "pci-testdev: bar0-size=%" G_GUINT64_FORMAT
                    " must be a power of two from 4K to 2G", bar0_size);
        g_free(t);
        return NULL;
    }
    bool bar0_mem64;
    if (!opts_get_bool(o, "bar0-mem64", false, &bar0_mem64, error)) {
        g_free(t);
        return NULL;
    }
    t->mmio.size = TESTDEV_MMIO_SIZE;
    t->pio.size = TESTDEV_PIO_SIZE;
    pci_device_init(&t->pci, id, 0x1b36, 0x0005, 0xff0000, 0);
    /* 64-bit BAR0 takes BAR1's register too, so the I/O bank moves to BAR3
     * (BAR2 stays the MSI-X table's). */
    pci_device_set_bar(&t->pci, 0, bar0_mem64 ? PCI_BAR_MEM64 | PCI_BAR_PREFETCH : 0, bar0_size,
                       &bar0_ops, t);
    pci_device_set_bar(&t->pci, bar0_mem64 ? 3 : 1, PCI_BAR_IO, TESTDEV_PIO_SIZE, &bank_ops,
                       &t->pio);
    bool msi, intx;
    uint64_t msix_vectors;
    const char *romfile = opts_get_str(o, "romfile", NULL);
    if (!opts_get_bool(o, "vga-window", false, &t->vga_window, error) ||
        !opts_get_bool(o, "msi", false, &msi, error) ||
        !opts_get_bool(o, "intx", false, &intx, error) ||
        !opts_get_u64(o, "msix-vectors", 0, &msix_vectors, error)) {
        testdev_free(t);
        return NULL;
    }
    if (msix_vectors > PCI_MSIX_MAX_VECTORS) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "pci-testdev: msix-vectors=%" G_GUINT64_FORMAT " must be 0..%u", msix_vectors,
                    PCI_MSIX_MAX_VECTORS);
        testdev_free(t);
        return NULL;
    }
    if (intx)
        pci_device_set_intx_pin(&t->pci, 1);
    /* Both fit in config space together; a failure would be a bug here. */
    bool caps_ok = (!msi || pci_msi_init(&t->pci, TESTDEV_MSI_VECTORS, true, true)) &&
                   (!msix_vectors ||
                    pci_msix_init(&t->pci, TESTDEV_MSIX_BAR, (unsigned int)msix_vectors));
    if (!caps_ok) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "pci-testdev: no room for the interrupt capabilities");
        testdev_free(t);
        return NULL;
    }
    if (romfile && !pci_device_load_rom(&t->pci, romfile, error)) {
        testdev_free(t);
        return NULL;
    }
    return t;
}

static bool testdev_realize(void *state, struct machine *m, GError **error)
{
    struct pci_testdev *t = state;

    if (!pci_bus_attach(m->pci, &t->pci, t->devfn, error))
        return false;
    if (!t->vga_window)
        return true;
    io_region_init(&t->vga, t->pci.id, HV_RANGE_MMIO, TESTDEV_VGA_SIZE, &bank_ops, &t->mmio);
    int rc = dispatch_map_region(m->dispatch, &t->vga, TESTDEV_VGA_BASE);
    if (rc < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s: cannot claim the VGA window 0xa0000-0xbffff: %s", t->pci.id,
                    g_strerror(-rc));
        return false;
    }
    t->dispatch = m->dispatch;
    return true;
}

static void testdev_destroy(void *state)
{
    testdev_free(state);
}

const struct device_class pci_testdev_class = {
    .name = "pci-testdev",
    .description = "PCI test function 1b36:0005 (BAR0 4 KiB MMIO, BAR1 256 ports, scratch)",
    .properties = "  addr=SLOT[.FN]  PCI address on bus 0 (hex; default: first free slot)\n"
                  "  bar0-size=SIZE  BAR0 size, a power of two 4K..2G (default 4K; "
                  "only the first 4K are scratch)\n"
                  "  bar0-mem64=on   BAR0 64-bit prefetchable (the I/O bank moves to BAR3)\n"
                  "  id=NAME         device name in logs\n"
                  "  intx=on|off     interrupt pin INTA (default off: no pin)\n"
                  "  msi=on|off      MSI capability, 4 vectors, 64-bit, maskable (default off)\n"
                  "  msix-vectors=N  MSI-X capability with N vectors (0..2048, table+PBA in "
                  "BAR2; default 0)\n"
                  "  romfile=PATH    expansion ROM image (at most 16 MiB)\n"
                  "  vga-window=on   also decode 0xA0000-0xBFFFF (BAR0's scratch), as a VGA "
                  "card\n"
                  "  (BAR0+0xffc: write 0/1 = INTx level, 0x100+N = fire MSI/MSI-X vector N)\n",
    .create = testdev_create,
    .realize = testdev_realize,
    .destroy = testdev_destroy,
};
