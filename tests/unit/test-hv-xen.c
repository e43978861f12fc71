/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for ioreq/hv-xen.c against the link-time fakes in
 * fake-libxen.c: every libxen* call is checked by its logged arguments and
 * order, and every handle, resource and foreign mapping must be released.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#define FAKE_LIBXEN_DECLS_ONLY
#include "fake-libxen.c"

/* A second copy of hv-xen.c, built as if on ARM, so the ARM-only paths
 * (no buffered ring, SPIs) run on an x86 build too. Its statics stay in
 * this file; only the constructor needs a distinct name. */
#define HV_XEN_ARCH HV_ARCH_ARM
#define hv_xen_open hv_xen_open_arm
#include "../../ioreq/hv-xen.c"
#undef hv_xen_open
#undef HV_XEN_ARCH

#include <xen/sched.h> /* SHUTDOWN_*, after hv-xen.c's stdint and xen.h */

/* The native build of ioreq/hv-xen.c, linked in beside this file. */
struct hv *hv_xen_open(uint32_t domid, int *err);

#if defined(__aarch64__) || defined(__arm__)
#define NATIVE_ARCH HV_ARCH_ARM
#else
#define NATIVE_ARCH HV_ARCH_X86
#endif

#define DOMID 5

static const char open_log[] = "dm_open\n"
                               "evtchn_open\n"
                               "fmem_open\n"
                               "gnttab_open\n"
                               "evtchn_fd\n"
                               "dm_nr_vcpus dom=5\n";
static const char close_log[] = "gnttab_close\n"
                                "fmem_close\n"
                                "evtchn_close\n"
                                "dm_close\n";

