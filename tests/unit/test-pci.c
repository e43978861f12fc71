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


/* BAR placement against the guest memory map: a BAR over RAM, the VGA
 * window, the reserved top or another BAR of ours keeps its value in config
 * space but is not registered, and decodes again once moved somewhere legal.
 * Warnings stay fatal here, so each expected line is declared: a second line
 * for the same placement would fail the test. */
struct map_fixture {
    struct fake_hv *f;
    struct dispatch *d;
    struct pci_bus *bus;
    struct pci_device a, b;
};

#define GIB (1ull << 30)
#define MIB (1ull << 20)
#define A_BAR0 0x10   /* 4 KiB, 32-bit */
#define A_BAR2 0x18   /* 4 GiB, 64-bit prefetchable */
#define CMD_MEM 0x2

static void map_setup_ram(struct map_fixture *fx, uint64_t ram, bool known)
{
    struct memmap map;
    GError *err = NULL;

    fx->f = fake_hv_new();
    fx->d = dispatch_new(&fx->f->hv, 0);
    fx->bus = pci_bus_new(fx->d, 7);
    g_assert_true(memmap_compute(ram, MEMMAP_DEFAULT_MMIO_HOLE, &map, &err));
    pci_bus_set_memmap(fx->bus, &map, known);
    pci_device_init(&fx->a, "dev-a", 0x1b36, 0x0005, 0xff0000, 0);
    pci_device_set_bar(&fx->a, 0, 0, 4096, &nop_ops, NULL);
    pci_device_set_bar(&fx->a, 2, PCI_BAR_MEM64 | PCI_BAR_PREFETCH, 4 * GIB, &nop_ops, NULL);
    pci_device_set_bar(&fx->a, 4, PCI_BAR_MEM64, 128 * MIB, &nop_ops, NULL);
    pci_device_init(&fx->b, "dev-b", 0x1b36, 0x0005, 0xff0000, 0);
    pci_device_set_bar(&fx->b, 0, 0, 4096, &nop_ops, NULL);
    static const uint8_t rom[3000] = { 0x55, 0xaa };
    pci_device_set_rom(&fx->b, rom, sizeof(rom)); /* 4 KiB ROM BAR */
    g_assert_true(pci_bus_attach(fx->bus, &fx->a, 3 << 3, &err));
    g_assert_true(pci_bus_attach(fx->bus, &fx->b, 4 << 3, &err));
    g_assert_no_error(err);
    pci_config_write(&fx->a, 0x04, CMD_MEM, 2);
    pci_config_write(&fx->b, 0x04, CMD_MEM, 2);
}

static void map_setup(struct map_fixture *fx, gconstpointer data)
{
    map_setup_ram(fx, 8 * GIB, true); /* low RAM to 0xf0000000, high RAM to 0x210000000 */
}

static void map_setup_small(struct map_fixture *fx, gconstpointer data)
{
    map_setup_ram(fx, 64 * MIB, true);
}

static void map_setup_unknown(struct map_fixture *fx, gconstpointer data)
{
    /* as ioreqd does without -m on Xen: RAM assumed up to the hole */
    map_setup_ram(fx, 0xf0000000, false);
}

static void map_teardown(struct map_fixture *fx, gconstpointer data)
{
    g_test_assert_expected_messages();
    pci_device_cleanup(&fx->a);
    pci_device_cleanup(&fx->b);
    g_assert_cmpuint(fx->f->ranges->len, ==, 0);
    pci_bus_free(fx->bus);
    dispatch_free(fx->d);
    fake_hv_free(fx->f);
}

static bool mmio(struct map_fixture *fx, uint64_t start, uint64_t size)
{
    return fake_hv_has_range(fx->f, HV_RANGE_MMIO, start, start + size - 1);
}

static unsigned int mmio_ranges(struct map_fixture *fx)
{
    unsigned int n = 0;
    for (unsigned int i = 0; i < fx->f->ranges->len; i++)
        n += g_array_index(fx->f->ranges, struct fake_range, i).type == HV_RANGE_MMIO;
    return n;
}

static void expect_refusal(const char *dev, const char *what, const char *why)
{
    g_autofree char *pattern = g_strdup_printf("*%s: %s at * overlaps %s*not decoded*", dev, what,
                                               why);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, pattern);
}

static void expect_recovery(const char *dev, const char *what)
{
    g_autofree char *pattern = g_strdup_printf("*%s: %s decoded at * again*", dev, what);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, pattern);
}

static void set_bar64(struct pci_device *d, uint32_t reg, uint64_t addr)
{
    pci_config_write(d, reg, (uint32_t)addr, 4);
    pci_config_write(d, reg + 4, (uint32_t)(addr >> 32), 4);
}

