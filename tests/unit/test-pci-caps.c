/* SPDX-License-Identifier: MIT */
/* PCI capabilities and interrupts: the capability list, MSI and MSI-X
 * delivery with masking and pending bits, every malformed MSI-X table/PBA
 * access, INTx with the command register's disable bit, and the
 * expansion ROM BAR. Interrupts are observed on the fake hypervisor. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "devices/pci/capability.h"
#include "devices/pci/msi.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "fake-hv.h"

#define SLOT 3
#define MSIX_VECTORS 70 /* more than one PBA qword */
#define MSIX_BAR 2

static uint64_t zero_read(void *o, uint64_t off, unsigned int size)
{
    return 0;
}

static void ignore_write(void *o, uint64_t off, uint64_t v, unsigned int size)
{
}

static const struct io_ops nop_ops = { zero_read, ignore_write };

struct fixture {
    struct fake_hv *f;
    struct dispatch *d;
    struct pci_bus *bus;
    struct pci_device dev;
};

static void setup(struct fixture *fx, gconstpointer data)
{
    GError *err = NULL;

    fx->f = fake_hv_new();
    fx->d = dispatch_new(&fx->f->hv, 0);
    fx->bus = pci_bus_new(fx->d, 7);
    pci_bus_set_hv(fx->bus, &fx->f->hv);
    pci_device_init(&fx->dev, "dut", 0x1b36, 0x0005, 0xff0000, 0);
    pci_device_set_bar(&fx->dev, 0, 0, 4096, &nop_ops, NULL);
    pci_device_set_intx_pin(&fx->dev, 2); /* INTB */
    g_assert_true(pci_msi_init(&fx->dev, 4, true, true));
    g_assert_true(pci_msix_init(&fx->dev, MSIX_BAR, MSIX_VECTORS));
    g_assert_true(pci_bus_attach(fx->bus, &fx->dev, SLOT << 3, &err));
    g_assert_no_error(err);
}

static void teardown(struct fixture *fx, gconstpointer data)
{
    pci_device_cleanup(&fx->dev);
    g_assert_cmpuint(fx->f->ranges->len, ==, 0);
    pci_bus_free(fx->bus);
    dispatch_free(fx->d);
    fake_hv_free(fx->f);
}

static unsigned int msi_count(struct fixture *fx)
{
    return fx->f->msis->len;
}

static struct fake_msi last_msi(struct fixture *fx)
{
    g_assert_cmpuint(fx->f->msis->len, >, 0);
    return g_array_index(fx->f->msis, struct fake_msi, fx->f->msis->len - 1);
}

/* ---- capability list ---- */

static void test_cap_chain(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x10, ==, 0x10);
    /* walk it the way a guest does */
    uint8_t ids[8], n = 0;
    for (uint8_t pos = pci_config_read(d, 0x34, 1); pos && n < 8; pos = pci_config_read(d, pos + 1, 1))
        ids[n++] = pci_config_read(d, pos, 1);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmphex(ids[0], ==, PCI_CAP_ID_MSI);
    g_assert_cmphex(ids[1], ==, PCI_CAP_ID_MSIX);
    g_assert_cmphex(pci_find_capability(d, PCI_CAP_ID_MSI), ==, 0x40);
    g_assert_cmphex(pci_find_capability(d, PCI_CAP_ID_MSIX), ==, 0x40 + 0x18);
    g_assert_cmphex(pci_find_capability(d, 0x09), ==, 0);
    /* pointer, IDs and links are read-only */
    pci_config_write(d, 0x34, 0x80, 1);
    pci_config_write(d, 0x40, 0xffff, 2);
    g_assert_cmphex(pci_config_read(d, 0x34, 1), ==, 0x40);
    g_assert_cmphex(pci_config_read(d, 0x40, 2), ==, 0x5805);
    /* the status bit is not W1C-able or writable */
    pci_config_write(d, 0x06, 0xffff, 2);
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x10, ==, 0x10);
}