/* Compare the log since the last check with what we expect, and reset it. */
static void expect_log(struct fake_xen *fx, const char *want)
{
    char *got = fake_xen_take_log(fx);

    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

static struct hv *open_ok(struct fake_xen *fx)
{
    int err = 1;
    struct hv *hv;

    fake_xen_install(fx);
    hv = hv_xen_open(DOMID, &err);
    g_assert_nonnull(hv);
    g_assert_cmpint(err, ==, 0);
    expect_log(fx, open_log);
    return hv;
}

/* Close and prove nothing is left: no handle, resource or foreign map. */
static void close_all(struct fake_xen *fx, struct hv *hv, const char *want)
{
    hv_close(hv);
    expect_log(fx, want);
    g_assert_cmpint(fx->open_handles, ==, 0);
    g_assert_cmpint(fx->live_resources, ==, 0);
    g_assert_cmpint(fx->live_foreign_maps, ==, 0);
    g_assert_cmpint(fx->live_grant_maps, ==, 0);
    fake_xen_uninstall(fx);
}

static void fail_next(struct fake_xen *fx, const char *fn, int err, unsigned int skip)
{
    fx->fail_fn = fn;
    fx->fail_errno = err;
    fx->fail_skip = skip;
}

/* ---- open / close ---- */

static void test_open_close(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_domain_info info;

    g_assert_cmpstr(hv->ops->name, ==, "xen");
    g_assert_cmpint(hv->ops->get_info(hv, &info), ==, 0);
    g_assert_cmpuint(info.domid, ==, DOMID);
    g_assert_cmpuint(info.nr_vcpus, ==, 4);
    g_assert_cmpint(info.arch, ==, NATIVE_ARCH);
    g_assert_cmpuint(info.ram_size, ==, 0); /* no DM op says: -m is authoritative */
    expect_log(&fx, ""); /* get_info is answered from the handle */
    close_all(&fx, hv, close_log);
}

static void open_fails(const char *fn, int err_in, const char *want)
{
    struct fake_xen fx;
    int err = 0;

    fake_xen_install(&fx);
    fail_next(&fx, fn, err_in, 0);
    g_assert_null(hv_xen_open(DOMID, &err));
    g_assert_cmpint(err, ==, -err_in);
    expect_log(&fx, want);
    g_assert_cmpint(fx.open_handles, ==, 0);
    fake_xen_uninstall(&fx);
}

static void test_open_errors(void)
{
    struct fake_xen fx;
    int err = 0;

    open_fails("dm_open", EACCES, "dm_open FAIL(13)\n");
    open_fails("fmem_open", ENOENT,
               "dm_open\nevtchn_open\nfmem_open FAIL(2)\nevtchn_close\ndm_close\n");
    open_fails("dm_nr_vcpus", ESRCH,
               "dm_open\nevtchn_open\nfmem_open\ngnttab_open\nevtchn_fd\n"
               "dm_nr_vcpus dom=5 FAIL(3)\n"
               "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");

    /* one 4 KiB slot page holds 128 vCPUs' ioreq_t */
    fake_xen_install(&fx);
    fx.nr_vcpus = 129;
    g_assert_null(hv_xen_open(DOMID, &err));
    g_assert_cmpint(err, ==, -E2BIG);
    g_assert_true(g_str_has_suffix(fx.log->str, close_log));
    g_assert_cmpint(fx.open_handles, ==, 0);
    fake_xen_uninstall(&fx);
    fake_xen_install(&fx);
    fx.nr_vcpus = 128;
    hv_close(hv_xen_open(DOMID, &err));
    g_assert_cmpint(err, ==, 0);
    g_assert_cmpint(fx.open_handles, ==, 0);
    fake_xen_uninstall(&fx);

    fake_xen_install(&fx);
    g_assert_null(hv_xen_open(DOMID_FIRST_RESERVED, &err));
    g_assert_cmpint(err, ==, -EINVAL);
    expect_log(&fx, "");
    fake_xen_uninstall(&fx);
}

/* ---- full set-up ---- */

static void test_setup_buffered(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages, again;
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, 0);
    g_assert_cmpuint(id, ==, 3);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, 0);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=2\n" /* ATOMIC */
                    "fmem_map_resource dom=5 type=0 id=3 frame=0 nr=2 prot=3 flags=0\n"
                    "dm_get_ioreq_server_info dom=5 id=3 ioreq_gfn=NULL bufioreq_gfn=NULL "
                    "port=ptr\n");
    g_assert_cmpint(HVM_IOREQSRV_BUFIOREQ_ATOMIC, ==, 2);
    g_assert_cmpint(XENMEM_resource_ioreq_server, ==, 0);
    /* frame 0 of the resource is the ring, frame 1 the slots */
    g_assert_nonnull(pages.buffered);
    g_assert_true((char *)pages.slots == (char *)pages.buffered + 4096);
    g_assert_cmpuint(pages.buffered_port, ==, 17);
    pages.slots->vcpu_ioreq[3].vp_eport = 55; /* the slot page is writable memory */

    /* mapping again hands back the same pages without asking Xen */
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &again), ==, 0);
    g_assert_true(again.slots == pages.slots && again.buffered == pages.buffered);
    g_assert_cmpuint(again.buffered_port, ==, 17);
    expect_log(&fx, "");

    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PORT, 0x3f8, 0x3ff), ==, 0);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_MMIO, 0xf0000000, 0xf0ffffff), ==, 0);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, hv_sbdf(0, 0, 3, 0),
                                       hv_sbdf(0, 0, 3, 2)), ==, 0);
    g_assert_cmpint(hv->ops->set_server_state(hv, id, true), ==, 0);
    expect_log(&fx, "dm_map_io_range dom=5 id=3 mmio=0 0x3f8-0x3ff\n"
                    "dm_map_io_range dom=5 id=3 mmio=1 0xf0000000-0xf0ffffff\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:03.0\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:03.1\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:03.2\n"
                    "dm_set_ioreq_server_state dom=5 id=3 enabled=1\n");

    g_assert_cmpint(hv->ops->unmap_range(hv, id, HV_RANGE_PORT, 0x3f8, 0x3ff), ==, 0);
    g_assert_cmpint(hv->ops->unmap_range(hv, id, HV_RANGE_MMIO, 0xf0000000, 0xf0ffffff), ==, 0);
    g_assert_cmpint(hv->ops->unmap_range(hv, id, HV_RANGE_PCI, hv_sbdf(0, 0, 3, 0),
                                         hv_sbdf(0, 0, 3, 0)), ==, 0);
    g_assert_cmpint(hv->ops->set_server_state(hv, id, false), ==, 0);
    expect_log(&fx, "dm_unmap_io_range dom=5 id=3 mmio=0 0x3f8-0x3ff\n"
                    "dm_unmap_io_range dom=5 id=3 mmio=1 0xf0000000-0xf0ffffff\n"
                    "dm_unmap_pcidev dom=5 id=3 0000:00:03.0\n"
                    "dm_set_ioreq_server_state dom=5 id=3 enabled=0\n");

    /* teardown: destroy (Xen stops routing), unmap its pages, close handles */
    close_all(&fx, hv,
              "dm_destroy_ioreq_server dom=5 id=3\n"
              "fmem_unmap_resource id=3\n"
              "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");
}

