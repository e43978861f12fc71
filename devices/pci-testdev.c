/* SPDX-License-Identifier: MIT */
/*
 * pci-testdev (1b36:0005): a PCI function whose only purpose is to be
 * probed and poked. BAR0 is 4 KiB of MMIO scratch registers, BAR1 256
 * bytes of port I/O scratch registers: what the guest writes reads back,
 * at any width, little-endian, so tests can verify routing, BAR moves,
 * rep and direction-flag transfers byte for byte. bar0-size= makes BAR0
 * larger (as passthrough devices' BARs are, to fill an MMIO hole); only
 * its first 4 KiB are scratch, the rest reads zero and ignores writes.
 */
#include <string.h>

#include "devices/machine.h"

#define TESTDEV_MMIO_SIZE 4096
#define TESTDEV_PIO_SIZE 256
/* bar0-size= upper bound: a 32-bit BAR can be no larger. */
#define TESTDEV_MAX_BAR0_SIZE (2ull << 30)

struct testdev_bank {
    uint8_t bytes[TESTDEV_MMIO_SIZE];
    uint64_t size;
};

struct pci_testdev {
    struct pci_device pci;
    int devfn;
    struct testdev_bank mmio, pio;
};

static uint64_t bank_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct testdev_bank *bank = opaque;
    uint64_t value = 0;

    /* dispatch only hands us accesses inside the BAR */
    for (unsigned int i = 0; i < size && offset + i < bank->size; i++)
        value |= (uint64_t)bank->bytes[offset + i] << (8 * i);
    return value;
}

static void bank_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct testdev_bank *bank = opaque;

    for (unsigned int i = 0; i < size && offset + i < bank->size; i++)
        bank->bytes[offset + i] = (value >> (8 * i)) & 0xff;
}

static const struct io_ops bank_ops = {
    .read = bank_read,
    .write = bank_write,
};

static void *testdev_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct pci_testdev *t = g_new0(struct pci_testdev, 1);
    const char *addr = opts_get_str(o, "addr", NULL);
    uint64_t bar0_size;

    t->devfn = -1;
    if (addr && !pci_parse_devfn(addr, &t->devfn, error)) {
        g_free(t);
        return NULL;
    }
    if (!opts_get_u64(o, "bar0-size", TESTDEV_MMIO_SIZE, &bar0_size, error)) {
        g_free(t);
        return NULL;
    }
    if (bar0_size < TESTDEV_MMIO_SIZE || bar0_size > TESTDEV_MAX_BAR0_SIZE ||
        (bar0_size & (bar0_size - 1))) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "pci-testdev: bar0-size=%" G_GUINT64_FORMAT
                    " must be a power of two from 4K to 2G", bar0_size);
        g_free(t);
        return NULL;
    }
    t->mmio.size = TESTDEV_MMIO_SIZE;
    t->pio.size = TESTDEV_PIO_SIZE;
    pci_device_init(&t->pci, id, 0x1b36, 0x0005, 0xff0000, 0);
    pci_device_set_bar(&t->pci, 0, 0, bar0_size, &bank_ops, &t->mmio);
    pci_device_set_bar(&t->pci, 1, PCI_BAR_IO, TESTDEV_PIO_SIZE, &bank_ops, &t->pio);
    return t;
}

static bool testdev_realize(void *state, struct machine *m, GError **error)
{
    struct pci_testdev *t = state;
    return pci_bus_attach(m->pci, &t->pci, t->devfn, error);
}

static void testdev_destroy(void *state)
{
    struct pci_testdev *t = state;

    pci_device_cleanup(&t->pci);
    g_free(t);
}

const struct device_class pci_testdev_class = {
    .name = "pci-testdev",
    .description = "PCI test function 1b36:0005 (BAR0 4 KiB MMIO, BAR1 256 ports, scratch)",
    .properties = "  addr=SLOT[.FN]  PCI address on bus 0 (hex; default: first free slot)\n"
                  "  bar0-size=SIZE  BAR0 size, a power of two 4K..2G (default 4K; "
                  "only the first 4K are scratch)\n"
                  "  id=NAME         device name in logs\n",
    .create = testdev_create,
    .realize = testdev_realize,
    .destroy = testdev_destroy,
};