static void test_cap_fill_and_loop(void)
{
    struct pci_device d;
    unsigned int added = 0;

    pci_device_init(&d, "caps", 1, 2, 0, 0);
    g_assert_cmphex(pci_find_capability(&d, 0x09), ==, 0); /* no list at all */
    g_assert_cmphex(pci_config_read(&d, 0x06, 2) & 0x10, ==, 0);
    uint8_t pos;
    while ((pos = pci_add_capability(&d, 0x09, 8)) != 0) {
        g_assert_cmphex(pos % 4, ==, 0);
        g_assert_cmpuint(pos + 8u, <=, 256);
        added++;
    }
    g_assert_cmpuint(added, ==, (256 - 0x40) / 8);
    g_assert_cmphex(pci_add_capability(&d, 0x09, 2), ==, 0); /* full stays full */
    g_assert_cmphex(pci_add_capability(&d, 0x09, 1), ==, 0);
    /* a list that loops (as a buggy device could have) still terminates */
    d.config[0x41] = 0x40;
    g_assert_cmphex(pci_find_capability(&d, 0x10), ==, 0);
    pci_device_cleanup(&d);
}

/* ---- MSI ---- */

#define MSI 0x40
static void msi_program(struct fixture *fx, unsigned int mme)
{
    struct pci_device *d = &fx->dev;
    pci_config_write(d, MSI + 4, 0xfee01003, 4); /* low bits must read 0 */
    pci_config_write(d, MSI + 8, 0x1, 4);
    pci_config_write(d, MSI + 0x0c, 0x4060, 2);
    pci_config_write(d, MSI + 2, (mme << 4) | 1, 2);
}

static void test_msi_layout(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    /* 4 vectors capable (MMC=2), 64-bit, per-vector masking */
    g_assert_cmphex(pci_config_read(d, MSI + 2, 2), ==, 0x0184);
    pci_config_write(d, MSI + 2, 0xffff, 2);
    g_assert_cmphex(pci_config_read(d, MSI + 2, 2), ==, 0x01f5);
    pci_config_write(d, MSI + 4, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, MSI + 4, 4), ==, 0xfffffffc);
    pci_config_write(d, MSI + 0x0c, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, MSI + 0x0c, 4), ==, 0x0000ffff);
    /* mask bits only for the 4 vectors, pending read-only */
    pci_config_write(d, MSI + 0x10, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, MSI + 0x10, 4), ==, 0xf);
    pci_config_write(d, MSI + 0x14, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, MSI + 0x14, 4), ==, 0);
    /* MME above the capable count is clamped */
    g_assert_cmpuint(pci_msi_enabled_vectors(d), ==, 4);
}

static void test_msi_delivery(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    g_assert_false(pci_msi_notify(d, 0)); /* disabled: nothing */
    g_assert_cmpuint(msi_count(fx), ==, 0);
    msi_program(fx, 2); /* 4 vectors */
    g_assert_true(pci_msi_enabled(d));
    g_assert_true(pci_msi_notify(d, 3));
    g_assert_cmpuint(msi_count(fx), ==, 1);
    g_assert_cmphex(last_msi(fx).addr, ==, 0x1fee01000ull);
    g_assert_cmphex(last_msi(fx).data, ==, 0x4063); /* vector in the low bits */
    g_assert_false(pci_msi_notify(d, 4));          /* beyond the enabled count */
    /* one vector enabled: vector 1 does not exist for the guest */
    pci_config_write(d, MSI + 2, 1, 2);
    g_assert_false(pci_msi_notify(d, 1));
    g_assert_true(pci_msi_notify(d, 0));
    g_assert_cmphex(last_msi(fx).data, ==, 0x4060);
    g_assert_cmpuint(msi_count(fx), ==, 2);
}

static void test_msi_mask_pending(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    msi_program(fx, 2);
    pci_config_write(d, MSI + 0x10, 0x5, 4); /* mask vectors 0 and 2 */
    g_assert_true(pci_msi_notify(d, 2));
    g_assert_true(pci_msi_notify(d, 0));
    g_assert_cmpuint(msi_count(fx), ==, 0);
    g_assert_cmphex(pci_config_read(d, MSI + 0x14, 4), ==, 0x5);
    /* unmask 2 only: it is delivered and its pending bit clears */
    pci_config_write(d, MSI + 0x10, 0x1, 4);
    g_assert_cmpuint(msi_count(fx), ==, 1);
    g_assert_cmphex(last_msi(fx).data, ==, 0x4062);
    g_assert_cmphex(pci_config_read(d, MSI + 0x14, 4), ==, 0x1);
    /* disabled: unmasking delivers nothing, the bit waits for the enable */
    pci_config_write(d, MSI + 2, 0x20, 2);
    pci_config_write(d, MSI + 0x10, 0, 4);
    g_assert_cmpuint(msi_count(fx), ==, 1);
    g_assert_cmphex(pci_config_read(d, MSI + 0x14, 4), ==, 0x1);
    pci_config_write(d, MSI + 2, 0x21, 2);
    g_assert_cmpuint(msi_count(fx), ==, 2);
    g_assert_cmphex(last_msi(fx).data, ==, 0x4060);
    g_assert_cmphex(pci_config_read(d, MSI + 0x14, 4), ==, 0);
}