static void test_setup_unbuffered(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages;
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, 0);
    /* only the slot frame, XENMEM_resource_ioreq_server_frame_ioreq(0) == 1 */
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=0\n"
                    "fmem_map_resource dom=5 type=0 id=3 frame=1 nr=1 prot=3 flags=0\n");
    g_assert_null(pages.buffered);
    g_assert_nonnull(pages.slots);
    g_assert_cmpuint(pages.buffered_port, ==, 0);

    /* an explicit destroy releases everything; close then has no server */
    g_assert_cmpint(hv->ops->destroy_server(hv, id), ==, 0);
    expect_log(&fx, "dm_destroy_ioreq_server dom=5 id=3\nfmem_unmap_resource id=3\n");
    g_assert_cmpint(fx.live_resources, ==, 0);
    g_assert_cmpint(hv->ops->destroy_server(hv, id), ==, -ENOENT);
    close_all(&fx, hv, close_log);
}

static void test_sbdf_decoding(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, 0);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=0\n");
    /* crosses a bus boundary: ab:1f.7 -> ac:00.0 */
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, hv_sbdf(0x12, 0xab, 0x1f, 6),
                                       hv_sbdf(0x12, 0xac, 0, 0)), ==, 0);
    expect_log(&fx, "dm_map_pcidev dom=5 id=3 0012:ab:1f.6\n"
                    "dm_map_pcidev dom=5 id=3 0012:ab:1f.7\n"
                    "dm_map_pcidev dom=5 id=3 0012:ac:00.0\n");
    /* the highest SBDF must not wrap the loop */
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, 0xffffffff, 0xffffffff), ==, 0);
    expect_log(&fx, "dm_map_pcidev dom=5 id=3 ffff:ff:1f.7\n");
    close_all(&fx, hv, "dm_destroy_ioreq_server dom=5 id=3\n"
                       "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");
}

static void test_range_errors(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, 0);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=0\n");

    /* refused locally, Xen never asked */
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PORT, 0x10, 0xf), ==, -EINVAL);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PORT, 0xfff0, 0x10000), ==, -EINVAL);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, 0, 256), ==, -E2BIG);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, 0, 0x100000000ull), ==, -EINVAL);
    g_assert_cmpint(hv->ops->map_range(hv, id, (enum hv_range_type)7, 0, 1), ==, -EINVAL);
    g_assert_cmpint(hv->ops->map_range(hv, id + 1, HV_RANGE_MMIO, 0, 1), ==, -ENOENT);
    g_assert_cmpint(hv->ops->set_server_state(hv, id + 1, true), ==, -ENOENT);
    expect_log(&fx, "");

    /* a full bus (256 SBDFs) is allowed */
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, hv_sbdf(0, 1, 0, 0),
                                       hv_sbdf(0, 1, 31, 7)), ==, 0);
    g_free(fake_xen_take_log(&fx));

    /* Xen's errno comes back; a PCI map is all-or-nothing */
    fail_next(&fx, "dm_map_io_range", EEXIST, 0);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_MMIO, 0x1000, 0x1fff), ==, -EEXIST);
    fail_next(&fx, "dm_map_pcidev", ENOSPC, 2);
    g_assert_cmpint(hv->ops->map_range(hv, id, HV_RANGE_PCI, hv_sbdf(0, 0, 4, 0),
                                       hv_sbdf(0, 0, 4, 3)), ==, -ENOSPC);
    expect_log(&fx, "dm_map_io_range dom=5 id=3 mmio=1 0x1000-0x1fff FAIL(17)\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:04.0\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:04.1\n"
                    "dm_map_pcidev dom=5 id=3 0000:00:04.2 FAIL(28)\n"
                    "dm_unmap_pcidev dom=5 id=3 0000:00:04.1\n"
                    "dm_unmap_pcidev dom=5 id=3 0000:00:04.0\n");

    /* unmap tries every SBDF and reports the first failure */
    fail_next(&fx, "dm_unmap_pcidev", ENOENT, 0);
    g_assert_cmpint(hv->ops->unmap_range(hv, id, HV_RANGE_PCI, hv_sbdf(0, 0, 5, 0),
                                         hv_sbdf(0, 0, 5, 1)), ==, -ENOENT);
    expect_log(&fx, "dm_unmap_pcidev dom=5 id=3 0000:00:05.0 FAIL(2)\n"
                    "dm_unmap_pcidev dom=5 id=3 0000:00:05.1\n");
    close_all(&fx, hv, "dm_destroy_ioreq_server dom=5 id=3\n"
                       "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");
}

/* ---- event channels ---- */