static void test_bar_over_low_ram(struct map_fixture *fx, gconstpointer data)
{
    expect_refusal("dev-a", "BAR0", "low RAM");
    pci_config_write(&fx->a, A_BAR0, 0x00100000, 4);
    g_test_assert_expected_messages();
    g_assert_cmphex(pci_config_read(&fx->a, A_BAR0, 4), ==, 0x00100000); /* kept */
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    /* rewriting the same place, toggling other bits: no new line */
    pci_config_write(&fx->a, A_BAR0, 0x00100000, 4);
    pci_config_write(&fx->a, 0x04, CMD_MEM | 0x4, 2);
    /* the last page below the hole is still RAM */
    expect_refusal("dev-a", "BAR0", "low RAM");
    pci_config_write(&fx->a, A_BAR0, 0xeffff000, 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    /* moved into the hole: registered, and said once */
    expect_recovery("dev-a", "BAR0");
    pci_config_write(&fx->a, A_BAR0, 0xf0000000, 4);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xf0000000, 4096));
    /* decoding off and on again at a legal place is silent */
    pci_config_write(&fx->a, 0x04, 0, 2);
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    pci_config_write(&fx->a, 0x04, CMD_MEM, 2);
    g_assert_true(mmio(fx, 0xf0000000, 4096));
}

static void test_bar_over_vga_window(struct map_fixture *fx, gconstpointer data)
{
    expect_refusal("dev-a", "BAR0", "the VGA window");
    pci_config_write(&fx->a, A_BAR0, 0x000a0000, 4);
    g_test_assert_expected_messages();
    expect_refusal("dev-a", "BAR0", "the VGA window");
    pci_config_write(&fx->a, A_BAR0, 0x000bf000, 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    expect_recovery("dev-a", "BAR0");
    pci_config_write(&fx->a, A_BAR0, 0xf0001000, 4);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xf0001000, 4096));
}

static void test_vga_window_with_little_ram(struct map_fixture *fx, gconstpointer data)
{
    /* 64 MiB of RAM: 0xe0000000 is free, the VGA window never is */
    pci_config_write(&fx->a, A_BAR0, 0xe0000000, 4);
    g_assert_true(mmio(fx, 0xe0000000, 4096));
    expect_refusal("dev-a", "BAR0", "the VGA window");
    pci_config_write(&fx->a, A_BAR0, 0x000b0000, 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    expect_refusal("dev-a", "BAR0", "low RAM");
    pci_config_write(&fx->a, A_BAR0, 0x03fff000, 4);
    g_test_assert_expected_messages();
    expect_recovery("dev-a", "BAR0");
    pci_config_write(&fx->a, A_BAR0, 0x04000000, 4); /* first byte past RAM */
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0x04000000, 4096));
}

static void test_bar_over_high_ram(struct map_fixture *fx, gconstpointer data)
{
    /* 8 GiB: high RAM is [4 GiB, 0x210000000) */
    expect_refusal("dev-a", "BAR2", "high RAM");
    set_bar64(&fx->a, A_BAR2, 0x100000000ull);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    /* the 64-bit BAR at 8 GiB still overlaps the last 256 MiB of RAM */
    expect_refusal("dev-a", "BAR2", "high RAM");
    set_bar64(&fx->a, A_BAR2, 0x200000000ull);
    g_test_assert_expected_messages();
    expect_recovery("dev-a", "BAR2");
    set_bar64(&fx->a, A_BAR2, 0x300000000ull);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0x300000000ull, 4 * GIB));
    /* and past the 48-bit guest-physical limit */
    expect_refusal("dev-a", "BAR2", "the space past the 48-bit");
    set_bar64(&fx->a, A_BAR2, 0xffff00000000ull + 4 * GIB);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
}

static void test_bar_straddles_hole_end(struct map_fixture *fx, gconstpointer data)
{
    /* 128 MiB 64-bit BAR4 at 0xf8000000 runs into Xen's reserved top */
    expect_refusal("dev-a", "BAR4", "the reserved range 0xfc000000");
    set_bar64(&fx->a, 0x20, 0xf8000000ull);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    /* a 32-bit BAR inside the reserved top (IOAPIC/HPET/LAPIC live there) */
    expect_refusal("dev-a", "BAR0", "the reserved range");
    pci_config_write(&fx->a, A_BAR0, 0xfec00000, 4);
    g_test_assert_expected_messages();
    /* the last page of the PCI window is fine */
    expect_recovery("dev-a", "BAR0");
    pci_config_write(&fx->a, A_BAR0, 0xfbfff000, 4);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xfbfff000, 4096));
    expect_recovery("dev-a", "BAR4");
    set_bar64(&fx->a, 0x20, 0xf0000000ull);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xf0000000, 128 * MIB));
    /* a 32-bit window running past 4 GiB is sizing residue: silently off */
    pci_config_write(&fx->a, A_BAR0, 0xfffff000, 4);
    g_assert_false(mmio(fx, 0xfffff000, 4096));
}

