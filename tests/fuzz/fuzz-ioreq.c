/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the device-model side of the ioreq ABI: every byte of a slot and of
 * the buffered page is guest-controlled. The input is a sequence of 32-byte
 * ioreq_t images (plus, every so often, a burst of buffered-ring bytes)
 * served against a PCI test function and MMIO/port scratch devices.
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target
 * (LLVMFuzzerTestOneInput, for long runs outside the suite), and with any
 * compiler as a short deterministic run of pseudo-random inputs from a
 * fixed seed, which the test suite executes under ASan+UBSan.
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci/pci.h"
#include "fake-hv.h"
#include "ioreq/ioreq-server.h"

struct scratch {
    uint8_t bytes[4096];
};

static uint64_t scratch_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct scratch *s = opaque;
    uint64_t v = 0;

    g_assert(offset + size <= sizeof(s->bytes)); /* dispatch must keep us inside */
    memcpy(&v, s->bytes + offset, size);
    return v;
}

static void scratch_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct scratch *s = opaque;

    g_assert(offset + size <= sizeof(s->bytes));
    memcpy(s->bytes + offset, &value, size);
}

static const struct io_ops scratch_ops = { scratch_read, scratch_write };

struct target {
    struct fake_hv *f;
    struct ioreq_server s;
    struct pci_bus *bus;
    struct pci_device dev;
    struct scratch bar_mem, bar_io, low_mem;
    struct io_region low;
};

static void target_init(struct target *t)
{
    GError *err = NULL;

    memset(t, 0, sizeof(*t));
    t->f = fake_hv_new();
    g_assert_cmpint(ioreq_server_setup(&t->s, &t->f->hv, FAKE_VCPUS, true), ==, 0);
    t->bus = pci_bus_new(t->s.dispatch, 7);
    pci_device_init(&t->dev, "fuzz", 0x1b36, 0x0005, 0xff0000, 0);
    pci_device_set_bar(&t->dev, 0, 0, 4096, &scratch_ops, &t->bar_mem);
    pci_device_set_bar(&t->dev, 1, PCI_BAR_IO, 256, &scratch_ops, &t->bar_io);
    g_assert_true(pci_bus_attach(t->bus, &t->dev, 3 << 3, &err));
    io_region_init(&t->low, "vga", HV_RANGE_MMIO, 4096, &scratch_ops, &t->low_mem);
    g_assert_cmpint(dispatch_map_region(t->s.dispatch, &t->low, 0xa0000), ==, 0);
}

static void target_fini(struct target *t)
{
    dispatch_unmap_region(t->s.dispatch, &t->low);
    pci_device_cleanup(&t->dev);
    pci_bus_free(t->bus);
    ioreq_server_teardown(&t->s);
    g_assert_cmpuint(t->f->frames_mapped, ==, 0);
    fake_hv_free(t->f);
}

/* Steer most requests into plausible shapes at addresses where something
 * lives, so inputs reach the devices, rep loops and the map cache rather
 * than only the up-front rejections; selector bit 6 leaves a request raw. */
static void aim(ioreq_t *req, uint8_t selector)
{
    static const uint8_t types[4] = { IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG,
                                      IOREQ_TYPE_INVALIDATE };

    if (selector & 0x40)
        return;
    req->size = 1u << ((req->size >> 3) & 3);
    req->count = req->count & 0x3f;
    req->type = types[(selector >> 2) & 3];
    if (req->type != IOREQ_TYPE_COPY && req->size == 8)
        req->size = 4;
    if (req->type == IOREQ_TYPE_PCI_CONFIG) {
        req->count = 1;
        req->data_is_ptr = 0;
    }
    switch (selector % 4) {
    case 0: req->addr = 0xfe000000 + (req->addr & 0x1fff); break;
    case 1: req->addr = 0xc000 + (req->addr & 0x1ff); break;
    case 2: req->addr = ((uint64_t)hv_sbdf(0, 0, 3, 0) << 32) | (req->addr & 0x1ff); break;
    default: break;
    }
    if (req->data_is_ptr)
        req->data &= (FAKE_RAM_SIZE << 1) - 1; /* half inside RAM, half beyond */
}

static void run_one(struct target *t, const uint8_t *data, size_t size)
{
    while (size >= sizeof(ioreq_t) + 1) {
        ioreq_t req;
        uint8_t selector = data[0];
        memcpy(&req, data + 1, sizeof(req));
        data += sizeof(req) + 1;
        size -= sizeof(req) + 1;
        aim(&req, selector);
        if (selector & 0x80 && size >= 16) {
            /* scribble over the buffered ring's pointers and a few slots */
            memcpy(t->f->buffered, data, 16);
            data += 16;
            size -= 16;
        }
        unsigned int vcpu = selector & 1;
        req.state = STATE_IOREQ_READY;
        t->f->slots->vcpu_ioreq[vcpu] = req;
        ioreq_server_handle_port(&t->s, t->s.vcpu_ports[vcpu]);
        ioreq_server_handle_port(&t->s, t->s.buffered_port);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct target t;

    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
    g_log_set_handler(NULL, G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE, g_log_default_handler, NULL);
    target_init(&t);
    run_one(&t, data, size);
    target_fini(&t);
    return 0;
}

#ifndef IOREQD_LIBFUZZER
/* Deterministic stand-in for the suite: N inputs from a fixed seed. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
}

int main(int argc, char **argv)
{
    unsigned int runs = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 20000;
    GRand *rng = g_rand_new_with_seed(0x10e4d);
    uint8_t buf[33 * 24 + 64];
    struct target t;

    g_log_set_default_handler(quiet_log, NULL);
    target_init(&t);
    for (unsigned int i = 0; i < runs; i++) {
        size_t len = (size_t)g_rand_int_range(rng, 0, sizeof(buf));
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)g_rand_int(rng);
        run_one(&t, buf, len);
    }
    /* A batch that mostly never got past validation would prove little:
     * demand that at least a quarter of the requests reached the devices. */
    uint64_t handled = t.s.stats.handled, invalid = t.s.stats.invalid;
    target_fini(&t);
    g_rand_free(rng);
    if (handled == 0 || invalid * 4 > handled * 3) {
        printf("1..1\nnot ok 1 fuzz-ioreq: only %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
               " requests were valid\n", handled - invalid, handled);
        return 1;
    }
    printf("1..1\nok 1 fuzz-ioreq: %u sequences, %" G_GUINT64_FORMAT " requests (%" G_GUINT64_FORMAT
           " rejected as invalid)\n", runs, handled, invalid);
    return 0;
}
#endif
