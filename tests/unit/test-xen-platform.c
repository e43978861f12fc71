/* SPDX-License-Identifier: MIT */
/* The Xen platform device: PCI identity and BARs, and the
 * hvm-emulated-unplug protocol as PV drivers speak it, plus the widths
 * and ports the protocol does not define. */
#include <glib.h>

#include "board.h"
#include "devices/xen-platform.h"

static void test_header_and_bars(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x00, 4), ==, 0x00015853);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x08, 4), ==, 0xff800001);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x2c, 4), ==, 0x00015853);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x3d, 1), ==, 0x01);
    /* sizing */
    cfg_write(&b, 2, 0, 0x10, 0xffffffff, 4);
    cfg_write(&b, 2, 0, 0x14, 0xffffffff, 4);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x10, 4), ==, 0xffffff01);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0x14, 4), ==, 0xff000008);
    /* placement as hvmloader does it, then decoding */
    cfg_write(&b, 2, 0, 0x10, 0xc000, 4);
    cfg_write(&b, 2, 0, 0x14, 0xf0000000, 4);
    cfg_write(&b, 2, 0, 0x04, 0x0003, 2);
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xc000, 0xc0ff));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_MMIO, 0xf0000000, 0xf0ffffff));
    g_assert_cmphex(pio_read(&b, 0xc000, 4), ==, 0);
    g_assert_cmphex(mmio_read(&b, 0xf0001000, 8), ==, 0);
    board_stop(&b);
}

/* What Linux's xen_unplug_emulated_devices does, step by step. */
static void test_linux_unplug_sequence(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    struct xen_platform *p = machine_find_device(b.m, "xen-platform");
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0x49d2);
    g_assert_cmphex(pio_read(&b, 0x12, 1), ==, 1);
    pio_write(&b, 0x12, 3, 2);          /* product: Linux */
    pio_write(&b, 0x10, 1, 4);          /* build number */
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0x49d2); /* not blacklisted */
    g_assert_cmpuint(xen_platform_product(p), ==, 3);
    g_assert_cmpuint(xen_platform_build(p), ==, 1);
    pio_write(&b, 0x10, XEN_UNPLUG_ALL_IDE_DISKS | XEN_UNPLUG_ALL_NICS |
                        XEN_UNPLUG_AUX_IDE_DISKS, 2);
    g_assert_cmphex(xen_platform_unplugged(p), ==, 0x7);
    pio_write(&b, 0x10, XEN_UNPLUG_ALL_NVME_DISKS, 2); /* bits accumulate */
    g_assert_cmphex(xen_platform_unplugged(p), ==, 0xf);
    board_stop(&b);
}

static void test_driver_log(void)
{
    struct board b;
    static const char msg[] = "XENVIF: loaded\r\nno newline at the end";

    board_start(&b, "xenfv", NULL);
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*guest driver: XENVIF: loaded");
    for (const char *c = msg; *c; c++)
        pio_write(&b, 0x12, (uint8_t)*c, 1);
    g_test_assert_expected_messages();
    /* the unterminated tail is not lost at shutdown */
    g_test_expect_message(NULL, G_LOG_LEVEL_WARNING, "*guest driver: no newline at the end");
    board_stop(&b);
    g_test_assert_expected_messages();
}

static void test_driver_log_hostile(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    /* control bytes are escaped, endless lines cut, floods rate-limited */
    for (unsigned int i = 0; i < 200000; i++)
        pio_write(&b, 0x12, i % 7 == 0 ? '\n' : (i & 0xff), 1);
    for (unsigned int i = 0; i < 100000; i++)
        pio_write(&b, 0x12, 'x', 1);
    board_stop(&b);
}

static void test_bad_widths_and_ports(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    struct xen_platform *p = machine_find_device(b.m, "xen-platform");
    /* reads the protocol does not define: all-ones */
    g_assert_cmphex(pio_read(&b, 0x10, 4), ==, 0xffffffff);
    g_assert_cmphex(pio_read(&b, 0x11, 1), ==, 0xff);
    g_assert_cmphex(pio_read(&b, 0x12, 2), ==, 0xffff);
    g_assert_cmphex(pio_read(&b, 0x13, 1), ==, 0xff);
    g_assert_cmphex(pio_read(&b, 0x1e, 2), ==, 0xffff);
    g_assert_cmphex(pio_read(&b, 0x1c, 4), ==, 0xffffffff);
    /* writes it does not define change nothing */
    pio_write(&b, 0x11, 0xff, 1);
    pio_write(&b, 0x11, 0xffff, 2);
    pio_write(&b, 0x12, 0xffffffff, 4);
    pio_write(&b, 0x1f, 0xff, 1);
    g_assert_cmphex(xen_platform_unplugged(p), ==, 0);
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0x49d2);
    /* the platform flags byte keeps only its defined bit */
    pio_write(&b, 0x10, 0xff, 1);
    g_assert_cmphex(pio_read(&b, 0x10, 1), ==, 0x01);
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0x49d2);
    /* unknown unplug bits are not recorded */
    pio_write(&b, 0x10, 0xfff0, 2);
    g_assert_cmphex(xen_platform_unplugged(p), ==, 0);
    /* beyond 0x1f is not ours */
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x1e, 4));
    for (unsigned int i = 0; i < 100000; i++)
        pio_write(&b, 0x10 + (i % 16), i, 1u << (i % 3));
    board_stop(&b);
}

static void test_legacy_mmio_unplug(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    struct xen_platform *p = machine_find_device(b.m, "xen-platform");
    cfg_write(&b, 2, 0, 0x14, 0xf0000000, 4);
    cfg_write(&b, 2, 0, 0x04, 0x0002, 2);
    mmio_write(&b, 0xf0000008, 2, 4); /* VMDP: NICs only */
    g_assert_cmphex(xen_platform_unplugged(p), ==, XEN_UNPLUG_ALL_NICS);
    mmio_write(&b, 0xf0000004, 7, 4); /* not the magic value */
    g_assert_cmphex(xen_platform_unplugged(p), ==, XEN_UNPLUG_ALL_NICS);
    mmio_write(&b, 0xf0000004, 1, 4); /* old SUSE: everything */
    g_assert_cmphex(xen_platform_unplugged(p), ==,
                    XEN_UNPLUG_ALL_NICS | XEN_UNPLUG_ALL_IDE_DISKS);
    board_stop(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK);
    g_test_add_func("/xen-platform/header-bars", test_header_and_bars);
    g_test_add_func("/xen-platform/linux-unplug", test_linux_unplug_sequence);
    g_test_add_func("/xen-platform/driver-log", test_driver_log);
    g_test_add_func("/xen-platform/driver-log-hostile", test_driver_log_hostile);
    g_test_add_func("/xen-platform/bad-widths", test_bad_widths_and_ports);
    g_test_add_func("/xen-platform/legacy-mmio-unplug", test_legacy_mmio_unplug);
    return g_test_run();
}
