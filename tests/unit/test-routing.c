/* SPDX-License-Identifier: MIT */
/* xensim's routing table, CF8/CFC decoding and rep page cuts (routing.c). */
#include <errno.h>
#include <glib.h>

#include "contrib/xensim/layout.h"
#include "contrib/xensim/routing.h"

static struct xsim_routing *table_with_servers(unsigned int n)
{
    struct xsim_routing *rt = g_new0(struct xsim_routing, 1);
    for (unsigned int i = 0; i < n; i++)
        g_assert_cmpint(xsim_routing_add_server(rt), ==, (int)i);
    return rt;
}

static void test_precedence(void)
{
    struct xsim_routing *rt = table_with_servers(8);
    for (unsigned int id = 0; id < 8; id++) {
        g_assert_cmpint(xsim_routing_map(rt, id, HV_RANGE_PORT, 0x100, 0x1FF), ==, 0);
        xsim_routing_set_enabled(rt, id, true);
    }
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x100, 0x103), ==, 7);
    xsim_routing_set_enabled(rt, 7, false);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x100, 0x103), ==, 6);
    xsim_routing_remove_server(rt, 6);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x100, 0x103), ==, 5);
    g_free(rt);
}

static void test_containment(void)
{
    struct xsim_routing *rt = table_with_servers(2);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_MMIO, 0x1000, 0x1FFF), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_MMIO, 0x2000, 0x2FFF), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 1, HV_RANGE_MMIO, 0x3000, 0x3FFF), ==, 0);
    xsim_routing_set_enabled(rt, 0, true);
    xsim_routing_set_enabled(rt, 1, true);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, 0x1FFC, 0x1FFF), ==, 0);
    /* adjacent ranges of one server do not merge; across servers neither */
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, 0x1FFE, 0x2001), ==, -1);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, 0x2FFE, 0x3001), ==, -1);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, 0x3000, 0x3000), ==, 1);
    /* other types see nothing */
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x1000, 0x1000), ==, -1);
    g_free(rt);
}

static void test_disabled(void)
{
    struct xsim_routing *rt = table_with_servers(1);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x60, 0x64), ==, 0);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x60, 0x60), ==, -1);
    g_assert_cmpuint(xsim_routing_enabled_count(rt), ==, 0);
    xsim_routing_set_enabled(rt, 0, true);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PORT, 0x60, 0x60), ==, 0);
    g_assert_cmpuint(xsim_routing_enabled_count(rt), ==, 1);
    g_free(rt);
}

static void test_overlap_and_args(void)
{
    struct xsim_routing *rt = table_with_servers(2);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x10, 0x1F), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x1F, 0x2F), ==, -EEXIST);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x00, 0x10), ==, -EEXIST);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x12, 0x13), ==, -EEXIST);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x00, 0xFF), ==, -EEXIST);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x20, 0x2F), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_MMIO, 0x10, 0x1F), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 1, HV_RANGE_PORT, 0x10, 0x1F), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, 3, 0, 1), ==, -EINVAL);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 5, 4), ==, -EINVAL);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0, 0x10000), ==, -EINVAL);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PCI, 0, 0x100000000ull), ==, -EINVAL);
    g_assert_cmpint(xsim_routing_map(rt, 5, HV_RANGE_PORT, 0, 1), ==, -ENOENT);
    g_assert_cmpint(xsim_routing_unmap(rt, 0, HV_RANGE_PORT, 0x10, 0x1E), ==, -ENOENT);
    g_assert_cmpint(xsim_routing_unmap(rt, 0, HV_RANGE_PORT, 0x10, 0x1F), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PORT, 0x18, 0x19), ==, 0);
    g_free(rt);
}

static void test_limits(void)
{
    struct xsim_routing *rt = table_with_servers(8);
    g_assert_cmpint(xsim_routing_add_server(rt), ==, -ENOSPC);
    for (unsigned int i = 0; i < XSIM_MAX_RANGES; i++)
        g_assert_cmpint(xsim_routing_map(rt, 3, HV_RANGE_MMIO, i * 16, i * 16 + 15), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 3, HV_RANGE_MMIO, 0x100000, 0x100000), ==, -ENOSPC);
    g_assert_cmpint(xsim_routing_map(rt, 3, HV_RANGE_PORT, 0, 0), ==, 0); /* per type */
    xsim_routing_remove_server(rt, 2);
    g_assert_cmpint(xsim_routing_add_server(rt), ==, 2); /* lowest free */
    g_free(rt);
}

static void test_pci_sbdf(void)
{
    struct xsim_routing *rt = table_with_servers(2);
    uint32_t dev3 = hv_sbdf(0, 0, 3, 0), dev4 = hv_sbdf(0, 0, 4, 0);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_PCI, dev3, dev3 + 7), ==, 0);
    g_assert_cmpint(xsim_routing_map(rt, 1, HV_RANGE_PCI, dev4, dev4), ==, 0);
    xsim_routing_set_enabled(rt, 0, true);
    xsim_routing_set_enabled(rt, 1, true);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PCI, dev3 + 2, dev3 + 2), ==, 0);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PCI, dev4, dev4), ==, 1);
    g_assert_cmpint(xsim_route(rt, HV_RANGE_PCI, dev4 + 1, dev4 + 1), ==, -1);
    g_free(rt);
}

