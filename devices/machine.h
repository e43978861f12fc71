/* SPDX-License-Identifier: MIT */
/*
 * The machine: the set of devices this process serves for one guest.
 * Devices are created in two steps, as the command line is read (create:
 * parse and check properties, no hypervisor needed, so mistakes are
 * reported before anything is set up) and once the ioreq server exists
 * (realize: register ranges and PCI functions).
 */
#ifndef IOREQD_MACHINE_H
#define IOREQD_MACHINE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/chardev.h"
#include "devices/options.h"
#include "devices/pci/pci.h"
#include "ioreq/dispatch.h"

/* Which board -machine asked for. */
enum machine_kind {
    MACHINE_NONE,   /* only the -device list */
    MACHINE_XENFV,  /* i440FX + PIIX3 + PIIX4 PM + i8042 + Xen platform device */
    MACHINE_PC_XEN, /* libxl's "pc,accel=xen": the same without the platform device */
};

/* Default end of low RAM: hvmloader's 256 MiB MMIO hole below 4 GiB. */
#define MACHINE_DEFAULT_RAM_BELOW_4G 0xf0000000ull

struct machine {
    uint32_t domid;
    struct chardev_set *chardevs;
    struct dispatch *dispatch; /* set by machine_realize */
    struct pci_bus *pci;
    GPtrArray *devices;        /* struct device */
    /* Interrupts and domain control for devices; NULL until machine_set_hv
     * (devices then keep their state but signal nothing). */
    struct hv *hv;
    enum machine_kind kind;
    /* Where low RAM ends (4 GiB minus the MMIO hole), for the memory map. */
    uint64_t max_ram_below_4g;
    bool max_ram_below_4g_given;
    /* The guest memory map BARs are checked against (machine_set_guest_ram). */
    bool have_memmap;
    bool ram_size_known;
    struct memmap memmap;
    bool suppress_vmdesc; /* accepted for libxl; there is no migration stream yet */
    unsigned int serial_ports; /* -serial options seen (COM1 first) */
};

struct device_class {
    const char *name;
    const char *description;
    const char *properties; /* one line per property, for -device NAME,help */
    void *(*create)(struct machine *m, struct opts *o, const char *id, GError **error);
    bool (*realize)(void *state, struct machine *m, GError **error);
    void (*destroy)(void *state);
};

extern const struct device_class isa_debugcon_class;
extern const struct device_class pci_testdev_class;
extern const struct device_class i440fx_class;
extern const struct device_class piix3_class;
extern const struct device_class piix4_pm_class;
extern const struct device_class xen_platform_class;
extern const struct device_class i8042_class;
extern const struct device_class isa_serial_class;
extern const struct device_class reset_control_class;

const struct device_class *device_class_find(const char *name);
void device_classes_print(void);

struct machine *machine_new(uint32_t domid, struct chardev_set *chardevs);
void machine_free(struct machine *m);
/* -machine TYPE[,props]: "none" (default), "xenfv" or "pc" (accel=xen). */
bool machine_configure(struct machine *m, const char *spec, GError **error);
/* The board half of machine_configure (machine-xenfv.c): true if `type`
 * names one of its machines. */
bool machine_xenfv_known(const char *type);
bool machine_xenfv_configure(struct machine *m, const char *type, struct opts *o,
                             GError **error);
/* Give devices the hypervisor for interrupts and shutdown; call before
 * machine_realize. */
void machine_set_hv(struct machine *m, struct hv *hv);
/* x86: the guest's RAM in bytes (0 = unknown), which with max-ram-below-4g
 * gives the memory map BARs are kept off (firmware/memmap.h). Unknown RAM
 * is taken to fill everything below the hole. Call before machine_realize;
 * without it (ARM) no BAR placement is refused. */
bool machine_set_guest_ram(struct machine *m, uint64_t ram_size, GError **error);
bool machine_add_device(struct machine *m, const char *spec, GError **error);
/* -serial pty|stdio|null|none|file:PATH|unix:PATH[,server][,nowait]: a
 * chardev "serialN" and the next COM port (serial.c). */
bool machine_add_serial(struct machine *m, const char *spec, GError **error);
bool machine_realize(struct machine *m, struct dispatch *dispatch, GError **error);
/* The state of the first device of class `name`, or NULL (e.g. the input
 * layer finding the i8042). */
void *machine_find_device(struct machine *m, const char *class_name);

/* Helpers for devices. Claim a fixed port range (a legacy ISA device);
 * errors name the device. */
bool machine_map_ports(struct machine *m, struct io_region *r, uint64_t base, GError **error);
/* Interrupt and shutdown requests; without a hypervisor they do nothing.
 * Failures are logged at a rate limit by the caller's limiter. */
int machine_set_isa_irq(struct machine *m, uint8_t irq, bool level);
int machine_shutdown(struct machine *m, unsigned int reason);

/* Helper for devices: look up chardev=ID (NULL and an error if missing). */
struct chardev *machine_chardev(struct machine *m, struct opts *o, const char *dev_id,
                                GError **error);

#endif