static void test_evtchn(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages;
    hv_port_t local[3];
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, 0);
    g_free(fake_xen_take_log(&fx));

    /* one binding per vCPU slot's port, then the buffered ring's */
    pages.slots->vcpu_ioreq[0].vp_eport = 21;
    pages.slots->vcpu_ioreq[1].vp_eport = 22;
    for (int i = 0; i < 2; i++)
        g_assert_cmpint(hv->ops->evtchn_bind(hv, pages.slots->vcpu_ioreq[i].vp_eport, &local[i]),
                        ==, 0);
    g_assert_cmpint(hv->ops->evtchn_bind(hv, pages.buffered_port, &local[2]), ==, 0);
    expect_log(&fx, "evtchn_bind_interdomain dom=5 remote=21\n"
                    "evtchn_bind_interdomain dom=5 remote=22\n"
                    "evtchn_bind_interdomain dom=5 remote=17\n");
    g_assert_cmpint(local[0], ==, 40);
    g_assert_cmpint(local[2], ==, 42);

    /* one fd for every port, learnt at open */
    for (int i = 0; i < 3; i++)
        g_assert_cmpint(hv->ops->evtchn_fd(hv, local[i]), ==, 99);
    g_assert_cmpint(hv->ops->evtchn_fd(hv, -1), ==, -EINVAL);

    fx.pending_port = 41;
    g_assert_cmpint(hv->ops->evtchn_pending(hv, 99), ==, 41);
    g_assert_cmpint(hv->ops->evtchn_pending(hv, 99), <, 0); /* nothing more */
    g_assert_cmpint(hv->ops->evtchn_pending(hv, 98), ==, -EBADF);
    g_assert_cmpint(hv->ops->evtchn_unmask(hv, 41), ==, 0);
    g_assert_cmpint(hv->ops->evtchn_notify(hv, 41), ==, 0);
    g_assert_cmpint(hv->ops->evtchn_unbind(hv, 42), ==, 0);
    expect_log(&fx, "evtchn_pending\nevtchn_pending\n"
                    "evtchn_unmask port=41\nevtchn_notify port=41\nevtchn_unbind port=42\n");

    fail_next(&fx, "evtchn_notify", EINVAL, 0);
    g_assert_cmpint(hv->ops->evtchn_notify(hv, 40), ==, -EINVAL);
    g_free(fake_xen_take_log(&fx));
    close_all(&fx, hv, "dm_destroy_ioreq_server dom=5 id=3\n"
                       "fmem_unmap_resource id=3\n"
                       "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");
}

static void test_bind_fails(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    hv_port_t local = 1234;

    fail_next(&fx, "evtchn_bind_interdomain", EINVAL, 0);
    g_assert_cmpint(hv->ops->evtchn_bind(hv, 21, &local), ==, -EINVAL);
    g_assert_cmpint(local, ==, 1234); /* untouched on failure */
    expect_log(&fx, "evtchn_bind_interdomain dom=5 remote=21 FAIL(22)\n");
    /* the handle is still good afterwards */
    g_assert_cmpint(hv->ops->evtchn_bind(hv, 21, &local), ==, 0);
    g_assert_cmpint(local, ==, 40);
    g_free(fake_xen_take_log(&fx));
    close_all(&fx, hv, close_log);
}

/* ---- server error paths ---- */

static void test_create_fails(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    uint16_t id = 0xbeef;

    fail_next(&fx, "dm_create_ioreq_server", ENOSPC, 0);
    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, -ENOSPC);
    g_assert_cmpuint(id, ==, 0xbeef);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=2 FAIL(28)\n");
    /* nothing was created, so close destroys nothing */
    close_all(&fx, hv, close_log);
}

static void test_server_table_full(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    uint16_t id;
    GString *want = g_string_new(NULL);

    fx.next_server_id = 0;
    for (int i = 0; i < 8; i++)
        g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, 0);
    g_free(fake_xen_take_log(&fx));
    /* Xen allows 8 per domain: a 9th is refused without asking */
    g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, -ENOSPC);
    expect_log(&fx, "");
    for (int i = 0; i < 8; i++)
        g_string_append_printf(want, "dm_destroy_ioreq_server dom=5 id=%d\n", i);
    g_string_append(want, close_log);
    close_all(&fx, hv, want->str);
    g_string_free(want, TRUE);
}

static void test_map_resource_fails(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages = {0};
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, 0);
    fail_next(&fx, "fmem_map_resource", EOPNOTSUPP, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, -EOPNOTSUPP);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=2\n"
                    "fmem_map_resource dom=5 type=0 id=3 frame=0 nr=2 prot=3 flags=0 FAIL(95)\n"
                    "dm_destroy_ioreq_server dom=5 id=3\n");
    g_assert_null(pages.slots);
    /* the server is gone: it is unknown now and close leaves it alone */
    g_assert_cmpint(hv->ops->set_server_state(hv, id, true), ==, -ENOENT);
    g_assert_cmpint(hv->ops->destroy_server(hv, id), ==, -ENOENT);
    close_all(&fx, hv, close_log);
}

