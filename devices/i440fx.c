/* SPDX-License-Identifier: MIT */
/*
 * i440FX host bridge (00:00.0, 8086:1237): the function firmware and
 * guests look for to recognise the chipset. Under Xen it routes nothing
 * (guest memory is the hypervisor's), so it is config space only. The PAM
 * and SMRAM registers are writable for firmware that programs them, and
 * have no effect: the BIOS area is ordinary RAM in an HVM guest.
 */
#include "devices/machine.h"

#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_REVISION 0x02
#define CLASS_HOST_BRIDGE 0x060000

#define REG_STATUS 0x06
#define REG_PAM0 0x59  /* 0x59..0x5f: BIOS area attribute registers */
#define REG_SMRAM 0x72

struct i440fx {
    struct pci_device pci;
    int devfn;
};

static void i440fx_init_config(struct pci_device *d)
{
    /* status: medium DEVSEL timing, as the chipset reports */
    d->config[REG_STATUS + 1] = 0x02;
    /* PAM0 holds only the 0xF0000 segment's two bits; PAM1-6 two segments each */
    d->wmask[REG_PAM0] = 0x30;
    for (unsigned int r = REG_PAM0 + 1; r <= REG_PAM0 + 6; r++)
        d->wmask[r] = 0x33;
    d->config[REG_SMRAM] = 0x02;  /* compatible SMRAM base, fixed bits */
    d->wmask[REG_SMRAM] = 0x78;   /* open, close, lock, global enable */
}

static void *i440fx_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct i440fx *h = g_new0(struct i440fx, 1);
    const char *addr = opts_get_str(o, "addr", "0");

    if (!pci_parse_devfn(addr, &h->devfn, error)) {
        g_free(h);
        return NULL;
    }
    pci_device_init(&h->pci, id, I440FX_VENDOR, I440FX_DEVICE, CLASS_HOST_BRIDGE,
                    I440FX_REVISION);
    i440fx_init_config(&h->pci);
    return h;
}

static bool i440fx_realize(void *state, struct machine *m, GError **error)
{
    struct i440fx *h = state;
    return pci_bus_attach(m->pci, &h->pci, h->devfn, error);
}

static void i440fx_destroy(void *state)
{
    struct i440fx *h = state;

    pci_device_cleanup(&h->pci);
    g_free(h);
}

const struct device_class i440fx_class = {
    .name = "i440FX",
    .description = "i440FX PCI host bridge 8086:1237 (part of -machine xenfv)",
    .properties = "  addr=SLOT[.FN]  PCI address (default 0.0)\n"
                  "  id=NAME         device name in logs\n",
    .create = i440fx_create,
    .realize = i440fx_realize,
    .destroy = i440fx_destroy,
};
