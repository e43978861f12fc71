/* SPDX-License-Identifier: MIT */
/* The device-model side of the ioreq ABI: slot state machine, buffered
 * ring, rep/df/pointer arithmetic, PCI config and bad requests. */
#include <glib.h>
#include <string.h>

#include "fake-hv.h"
#include "ioreq/ioreq-server.h"
#include "ioreq/mapcache.h"

struct access {
    uint64_t offset, value;
    unsigned int size;
    bool write;
};

/* A device that remembers every access and holds 4 KiB of scratch. */
struct recorder {
    GArray *log;
    uint8_t mem[4096];
};

static uint64_t rec_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct recorder *r = opaque;
    uint64_t v = 0;
    struct access a = { offset, 0, size, false };

    memcpy(&v, r->mem + offset, size);
    a.value = v;
    g_array_append_val(r->log, a);
    return v;
}

static void rec_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct recorder *r = opaque;
    struct access a = { offset, value, size, true };

    memcpy(r->mem + offset, &value, size);
    g_array_append_val(r->log, a);
}

static const struct io_ops rec_ops = { rec_read, rec_write };

struct fixture {
    struct fake_hv *f;
    struct ioreq_server s;
    struct recorder port_dev, mmio_dev;
    struct io_region port_region, mmio_region;
};

#define PORT_BASE 0x1000
#define MMIO_BASE 0xfe000000ull

static void fixture_setup(struct fixture *fx, gconstpointer data)
{
    fx->f = fake_hv_new();
    g_assert_cmpint(ioreq_server_setup(&fx->s, &fx->f->hv, FAKE_VCPUS, true), ==, 0);
    fx->port_dev.log = g_array_new(FALSE, FALSE, sizeof(struct access));
    fx->mmio_dev.log = g_array_new(FALSE, FALSE, sizeof(struct access));
    io_region_init(&fx->port_region, "port-rec", HV_RANGE_PORT, 16, &rec_ops, &fx->port_dev);
    io_region_init(&fx->mmio_region, "mmio-rec", HV_RANGE_MMIO, 4096, &rec_ops, &fx->mmio_dev);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &fx->port_region, PORT_BASE), ==, 0);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &fx->mmio_region, MMIO_BASE), ==, 0);
}

static void fixture_teardown(struct fixture *fx, gconstpointer data)
{
    ioreq_server_teardown(&fx->s);
    g_assert_cmpuint(fx->f->frames_mapped, ==, 0); /* the map cache let go of everything */
    g_array_free(fx->port_dev.log, TRUE);
    g_array_free(fx->mmio_dev.log, TRUE);
    fake_hv_free(fx->f);
}

static ioreq_t *slot(struct fixture *fx, unsigned int vcpu)
{
    return &fx->f->slots->vcpu_ioreq[vcpu];
}

/* What the hypervisor does: fill the slot, mark READY, deliver the event. */
static void post(struct fixture *fx, unsigned int vcpu, ioreq_t req)
{
    req.vp_eport = slot(fx, vcpu)->vp_eport;
    req.state = STATE_IOREQ_READY;
    *slot(fx, vcpu) = req;
    g_assert_true(ioreq_server_handle_port(&fx->s, fx->s.vcpu_ports[vcpu]));
}

static void test_slot_read_write(struct fixture *fx, gconstpointer data)
{
    post(fx, 1, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE + 2, .size = 2, .count = 1,
                           .dir = IOREQ_WRITE, .data = 0xbeef });
    g_assert_cmpuint(slot(fx, 1)->state, ==, STATE_IORESP_READY);
    g_assert_cmpuint(fx->f->notifies, ==, 1);
    post(fx, 0, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE + 2, .size = 2, .count = 1,
                           .dir = IOREQ_READ });
    g_assert_cmpuint(slot(fx, 0)->state, ==, STATE_IORESP_READY);
    g_assert_cmphex(slot(fx, 0)->data, ==, 0xbeef);
    g_assert_cmpuint(fx->f->notifies, ==, 2);
}

