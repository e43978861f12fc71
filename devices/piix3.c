/* SPDX-License-Identifier: MIT */
/*
 * PIIX3 PCI-to-ISA bridge (00:01.0, 8086:7000), function 0 of the
 * multi-function south bridge. What matters under Xen:
 *  - PIRQ route control (config 0x60-0x63): which ISA IRQ each PCI
 *    interrupt link A-D drives. Xen's virtual IOAPIC/PIC do the routing,
 *    so every change is forwarded as a PCI link route.
 *  - ELCR (ports 0x4d0/0x4d1): edge/level per ISA IRQ, kept for firmware
 *    that reads it back. (On a real Xen host the hypervisor's vPIC
 *    answers these ports before any device model sees them.)
 */
#include <stddef.h>

#include "devices/machine.h"
#include "ioreq/log.h"

#define PIIX3_VENDOR 0x8086
#define PIIX3_DEVICE 0x7000
#define CLASS_ISA_BRIDGE 0x060100

#define REG_STATUS 0x06
#define REG_HEADER_TYPE 0x0e
#define HEADER_MULTIFUNCTION 0x80
#define REG_PIRQ_ROUTE 0x60
#define PIRQ_LINKS 4
#define PIRQ_DISABLE 0x80
#define PIRQ_IRQ_MASK 0x0f

#define ELCR_PORT 0x4d0
/* IRQ 0, 1, 2 (timer, keyboard, cascade) and 8, 13 (RTC, FPU) are always
 * edge-triggered: those ELCR bits are read-only zero. */
static const uint8_t elcr_writable[2] = { 0xf8, 0xde };

struct piix3 {
    struct pci_device pci;
    int devfn;
    struct machine *machine;
    struct io_region elcr_ports;
    uint8_t elcr[2];
    uint8_t forwarded[PIRQ_LINKS];   /* last route given to the hypervisor */
    struct ratelimit route_log;
};

/* Power-on values of the bridge's writable configuration registers
 * (PIIX3 datasheet) and which bits software may change. */
static const struct { uint8_t reg, reset, wmask; } piix3_registers[] = {
    { 0x4c, 0x4d, 0xff },  /* ISA I/O recovery timer */
    { 0x4e, 0x03, 0xff },  /* X-bus chip select, low */
    { 0x4f, 0x00, 0xff },  /* X-bus chip select, high */
    { 0x60, 0x80, 0x8f },  /* PIRQA route */
    { 0x61, 0x80, 0x8f },  /* PIRQB route */
    { 0x62, 0x80, 0x8f },  /* PIRQC route */
    { 0x63, 0x80, 0x8f },  /* PIRQD route */
    { 0x69, 0x02, 0xfe },  /* top of memory */
    { 0x6a, 0x00, 0xff },  /* misc status */
    { 0x70, 0x80, 0xcf },  /* motherboard IRQ route 0 */
    { 0x76, 0x0c, 0x8f },  /* DMA channel route 0 */
    { 0x77, 0x0c, 0x8f },  /* DMA channel route 1 */
    { 0x78, 0x02, 0xff },  /* programmable chip select */
    { 0xa0, 0x08, 0xff },  /* SMI control */
    { 0xa2, 0x00, 0xff },  /* SMI enable */
    { 0xa8, 0x0f, 0xff },  /* system event */
};

static struct piix3 *piix3_of(struct pci_device *d)
{
    return (struct piix3 *)((char *)d - offsetof(struct piix3, pci));
}

/* The ISA IRQ a route register selects, 0 meaning "not routed". */
static uint8_t pirq_to_isa_irq(uint8_t value)
{
    if ((value & PIRQ_DISABLE) || value >= 16)
        return 0;
    return value & PIRQ_IRQ_MASK;
}