static void test_server_info_fails(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages = {0};
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, 0);
    fail_next(&fx, "dm_get_ioreq_server_info", EPERM, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, -EPERM);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=2\n"
                    "fmem_map_resource dom=5 type=0 id=3 frame=0 nr=2 prot=3 flags=0\n"
                    "dm_get_ioreq_server_info dom=5 id=3 ioreq_gfn=NULL bufioreq_gfn=NULL "
                    "port=ptr FAIL(1)\n"
                    "dm_destroy_ioreq_server dom=5 id=3\n"
                    "fmem_unmap_resource id=3\n");
    g_assert_cmpint(fx.live_resources, ==, 0);
    close_all(&fx, hv, close_log);
}

static void test_destroy_fails(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    struct hv_server_pages pages;
    uint16_t id = 0;

    g_assert_cmpint(hv->ops->create_server(hv, false, &id), ==, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, 0);
    g_free(fake_xen_take_log(&fx));
    /* Xen's refusal is reported, but our mapping is dropped regardless */
    fail_next(&fx, "dm_destroy_ioreq_server", ESRCH, 0);
    g_assert_cmpint(hv->ops->destroy_server(hv, id), ==, -ESRCH);
    expect_log(&fx, "dm_destroy_ioreq_server dom=5 id=3 FAIL(3)\nfmem_unmap_resource id=3\n");
    close_all(&fx, hv, close_log);
}

/* ---- guest memory ---- */

static void test_map_frames(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    int err = 1;
    char *p;

    p = hv->ops->map_frames(hv, 0x100, 3, true, &err);
    g_assert_nonnull(p);
    g_assert_cmpint(err, ==, 0);
    p[3 * 4096 - 1] = 1; /* the whole range is there */
    g_assert_cmpint(hv->ops->unmap_frames(hv, p, 3), ==, 0);
    p = hv->ops->map_frames(hv, 0x2000, 1, false, &err);
    g_assert_nonnull(p);
    g_assert_cmpint(hv->ops->unmap_frames(hv, p, 1), ==, 0);
    expect_log(&fx, "fmem_map dom=5 prot=3 pages=3 first=0x100 contiguous=1\n"
                    "fmem_unmap pages=3\n"
                    "fmem_map dom=5 prot=1 pages=1 first=0x2000 contiguous=1\n"
                    "fmem_unmap pages=1\n");

    g_assert_null(hv->ops->map_frames(hv, 0x100, 0, false, &err));
    g_assert_cmpint(err, ==, -EINVAL);
    g_assert_null(hv->ops->map_frames(hv, UINT64_MAX, 2, false, &err));
    g_assert_cmpint(err, ==, -EINVAL);
    expect_log(&fx, "");
    close_all(&fx, hv, close_log);
}

static void test_map_frames_errors(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    int err = 0;

    /* one frame that is not RAM spoils the lot, and nothing stays mapped */
    fx.bad_frame = 2;
    fx.bad_frame_errno = EINVAL;
    g_assert_null(hv->ops->map_frames(hv, 0x100, 4, true, &err));
    g_assert_cmpint(err, ==, -EFAULT);
    expect_log(&fx, "fmem_map dom=5 prot=3 pages=4 first=0x100 contiguous=1\n"
                    "fmem_unmap pages=4\n");
    g_assert_cmpint(fx.live_foreign_maps, ==, 0);

    /* a failure of the whole call carries its errno */
    fx.bad_frame = -1;
    fail_next(&fx, "fmem_map", ENOMEM, 0);
    g_assert_null(hv->ops->map_frames(hv, 0x100, 1, false, NULL));
    fail_next(&fx, "fmem_map", ENOMEM, 0);
    g_assert_null(hv->ops->map_frames(hv, 0x100, 1, false, &err));
    g_assert_cmpint(err, ==, -ENOMEM);
    g_free(fake_xen_take_log(&fx));
    close_all(&fx, hv, close_log);
}

/* ---- grants ---- */

