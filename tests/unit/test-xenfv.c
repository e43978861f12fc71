/* SPDX-License-Identifier: MIT */
/* -machine xenfv / pc,accel=xen / none: what each puts on the bus and
 * the ports, and which spellings and properties are refused. */
#include <glib.h>

#include "board.h"

#include <xen/sched.h>

static void test_xenfv_layout(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmpint(b.m->kind, ==, MACHINE_XENFV);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0, 4), ==, 0x12378086);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0, 4), ==, 0x70008086);
    g_assert_cmphex(cfg_read(&b, 1, 3, 0, 4), ==, 0x71138086);
    g_assert_cmphex(cfg_read(&b, 2, 0, 0, 4), ==, 0x00015853);
    /* functions nobody claims read all-ones */
    g_assert_false(board_has_function(&b, 1, 1));
    g_assert_false(board_has_function(&b, 3, 0));
    /* fixed ports: ELCR, hotplug, unplug protocol */
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0x4d0, 0x4d1));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xae00, 0xae0b));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0x10, 0x1f));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0x60, 0x60));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0x64, 0x64));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0x92, 0x92));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xcf9, 0xcf9));
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0x49d2);
    g_assert_cmphex(b.m->max_ram_below_4g, ==, 0xf0000000);
    g_assert_false(b.m->max_ram_below_4g_given);
    board_stop(&b);
}

static void test_pc_accel_xen_has_no_platform(void)
{
    struct board b;

    board_start(&b, "pc,accel=xen,suppress-vmdesc=on", NULL);
    g_assert_cmpint(b.m->kind, ==, MACHINE_PC_XEN);
    g_assert_true(b.m->suppress_vmdesc);
    g_assert_true(board_has_function(&b, 0, 0));
    g_assert_true(board_has_function(&b, 1, 0));
    g_assert_false(board_has_function(&b, 2, 0));
    g_assert_cmphex(pio_read(&b, 0x10, 2), ==, 0xffff);
    board_stop(&b);
}

static void test_devices_after_board_get_free_slots(void)
{
    static const char *const devices[] = { "pci-testdev", NULL };
    struct board b;

    board_start(&b, "xenfv", devices);
    /* slots 0-2 are the board's; the first automatic slot is 3 */
    g_assert_cmphex(cfg_read(&b, 3, 0, 0, 4), ==, 0x00051b36);
    board_stop(&b);
}

static void test_max_ram_below_4g(void)
{
    struct board b;

    /* as libxl writes it: bytes, 4 GiB - mmio_hole */
    board_start(&b, "xenfv,max-ram-below-4g=3221225472,suppress-vmdesc=on", NULL);
    g_assert_cmphex(b.m->max_ram_below_4g, ==, 0xc0000000);
    g_assert_true(b.m->max_ram_below_4g_given);
    board_stop(&b);
    board_start(&b, "xenfv,max-ram-below-4g=256M", NULL);
    g_assert_cmphex(b.m->max_ram_below_4g, ==, 256u << 20);
    board_stop(&b);
    board_start(&b, "pc,accel=xen,max-ram-below-4g=3840M", NULL);
    g_assert_cmphex(b.m->max_ram_below_4g, ==, 3840ull << 20);
    board_stop(&b);
}

static void expect_refused(const char *spec, const char *needle)
{
    struct machine *m = machine_new(7, NULL);
    GError *err = NULL;

    g_assert_false(machine_configure(m, spec, &err));
    g_assert_nonnull(err);
    if (g_test_verbose())
        g_printerr("%s -> %s\n", spec, err->message);
    g_assert_nonnull(strstr(err->message, needle));
    g_assert_null(strchr(err->message, '\n')); /* one line */
    g_error_free(err);
    machine_free(m);
}

static void test_refusals(void)
{
    expect_refused("xenfv,bogus=1", "bogus");
    expect_refused("pc,accel=xen,igd-passthru=on", "igd-passthru");
    expect_refused("none,bogus=1", "bogus");
    expect_refused("q35", "q35");
    expect_refused("xenfv,max-ram-below-4g=4G", "max-ram-below-4g");
    expect_refused("xenfv,max-ram-below-4g=255M", "max-ram-below-4g");
    expect_refused("xenfv,max-ram-below-4g=3840M1", "max-ram-below-4g");
    expect_refused("xenfv,max-ram-below-4g=1000000001", "max-ram-below-4g");
    expect_refused("xenfv,max-ram-below-4g=-1", "max-ram-below-4g");
    expect_refused("xenfv,suppress-vmdesc=maybe", "suppress-vmdesc");
}

static void test_none_unchanged(void)
{
    struct board b;

    board_start(&b, "none", NULL);
    g_assert_cmpint(b.m->kind, ==, MACHINE_NONE);
    g_assert_cmpuint(b.m->devices->len, ==, 0);
    g_assert_false(board_has_function(&b, 0, 0));
    board_stop(&b);
    board_start(&b, "accel=xen", NULL); /* the type defaults to none */
    g_assert_cmpuint(b.m->devices->len, ==, 0);
    board_stop(&b);
}

static void test_find_device(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_nonnull(machine_find_device(b.m, "xen-platform"));
    g_assert_nonnull(machine_find_device(b.m, "i8042"));
    g_assert_null(machine_find_device(b.m, "pci-testdev"));
    board_stop(&b);
}

static void test_reset_registers(void)
{
    struct board b;

    board_start(&b, "pc,accel=xen", NULL);
    g_assert_cmphex(pio_read(&b, 0x92, 1), ==, 0x02); /* A20 on */
    pio_write(&b, 0x92, 0x00, 1); /* A20 "off": stays on, no reset */
    g_assert_cmphex(pio_read(&b, 0x92, 1), ==, 0x02);
    g_assert_cmpuint(b.f->shutdowns, ==, 0);
    pio_write(&b, 0x92, 0x03, 1);
    g_assert_cmpuint(b.f->shutdowns, ==, 1);
    g_assert_cmpuint(b.f->shutdown_reason, ==, SHUTDOWN_reboot);
    g_assert_cmphex(pio_read(&b, 0x92, 1), ==, 0x02); /* the reset bit is a pulse */
    /* 0xcf9 as ACPI's reset register (value 6) and as Linux's reboot=pci (2, then 6) */
    pio_write(&b, 0xcf9, 0x02, 1);
    g_assert_cmpuint(b.f->shutdowns, ==, 1);
    g_assert_cmphex(pio_read(&b, 0xcf9, 1), ==, 0x02);
    pio_write(&b, 0xcf9, 0x06, 1);
    g_assert_cmpuint(b.f->shutdowns, ==, 2);
    g_assert_cmphex(pio_read(&b, 0xcf9, 1), ==, 0x02);
    /* wider accesses are not ours (0xcf8 dwords are the hypervisor's) */
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0xcf8, 4));
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0xcf9, 2));
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x92, 2));
    board_stop(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK);
    g_test_add_func("/xenfv/layout", test_xenfv_layout);
    g_test_add_func("/xenfv/pc-accel-xen", test_pc_accel_xen_has_no_platform);
    g_test_add_func("/xenfv/devices-after-board", test_devices_after_board_get_free_slots);
    g_test_add_func("/xenfv/max-ram-below-4g", test_max_ram_below_4g);
    g_test_add_func("/xenfv/refusals", test_refusals);
    g_test_add_func("/xenfv/none-unchanged", test_none_unchanged);
    g_test_add_func("/xenfv/find-device", test_find_device);
    g_test_add_func("/xenfv/reset-registers", test_reset_registers);
    return g_test_run();
}