static void forward_link_route(struct piix3 *p, unsigned int link)
{
    struct hv *hv = p->machine ? p->machine->hv : NULL;
    uint8_t irq = pirq_to_isa_irq(p->pci.config[REG_PIRQ_ROUTE + link]);

    /* A guest rewriting the same value must not turn into hypercalls. */
    if (irq == p->forwarded[link])
        return;
    p->forwarded[link] = irq;
    if (!hv || !hv->ops->set_pci_link_route)
        return;
    int rc = hv->ops->set_pci_link_route(hv, (uint8_t)link, irq);
    if (rc < 0)
        log_limited(&p->route_log, p->machine->domid, p->pci.id,
                    "link %c -> IRQ %u refused by the hypervisor: %s", 'A' + link, irq,
                    g_strerror(-rc));
}

static void piix3_after_config_write(struct pci_device *d, uint32_t reg, unsigned int size)
{
    struct piix3 *p = piix3_of(d);

    for (unsigned int link = 0; link < PIRQ_LINKS; link++) {
        uint32_t r = REG_PIRQ_ROUTE + link;
        if (r >= reg && r < reg + size)
            forward_link_route(p, link);
    }
}

static uint64_t elcr_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct piix3 *p = opaque;
    uint64_t value = 0;

    for (unsigned int i = 0; i < size && offset + i < 2; i++)
        value |= (uint64_t)p->elcr[offset + i] << (8 * i);
    return value;
}

static void elcr_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct piix3 *p = opaque;

    /* a 16-bit write sets both registers, as on the chipset */
    for (unsigned int i = 0; i < size && offset + i < 2; i++)
        p->elcr[offset + i] = (value >> (8 * i)) & elcr_writable[offset + i];
}

static const struct io_ops elcr_ops = {
    .read = elcr_read,
    .write = elcr_write,
};

static void piix3_init_config(struct piix3 *p)
{
    struct pci_device *d = &p->pci;

    d->config[REG_HEADER_TYPE] = HEADER_MULTIFUNCTION;
    d->config[REG_STATUS + 1] = 0x02; /* medium DEVSEL timing */
    for (size_t i = 0; i < G_N_ELEMENTS(piix3_registers); i++) {
        d->config[piix3_registers[i].reg] = piix3_registers[i].reset;
        d->wmask[piix3_registers[i].reg] = piix3_registers[i].wmask;
    }
    d->after_config_write = piix3_after_config_write;
}

static void *piix3_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct piix3 *p = g_new0(struct piix3, 1);
    const char *addr = opts_get_str(o, "addr", "1.0");

    if (!pci_parse_devfn(addr, &p->devfn, error)) {
        g_free(p);
        return NULL;
    }
    pci_device_init(&p->pci, id, PIIX3_VENDOR, PIIX3_DEVICE, CLASS_ISA_BRIDGE, 0);
    piix3_init_config(p);
    p->route_log = (struct ratelimit)RATELIMIT_INIT;
    io_region_init(&p->elcr_ports, p->pci.id, HV_RANGE_PORT, 2, &elcr_ops, p);
    return p;
}

static bool piix3_realize(void *state, struct machine *m, GError **error)
{
    struct piix3 *p = state;

    p->machine = m;
    if (!pci_bus_attach(m->pci, &p->pci, p->devfn, error))
        return false;
    if (!machine_map_ports(m, &p->elcr_ports, ELCR_PORT, error))
        return false;
    return true;
}

static void piix3_destroy(void *state)
{
    struct piix3 *p = state;

    if (p->elcr_ports.mapped)
        dispatch_unmap_region(p->machine->dispatch, &p->elcr_ports);
    pci_device_cleanup(&p->pci);
    g_free(p);
}

const struct device_class piix3_class = {
    .name = "PIIX3",
    .description = "PIIX3 PCI-ISA bridge 8086:7000: PIRQ link routing, ELCR (part of xenfv)",
    .properties = "  addr=SLOT[.FN]  PCI address (default 1.0)\n"
                  "  id=NAME         device name in logs\n",
    .create = piix3_create,
    .realize = piix3_realize,
    .destroy = piix3_destroy,
};
