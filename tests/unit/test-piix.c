/* SPDX-License-Identifier: MIT */
/* The chipset functions of the xenfv board: i440FX, PIIX3 (link routes,
 * ELCR), PIIX4 PM (hotplug ports), including what the guest must not be
 * able to change. */
#include <glib.h>

#include "board.h"
#include "devices/piix4-pm.h"

#include <xen/sched.h>

static void test_i440fx_header(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0x08, 4), ==, 0x06000002);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0x2c, 4), ==, 0x11001af4); /* as SeaBIOS expects */
    g_assert_cmphex(cfg_read(&b, 0, 0, 0x0e, 1), ==, 0x00);
    /* PAM registers take what firmware writes, within their bits */
    cfg_write(&b, 0, 0, 0x59, 0xff, 1);
    cfg_write(&b, 0, 0, 0x5a, 0xffffffff, 4);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0x59, 1), ==, 0x30);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0x5a, 4), ==, 0x33333333);
    /* ids stay */
    cfg_write(&b, 0, 0, 0x00, 0, 4);
    g_assert_cmphex(cfg_read(&b, 0, 0, 0, 4), ==, 0x12378086);
    board_stop(&b);
}

static void test_piix3_header(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x0a, 2), ==, 0x0601);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x0e, 1), ==, 0x80); /* multi-function */
    cfg_write(&b, 1, 0, 0x0e, 0, 1);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x0e, 1), ==, 0x80);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x60, 4), ==, 0x80808080); /* all routes off */
    board_stop(&b);
}

static void test_piix3_link_routes(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    /* hvmloader / SeaBIOS style: one byte per link */
    cfg_write(&b, 1, 0, 0x60, 10, 1);
    cfg_write(&b, 1, 0, 0x61, 11, 1);
    g_assert_cmpuint(b.f->link_route[0], ==, 10);
    g_assert_cmpuint(b.f->link_route[1], ==, 11);
    g_assert_cmpuint(b.f->link_route_calls, ==, 2);
    /* a dword write sets all four */
    cfg_write(&b, 1, 0, 0x60, 0x0b0a0905, 4);
    g_assert_cmpuint(b.f->link_route[0], ==, 5);
    g_assert_cmpuint(b.f->link_route[1], ==, 9);
    g_assert_cmpuint(b.f->link_route[2], ==, 10);
    g_assert_cmpuint(b.f->link_route[3], ==, 11);
    g_assert_cmpuint(b.f->link_route_calls, ==, 6);
    /* rewriting the same routes costs no hypercall */
    cfg_write(&b, 1, 0, 0x60, 0x0b0a0905, 4);
    g_assert_cmpuint(b.f->link_route_calls, ==, 6);
    /* bit 7 disables: route 0 */
    cfg_write(&b, 1, 0, 0x62, 0x8a, 1);
    g_assert_cmpuint(b.f->link_route[2], ==, 0);
    /* reserved bits 4-6 are read-only zero, so 0x3f is IRQ 15, never >= 16 */
    cfg_write(&b, 1, 0, 0x63, 0x7f, 1);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x63, 1), ==, 0x0f);
    g_assert_cmpuint(b.f->link_route[3], ==, 15);
    /* an unaligned dword from 0x61 runs past the routes: B-D change, the
     * byte beyond (0x64) is read-only */
    cfg_write(&b, 1, 0, 0x61, 0xff070605, 4);
    g_assert_cmpuint(b.f->link_route[1], ==, 5);
    g_assert_cmpuint(b.f->link_route[2], ==, 6);
    g_assert_cmpuint(b.f->link_route[3], ==, 7);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x64, 1), ==, 0);
    /* an unaligned word write across 0x62/0x63 */
    cfg_write(&b, 1, 0, 0x62, 0x8003, 2);
    g_assert_cmpuint(b.f->link_route[2], ==, 3);
    g_assert_cmpuint(b.f->link_route[3], ==, 0);
    board_stop(&b);
}

static void test_piix3_routes_without_hv(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    machine_set_hv(b.m, NULL); /* nothing to forward to: state only, no crash */
    cfg_write(&b, 1, 0, 0x60, 0x0b0a0905, 4);
    g_assert_cmphex(cfg_read(&b, 1, 0, 0x60, 4), ==, 0x0b0a0905);
    g_assert_cmpuint(b.f->link_route_calls, ==, 0);
    board_stop(&b);
}

