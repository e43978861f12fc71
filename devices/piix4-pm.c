/* SPDX-License-Identifier: MIT */
/*
 * PIIX4 power-management function (00:01.3, 8086:7113) and the PCI
 * hotplug controller that Xen's ACPI tables (libacpi's DSDT for
 * qemu-xen) drive:
 *   0xae00  PCIU: slots with a device inserted (32-bit, read-only)
 *   0xae04  PCID: slots whose device is to be removed (32-bit, read-only)
 *   0xae08  B0EJ: write a slot bitmap to eject those slots (reads 0)
 * The PM1 event/control blocks and the PM timer live in Xen itself, so the
 * PM I/O base register is kept for firmware to program but not decoded.
 */
#include <stddef.h>

#include "devices/machine.h"
#include "devices/piix4-pm.h"
#include "ioreq/log.h"

#define PIIX4_PM_VENDOR 0x8086
#define PIIX4_PM_DEVICE 0x7113
#define PIIX4_PM_REVISION 0x03
#define CLASS_BRIDGE_OTHER 0x068000

#define REG_INTERRUPT_PIN 0x3d
#define REG_PMBA 0x40      /* PM I/O base: 64 ports, bit 0 reads 1 (I/O) */
#define REG_PMREGMISC 0x80 /* bit 0: PM I/O space enable */
#define REG_SMBBA 0x90     /* SMBus I/O base: 16 ports */
#define REG_SMBHSTCFG 0xd2

#define HOTPLUG_PORT 0xae00
#define HOTPLUG_PORTS 12
#define HOTPLUG_UP 0
#define HOTPLUG_DOWN 4
#define HOTPLUG_EJECT 8
/* Slots 0 and 1 are the chipset itself: the guest cannot eject them. */
#define CHIPSET_SLOTS 0x3u

struct piix4_pm {
    struct pci_device pci;
    int devfn;
    struct machine *machine;
    struct io_region hotplug_ports;
    uint32_t slots_up;
    uint32_t slots_down;
    uint32_t ejected;
    struct ratelimit guest_log;
};

uint32_t piix4_pm_ejected_slots(const struct piix4_pm *pm)
{
    return pm->ejected;
}

/* The three 32-bit registers, viewed as 12 bytes so any width or
 * alignment reads consistently. */
static uint8_t hotplug_byte(const struct piix4_pm *pm, unsigned int offset)
{
    uint32_t reg = offset < HOTPLUG_DOWN ? pm->slots_up
                 : offset < HOTPLUG_EJECT ? pm->slots_down
                 : 0; /* eject is write-only */
    return (reg >> (8 * (offset % 4))) & 0xff;
}

static uint64_t hotplug_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct piix4_pm *pm = opaque;
    uint64_t value = 0;

    for (unsigned int i = 0; i < size && offset + i < HOTPLUG_PORTS; i++)
        value |= (uint64_t)hotplug_byte(pm, (unsigned int)offset + i) << (8 * i);
    return value;
}

static void eject_slots(struct piix4_pm *pm, uint32_t slots)
{
    if (slots & CHIPSET_SLOTS)
        log_limited(&pm->guest_log, pm->machine ? pm->machine->domid : 0, pm->pci.id,
                    "guest tried to eject the chipset (slots 0x%08x): ignored", slots);
    slots &= ~CHIPSET_SLOTS;
    if (!slots)
        return;
    pm->ejected |= slots;
    pm->slots_up &= ~slots;
    pm->slots_down &= ~slots;
    log_limited(&pm->guest_log, pm->machine ? pm->machine->domid : 0, pm->pci.id,
                "guest ejects PCI slots 0x%08x", slots);
}

static void hotplug_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct piix4_pm *pm = opaque;
    uint32_t slots = 0;

    for (unsigned int i = 0; i < size && offset + i < HOTPLUG_PORTS; i++) {
        unsigned int byte = (unsigned int)offset + i;
        if (byte < HOTPLUG_EJECT) {
            log_limited(&pm->guest_log, pm->machine ? pm->machine->domid : 0, pm->pci.id,
                        "write to read-only hotplug port 0x%x ignored", HOTPLUG_PORT + byte);
            return;
        }
        slots |= (uint32_t)((value >> (8 * i)) & 0xff) << (8 * (byte - HOTPLUG_EJECT));
    }
    eject_slots(pm, slots);
}

static const struct io_ops hotplug_ops = {
    .read = hotplug_read,
    .write = hotplug_write,
};

static void piix4_pm_init_config(struct pci_device *d)
{
    d->config[REG_INTERRUPT_PIN] = 0x01; /* INTA: the SCI */
    d->config[REG_PMBA] = 0x01;
    d->wmask[REG_PMBA] = 0xc0;
    d->wmask[REG_PMBA + 1] = 0xff;
    d->wmask[REG_PMREGMISC] = 0x01;
    d->config[REG_SMBBA] = 0x01;
    d->wmask[REG_SMBBA] = 0xf0;
    d->wmask[REG_SMBBA + 1] = 0xff;
    d->wmask[REG_SMBHSTCFG] = 0x0f;
}

static void *piix4_pm_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct piix4_pm *pm = g_new0(struct piix4_pm, 1);
    const char *addr = opts_get_str(o, "addr", "1.3");

    if (!pci_parse_devfn(addr, &pm->devfn, error)) {
        g_free(pm);
        return NULL;
    }
    pci_device_init(&pm->pci, id, PIIX4_PM_VENDOR, PIIX4_PM_DEVICE, CLASS_BRIDGE_OTHER,
                    PIIX4_PM_REVISION);
    piix4_pm_init_config(&pm->pci);
    pm->guest_log = (struct ratelimit)RATELIMIT_INIT;
    io_region_init(&pm->hotplug_ports, pm->pci.id, HV_RANGE_PORT, HOTPLUG_PORTS, &hotplug_ops,
                   pm);
    return pm;
}

static bool piix4_pm_realize(void *state, struct machine *m, GError **error)
{
    struct piix4_pm *pm = state;

    pm->machine = m;
    if (!pci_bus_attach(m->pci, &pm->pci, pm->devfn, error) ||
        !machine_map_ports(m, &pm->hotplug_ports, HOTPLUG_PORT, error))
        return false;
    return true;
}

static void piix4_pm_destroy(void *state)
{
    struct piix4_pm *pm = state;

    if (pm->hotplug_ports.mapped)
        dispatch_unmap_region(pm->machine->dispatch, &pm->hotplug_ports);
    pci_device_cleanup(&pm->pci);
    g_free(pm);
}

const struct device_class piix4_pm_class = {
    .name = "PIIX4_PM",
    .description = "PIIX4 power management 8086:7113 with the ACPI PCI hotplug ports 0xae00",
    .properties = "  addr=SLOT[.FN]  PCI address (default 1.3)\n"
                  "  id=NAME         device name in logs\n",
    .create = piix4_pm_create,
    .realize = piix4_pm_realize,
    .destroy = piix4_pm_destroy,
};