static void test_cf8(void)
{
    uint32_t sbdf;
    uint64_t addr;
    uint32_t cf8 = 0x80000000u | (1u << 16) | (3u << 11) | (2u << 8) | 0x40;
    g_assert_true(xsim_cf8_decode(cf8, 0xCFC, 4, &sbdf, &addr));
    g_assert_cmphex(sbdf, ==, hv_sbdf(0, 1, 3, 2));
    g_assert_cmphex(addr, ==, ((uint64_t)hv_sbdf(0, 1, 3, 2) << 32) | 0x40);
    g_assert_true(xsim_cf8_decode(cf8 | 3, 0xCFE, 2, &sbdf, &addr)); /* low CF8 bits ignored */
    g_assert_cmphex(addr & 0xFFFFFFFF, ==, 0x42);
    g_assert_true(xsim_cf8_decode(cf8, 0xCFF, 1, &sbdf, &addr));
    g_assert_cmphex(addr & 0xFF, ==, 0x43);
    g_assert_false(xsim_cf8_decode(cf8, 0xCFE, 4, &sbdf, &addr)); /* past 0xCFF */
    g_assert_false(xsim_cf8_decode(cf8, 0xCFD, 8, &sbdf, &addr));
    g_assert_false(xsim_cf8_decode(cf8, 0xCFC, 3, &sbdf, &addr));
    g_assert_false(xsim_cf8_decode(cf8, 0xCF8, 4, &sbdf, &addr));
    g_assert_false(xsim_cf8_decode(cf8 & ~0x80000000u, 0xCFC, 4, &sbdf, &addr));
}

static void test_rep_chunks(void)
{
    /* upward, MMIO side hits the page end first */
    g_assert_cmpuint(xsim_rep_chunk(0x1FF8, true, 0x5000, 4, 10, false), ==, 2);
    /* pointer side hits first */
    g_assert_cmpuint(xsim_rep_chunk(0x1000, true, 0x5FFC, 4, 10, false), ==, 1);
    /* no pointer: only the MMIO side */
    g_assert_cmpuint(xsim_rep_chunk(0x1000, false, 0x5FFC, 4, 10, false), ==, 10);
    g_assert_cmpuint(xsim_rep_chunk(0x1000, false, 0, 8, 1000, false), ==, 512);
    /* downward: elements at addr, addr-4, ... down to the page start */
    g_assert_cmpuint(xsim_rep_chunk(0x1008, true, 0x5FFC, 4, 10, true), ==, 3);
    g_assert_cmpuint(xsim_rep_chunk(0x1000, true, 0x5FFC, 4, 10, true), ==, 1);
    /* an element that itself crosses a page goes alone */
    g_assert_cmpuint(xsim_rep_chunk(0x1FFE, true, 0x5000, 4, 10, false), ==, 1);
    g_assert_cmpuint(xsim_rep_chunk(0x1000, false, 0, 4, 0, false), ==, 1);
}

static void test_rep_spans(void)
{
    uint64_t first, last;
    g_assert_true(xsim_rep_span(0x1000, 4, 4, false, &first, &last));
    g_assert_cmphex(first, ==, 0x1000);
    g_assert_cmphex(last, ==, 0x100F);
    g_assert_true(xsim_rep_span(0x1000, 4, 4, true, &first, &last));
    g_assert_cmphex(first, ==, 0xFF4);
    g_assert_cmphex(last, ==, 0x1003);
    g_assert_false(xsim_rep_span(8, 4, 4, true, &first, &last)); /* below 0 */
    g_assert_false(xsim_rep_span(UINT64_MAX - 8, 4, 4, false, &first, &last));
    g_assert_false(xsim_rep_span(0, 4, 0, false, &first, &last));

    /* a df span is routed as a whole */
    struct xsim_routing *rt = table_with_servers(1);
    g_assert_cmpint(xsim_routing_map(rt, 0, HV_RANGE_MMIO, 0x1000, 0x1FFF), ==, 0);
    xsim_routing_set_enabled(rt, 0, true);
    g_assert_true(xsim_rep_span(0x1004, 4, 2, true, &first, &last));
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, first, last), ==, 0);
    g_assert_true(xsim_rep_span(0x1004, 4, 3, true, &first, &last));
    g_assert_cmpint(xsim_route(rt, HV_RANGE_MMIO, first, last), ==, -1);
    g_free(rt);
}