static void test_elcr(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(pio_read(&b, 0x4d0, 2), ==, 0);
    pio_write(&b, 0x4d0, 0xff, 1);
    pio_write(&b, 0x4d1, 0xff, 1);
    /* IRQ 0, 1, 2, 8 and 13 are always edge */
    g_assert_cmphex(pio_read(&b, 0x4d0, 1), ==, 0xf8);
    g_assert_cmphex(pio_read(&b, 0x4d1, 1), ==, 0xde);
    pio_write(&b, 0x4d0, 0x0c20, 2); /* IRQ 5, 10, 11 level */
    g_assert_cmphex(pio_read(&b, 0x4d0, 2), ==, 0x0c20);
    /* a dword spans past the ELCR: nobody serves it */
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x4d0, 4));
    board_stop(&b);
}

static void test_piix4_pm_header(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(cfg_read(&b, 1, 3, 0x08, 4), ==, 0x06800003);
    cfg_write(&b, 1, 3, 0x40, 0xffffffff, 4);
    g_assert_cmphex(cfg_read(&b, 1, 3, 0x40, 4), ==, 0x0000ffc1);
    cfg_write(&b, 1, 3, 0x80, 0xff, 1);
    g_assert_cmphex(cfg_read(&b, 1, 3, 0x80, 1), ==, 0x01);
    board_stop(&b);
}

static void test_hotplug_ports(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    struct piix4_pm *pm = machine_find_device(b.m, "PIIX4_PM");
    g_assert_cmphex(pio_read(&b, 0xae00, 4), ==, 0);
    g_assert_cmphex(pio_read(&b, 0xae04, 4), ==, 0);
    /* up/down bitmaps are read-only */
    pio_write(&b, 0xae00, 0xffffffff, 4);
    pio_write(&b, 0xae04, 0xffffffff, 4);
    pio_write(&b, 0xae06, 0xffffffff, 4); /* straddles down and eject: refused whole */
    g_assert_cmphex(pio_read(&b, 0xae00, 4), ==, 0);
    g_assert_cmphex(pio_read(&b, 0xae04, 4), ==, 0);
    g_assert_cmphex(piix4_pm_ejected_slots(pm), ==, 0);
    /* what the DSDT's _EJ0 does: write the slot's bit to B0EJ */
    pio_write(&b, 0xae08, 1u << 5, 4);
    g_assert_cmphex(piix4_pm_ejected_slots(pm), ==, 1u << 5);
    /* byte writes into the upper bytes of B0EJ */
    pio_write(&b, 0xae0b, 0x80, 1);
    g_assert_cmphex(piix4_pm_ejected_slots(pm), ==, (1u << 5) | (1u << 31));
    /* the chipset cannot be ejected */
    pio_write(&b, 0xae08, 0x3, 4);
    g_assert_cmphex(piix4_pm_ejected_slots(pm), ==, (1u << 5) | (1u << 31));
    g_assert_cmphex(pio_read(&b, 0xae08, 4), ==, 0); /* write-only */
    /* odd widths and offsets read consistently; past the end: nobody */
    g_assert_cmphex(pio_read(&b, 0xae03, 2), ==, 0);
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0xae0a, 4));
    board_stop(&b);
}

static void test_hotplug_write_flood(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    /* logs are rate-limited: a flood must stay cheap and harmless */
    for (unsigned int i = 0; i < 100000; i++) {
        pio_write(&b, 0xae00 + (i % 8), i, 1);
        pio_write(&b, 0xae08, i << 2, 4);
    }
    g_assert_cmphex(pio_read(&b, 0xae00, 4), ==, 0);
    board_stop(&b);
}

/* hvmloader's PIIX4 set-up, then the guest's ACPI power-off. */
static void test_pm1_cnt_poweroff(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    g_assert_cmphex(pio_read(&b, 0xb004, 2), ==, 0xffff); /* not decoded yet */
    cfg_write(&b, 1, 3, 0x40, 0xb000 | 1, 4);
    cfg_write(&b, 1, 3, 0x80, 0x01, 1);
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xb004, 0xb005));
    g_assert_false(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xb000, 0xb003)); /* Xen's */
    g_assert_cmphex(pio_read(&b, 0xb004, 2), ==, 0x0001); /* SCI_EN: ACPI mode */
    /* S3 is not offered: logged, nothing happens */
    pio_write(&b, 0xb004, 0x2000 | (1 << 10) | 1, 2);
    g_assert_cmpuint(b.f->shutdowns, ==, 0);
    g_assert_cmphex(pio_read(&b, 0xb004, 2), ==, 0x0401);
    /* SLP_TYP 0 (Xen's _S5) with SLP_EN, written as two bytes as some OSes do */
    pio_write(&b, 0xb004, 0x01, 1);
    pio_write(&b, 0xb005, 0x20, 1);
    g_assert_cmpuint(b.f->shutdowns, ==, 1);
    g_assert_cmpuint(b.f->shutdown_reason, ==, SHUTDOWN_poweroff);
    g_assert_cmphex(pio_read(&b, 0xb004, 2) & 0x2000, ==, 0); /* SLP_EN reads 0 */
    /* the register follows PMBA, and goes when PM I/O is disabled */
    cfg_write(&b, 1, 3, 0x40, 0xc001, 4);
    g_assert_false(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xb004, 0xb005));
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xc004, 0xc005));
    cfg_write(&b, 1, 3, 0x80, 0x00, 1);
    g_assert_false(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xc004, 0xc005));
    /* a PMBA over another device's ports is refused and logged, no crash */
    cfg_write(&b, 1, 3, 0x40, 0xae00 | 1, 4);
    cfg_write(&b, 1, 3, 0x80, 0x01, 1);
    g_assert_cmpuint(b.f->shutdowns, ==, 1);
    board_stop(&b);
}