static void test_slot_not_ready_ignored(struct fixture *fx, gconstpointer data)
{
    static const uint8_t states[] = { STATE_IOREQ_NONE, STATE_IOREQ_INPROCESS, STATE_IORESP_READY, 9 };

    for (size_t i = 0; i < G_N_ELEMENTS(states); i++) {
        *slot(fx, 0) = (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE, .size = 1,
                                  .count = 1, .dir = IOREQ_READ, .data = 0x55 };
        slot(fx, 0)->state = states[i];
        g_assert_true(ioreq_server_handle_port(&fx->s, fx->s.vcpu_ports[0]));
        g_assert_cmpuint(slot(fx, 0)->state, ==, states[i]); /* untouched */
        g_assert_cmphex(slot(fx, 0)->data, ==, 0x55);
    }
    g_assert_cmpuint(fx->f->notifies, ==, 0);
    g_assert_false(ioreq_server_handle_port(&fx->s, 12345)); /* not our port */
}

static ioreq_t answer(struct fixture *fx, ioreq_t req)
{
    post(fx, 0, req);
    return *slot(fx, 0);
}

static void test_bad_requests_all_ones(struct fixture *fx, gconstpointer data)
{
    ioreq_t r;

    r = answer(fx, (ioreq_t){ .type = 0x42, .addr = PORT_BASE, .size = 4, .count = 1,
                              .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, 0xffffffff);
    g_assert_cmpuint(r.state, ==, STATE_IORESP_READY);
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE, .size = 3, .count = 1,
                              .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, UINT64_MAX);
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE, .size = 8, .count = 1,
                              .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, UINT64_MAX);
    /* a rep count Xen never sends: refused without touching the device */
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE, .size = 1,
                              .count = IOREQ_MAX_REP_COUNT + 1, .dir = IOREQ_WRITE, .data = 1 });
    g_assert_cmpuint(r.state, ==, STATE_IORESP_READY);
    g_assert_cmpuint(fx->mmio_dev.log->len, ==, 0);
    /* PCI config of size 8 */
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PCI_CONFIG, .addr = 0, .size = 8, .count = 1,
                              .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, UINT64_MAX);
    g_assert_cmpuint(fx->s.stats.invalid, ==, 5);
    /* accesses not (wholly) ours read all-ones and write nowhere */
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE + 15, .size = 2,
                              .count = 1, .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, 0xffff);
    g_assert_cmpuint(fx->port_dev.log->len, ==, 0);
}

static void test_rep_outs_pointer(struct fixture *fx, gconstpointer data)
{
    /* rep outsw from RAM 0x2000 upwards: the port stays fixed */
    for (unsigned int i = 0; i < 4; i++) {
        uint16_t v = (uint16_t)(0x1110 * (i + 1));
        memcpy(fx->f->ram + 0x2000 + 2 * i, &v, 2);
    }
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PIO, .addr = PORT_BASE + 4, .size = 2, .count = 4,
                          .data_is_ptr = 1, .dir = IOREQ_WRITE, .data = 0x2000 });
    g_assert_cmpuint(fx->port_dev.log->len, ==, 4);
    for (unsigned int i = 0; i < 4; i++) {
        struct access *a = &g_array_index(fx->port_dev.log, struct access, i);
        g_assert_true(a->write);
        g_assert_cmpuint(a->offset, ==, 4);
        g_assert_cmphex(a->value, ==, 0x1110 * (i + 1));
    }
}

static void test_rep_movs_df(struct fixture *fx, gconstpointer data)
{
    /* rep movsl to MMIO with df=1: both the device address and the RAM
     * pointer walk down from the given element */
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t v = 0xa0 + i;
        memcpy(fx->f->ram + 0x3008 - 4 * i, &v, 4);
    }
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x108, .size = 4,
                          .count = 3, .data_is_ptr = 1, .df = 1, .dir = IOREQ_WRITE,
                          .data = 0x3008 });
    for (uint32_t i = 0; i < 3; i++) {
        struct access *a = &g_array_index(fx->mmio_dev.log, struct access, i);
        g_assert_cmpuint(a->offset, ==, 0x108 - 4 * i);
        g_assert_cmphex(a->value, ==, 0xa0 + i);
    }
    /* and read back to RAM, upwards, 8 bytes at a time */
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x100, .size = 8,
                          .count = 2, .data_is_ptr = 1, .dir = IOREQ_READ, .data = 0x5000 });
    g_assert_cmpmem(fx->f->ram + 0x5000, 16, fx->mmio_dev.mem + 0x100, 16);
}

/* QMP's xen-set-global-dirty-log: our writes to guest RAM are reported,
 * one merged range per request, and only while it is on. */