static void test_grant_map(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    const uint32_t refs[3] = { 8, 9, 700 };
    int err = 1;

    char *p = hv->ops->grant_map(hv, refs, 3, true, &err);
    g_assert_nonnull(p);
    g_assert_cmpint(err, ==, 0);
    p[3 * 4096 - 1] = 1; /* contiguous: every page is there */
    char *ro = hv->ops->grant_map(hv, refs, 1, false, &err);
    g_assert_nonnull(ro);
    g_assert_cmpint(fx.live_grant_maps, ==, 2);
    g_assert_cmpint(hv->ops->grant_unmap(hv, p, 3), ==, 0);
    g_assert_cmpint(hv->ops->grant_unmap(hv, ro, 1), ==, 0);
    expect_log(&fx, "gnttab_map dom=5 prot=3 refs=8,9,700\n"
                    "gnttab_map dom=5 prot=1 refs=8\n"
                    "gnttab_unmap count=3\n"
                    "gnttab_unmap count=1\n");

    /* refusals: nothing asked of the library, nothing left mapped */
    g_assert_null(hv->ops->grant_map(hv, refs, 0, false, &err));
    g_assert_cmpint(err, ==, -EINVAL);
    g_assert_null(hv->ops->grant_map(hv, NULL, 1, false, &err));
    g_assert_cmpint(err, ==, -EINVAL);
    g_assert_cmpint(hv->ops->grant_unmap(hv, NULL, 1), ==, -EINVAL);
    g_assert_cmpint(hv->ops->grant_unmap(hv, ro, 0), ==, -EINVAL);
    expect_log(&fx, "");
    close_all(&fx, hv, close_log);
}

static void test_grant_map_errors(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    const uint32_t refs[2] = { 1, 50 };
    int err = 0;

    /* one ref not granted to us: the whole map fails with the driver's errno */
    fx.bad_gref = 50;
    fx.bad_gref_errno = EACCES;
    g_assert_null(hv->ops->grant_map(hv, refs, 2, true, &err));
    g_assert_cmpint(err, ==, -EACCES);
    fail_next(&fx, "gnttab_map", ENOMEM, 0);
    g_assert_null(hv->ops->grant_map(hv, refs, 1, false, &err));
    g_assert_cmpint(err, ==, -ENOMEM);
    fail_next(&fx, "gnttab_map", ENOMEM, 0);
    g_assert_null(hv->ops->grant_map(hv, refs, 1, false, NULL)); /* err optional */
    g_assert_cmpint(fx.live_grant_maps, ==, 0);
    g_free(fake_xen_take_log(&fx));

    void *p = hv->ops->grant_map(hv, refs, 1, false, &err);
    fail_next(&fx, "gnttab_unmap", EINVAL, 0);
    g_assert_cmpint(hv->ops->grant_unmap(hv, p, 1), ==, -EINVAL);
    g_assert_cmpint(hv->ops->grant_unmap(hv, p, 1), ==, 0);
    expect_log(&fx, "gnttab_map dom=5 prot=1 refs=1\n"
                    "gnttab_unmap count=1 FAIL(22)\n"
                    "gnttab_unmap count=1\n");
    g_assert_cmpint(fx.live_grant_maps, ==, 0);
    close_all(&fx, hv, close_log);
}

static void test_grant_copy(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    uint8_t out[4] = { 1, 2, 3, 4 }, in[4] = { 0 }, big[16];
    struct hv_grant_copy_seg segs[5] = {
        { .ref = 3, .offset = 100, .len = 4, .to_guest = true, .local = out, .status = 99 },
        { .ref = 3, .offset = 100, .len = 4, .local = in, .status = 99 },
        { .ref = 3, .offset = 4090, .len = 16, .local = big, .status = 99 }, /* crosses */
        { .ref = 60, .offset = 0, .len = 4, .local = in, .status = 99 },
        { .ref = 3, .offset = 0, .len = 4, .local = NULL, .status = 99 },
    };

    fx.bad_gref = 60;
    g_assert_cmpint(hv->ops->grant_copy(hv, segs, 5), ==, 0);
    /* the crossing and NULL segments never reach the library */
    expect_log(&fx, "gnttab_copy count=3 to:3:100:4:dom5 from:3:100:4:dom5 from:60:0:4:dom5\n");
    g_assert_cmpint(segs[0].status, ==, GNTST_okay);
    g_assert_cmpint(segs[1].status, ==, GNTST_okay);
    g_assert_cmpmem(in, 4, out, 4);
    g_assert_cmpint(segs[2].status, ==, GNTST_bad_copy_arg);
    g_assert_cmpint(segs[3].status, ==, GNTST_permission_denied);
    g_assert_cmpint(segs[4].status, ==, GNTST_bad_copy_arg);

    /* only bad segments: no call at all; none at all: nothing to do */
    segs[2].status = 99;
    g_assert_cmpint(hv->ops->grant_copy(hv, &segs[2], 1), ==, 0);
    g_assert_cmpint(segs[2].status, ==, GNTST_bad_copy_arg);
    g_assert_cmpint(hv->ops->grant_copy(hv, segs, 0), ==, 0);
    expect_log(&fx, "");

    /* the call itself failing: its errno, every passed segment marked */
    fail_next(&fx, "gnttab_copy", EFAULT, 0);
    g_assert_cmpint(hv->ops->grant_copy(hv, segs, 2), ==, -EFAULT);
    g_assert_cmpint(segs[0].status, ==, GNTST_general_error);
    g_assert_cmpint(segs[1].status, ==, GNTST_general_error);
    g_free(fake_xen_take_log(&fx));
    close_all(&fx, hv, close_log);
}