static void test_bufferable(void)
{
    g_assert_true(xsim_access_bufferable(0xA0000, 1, 1, false, false));
    g_assert_true(xsim_access_bufferable(0xBFFF8, 8, 1, false, false));
    g_assert_false(xsim_access_bufferable(0xBFFFC, 8, 1, false, false));
    g_assert_false(xsim_access_bufferable(0xA0000, 1, 1, false, true));
    g_assert_false(xsim_access_bufferable(0xA0000, 1, 2, false, false));
    g_assert_false(xsim_access_bufferable(0xA0000, 1, 1, true, false));
    g_assert_false(xsim_access_bufferable(0x9FFFF, 1, 1, false, false));
    g_assert_false(xsim_access_bufferable(0xA0000, 3, 1, false, false));
}

static void test_layout(void)
{
    struct xsim_ram_layout l;
    uint64_t off;
    bool is_ram;
    g_assert_true(xsim_ram_layout_compute(HV_ARCH_X86, 5ull << 30, &l));
    g_assert_cmphex(l.region[0].size, ==, 0xF0000000);
    g_assert_cmphex(l.region[1].gpa, ==, 1ull << 32);
    g_assert_cmphex(l.region[1].offset, ==, 0xF0000000);
    g_assert_true(xsim_ram_layout_find(&l, (1ull << 32) + 8, 4, &off));
    g_assert_cmphex(off, ==, 0xF0000008);
    g_assert_false(xsim_ram_layout_find(&l, 0xEFFFFFFC, 8, &off));
    g_assert_false(xsim_ram_layout_find(&l, 0xA0000, 1, &off)); /* VGA hole */
    g_assert_false(xsim_ram_layout_find(&l, 0x9FFFF, 2, &off));
    g_assert_cmphex(xsim_ram_layout_run(&l, 0x9FFF0, 0x100, &is_ram), ==, 0x10);
    g_assert_true(is_ram);
    g_assert_cmphex(xsim_ram_layout_run(&l, 0xB0000, 0x20000, &is_ram), ==, 0x10000);
    g_assert_false(is_ram);
    g_assert_cmphex(xsim_ram_layout_run(&l, 0xEFFFFFF0, 0x100, &is_ram), ==, 0x10);
    g_assert_cmphex(xsim_ram_layout_run(&l, 0xF0000000, ~0ull, &is_ram), ==, 0x10000000);
    g_assert_false(is_ram);
    g_assert_true(xsim_ram_layout_compute(HV_ARCH_ARM, 64 << 20, &l));
    g_assert_cmphex(l.region[0].gpa, ==, 0x40000000);
    g_assert_false(xsim_ram_layout_compute(HV_ARCH_X86, 1000, &l));
    /* a 3 GiB hole (max-ram-below-4g=1G): 1 GiB low, the rest at 4 GiB */
    g_assert_true(xsim_ram_layout_compute_hole(HV_ARCH_X86, 5ull << 30, 3ull << 30, &l));
    g_assert_cmphex(l.region[0].size, ==, 1ull << 30);
    g_assert_cmphex(l.region[1].gpa, ==, 1ull << 32);
    g_assert_cmphex(l.region[1].size, ==, 4ull << 30);
    g_assert_cmphex(l.region[1].offset, ==, 1ull << 30);
    g_assert_cmphex(l.mmio_hole, ==, 3ull << 30);
    g_assert_false(xsim_ram_layout_find(&l, 1ull << 30, 4, &off));
    g_assert_cmphex(xsim_ram_layout_run(&l, 0x3FFFFFF0, 0x100, &is_ram), ==, 0x10);
    /* a small guest keeps all its RAM low whatever the hole */
    g_assert_true(xsim_ram_layout_compute_hole(HV_ARCH_X86, 64 << 20, 3584ull << 20, &l));
    g_assert_cmphex(l.region[0].size, ==, 64 << 20);
    g_assert_cmphex(l.region[1].size, ==, 0);
    /* holes libxl would refuse */
    g_assert_false(xsim_ram_layout_compute_hole(HV_ARCH_X86, 64 << 20, 128 << 20, &l));
    g_assert_false(xsim_ram_layout_compute_hole(HV_ARCH_X86, 64 << 20, 3841ull << 20, &l));
    g_assert_false(xsim_ram_layout_compute_hole(HV_ARCH_X86, 64 << 20, (256 << 20) + 1, &l));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/routing/precedence", test_precedence);
    g_test_add_func("/routing/containment", test_containment);
    g_test_add_func("/routing/disabled", test_disabled);
    g_test_add_func("/routing/overlap-and-args", test_overlap_and_args);
    g_test_add_func("/routing/limits", test_limits);
    g_test_add_func("/routing/pci-sbdf", test_pci_sbdf);
    g_test_add_func("/routing/cf8", test_cf8);
    g_test_add_func("/routing/rep-chunks", test_rep_chunks);
    g_test_add_func("/routing/rep-spans", test_rep_spans);
    g_test_add_func("/routing/bufferable", test_bufferable);
    g_test_add_func("/routing/layout", test_layout);
    return g_test_run();
}