static void test_rep_log_dirty(struct fixture *fx, gconstpointer data)
{
    const ioreq_t rep_in = { .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x100, .size = 8,
                             .count = 1024, .data_is_ptr = 1, .dir = IOREQ_READ,
                             .data = 0x1ff8 };
    const ioreq_t rep_out = { .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x100, .size = 8,
                              .count = 4, .data_is_ptr = 1, .dir = IOREQ_WRITE, .data = 0x9000 };

    answer(fx, rep_in);
    g_assert_cmpuint(fx->f->modified_pages, ==, 0); /* off: nothing reported */
    mapcache_set_log_dirty(fx->s.mapcache, true);
    answer(fx, rep_in); /* 8 KiB from 0x1ff8: pages 1, 2 and 3 */
    g_assert_cmpuint(fx->f->modified_pages, ==, 3);
    g_assert_cmphex(fx->f->last_modified.first_pfn, ==, 1);
    g_assert_cmpuint(fx->f->last_modified.nr, ==, 3);
    answer(fx, rep_out); /* reading guest RAM dirties nothing */
    g_assert_cmpuint(fx->f->modified_pages, ==, 3);
    ioreq_t down = rep_in;
    down.df = 1;
    down.count = 2;
    down.data = 0x8000; /* 0x8000 then 0x7ff8: pages 8 and 7, merged */
    answer(fx, down);
    g_assert_cmpuint(fx->f->modified_pages, ==, 5);
    g_assert_cmphex(fx->f->last_modified.first_pfn, ==, 7);
    g_assert_cmpuint(fx->f->last_modified.nr, ==, 2);
    mapcache_set_log_dirty(fx->s.mapcache, false);
    answer(fx, rep_in);
    g_assert_cmpuint(fx->f->modified_pages, ==, 5);
}

static void test_rep_pointer_crosses_bucket(struct fixture *fx, gconstpointer data)
{
    /* a rep whose RAM side straddles the 1 MiB bucket boundary */
    uint64_t gpa = (1u << 20) - 6;
    memset(fx->f->ram + gpa, 0x5a, 12);
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE, .size = 4, .count = 3,
                          .data_is_ptr = 1, .dir = IOREQ_WRITE, .data = gpa });
    for (unsigned int i = 0; i < 12; i++)
        g_assert_cmphex(fx->mmio_dev.mem[i], ==, 0x5a);
}

static void test_rep_pointer_outside_ram(struct fixture *fx, gconstpointer data)
{
    ioreq_t r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE, .size = 4,
                                      .count = 2, .data_is_ptr = 1, .dir = IOREQ_READ,
                                      .data = 0x7ffff000 });
    g_assert_cmpuint(r.state, ==, STATE_IORESP_READY);
    /* a pointer wrapping below zero with df=1 */
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 8, .size = 4,
                              .count = 3, .data_is_ptr = 1, .df = 1, .dir = IOREQ_WRITE,
                              .data = 4 });
    g_assert_cmpuint(r.state, ==, STATE_IORESP_READY);
    /* the partial last bucket is reachable page by page */
    uint64_t last_page = FAKE_RAM_SIZE - 4096;
    fx->f->ram[last_page] = 0x77;
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x200, .size = 1,
                          .count = 1, .data_is_ptr = 1, .dir = IOREQ_WRITE, .data = last_page });
    g_assert_cmphex(fx->mmio_dev.mem[0x200], ==, 0x77);
}

static void test_rep_fill_without_pointer(struct fixture *fx, gconstpointer data)
{
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE + 0x40, .size = 2,
                          .count = 4, .dir = IOREQ_WRITE, .data = 0xabcd });
    for (unsigned int i = 0; i < 4; i++) {
        uint16_t v;
        memcpy(&v, fx->mmio_dev.mem + 0x40 + 2 * i, 2);
        g_assert_cmphex(v, ==, 0xabcd);
    }
}

static void test_invalidate_drops_mappings(struct fixture *fx, gconstpointer data)
{
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = MMIO_BASE, .size = 4, .count = 1,
                          .data_is_ptr = 1, .dir = IOREQ_READ, .data = 0x1000 });
    g_assert_cmpuint(fx->f->frames_mapped, >, 0);
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_INVALIDATE, .size = 4, .count = 1 });
    g_assert_cmpuint(fx->f->frames_mapped, ==, 0);
    g_assert_cmpuint(mapcache_nr_mapped(fx->s.mapcache), ==, 0);
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_TIMEOFFSET, .size = 8, .count = 1, .data = 5 });
    g_assert_cmpuint(fx->s.stats.invalid, ==, 0);
}

