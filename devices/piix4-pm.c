/* SPDX-License-Identifier: MIT */
/*
 * PIIX4 power-management function (00:01.3, 8086:7113) and the PCI
 * hotplug controller that Xen's ACPI tables (libacpi's DSDT for
 * qemu-xen) drive:
 *   0xae00  PCIU: slots with a device inserted (32-bit, read-only)
 *   0xae04  PCID: slots whose device is to be removed (32-bit, read-only)
 *   0xae08  B0EJ: write a slot bitmap to eject those slots (reads 0)
 * Of the ACPI registers, Xen itself emulates PM1a_STS/EN and the PM timer;
 * the device model serves the rest:
 *   PMBA+4  PM1a_CNT (decoded once firmware sets PMBA and PMREGMISC bit 0;
 *           hvmloader uses 0xb000): SLP_EN with SLP_TYP 0, which is what
 *           Xen's DSDT gives _S5, powers the domain off
 *   0xafe0  GPE0_STS (write-1-to-clear), 0xafe2 GPE0_EN; bit 1 is the PCI
 *           hotplug event (_E01). SCI is ISA IRQ 9 while STS & EN.
 */
#include <stddef.h>

#include "devices/machine.h"
#include "devices/piix4-pm.h"
#include "ioreq/log.h"

#include <xen/sched.h> /* SHUTDOWN_poweroff; after hv.h's stdint */

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

#define PMBA_MASK 0xffc0
#define PM1_CNT_OFFSET 4
#define PM1_CNT_SCI_EN 0x0001     /* ACPI mode: always on (no SMI_CMD) */
#define PM1_CNT_WRITABLE 0x1c06   /* BM_RLD, GBL_RLS, SLP_TYP */
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_EN 0x2000
#define SLP_TYP_S5 0              /* Xen's DSDT: _S5 = { 0, 0, 0, 0 } */

#define GPE0_PORT 0xafe0
#define GPE0_PORTS 4
#define GPE0_EN_OFFSET 2
#define GPE_PCI_HOTPLUG 0x0002
#define SCI_IRQ 9

struct piix4_pm {
    struct pci_device pci;
    int devfn;
    struct machine *machine;
    struct io_region hotplug_ports;
    struct io_region pm1_cnt_ports;
    struct io_region gpe0_ports;
    uint16_t pm1_cnt;
    uint16_t gpe_sts, gpe_en;
    bool sci_level;
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


static uint32_t pm_domid(const struct piix4_pm *pm)
{
    return pm->machine ? pm->machine->domid : 0;
}

static void update_sci(struct piix4_pm *pm)
{
    bool level = pm->gpe_sts & pm->gpe_en;

    if (level == pm->sci_level || !pm->machine)
        return;
    pm->sci_level = level;
    int rc = machine_set_isa_irq(pm->machine, SCI_IRQ, level);
    if (rc < 0)
        log_limited(&pm->guest_log, pm_domid(pm), pm->pci.id, "SCI refused: %s",
                    g_strerror(-rc));
}

void piix4_pm_slot_event(struct piix4_pm *pm, unsigned int slot, bool inserted)
{
    uint32_t bit = 1u << (slot & 31);

    if (slot >= 32 || (bit & CHIPSET_SLOTS))
        return;
    if (inserted) {
        pm->slots_up |= bit;
        pm->slots_down &= ~bit;
        pm->ejected &= ~bit;
    } else {
        pm->slots_down |= bit;
        pm->slots_up &= ~bit;
    }
    pm->gpe_sts |= GPE_PCI_HOTPLUG;
    update_sci(pm);
}

/* GPE0 as four bytes: STS (write 1 to clear) then EN. */
static uint64_t gpe0_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct piix4_pm *pm = opaque;
    uint32_t regs = pm->gpe_sts | ((uint32_t)pm->gpe_en << 16);

    return size >= 4 ? regs : (regs >> (8 * offset)) & ((1u << (8 * size)) - 1);
}

static void gpe0_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct piix4_pm *pm = opaque;

    for (unsigned int i = 0; i < size && offset + i < GPE0_PORTS; i++) {
        unsigned int byte = (unsigned int)offset + i, shift = 8 * (byte % 2);
        uint16_t bits = (uint16_t)(((value >> (8 * i)) & 0xff) << shift);
        if (byte < GPE0_EN_OFFSET)
            pm->gpe_sts &= ~bits;
        else
            pm->gpe_en = (uint16_t)((pm->gpe_en & ~(0xff << shift)) | bits);
    }
    update_sci(pm);
}