static void test_bar_over_other_device(struct map_fixture *fx, gconstpointer data)
{
    pci_config_write(&fx->a, A_BAR0, 0xf0000000, 4);
    g_assert_true(mmio(fx, 0xf0000000, 4096));
    /* b on top of a: refused, a keeps decoding */
    expect_refusal("dev-b", "BAR0", "another range this process decodes");
    pci_config_write(&fx->b, 0x10, 0xf0000000, 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 1);
    /* b's ROM inside a's 128 MiB BAR4 */
    set_bar64(&fx->a, 0x20, 0xe8000000ull);
    expect_refusal("dev-b", "ROM", "another range this process decodes");
    pci_config_write(&fx->b, 0x30, 0xe8100000 | 1, 4);
    g_test_assert_expected_messages();
    /* a moves away: b's BAR0 and ROM take their places without a write of theirs */
    expect_recovery("dev-b", "BAR0");
    expect_recovery("dev-b", "ROM");
    pci_config_write(&fx->a, A_BAR0, 0xf9000000, 4);
    set_bar64(&fx->a, 0x20, 0xd8000000ull);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xf0000000, 4096));
    g_assert_true(mmio(fx, 0xe8100000, 4096));
    g_assert_true(mmio(fx, 0xd8000000, 128 * MIB));
    g_assert_true(mmio(fx, 0xf9000000, 4096));
}

static void test_rom_over_ram(struct map_fixture *fx, gconstpointer data)
{
    expect_refusal("dev-b", "ROM", "low RAM");
    pci_config_write(&fx->b, 0x30, 0x000c0000 | 1, 4); /* option ROM space is RAM on Xen */
    g_test_assert_expected_messages();
    g_assert_cmphex(pci_config_read(&fx->b, 0x30, 4), ==, 0x000c0001);
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    expect_refusal("dev-b", "ROM", "the VGA window");
    pci_config_write(&fx->b, 0x30, 0x000a0000 | 1, 4);
    g_test_assert_expected_messages();
    expect_recovery("dev-b", "ROM");
    pci_config_write(&fx->b, 0x30, 0xf0200000 | 1, 4);
    g_test_assert_expected_messages();
    g_assert_true(mmio(fx, 0xf0200000, 4096));
}

static void test_unknown_ram_keeps_below_hole(struct map_fixture *fx, gconstpointer data)
{
    expect_refusal("dev-a", "BAR0", "low RAM (everything below the MMIO hole)");
    pci_config_write(&fx->a, A_BAR0, 0xe0000000, 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
    /* above 4 GiB nothing is known: allowed */
    set_bar64(&fx->a, A_BAR2, 0x100000000ull);
    g_assert_true(mmio(fx, 0x100000000ull, 4 * GIB));
}

static void test_many_refusals_are_rate_limited(struct map_fixture *fx, gconstpointer data)
{
    /* 10 lines a second per device, then silence: a guest looping over bad
     * placements cannot flood the log. Warnings are fatal: an 11th line
     * would abort. */
    for (unsigned int i = 0; i < 10; i++)
        expect_refusal("dev-a", "BAR0", "low RAM");
    for (uint32_t i = 0; i < 5000; i++)
        pci_config_write(&fx->a, A_BAR0, 0x00100000 + (i << 12), 4);
    g_test_assert_expected_messages();
    g_assert_cmpuint(mmio_ranges(fx), ==, 0);
}

#define MAP_ADD(path, setup_fn, fn) \
    g_test_add(path, struct map_fixture, NULL, setup_fn, fn, map_teardown)

#define ADD(path, fn) g_test_add(path, struct fixture, NULL, setup, fn, teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/pci/header", test_header);
    ADD("/pci/masks-w1c", test_masks_and_w1c);
    ADD("/pci/bar-sizing", test_bar_sizing);
    ADD("/pci/bar-moves-ranges", test_bar_moves_ranges);
    g_test_add_func("/pci/devfn-parse", test_devfn_parse);
    MAP_ADD("/pci/map/bar-over-low-ram", map_setup, test_bar_over_low_ram);
    MAP_ADD("/pci/map/bar-over-vga-window", map_setup, test_bar_over_vga_window);
    MAP_ADD("/pci/map/vga-window-little-ram", map_setup_small, test_vga_window_with_little_ram);
    MAP_ADD("/pci/map/bar-over-high-ram", map_setup, test_bar_over_high_ram);
    MAP_ADD("/pci/map/bar-straddles-hole-end", map_setup, test_bar_straddles_hole_end);
    MAP_ADD("/pci/map/bar-over-other-device", map_setup_small, test_bar_over_other_device);
    MAP_ADD("/pci/map/rom-over-ram", map_setup, test_rom_over_ram);
    MAP_ADD("/pci/map/unknown-ram", map_setup_unknown, test_unknown_ram_keeps_below_hole);
    MAP_ADD("/pci/map/refusals-rate-limited", map_setup, test_many_refusals_are_rate_limited);
    return g_test_run();
}