/* ---- buffered ring -------------------------------------------------------- */

static void buf_push(buffered_iopage_t *page, uint32_t *wp, uint32_t addr, uint64_t value,
                     unsigned int size_code)
{
    buf_ioreq_t b = { .type = IOREQ_TYPE_COPY, .dir = IOREQ_WRITE, .size = size_code & 3,
                      .addr = addr, .data = (uint32_t)value };
    page->buf_ioreq[(*wp)++ % IOREQ_BUFFER_SLOT_NUM] = b;
    if (size_code == 3) {
        buf_ioreq_t hi = b;
        hi.data = (uint32_t)(value >> 32);
        page->buf_ioreq[(*wp)++ % IOREQ_BUFFER_SLOT_NUM] = hi;
    }
}

static void test_buffered_wraps_and_splits(struct fixture *fx, gconstpointer data)
{
    buffered_iopage_t *page = fx->f->buffered;
    struct io_region vga;
    struct recorder vga_dev = { .log = g_array_new(FALSE, FALSE, sizeof(struct access)) };
    uint32_t wp = IOREQ_BUFFER_SLOT_NUM - 2; /* start just before the wrap */

    io_region_init(&vga, "vga", HV_RANGE_MMIO, 0x1000, &rec_ops, &vga_dev);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &vga, 0xa0000), ==, 0);
    page->read_pointer = wp;
    buf_push(page, &wp, 0xa0000, 0x11, 0);
    buf_push(page, &wp, 0xa0010, 0x1122334455667788ull, 3); /* spans the wrap */
    buf_push(page, &wp, 0xa0020, 0x99aa, 1);
    page->write_pointer = wp;
    g_assert_cmpuint(ioreq_server_drain_buffered(&fx->s), ==, 3);
    g_assert_cmpuint(page->read_pointer, ==, page->write_pointer);
    g_assert_cmpuint(vga_dev.log->len, ==, 3);
    g_assert_cmphex(g_array_index(vga_dev.log, struct access, 1).value, ==, 0x1122334455667788ull);
    g_assert_cmpuint(g_array_index(vga_dev.log, struct access, 1).size, ==, 8);
    g_assert_cmphex(g_array_index(vga_dev.log, struct access, 2).value, ==, 0x99aa);

    /* a high half not yet published is left for later */
    buf_push(page, &wp, 0xa0030, 0xffffffff00000001ull, 3);
    page->write_pointer = wp - 1;
    g_assert_cmpuint(ioreq_server_drain_buffered(&fx->s), ==, 0);
    page->write_pointer = wp;
    g_assert_cmpuint(ioreq_server_drain_buffered(&fx->s), ==, 1);

    /* corrupt pointers: stop, don't spin */
    page->write_pointer = page->read_pointer + IOREQ_BUFFER_SLOT_NUM + 5;
    g_assert_cmpuint(ioreq_server_drain_buffered(&fx->s), ==, 0);
    page->write_pointer = page->read_pointer;
    dispatch_unmap_region(fx->s.dispatch, &vga);
    g_array_free(vga_dev.log, TRUE);
}

static void test_buffered_drained_before_sync(struct fixture *fx, gconstpointer data)
{
    buffered_iopage_t *page = fx->f->buffered;
    uint32_t wp = page->write_pointer;
    struct io_region low;
    struct recorder low_dev = { .log = g_array_new(FALSE, FALSE, sizeof(struct access)) };

    io_region_init(&low, "low", HV_RANGE_MMIO, 0x100, &rec_ops, &low_dev);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &low, 0xb8000), ==, 0);
    buf_push(page, &wp, 0xb8004, 0x42, 2);
    page->write_pointer = wp;
    /* the synchronous read must see the buffered write that came before it */
    ioreq_t r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_COPY, .addr = 0xb8004, .size = 4,
                                      .count = 1, .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, 0x42);
    dispatch_unmap_region(fx->s.dispatch, &low);
    g_array_free(low_dev.log, TRUE);
}

/* ---- PCI config ----------------------------------------------------------- */

static uint32_t cfg_read(void *opaque, uint32_t reg, unsigned int size)
{
    return 0x12340000u | reg | (size << 12);
}

static void cfg_write(void *opaque, uint32_t reg, uint32_t value, unsigned int size)
{
    *(uint32_t *)opaque = value;
}