static void test_msi_32bit_single(void)
{
    struct fake_hv *f = fake_hv_new();
    struct dispatch *dp = dispatch_new(&f->hv, 0);
    struct pci_bus *bus = pci_bus_new(dp, 7);
    struct pci_device d;

    pci_bus_set_hv(bus, &f->hv);
    pci_device_init(&d, "msi32", 1, 2, 0, 0);
    g_assert_true(pci_msi_init(&d, 1, false, false));
    g_assert_true(pci_bus_attach(bus, &d, 5 << 3, NULL));
    /* 32-bit, 1 vector, no masking: 10 bytes, data right after the address */
    g_assert_cmphex(pci_config_read(&d, MSI + 2, 2), ==, 0x0000);
    pci_config_write(&d, MSI + 2, 0xffff, 2);
    g_assert_cmphex(pci_config_read(&d, MSI + 2, 2), ==, 0x0071); /* MME writable, clamped */
    g_assert_cmpuint(pci_msi_enabled_vectors(&d), ==, 1);
    pci_config_write(&d, MSI + 4, 0xfee00000, 4);
    pci_config_write(&d, MSI + 8, 0x4021, 2);
    g_assert_true(pci_msi_notify(&d, 0));
    g_assert_false(pci_msi_notify(&d, 1));
    g_assert_cmpuint(f->msis->len, ==, 1);
    g_assert_cmphex(g_array_index(f->msis, struct fake_msi, 0).addr, ==, 0xfee00000);
    g_assert_cmphex(g_array_index(f->msis, struct fake_msi, 0).data, ==, 0x4021);
    pci_device_cleanup(&d);
    pci_bus_free(bus);
    dispatch_free(dp);
    fake_hv_free(f);
}

/* ---- MSI-X ---- */

static void test_msix_limits(void)
{
    struct pci_device d;

    pci_device_init(&d, "big", 1, 2, 0, 0);
    g_assert_false(pci_msix_init(&d, 2, 0));
    g_assert_false(pci_msix_init(&d, 2, PCI_MSIX_MAX_VECTORS + 1));
    g_assert_false(pci_msix_init(&d, PCI_NUM_BARS, 8));
    g_assert_true(pci_msix_init(&d, 2, PCI_MSIX_MAX_VECTORS));
    g_assert_cmphex(pci_config_read(&d, 0x42, 2), ==, 0x7ff);
    g_assert_cmphex(pci_config_read(&d, 0x48, 4), ==, 0x8000 | 2); /* PBA after 32 KiB of table */
    g_assert_cmpuint(d.bars[2].size, ==, 65536);
    const struct io_ops *ops = d.bars[2].region.ops;
    g_assert_cmphex(ops->read(d.msix, 2047 * 16 + 12, 4), ==, 1);
    g_assert_cmphex(ops->read(d.msix, 0x8000 + 255 * 8, 8), ==, 0);
    pci_device_cleanup(&d);
}

#define MSIX 0x58
#define PBA_OFFSET 4096u

static const struct io_ops *msix_ops(struct fixture *fx)
{
    return fx->dev.bars[MSIX_BAR].region.ops;
}

static uint64_t mread(struct fixture *fx, uint64_t off, unsigned int size)
{
    return msix_ops(fx)->read(fx->dev.msix, off, size);
}

static void mwrite(struct fixture *fx, uint64_t off, uint64_t v, unsigned int size)
{
    msix_ops(fx)->write(fx->dev.msix, off, v, size);
}

static void msix_entry(struct fixture *fx, unsigned int v, uint64_t addr, uint32_t data, bool masked)
{
    mwrite(fx, v * 16, addr, 8); /* low and high as one qword */
    mwrite(fx, v * 16 + 8, data, 4);
    mwrite(fx, v * 16 + 12, masked, 4);
}

