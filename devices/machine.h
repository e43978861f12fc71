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

struct machine {
    uint32_t domid;
    struct chardev_set *chardevs;
    struct dispatch *dispatch; /* set by machine_realize */
    struct pci_bus *pci;
    GPtrArray *devices;        /* struct device */
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

const struct device_class *device_class_find(const char *name);
void device_classes_print(void);

struct machine *machine_new(uint32_t domid, struct chardev_set *chardevs);
void machine_free(struct machine *m);
/* -machine TYPE[,props]: only "none" exists until the xenfv machine lands. */
bool machine_configure(struct machine *m, const char *spec, GError **error);
bool machine_add_device(struct machine *m, const char *spec, GError **error);
bool machine_realize(struct machine *m, struct dispatch *dispatch, GError **error);

/* Helper for devices: look up chardev=ID (NULL and an error if missing). */
struct chardev *machine_chardev(struct machine *m, struct opts *o, const char *dev_id,
                                GError **error);

#endif