static void test_pci_config(struct fixture *fx, gconstpointer data)
{
    static const struct pci_config_ops ops = { cfg_read, cfg_write };
    uint32_t last_write = 0;
    uint32_t sbdf = hv_sbdf(0, 0, 5, 1);

    g_assert_cmpint(dispatch_add_pci_function(fx->s.dispatch, sbdf, "f", &ops, &last_write), ==, 0);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PCI, sbdf, sbdf));
    g_assert_cmpint(dispatch_add_pci_function(fx->s.dispatch, sbdf, "f", &ops, NULL), ==, -EEXIST);
    ioreq_t r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PCI_CONFIG,
                                      .addr = ((uint64_t)sbdf << 32) | 0x42, .size = 2,
                                      .count = 1, .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, 0x2042); /* masked to the access size */
    answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PCI_CONFIG, .addr = ((uint64_t)sbdf << 32) | 4,
                          .size = 4, .count = 1, .dir = IOREQ_WRITE, .data = 0xcafe });
    g_assert_cmphex(last_write, ==, 0xcafe);
    /* a function we don't serve */
    r = answer(fx, (ioreq_t){ .type = IOREQ_TYPE_PCI_CONFIG,
                              .addr = ((uint64_t)hv_sbdf(0, 0, 6, 0) << 32), .size = 4,
                              .count = 1, .dir = IOREQ_READ });
    g_assert_cmphex(r.data, ==, 0xffffffff);
    dispatch_remove_pci_function(fx->s.dispatch, sbdf);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_PCI, sbdf, sbdf));
}

/* ---- dispatch ---------------------------------------------------------------- */

static void test_dispatch_overlap_and_move(struct fixture *fx, gconstpointer data)
{
    struct io_region other;
    struct recorder dev = { .log = g_array_new(FALSE, FALSE, sizeof(struct access)) };

    io_region_init(&other, "other", HV_RANGE_PORT, 8, &rec_ops, &dev);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &other, PORT_BASE + 15), ==, -EEXIST);
    g_assert_false(other.mapped);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &other, 0xfffc), ==, -EINVAL);
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &other, PORT_BASE + 16), ==, 0);
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PORT, PORT_BASE + 16, PORT_BASE + 23));
    /* moving unmaps the old range with the hypervisor and maps the new */
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &other, 0x2000), ==, 0);
    g_assert_false(fake_hv_has_range(fx->f, HV_RANGE_PORT, PORT_BASE + 16, PORT_BASE + 23));
    g_assert_true(fake_hv_has_range(fx->f, HV_RANGE_PORT, 0x2000, 0x2007));
    g_assert_true(dispatch_find(fx->s.dispatch, HV_RANGE_PORT, 0x2004, 4) == &other);
    g_assert_null(dispatch_find(fx->s.dispatch, HV_RANGE_PORT, 0x2006, 4)); /* straddles the end */
    g_assert_true(dispatch_find(fx->s.dispatch, HV_RANGE_PORT, PORT_BASE, 1) == &fx->port_region);
    g_assert_null(dispatch_find(fx->s.dispatch, HV_RANGE_PORT, 0x1800, 1));
    /* a hypervisor refusal leaves the region unmapped and says why */
    dispatch_unmap_region(fx->s.dispatch, &other);
    fx->f->fail_map_range = ENOSPC;
    g_assert_cmpint(dispatch_map_region(fx->s.dispatch, &other, 0x3000), ==, -ENOSPC);
    g_assert_false(other.mapped);
    g_assert_null(dispatch_find(fx->s.dispatch, HV_RANGE_PORT, 0x3000, 1));
    fx->f->fail_map_range = 0;
    g_array_free(dev.log, TRUE);
}

/* ---- polling mode: bounded in time and in requests ---------------------- */

/* A clock that moves step ns per reading and can play the guest: post a
 * request on vCPU 0 at a given reading, or at every reading. */
struct fake_clock {
    uint64_t t, step;
    unsigned int readings;
    struct fixture *fx;
    unsigned int post_at;   /* 0: never */
    bool post_every;
};

static void post_silently(struct fixture *fx, unsigned int vcpu)
{
    ioreq_t req = { .type = IOREQ_TYPE_PIO, .addr = PORT_BASE, .size = 1, .count = 1,
                    .dir = IOREQ_READ, .vp_eport = slot(fx, vcpu)->vp_eport,
                    .state = STATE_IOREQ_READY };
    *slot(fx, vcpu) = req; /* no event delivered: the poll must find it */
}