static void test_msix_layout(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    g_assert_cmphex(pci_config_read(d, MSIX + 2, 2), ==, MSIX_VECTORS - 1);
    g_assert_cmphex(pci_config_read(d, MSIX + 4, 4), ==, MSIX_BAR);
    g_assert_cmphex(pci_config_read(d, MSIX + 8, 4), ==, PBA_OFFSET | MSIX_BAR);
    pci_config_write(d, MSIX + 2, 0xffff, 2);
    g_assert_cmphex(pci_config_read(d, MSIX + 2, 2), ==, 0xc000 | (MSIX_VECTORS - 1));
    pci_config_write(d, MSIX + 4, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, MSIX + 4, 4), ==, MSIX_BAR);
    /* BAR2 holds both: 8 KiB, sized like any BAR */
    g_assert_cmpuint(d->bars[MSIX_BAR].size, ==, 8192);
    pci_config_write(d, 0x18, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, 0x18, 4), ==, 0xffffe000);
    /* every vector starts masked, addresses and data zero */
    for (unsigned int v = 0; v < MSIX_VECTORS; v++) {
        g_assert_cmphex(mread(fx, v * 16 + 12, 4), ==, 1);
        g_assert_cmphex(mread(fx, v * 16, 8), ==, 0);
    }
    /* programming: dwords and qwords, reserved bits stay zero */
    mwrite(fx, 16, 0xfee00007, 4);
    mwrite(fx, 20, 0x12, 4);
    mwrite(fx, 24, 0x41, 4);
    mwrite(fx, 28, 0xfffffffe, 4);
    g_assert_cmphex(mread(fx, 16, 8), ==, 0x12fee00004ull);
    g_assert_cmphex(mread(fx, 24, 4), ==, 0x41);
    g_assert_cmphex(mread(fx, 28, 4), ==, 0);
    mwrite(fx, 24, 0x00000001000000aaull, 8);
    g_assert_cmphex(mread(fx, 24, 8), ==, 0x00000001000000aaull);
}

static void test_msix_through_dispatch(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    pci_config_write(d, 0x18, 0xe0000000, 4);
    pci_config_write(d, 0x04, 0x2, 2);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xe0000000, 0xe0001fff));
    struct io_region *r = dispatch_find(fx->d, HV_RANGE_MMIO, 0xe0000000 + 5 * 16, 4);
    g_assert_nonnull(r);
    r->ops->write(r->opaque, 5 * 16 + 8, 0x77, 4);
    g_assert_cmphex(mread(fx, 5 * 16 + 8, 4), ==, 0x77);
}

static void test_msix_delivery(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    msix_entry(fx, 1, 0xfee00000, 0x31, false);
    msix_entry(fx, 65, 0x1fee01000ull, 0x32, false);
    g_assert_false(pci_msix_notify(d, 1)); /* not enabled */
    pci_config_write(d, MSIX + 2, 0x8000, 2);
    g_assert_true(pci_msix_enabled(d));
    g_assert_true(pci_msix_notify(d, 1));
    g_assert_cmpuint(msi_count(fx), ==, 1);
    g_assert_cmphex(last_msi(fx).addr, ==, 0xfee00000);
    g_assert_cmphex(last_msi(fx).data, ==, 0x31);
    g_assert_true(pci_msix_notify(d, 65));
    g_assert_cmphex(last_msi(fx).addr, ==, 0x1fee01000ull);
    g_assert_false(pci_msix_notify(d, MSIX_VECTORS));
    /* a vector still masked from reset becomes pending */
    g_assert_true(pci_msix_notify(d, 2));
    g_assert_cmpuint(msi_count(fx), ==, 2);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 8), ==, 0x4);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 4), ==, 0x4);
    mwrite(fx, 2 * 16 + 8, 0x33, 4);
    mwrite(fx, 2 * 16 + 12, 0, 4); /* unmask: delivered, pending clears */
    g_assert_cmpuint(msi_count(fx), ==, 3);
    g_assert_cmphex(last_msi(fx).data, ==, 0x33);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 8), ==, 0);
}