/* ---- interrupts and domain control ---- */

static void test_irqs_and_control(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);

    g_assert_cmpint(hv->ops->set_isa_irq_level(hv, 4, true), ==, 0);
    g_assert_cmpint(hv->ops->set_pci_intx_level(hv, 0, 0, 3, 1, false), ==, 0);
    g_assert_cmpint(hv->ops->set_pci_link_route(hv, 2, 11), ==, 0);
    g_assert_cmpint(hv->ops->inject_msi(hv, 0xfee00000, 0x4031), ==, 0);
    g_assert_cmpint(hv->ops->shutdown(hv, SHUTDOWN_reboot), ==, 0);
    g_assert_cmpint(hv->ops->restrict_to_domain(hv), ==, 0);
    expect_log(&fx, "dm_set_isa_irq_level dom=5 irq=4 level=1\n"
                    "dm_set_pci_intx_level dom=5 0000:00:03 intx=1 level=0\n"
                    "dm_set_pci_link_route dom=5 link=2 irq=11\n"
                    "dm_inject_msi dom=5 addr=0xfee00000 data=0x4031\n"
                    "dm_shutdown dom=5 reason=1\n"
                    "toolcore_restrict_all dom=5\n");

    fail_next(&fx, "toolcore_restrict_all", EPERM, 0);
    g_assert_cmpint(hv->ops->restrict_to_domain(hv), ==, -EPERM);
    fail_next(&fx, "dm_inject_msi", EINVAL, 0);
    g_assert_cmpint(hv->ops->inject_msi(hv, 0, 0), ==, -EINVAL);
    g_free(fake_xen_take_log(&fx));

    if (NATIVE_ARCH == HV_ARCH_X86) {
        g_assert_cmpint(hv->ops->set_spi_level(hv, 40, true), ==, -EOPNOTSUPP);
        expect_log(&fx, "");
    }
    close_all(&fx, hv, close_log);
}

/* ---- dirty tracking ---- */

static void test_dirty_tracking(void)
{
    struct fake_xen fx;
    struct hv *hv = open_ok(&fx);
    const struct hv_pfn_range one = { 0xf0000, 16 };
    const struct hv_pfn_range two[2] = { { 0x100, 1 }, { 0xfffff, 3 } };
    unsigned long bitmap[HV_DIRTY_BITMAP_LONGS(130) + 1];

    /* one range: the plain call; several: the bulk call, extents as given */
    g_assert_cmpint(hv->ops->modified_memory(hv, &one, 1), ==, 0);
    g_assert_cmpint(hv->ops->modified_memory(hv, two, 2), ==, 0);
    expect_log(&fx, "dm_modified_memory dom=5 first=0xf0000 nr=16\n"
                    "dm_modified_memory_bulk dom=5 n=2 0x100+1,0xfffff+3\n");
    /* refused before any hypercall: nothing, an empty range, pfn wrap-around */
    const struct hv_pfn_range empty = { 0x100, 0 }, wraps = { UINT64_MAX - 1, 3 };
    g_assert_cmpint(hv->ops->modified_memory(hv, &one, 0), ==, -EINVAL);
    g_assert_cmpint(hv->ops->modified_memory(hv, NULL, 1), ==, -EINVAL);
    g_assert_cmpint(hv->ops->modified_memory(hv, &empty, 1), ==, -EINVAL);
    g_assert_cmpint(hv->ops->modified_memory(hv, &wraps, 1), ==, -EINVAL);
    expect_log(&fx, "");
    fail_next(&fx, "dm_modified_memory_bulk", EINVAL, 0);
    g_assert_cmpint(hv->ops->modified_memory(hv, two, 2), ==, -EINVAL);
    g_free(fake_xen_take_log(&fx));

    /* the bitmap comes back as Xen fills it, sized for nr pages */
    fx.dirty_word = 0xa5;
    memset(bitmap, 0, sizeof(bitmap));
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, 0xf0000, 130, bitmap), ==, 0);
    expect_log(&fx, "dm_track_dirty_vram dom=5 first=0xf0000 nr=130\n");
    for (size_t i = 0; i < HV_DIRTY_BITMAP_LONGS(130); i++)
        g_assert_cmphex(bitmap[i], ==, 0xa5);
    g_assert_cmphex(bitmap[HV_DIRTY_BITMAP_LONGS(130)], ==, 0); /* nothing past it */
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, 0, 0, NULL), ==, 0); /* stop tracking */
    expect_log(&fx, "dm_track_dirty_vram dom=5 first=0x0 nr=0\n");
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, 0, HV_MAX_VRAM_PAGES + 1, bitmap), ==, -EINVAL);
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, 0, 1, NULL), ==, -EINVAL);
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, UINT64_MAX, 2, bitmap), ==, -EINVAL);
    expect_log(&fx, "");
    fail_next(&fx, "dm_track_dirty_vram", ESRCH, 0);
    g_assert_cmpint(hv->ops->track_dirty_vram(hv, 0xf0000, 1, bitmap), ==, -ESRCH);
    expect_log(&fx, "dm_track_dirty_vram dom=5 first=0xf0000 nr=1 FAIL(3)\n");
    close_all(&fx, hv, close_log);
}