static void test_gpe_hotplug_event(void)
{
    struct board b;

    board_start(&b, "xenfv", NULL);
    struct piix4_pm *pm = machine_find_device(b.m, "PIIX4_PM");
    g_assert_true(fake_hv_has_range(b.f, HV_RANGE_PORT, 0xafe0, 0xafe3));
    g_assert_cmphex(pio_read(&b, 0xafe0, 4), ==, 0);
    piix4_pm_slot_event(pm, 6, true);
    g_assert_cmphex(pio_read(&b, 0xafe0, 2), ==, 0x0002);
    g_assert_false(b.f->isa_irq_level[9]); /* not enabled yet */
    pio_write(&b, 0xafe2, 0x0002, 2);
    g_assert_true(b.f->isa_irq_level[9]);
    g_assert_cmphex(pio_read(&b, 0xae00, 4), ==, 1u << 6); /* what _E01 reads */
    pio_write(&b, 0xafe0, 0x0002, 2); /* the OS clears the status */
    g_assert_false(b.f->isa_irq_level[9]);
    g_assert_cmphex(pio_read(&b, 0xafe0, 4), ==, 0x00020000);
    /* removal request, then the guest's _EJ0 */
    piix4_pm_slot_event(pm, 6, false);
    g_assert_true(b.f->isa_irq_level[9]);
    g_assert_cmphex(pio_read(&b, 0xae04, 4), ==, 1u << 6);
    pio_write(&b, 0xae08, 1u << 6, 4);
    g_assert_cmphex(pio_read(&b, 0xae04, 4), ==, 0);
    g_assert_cmphex(piix4_pm_ejected_slots(pm), ==, 1u << 6);
    /* nonsense slots do nothing */
    pio_write(&b, 0xafe0, 0xffff, 2);
    piix4_pm_slot_event(pm, 0, true);
    piix4_pm_slot_event(pm, 1, false);
    piix4_pm_slot_event(pm, 32, true);
    piix4_pm_slot_event(pm, ~0u, true);
    g_assert_cmphex(pio_read(&b, 0xafe0, 2), ==, 0);
    g_assert_false(b.f->isa_irq_level[9]);
    /* byte accesses, and status bits the guest cannot set */
    pio_write(&b, 0xafe0, 0xff, 1);
    pio_write(&b, 0xafe3, 0x80, 1);
    g_assert_cmphex(pio_read(&b, 0xafe0, 4), ==, 0x80020000);
    g_assert_cmphex(pio_read(&b, 0xafe3, 1), ==, 0x80);
    board_stop(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* guest-triggered warnings are expected output here, not failures */
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK);
    g_test_add_func("/piix/i440fx-header", test_i440fx_header);
    g_test_add_func("/piix/piix3-header", test_piix3_header);
    g_test_add_func("/piix/link-routes", test_piix3_link_routes);
    g_test_add_func("/piix/link-routes-without-hv", test_piix3_routes_without_hv);
    g_test_add_func("/piix/elcr", test_elcr);
    g_test_add_func("/piix/pm-header", test_piix4_pm_header);
    g_test_add_func("/piix/hotplug-ports", test_hotplug_ports);
    g_test_add_func("/piix/hotplug-flood", test_hotplug_write_flood);
    g_test_add_func("/piix/pm1-cnt-poweroff", test_pm1_cnt_poweroff);
    g_test_add_func("/piix/gpe-hotplug-event", test_gpe_hotplug_event);
    return g_test_run();
}