static void test_msix_function_mask(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;

    msix_entry(fx, 0, 0xfee00000, 0x40, false);
    msix_entry(fx, 66, 0xfee00000, 0x42, false);
    pci_config_write(d, MSIX + 2, 0xc000, 2); /* enabled, function masked */
    g_assert_true(pci_msix_notify(d, 0));
    g_assert_true(pci_msix_notify(d, 66));
    g_assert_cmpuint(msi_count(fx), ==, 0);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 8), ==, 0x1);
    g_assert_cmphex(mread(fx, PBA_OFFSET + 8, 8), ==, 0x4);
    g_assert_cmphex(mread(fx, PBA_OFFSET + 8, 4), ==, 0x4);
    g_assert_cmphex(mread(fx, PBA_OFFSET + 12, 4), ==, 0);
    /* a per-vector unmask under the function mask delivers nothing */
    mwrite(fx, 12, 0, 4);
    g_assert_cmpuint(msi_count(fx), ==, 0);
    /* dropping the function mask delivers both, in vector order */
    pci_config_write(d, MSIX + 3, 0x80, 1);
    g_assert_cmpuint(msi_count(fx), ==, 2);
    g_assert_cmphex(g_array_index(fx->f->msis, struct fake_msi, 0).data, ==, 0x40);
    g_assert_cmphex(g_array_index(fx->f->msis, struct fake_msi, 1).data, ==, 0x42);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 8) | mread(fx, PBA_OFFSET + 8, 8), ==, 0);
    /* disabling MSI-X: pending waits for the enable */
    pci_config_write(d, MSIX + 2, 0x0000, 2);
    mwrite(fx, 12, 1, 4);
    pci_config_write(d, MSIX + 2, 0x8000, 2);
    g_assert_true(pci_msix_notify(d, 0));
    pci_config_write(d, MSIX + 2, 0x0000, 2);
    mwrite(fx, 12, 0, 4);
    g_assert_cmpuint(msi_count(fx), ==, 2);
    pci_config_write(d, MSIX + 2, 0x8000, 2);
    g_assert_cmpuint(msi_count(fx), ==, 3);
}

static void test_msix_bad_accesses(struct fixture *fx, gconstpointer data)
{
    const unsigned int table_end = MSIX_VECTORS * 16;
    const unsigned int pba_end = PBA_OFFSET + 16;

    msix_entry(fx, 0, 0xfee00000, 0x11, true);
    /* odd sizes and alignment on the table: all-ones, writes dropped */
    g_assert_cmphex(mread(fx, 0, 1), ==, 0xff);
    g_assert_cmphex(mread(fx, 8, 2), ==, 0xffff);
    g_assert_cmphex(mread(fx, 2, 4), ==, 0xffffffff);
    g_assert_cmphex(mread(fx, 4, 8), ==, UINT64_MAX);
    mwrite(fx, 8, 0x99, 1);
    mwrite(fx, 8, 0x9999, 2);
    mwrite(fx, 9, 0x99999999, 4);
    mwrite(fx, 12, 0x9999999999999999ull, 8); /* qword straddling two entries */
    g_assert_cmphex(mread(fx, 8, 4), ==, 0x11);
    g_assert_cmphex(mread(fx, 12, 4), ==, 1);
    g_assert_cmphex(mread(fx, 16, 4), ==, 0);
    /* the gap between table and PBA, and past the PBA: zero, ignored */
    g_assert_cmphex(mread(fx, table_end, 4), ==, 0);
    g_assert_cmphex(mread(fx, table_end - 4, 8), ==, 0); /* runs off the table */
    mwrite(fx, table_end, 0x1, 4);
    g_assert_cmphex(mread(fx, pba_end, 8), ==, 0);
    g_assert_cmphex(mread(fx, 8191, 1), ==, 0);
    mwrite(fx, 8188, 0x1, 4);
    mwrite(fx, UINT64_MAX - 3, 0x1, 4); /* offsets that would wrap */
    g_assert_cmphex(mread(fx, UINT64_MAX - 3, 4), ==, 0);
    /* the PBA is read-only and only dword/qword readable */
    pci_config_write(&fx->dev, MSIX + 2, 0x8000, 2);
    g_assert_true(pci_msix_notify(&fx->dev, 0));
    mwrite(fx, PBA_OFFSET, 0, 8);
    mwrite(fx, PBA_OFFSET, 0, 4);
    mwrite(fx, PBA_OFFSET, 0, 1);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 8), ==, 1);
    g_assert_cmphex(mread(fx, PBA_OFFSET, 1), ==, 0xff);
    g_assert_cmphex(mread(fx, PBA_OFFSET + 4, 8), ==, UINT64_MAX);
    g_assert_cmpuint(msi_count(fx), ==, 0);
}

