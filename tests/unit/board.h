/* SPDX-License-Identifier: MIT */
/* Test helpers for board devices: a machine on the fake hypervisor, and
 * guest-style port and config accesses through dispatch (the path the
 * ioreq handler takes). */
#ifndef IOREQD_TEST_BOARD_H
#define IOREQD_TEST_BOARD_H

#include <glib.h>

#include "devices/machine.h"
#include "fake-hv.h"

struct board {
    struct fake_hv *f;
    struct dispatch *d;
    struct chardev_set *chardevs;
    struct machine *m;
};

/* Builds and realizes `-machine spec` plus optional -device specs
 * (NULL-terminated); asserts it works. */
static inline void board_start(struct board *b, const char *spec, const char *const *devices)
{
    GError *err = NULL;

    b->f = fake_hv_new();
    b->d = dispatch_new(&b->f->hv, 0);
    b->chardevs = chardev_set_new();
    b->m = machine_new(7, b->chardevs);
    machine_set_hv(b->m, &b->f->hv);
    g_assert_true(machine_configure(b->m, spec, &err));
    g_assert_no_error(err);
    for (size_t i = 0; devices && devices[i]; i++) {
        g_assert_true(machine_add_device(b->m, devices[i], &err));
        g_assert_no_error(err);
    }
    g_assert_true(machine_realize(b->m, b->d, &err));
    g_assert_no_error(err);
}

static inline void board_stop(struct board *b)
{
    machine_free(b->m);
    g_assert_cmpuint(b->f->ranges->len, ==, 0); /* every range given back */
    dispatch_free(b->d);
    chardev_set_free(b->chardevs);
    fake_hv_free(b->f);
}

/* A port read the way the guest would do it: all-ones when nobody serves
 * the whole access. */
static inline uint64_t pio_read(struct board *b, uint64_t port, unsigned int size)
{
    struct io_region *r = dispatch_find(b->d, HV_RANGE_PORT, port, size);

    if (!r)
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    return r->ops->read(r->opaque, port - r->base, size);
}

static inline void pio_write(struct board *b, uint64_t port, uint64_t value, unsigned int size)
{
    struct io_region *r = dispatch_find(b->d, HV_RANGE_PORT, port, size);

    if (r)
        r->ops->write(r->opaque, port - r->base, value, size);
}

static inline uint64_t mmio_read(struct board *b, uint64_t addr, unsigned int size)
{
    struct io_region *r = dispatch_find(b->d, HV_RANGE_MMIO, addr, size);

    if (!r)
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    return r->ops->read(r->opaque, addr - r->base, size);
}

static inline void mmio_write(struct board *b, uint64_t addr, uint64_t value, unsigned int size)
{
    struct io_region *r = dispatch_find(b->d, HV_RANGE_MMIO, addr, size);

    if (r)
        r->ops->write(r->opaque, addr - r->base, value, size);
}

static inline uint32_t cfg_read(struct board *b, unsigned int dev, unsigned int fn, uint32_t reg,
                                unsigned int size)
{
    uint32_t value = 0;

    if (!dispatch_pci_read(b->d, hv_sbdf(0, 0, (uint8_t)dev, (uint8_t)fn), reg, size, &value))
        return size == 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
    return value;
}

static inline void cfg_write(struct board *b, unsigned int dev, unsigned int fn, uint32_t reg,
                             uint32_t value, unsigned int size)
{
    dispatch_pci_write(b->d, hv_sbdf(0, 0, (uint8_t)dev, (uint8_t)fn), reg, value, size);
}

static inline bool board_has_function(struct board *b, unsigned int dev, unsigned int fn)
{
    return dispatch_has_pci_function(b->d, hv_sbdf(0, 0, (uint8_t)dev, (uint8_t)fn));
}

#endif