static const struct io_ops gpe0_ops = {
    .read = gpe0_read,
    .write = gpe0_write,
};

static uint64_t pm1_cnt_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct piix4_pm *pm = opaque;
    uint16_t value = pm->pm1_cnt | PM1_CNT_SCI_EN;

    return size == 1 ? (value >> (8 * offset)) & 0xff : value;
}

static void enter_sleep_state(struct piix4_pm *pm, unsigned int type)
{
    if (type != SLP_TYP_S5) {
        log_limited(&pm->guest_log, pm_domid(pm), pm->pci.id,
                    "guest asked for sleep type %u: only S5 (power off) is supported", type);
        return;
    }
    log_limited(&pm->guest_log, pm_domid(pm), pm->pci.id, "guest powers off (ACPI S5)");
    if (pm->machine) {
        int rc = machine_shutdown(pm->machine, SHUTDOWN_poweroff);
        if (rc < 0)
            log_limited(&pm->guest_log, pm_domid(pm), pm->pci.id, "power off refused: %s",
                        g_strerror(-rc));
    }
}

static void pm1_cnt_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct piix4_pm *pm = opaque;
    uint16_t v = size == 1 ? (uint16_t)((value & 0xff) << (8 * offset))
                           : (uint16_t)value;
    uint16_t keep = size == 1 ? (uint16_t)(0xff00u >> (8 * offset)) : 0;

    pm->pm1_cnt = (uint16_t)((pm->pm1_cnt & keep) | (v & PM1_CNT_WRITABLE & ~keep));
    if (v & PM1_CNT_SLP_EN)
        enter_sleep_state(pm, (pm->pm1_cnt >> PM1_CNT_SLP_TYP_SHIFT) & 7);
}

static const struct io_ops pm1_cnt_ops = {
    .read = pm1_cnt_read,
    .write = pm1_cnt_write,
};

static struct piix4_pm *pm_of(struct pci_device *d)
{
    return (struct piix4_pm *)((char *)d - offsetof(struct piix4_pm, pci));
}

/* PM1a_CNT follows PMBA and PMREGMISC, as the chipset decodes it. */
static void pm_after_config_write(struct pci_device *d, uint32_t reg, unsigned int size)
{
    struct piix4_pm *pm = pm_of(d);
    uint16_t base = (uint16_t)((d->config[REG_PMBA] | (d->config[REG_PMBA + 1] << 8)) & PMBA_MASK);
    bool enabled = d->config[REG_PMREGMISC] & 0x01;

    if (!pm->machine)
        return;
    if (!enabled || !base) {
        dispatch_unmap_region(pm->machine->dispatch, &pm->pm1_cnt_ports);
        return;
    }
    if (pm->pm1_cnt_ports.mapped && pm->pm1_cnt_ports.base == (uint64_t)base + PM1_CNT_OFFSET)
        return;
    int rc = dispatch_map_region(pm->machine->dispatch, &pm->pm1_cnt_ports,
                                 base + PM1_CNT_OFFSET);
    if (rc < 0)
        log_limited(&pm->guest_log, pm_domid(pm), pm->pci.id,
                    "PM1a_CNT at 0x%x not decoded: %s", base + PM1_CNT_OFFSET, g_strerror(-rc));
}

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
    d->after_config_write = pm_after_config_write;
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
    io_region_init(&pm->pm1_cnt_ports, pm->pci.id, HV_RANGE_PORT, 2, &pm1_cnt_ops, pm);
    io_region_init(&pm->gpe0_ports, pm->pci.id, HV_RANGE_PORT, GPE0_PORTS, &gpe0_ops, pm);
    return pm;
}

static bool piix4_pm_realize(void *state, struct machine *m, GError **error)
{
    struct piix4_pm *pm = state;

    pm->machine = m;
    if (!pci_bus_attach(m->pci, &pm->pci, pm->devfn, error) ||
        !machine_map_ports(m, &pm->hotplug_ports, HOTPLUG_PORT, error) ||
        !machine_map_ports(m, &pm->gpe0_ports, GPE0_PORT, error))
        return false;
    return true;
}

static void piix4_pm_destroy(void *state)
{
    struct piix4_pm *pm = state;

    if (pm->machine) {
        dispatch_unmap_region(pm->machine->dispatch, &pm->hotplug_ports);
        dispatch_unmap_region(pm->machine->dispatch, &pm->gpe0_ports);
        dispatch_unmap_region(pm->machine->dispatch, &pm->pm1_cnt_ports);
    }
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