/* ---- INTx ---- */

static void test_intx(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;
    bool *line = &fx->f->pci_intx_level[SLOT][1];

    g_assert_cmphex(pci_config_read(d, 0x3d, 1), ==, 2);
    pci_config_write(d, 0x3d, 4, 1); /* the pin is the device's */
    g_assert_cmphex(pci_config_read(d, 0x3d, 1), ==, 2);
    pci_set_irq(d, true);
    g_assert_true(*line);
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x8, ==, 0x8);
    pci_set_irq(d, true); /* no repeated calls for the same level */
    g_assert_cmpuint(fx->f->pci_intx_calls, ==, 1);
    pci_config_write(d, 0x06, 0x8, 2); /* the status bit is not W1C */
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x8, ==, 0x8);
    /* INTx-disable lowers the line but the status still shows the level */
    pci_config_write(d, 0x04, 0x400, 2);
    g_assert_false(*line);
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x8, ==, 0x8);
    pci_config_write(d, 0x04, 0x000, 2);
    g_assert_true(*line);
    pci_config_write(d, 0x04, 0x400, 2);
    pci_set_irq(d, false);
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x8, ==, 0);
    pci_config_write(d, 0x04, 0x000, 2);
    g_assert_false(*line);
    pci_set_irq(d, true);
    pci_set_irq(d, false);
    g_assert_false(*line);
    g_assert_cmpuint(fx->f->pci_intx_calls, ==, 6);
    /* MSI or MSI-X enabled: the pin is not used, and comes back after */
    pci_set_irq(d, true);
    g_assert_true(*line);
    pci_config_write(d, MSI + 2, 1, 2);
    g_assert_false(*line);
    pci_config_write(d, MSI + 2, 0, 2);
    g_assert_true(*line);
    pci_config_write(d, MSIX + 2, 0x8000, 2);
    g_assert_false(*line);
    g_assert_cmphex(pci_config_read(d, 0x06, 2) & 0x8, ==, 0x8);
    pci_config_write(d, MSIX + 2, 0, 2);
    g_assert_true(*line);
}

static void test_intx_no_pin(void)
{
    struct fake_hv *f = fake_hv_new();
    struct dispatch *dp = dispatch_new(&f->hv, 0);
    struct pci_bus *bus = pci_bus_new(dp, 7);
    struct pci_device d;

    pci_bus_set_hv(bus, &f->hv);
    pci_device_init(&d, "nopin", 1, 2, 0, 0);
    g_assert_true(pci_bus_attach(bus, &d, 4 << 3, NULL));
    pci_set_irq(&d, true); /* no pin: state only */
    g_assert_cmpuint(f->pci_intx_calls, ==, 0);
    pci_device_cleanup(&d);
    pci_bus_free(bus);
    dispatch_free(dp);
    fake_hv_free(f);
}

/* ---- expansion ROM ---- */