static uint64_t fake_now(void *opaque)
{
    struct fake_clock *c = opaque;

    c->readings++;
    if (c->post_every || (c->post_at && c->readings == c->post_at))
        post_silently(c->fx, 0);
    c->t += c->step;
    return c->t;
}

static void test_poll_idle_is_bounded(struct fixture *fx, gconstpointer data)
{
    struct fake_clock c = { .t = 1000000, .step = 1000, .fx = fx };

    g_assert_cmpuint(ioreq_server_poll(&fx->s, 50000, fake_now, &c), ==, 0);
    /* gives up once the budget has passed, not much later */
    g_assert_cmpuint(c.t - 1000000, >=, 50000);
    g_assert_cmpuint(c.t - 1000000, <=, 50000 + 2 * c.step);
    g_assert_cmpuint(fx->f->notifies, ==, 0);

    struct fake_clock zero = { .step = 1000, .fx = fx };
    g_assert_cmpuint(ioreq_server_poll(&fx->s, 0, fake_now, &zero), ==, 0);
    g_assert_cmpuint(zero.readings, <=, 2); /* budget 0: one look, no spinning */
}

static void test_poll_serves_and_restarts_budget(struct fixture *fx, gconstpointer data)
{
    struct fake_clock c = { .t = 0, .step = 1000, .fx = fx, .post_at = 10 };

    g_assert_cmpuint(ioreq_server_poll(&fx->s, 20000, fake_now, &c), ==, 1);
    g_assert_cmpuint(slot(fx, 0)->state, ==, STATE_IORESP_READY);
    g_assert_cmpuint(fx->f->notifies, ==, 1);
    /* the budget restarted after the request, and ended 20 us later */
    g_assert_cmpuint(c.t, >=, 10 * c.step + 20000);
    g_assert_cmpuint(c.t, <=, 10 * c.step + 20000 + 3 * c.step);
    /* the event that still arrives for it is ignored, not answered twice */
    g_assert_true(ioreq_server_handle_port(&fx->s, fx->s.vcpu_ports[0]));
    g_assert_cmpuint(fx->f->notifies, ==, 1);
}

static void test_poll_busy_guest_yields(struct fixture *fx, gconstpointer data)
{
    struct fake_clock c = { .step = 1, .fx = fx, .post_every = true };

    /* a guest that never stops asking still lets the main loop run */
    g_assert_cmpuint(ioreq_server_poll(&fx->s, 1000000, fake_now, &c), ==, IOREQ_POLL_MAX_BATCH);
    g_assert_cmpuint(fx->f->notifies, ==, IOREQ_POLL_MAX_BATCH);
}

#define ADD(path, fn) g_test_add(path, struct fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL); /* warnings from bad input are expected */
    g_log_set_fatal_mask(NULL, G_LOG_LEVEL_CRITICAL);
    ADD("/ioreq/slot/read-write", test_slot_read_write);
    ADD("/ioreq/slot/not-ready-ignored", test_slot_not_ready_ignored);
    ADD("/ioreq/bad/all-ones", test_bad_requests_all_ones);
    ADD("/ioreq/rep/outs-pointer", test_rep_outs_pointer);
    ADD("/ioreq/rep/movs-df", test_rep_movs_df);
    ADD("/ioreq/rep/pointer-crosses-bucket", test_rep_pointer_crosses_bucket);
    ADD("/ioreq/rep/log-dirty", test_rep_log_dirty);
    ADD("/ioreq/rep/pointer-outside-ram", test_rep_pointer_outside_ram);
    ADD("/ioreq/rep/fill", test_rep_fill_without_pointer);
    ADD("/ioreq/invalidate", test_invalidate_drops_mappings);
    ADD("/ioreq/buffered/wrap-split", test_buffered_wraps_and_splits);
    ADD("/ioreq/buffered/before-sync", test_buffered_drained_before_sync);
    ADD("/ioreq/pci-config", test_pci_config);
    ADD("/ioreq/dispatch/overlap-move", test_dispatch_overlap_and_move);
    ADD("/ioreq/poll/idle-bounded", test_poll_idle_is_bounded);
    ADD("/ioreq/poll/serves-restarts-budget", test_poll_serves_and_restarts_budget);
    ADD("/ioreq/poll/busy-guest-yields", test_poll_busy_guest_yields);
    return g_test_run();
}
