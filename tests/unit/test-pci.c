/* SPDX-License-Identifier: MIT */
/* PCI config space semantics: masks, W1C, BAR sizing and decoding, and
 * that every BAR change moves the ranges with the hypervisor. */
#include <glib.h>

#include "devices/pci/pci.h"
#include "fake-hv.h"

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
    pci_device_init(&fx->dev, "dut", 0x1b36, 0x0005, 0xff0000, 2);
    pci_device_set_bar(&fx->dev, 0, 0, 4096, &nop_ops, NULL);
    pci_device_set_bar(&fx->dev, 1, PCI_BAR_IO, 256, &nop_ops, NULL);
    pci_device_set_bar(&fx->dev, 2, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 1ull << 32, &nop_ops, NULL);
    g_assert_true(pci_bus_attach(fx->bus, &fx->dev, 3 << 3, &err));
    g_assert_no_error(err);
}

static void teardown(struct fixture *fx, gconstpointer data)
{
    pci_device_cleanup(&fx->dev);
    g_assert_cmpuint(fx->f->ranges->len, ==, 0); /* nothing left registered */
    pci_bus_free(fx->bus);
    dispatch_free(fx->d);
    fake_hv_free(fx->f);
}

static void test_header(struct fixture *fx, gconstpointer data)
{
    g_assert_cmphex(pci_config_read(&fx->dev, 0, 4), ==, 0x00051b36);
    g_assert_cmphex(pci_config_read(&fx->dev, 8, 4), ==, 0xff000002);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PCI, hv_sbdf(0, 0, 3, 0), hv_sbdf(0, 0, 3, 0)));
    /* ids are read-only */
    pci_config_write(&fx->dev, 0, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&fx->dev, 0, 4), ==, 0x00051b36);
    /* odd sizes and unaligned accesses are byte-exact */
    g_assert_cmphex(pci_config_read(&fx->dev, 1, 2), ==, 0x051b);
    g_assert_cmphex(pci_config_read(&fx->dev, 3, 1), ==, 0x00);
    /* beyond the 256-byte space */
    g_assert_cmphex(pci_config_read(&fx->dev, 0x100, 4), ==, 0xffffffff);
    g_assert_cmphex(pci_config_read(&fx->dev, 0xfe, 4), ==, 0xffff0000 | pci_config_read(&fx->dev, 0xfe, 2));
    pci_config_write(&fx->dev, 0xffe, 0xffffffff, 4); /* ignored, no crash */
}

static void test_masks_and_w1c(struct fixture *fx, gconstpointer data)
{
    pci_config_write(&fx->dev, 0x04, 0xffff, 2);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x04, 2), ==, 0x0547);
    pci_config_write(&fx->dev, 0x04, 0, 2);
    /* status bits are write-1-to-clear, not writable */
    fx->dev.config[0x07] = 0xf9;
    pci_config_write(&fx->dev, 0x06, 0x0100 | 0x8000, 2);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x07, 1), ==, 0x78);
    pci_config_write(&fx->dev, 0x06, 0x0001, 2); /* a read-only bit */
    g_assert_cmphex(pci_config_read(&fx->dev, 0x07, 1), ==, 0x78);
    pci_config_write(&fx->dev, 0x3c, 0x0b, 1);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x3c, 1), ==, 0x0b);
}

static void test_bar_sizing(struct fixture *fx, gconstpointer data)
{
    for (uint32_t reg = 0x10; reg <= 0x1c; reg += 4)
        pci_config_write(&fx->dev, reg, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x10, 4), ==, 0xfffff000);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x14, 4), ==, 0xffffff01);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x18, 4), ==, 0x0000000c);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x1c, 4), ==, 0xffffffff);
    /* unimplemented BARs read zero and stay zero */
    pci_config_write(&fx->dev, 0x20, 0xffffffff, 4);
    g_assert_cmphex(pci_config_read(&fx->dev, 0x20, 4), ==, 0);
    /* sizing never decodes, even with decoding enabled */
    pci_config_write(&fx->dev, 0x04, 0x3, 2);
    g_assert_cmpuint(fx->f->ranges->len, ==, 1); /* only the PCI function */
}

static void test_bar_moves_ranges(struct fixture *fx, gconstpointer data)
{
    pci_config_write(&fx->dev, 0x10, 0xfe001000, 4);
    pci_config_write(&fx->dev, 0x14, 0xc000, 4);
    pci_config_write(&fx->dev, 0x18, 0, 4);
    pci_config_write(&fx->dev, 0x1c, 0x8, 4);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfe001000, 0xfe001fff));
    pci_config_write(&fx->dev, 0x04, 0x2, 2); /* memory only */
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfe001000, 0xfe001fff));
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0x800000000ull, 0x8ffffffffull));
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_PORT, 0xc000, 0xc0ff));
    pci_config_write(&fx->dev, 0x04, 0x3, 2);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PORT, 0xc000, 0xc0ff));
    /* reprogramming moves it */
    pci_config_write(&fx->dev, 0x10, 0xfe002000, 4);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfe001000, 0xfe001fff));
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_MMIO, 0xfe002000, 0xfe002fff));
    /* byte writes to a BAR take effect too */
    pci_config_write(&fx->dev, 0x15, 0xd0, 1);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PORT, 0xd000, 0xd0ff));
    /* disabling decode unmaps everything */
    pci_config_write(&fx->dev, 0x04, 0, 2);
    g_assert_cmpuint(fx->f->ranges->len, ==, 1);
}

static void test_devfn_parse(void)
{
    int devfn;
    GError *err = NULL;

    g_assert_true(pci_parse_devfn("1f.7", &devfn, NULL));
    g_assert_cmpint(devfn, ==, 0xff);
    g_assert_true(pci_parse_devfn("3", &devfn, NULL));
    g_assert_cmpint(devfn, ==, 0x18);
    static const char *const bad[] = { "", "20", "3.8", "3.", "x", "3.1x", "-1" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(pci_parse_devfn(bad[i], &devfn, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
}

#define ADD(path, fn) g_test_add(path, struct fixture, NULL, setup, fn, teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/pci/header", test_header);
    ADD("/pci/masks-w1c", test_masks_and_w1c);
    ADD("/pci/bar-sizing", test_bar_sizing);
    ADD("/pci/bar-moves-ranges", test_bar_moves_ranges);
    g_test_add_func("/pci/devfn-parse", test_devfn_parse);
    return g_test_run();
}