static void test_rom(struct fixture *fx, gconstpointer data)
{
    struct pci_device *d = &fx->dev;
    uint8_t image[3000];

    g_assert_cmphex(pci_config_read(d, 0x30, 4), ==, 0); /* none yet */
    pci_config_write(d, 0x30, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, 0x30, 4), ==, 0);
    for (unsigned int i = 0; i < sizeof(image); i++)
        image[i] = (uint8_t)(i * 7);
    image[0] = 0x55;
    image[1] = 0xaa;
    pci_device_set_rom(d, image, sizeof(image));
    g_assert_cmpuint(d->rom.size, ==, 4096);
    pci_config_write(d, 0x30, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(d, 0x30, 4), ==, 0xfffff001);
    uint64_t addr;
    g_assert_false(pci_rom_address(d, &addr)); /* sizing residue: no decode */
    pci_config_write(d, 0x30, 0xfebc0000, 4);
    pci_config_write(d, 0x04, 0x2, 2);
    g_assert_false(pci_rom_address(d, &addr)); /* enable bit off */
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfebc0000, 0xfebc0fff));
    pci_config_write(d, 0x30, 0xfebc0001, 4);
    g_assert_true(pci_rom_address(d, &addr));
    g_assert_cmphex(addr, ==, 0xfebc0000);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfebc0000, 0xfebc0fff));
    struct io_region *r = dispatch_find(fx->d, HV_RANGE_MMIO, 0xfebc0000, 2);
    g_assert_nonnull(r);
    g_assert_cmphex(r->ops->read(r->opaque, 0, 2), ==, 0xaa55);
    g_assert_cmphex(r->ops->read(r->opaque, 100, 1), ==, (uint8_t)(100 * 7));
    g_assert_cmphex(r->ops->read(r->opaque, 2996, 8), ==,
                    image[2996] | image[2997] << 8 | image[2998] << 16 | (uint32_t)image[2999] << 24);
    g_assert_cmphex(r->ops->read(r->opaque, 4088, 8), ==, 0); /* padding */
    r->ops->write(r->opaque, 0, 0, 4); /* read-only */
    g_assert_cmphex(r->ops->read(r->opaque, 0, 2), ==, 0xaa55);
    /* memory decoding off, then the enable bit off: unmapped */
    pci_config_write(d, 0x04, 0x0, 2);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfebc0000, 0xfebc0fff));
    pci_config_write(d, 0x04, 0x2, 2);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfebc0000, 0xfebc0fff));
    pci_config_write(d, 0x30, 0xfebc0000, 4);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfebc0000, 0xfebc0fff));
}

static void test_rom_files(void)
{
    struct pci_device d;
    GError *err = NULL;
    g_autofree char *dir = g_dir_make_tmp("pci-rom-XXXXXX", NULL);
    g_autofree char *small = g_build_filename(dir, "small.rom", NULL);
    g_autofree char *empty = g_build_filename(dir, "empty.rom", NULL);
    g_autofree char *huge = g_build_filename(dir, "huge.rom", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.rom", NULL);

    g_assert_nonnull(dir);
    pci_device_init(&d, "romdev", 1, 2, 0, 0);
    g_assert_true(g_file_set_contents(small, "\x55\xaa\x01", 3, NULL));
    g_assert_true(g_file_set_contents(empty, "", 0, NULL));
    FILE *fp = fopen(huge, "w");
    g_assert_nonnull(fp);
    g_assert_cmpint(ftruncate(fileno(fp), (16 << 20) + 1), ==, 0);
    fclose(fp);

    g_assert_true(pci_device_load_rom(&d, small, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(d.rom.size, ==, 2048); /* the smallest ROM BAR */
    pci_config_write(&d, 0x30, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&d, 0x30, 4), ==, 0xfffff801);
    const char *bad[] = { missing, empty, huge };
    for (unsigned int i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(pci_device_load_rom(&d, bad[i], &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, bad[i])); /* names the file */
        g_assert_null(strchr(err->message, '\n'));
        g_clear_error(&err);
    }
    g_assert_cmpuint(d.rom.size, ==, 2048); /* the earlier ROM is kept */
    pci_device_cleanup(&d);
    g_unlink(small);
    g_unlink(empty);
    g_unlink(huge);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL); /* warnings from bad input are expected */
#define FX(path, fn) g_test_add("/pci-caps/" path, struct fixture, NULL, setup, fn, teardown)
    FX("cap-chain", test_cap_chain);
    g_test_add_func("/pci-caps/cap-fill-and-loop", test_cap_fill_and_loop);
    FX("msi/layout", test_msi_layout);
    FX("msi/delivery", test_msi_delivery);
    FX("msi/mask-pending", test_msi_mask_pending);
    g_test_add_func("/pci-caps/msi/32bit-single", test_msi_32bit_single);
    g_test_add_func("/pci-caps/msix/limits", test_msix_limits);
    FX("msix/layout", test_msix_layout);
    FX("msix/through-dispatch", test_msix_through_dispatch);
    FX("msix/delivery", test_msix_delivery);
    FX("msix/function-mask", test_msix_function_mask);
    FX("msix/bad-accesses", test_msix_bad_accesses);
    FX("intx", test_intx);
    g_test_add_func("/pci-caps/intx-no-pin", test_intx_no_pin);
    FX("rom", test_rom);
    g_test_add_func("/pci-caps/rom-files", test_rom_files);
    return g_test_run();
}
