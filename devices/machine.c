/* SPDX-License-Identifier: MIT */
#include "devices/machine.h"

#include <stdio.h>
#include <string.h>

struct device {
    const struct device_class *cls;
    void *state;
};

static const struct device_class *const device_classes[] = {
    &isa_debugcon_class,
    &pci_testdev_class,
    &i440fx_class,
    &piix3_class,
    &piix4_pm_class,
    &xen_platform_class,
    &i8042_class,
    &isa_serial_class,
    &reset_control_class,
};

const struct device_class *device_class_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(device_classes); i++)
        if (strcmp(device_classes[i]->name, name) == 0)
            return device_classes[i];
    return NULL;
}

void device_classes_print(void)
{
    printf("Devices:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(device_classes); i++)
        printf("  %-16s %s\n", device_classes[i]->name, device_classes[i]->description);
}

struct machine *machine_new(uint32_t domid, struct chardev_set *chardevs)
{
    struct machine *m = g_new0(struct machine, 1);

    m->domid = domid;
    m->chardevs = chardevs;
    m->devices = g_ptr_array_new();
    m->max_ram_below_4g = MACHINE_DEFAULT_RAM_BELOW_4G;
    return m;
}

void machine_free(struct machine *m)
{
    if (!m)
        return;
    /* Devices go first: they detach from the bus. */
    for (unsigned int i = m->devices->len; i-- > 0;) {
        struct device *dev = g_ptr_array_index(m->devices, i);
        dev->cls->destroy(dev->state);
        g_free(dev);
    }
    g_ptr_array_free(m->devices, TRUE);
    pci_bus_free(m->pci);
    g_free(m);
}

bool machine_configure(struct machine *m, const char *spec, GError **error)
{
    g_autoptr(opts) o = opts_parse(spec, "type", error);
    const char *type;

    if (!o)
        return false;
    type = opts_get_str(o, "type", "none");
    /* accel= is what libxl's "pc,accel=xen" spelling carries; it is implied. */
    opts_get_str(o, "accel", NULL);
    if (machine_xenfv_known(type))
        return machine_xenfv_configure(m, type, o, error);
    if (strcmp(type, "none") != 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "machine '%s' is not available in this version (available: none, xenfv, pc)",
                    type);
        return false;
    }
    return opts_check_all_used(o, "machine 'none'", error);
}

struct chardev *machine_chardev(struct machine *m, struct opts *o, const char *dev_id,
                                GError **error)
{
    const char *name = opts_get_str(o, "chardev", NULL);
    struct chardev *cd;

    if (!name) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "device '%s' needs chardev=ID", dev_id);
        return NULL;
    }
    cd = chardev_set_find(m->chardevs, name);
    if (!cd)
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "device '%s': no chardev with id '%s'", dev_id, name);
    return cd;
}

static void print_device_help(const struct device_class *cls)
{
    printf("%s: %s\nProperties:\n%s", cls->name, cls->description, cls->properties);
}

bool machine_add_device(struct machine *m, const char *spec, GError **error)
{
    g_autoptr(opts) o = opts_parse(spec, "driver", error);
    const struct device_class *cls;

    if (!o)
        return false;
    const char *driver = opts_get_str(o, "driver", "");
    if (!strcmp(driver, "help")) {
        device_classes_print();
        exit(0);
    }
    cls = device_class_find(driver);
    if (!cls) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "-device: unknown device '%s' (try -device help)", driver);
        return false;
    }
    if (opts_has(o, "help")) {
        print_device_help(cls);
        exit(0);
    }
    g_autofree char *id = g_strdup(opts_get_str(o, "id", NULL));
    if (!id)
        id = g_strdup_printf("%s.%u", cls->name, m->devices->len);
    void *state = cls->create(m, o, id, error);
    if (!state)
        return false;
    g_autofree char *what = g_strdup_printf("device '%s'", cls->name);
    if (!opts_check_all_used(o, what, error)) {
        cls->destroy(state);
        return false;
    }
    struct device *dev = g_new0(struct device, 1);
    dev->cls = cls;
    dev->state = state;
    g_ptr_array_add(m->devices, dev);
    return true;
}

bool machine_realize(struct machine *m, struct dispatch *dispatch, GError **error)
{
    m->dispatch = dispatch;
    m->pci = pci_bus_new(dispatch, m->domid);
    /* every PCI function signals INTx and MSI through the bus */
    pci_bus_set_hv(m->pci, m->hv);
    if (m->have_memmap)
        pci_bus_set_memmap(m->pci, &m->memmap, m->ram_size_known);
    for (unsigned int i = 0; i < m->devices->len; i++) {
        struct device *dev = g_ptr_array_index(m->devices, i);
        if (!dev->cls->realize(dev->state, m, error))
            return false;
    }
    return true;
}

void machine_set_hv(struct machine *m, struct hv *hv)
{
    m->hv = hv;
}

bool machine_set_guest_ram(struct machine *m, uint64_t ram_size, GError **error)
{
    uint64_t hole = MEMMAP_4G - m->max_ram_below_4g;

    if (!memmap_compute(ram_size ? ram_size : m->max_ram_below_4g, hole, &m->memmap, error))
        return false;
    m->have_memmap = true;
    m->ram_size_known = ram_size != 0;
    return true;
}

void *machine_find_device(struct machine *m, const char *class_name)
{
    for (unsigned int i = 0; i < m->devices->len; i++) {
        struct device *dev = g_ptr_array_index(m->devices, i);
        if (strcmp(dev->cls->name, class_name) == 0)
            return dev->state;
    }
    return NULL;
}

bool machine_map_ports(struct machine *m, struct io_region *r, uint64_t base, GError **error)
{
    int rc = dispatch_map_region(m->dispatch, r, base);

    if (rc < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s: cannot claim ports 0x%" G_GINT64_MODIFIER "x-0x%" G_GINT64_MODIFIER
                    "x: %s", r->name, base, base + r->size - 1, g_strerror(-rc));
        return false;
    }
    return true;
}

int machine_set_isa_irq(struct machine *m, uint8_t irq, bool level)
{
    if (!m->hv || !m->hv->ops->set_isa_irq_level)
        return 0;
    return m->hv->ops->set_isa_irq_level(m->hv, irq, level);
}

int machine_shutdown(struct machine *m, unsigned int reason)
{
    if (!m->hv || !m->hv->ops->shutdown)
        return 0;
    return m->hv->ops->shutdown(m->hv, reason);
}