/* ---- the ARM build ---- */

static void test_arm(void)
{
    struct fake_xen fx;
    struct hv *hv;
    struct hv_domain_info info;
    struct hv_server_pages pages;
    uint16_t id = 0;
    int err = 1;

    fake_xen_install(&fx);
    hv = hv_xen_open_arm(DOMID, &err);
    g_assert_nonnull(hv);
    expect_log(&fx, open_log);
    g_assert_cmpint(hv->ops->get_info(hv, &info), ==, 0);
    g_assert_cmpint(info.arch, ==, HV_ARCH_ARM);

    /* no buffered ring on ARM, even when asked */
    g_assert_cmpint(hv->ops->create_server(hv, true, &id), ==, 0);
    g_assert_cmpint(hv->ops->map_server_pages(hv, id, &pages), ==, 0);
    g_assert_null(pages.buffered);
    expect_log(&fx, "dm_create_ioreq_server dom=5 bufioreq=0\n"
                    "fmem_map_resource dom=5 type=0 id=3 frame=1 nr=1 prot=3 flags=0\n");

    g_assert_cmpint(hv->ops->set_spi_level(hv, 31, true), ==, -EINVAL);
    g_assert_cmpint(hv->ops->set_spi_level(hv, 32, true), ==, 0);
    g_assert_cmpint(hv->ops->set_spi_level(hv, 40, false), ==, 0);
    expect_log(&fx, "dm_set_irq_level dom=5 irq=32 level=1\n"
                    "dm_set_irq_level dom=5 irq=40 level=0\n");
    close_all(&fx, hv, "dm_destroy_ioreq_server dom=5 id=3\n"
                       "fmem_unmap_resource id=3\n"
                       "gnttab_close\nfmem_close\nevtchn_close\ndm_close\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hv-xen/open-close", test_open_close);
    g_test_add_func("/hv-xen/open-errors", test_open_errors);
    g_test_add_func("/hv-xen/setup-buffered", test_setup_buffered);
    g_test_add_func("/hv-xen/setup-unbuffered", test_setup_unbuffered);
    g_test_add_func("/hv-xen/sbdf-decoding", test_sbdf_decoding);
    g_test_add_func("/hv-xen/range-errors", test_range_errors);
    g_test_add_func("/hv-xen/evtchn", test_evtchn);
    g_test_add_func("/hv-xen/bind-fails", test_bind_fails);
    g_test_add_func("/hv-xen/create-fails", test_create_fails);
    g_test_add_func("/hv-xen/server-table-full", test_server_table_full);
    g_test_add_func("/hv-xen/map-resource-fails", test_map_resource_fails);
    g_test_add_func("/hv-xen/server-info-fails", test_server_info_fails);
    g_test_add_func("/hv-xen/destroy-fails", test_destroy_fails);
    g_test_add_func("/hv-xen/map-frames", test_map_frames);
    g_test_add_func("/hv-xen/map-frames-errors", test_map_frames_errors);
    g_test_add_func("/hv-xen/grant-map", test_grant_map);
    g_test_add_func("/hv-xen/grant-map-errors", test_grant_map_errors);
    g_test_add_func("/hv-xen/grant-copy", test_grant_copy);
    g_test_add_func("/hv-xen/irqs-and-control", test_irqs_and_control);
    g_test_add_func("/hv-xen/dirty-tracking", test_dirty_tracking);
    g_test_add_func("/hv-xen/arm", test_arm);
    return g_test_run();
}
