/* SPDX-License-Identifier: MIT */
/*
 * The x86 HVM boards libxl asks for:
 *   -machine xenfv[,max-ram-below-4g=SIZE][,suppress-vmdesc=on]
 *       the PC with the Xen platform device (xen_platform_pci=1, default);
 *   -machine pc,accel=xen[,...]
 *       the same PC without it (xen_platform_pci=0).
 * Both are i440FX 00:00.0, PIIX3 00:01.0, PIIX4 PM 00:01.3, the i8042, the
 * reset registers (0x92, 0xcf9) and,
 * for xenfv, the platform device in the first free slot after the board's
 * other PCI functions (00:02.0 today; 00:03.0 as in qemu-xen once a VGA
 * takes slot 2). Everything else a PC has
 * (PIT, PIC, IOAPIC, RTC, HPET, PM timer) is the hypervisor's.
 *
 * The board's devices are ordinary device classes, added before any
 * -device so their fixed addresses are taken first.
 */
#include <string.h>

#include "devices/machine.h"

/* libxl passes 4 GiB minus xl.cfg's mmio_hole, which it allows from
 * 256 MiB to 3840 MiB. */
#define MIN_RAM_BELOW_4G (256ull << 20)
#define MAX_RAM_BELOW_4G (3840ull << 20)
#define RAM_BELOW_4G_ALIGN 4096ull

static const char *const xenfv_names[] = { "xenfv", "xenfv-3.1", "xenfv-4.2" };

/* What every board has, then what only xenfv adds. */
static const char *const pc_devices[] = {
    "i440FX,id=i440fx",
    "PIIX3,id=piix3",
    "PIIX4_PM,id=piix4-pm",
    "i8042,id=i8042",
    "pc-reset,id=pc-reset",
};
static const char *const xenfv_only_devices[] = {
    "xen-platform,id=xen-platform",
};

static bool is_xenfv(const char *type)
{
    for (size_t i = 0; i < G_N_ELEMENTS(xenfv_names); i++)
        if (strcmp(type, xenfv_names[i]) == 0)
            return true;
    return false;
}

bool machine_xenfv_known(const char *type)
{
    return is_xenfv(type) || strcmp(type, "pc") == 0;
}

static bool parse_ram_below_4g(struct machine *m, struct opts *o, const char *what,
                               GError **error)
{
    uint64_t size;

    if (!opts_get_u64(o, "max-ram-below-4g", MACHINE_DEFAULT_RAM_BELOW_4G, &size, error))
        return false;
    if (size < MIN_RAM_BELOW_4G || size > MAX_RAM_BELOW_4G || size % RAM_BELOW_4G_ALIGN) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: max-ram-below-4g=%" G_GUINT64_FORMAT " must be 4 GiB minus an MMIO "
                    "hole of 256 MiB to 3840 MiB (256M..3840M, 4 KiB aligned)",
                    what, size);
        return false;
    }
    m->max_ram_below_4g = size;
    m->max_ram_below_4g_given = opts_has(o, "max-ram-below-4g");
    return true;
}

static bool add_devices(struct machine *m, const char *const *specs, size_t n, GError **error)
{
    for (size_t i = 0; i < n; i++)
        if (!machine_add_device(m, specs[i], error))
            return false;
    return true;
}

bool machine_xenfv_configure(struct machine *m, const char *type, struct opts *o,
                             GError **error)
{
    g_autofree char *what = g_strdup_printf("machine '%s'", type);

    if (m->kind != MACHINE_NONE) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "%s: a board is already configured", what);
        return false;
    }
    if (!parse_ram_below_4g(m, o, what, error) ||
        !opts_get_bool(o, "suppress-vmdesc", false, &m->suppress_vmdesc, error) ||
        !opts_check_all_used(o, what, error))
        return false;
    m->kind = is_xenfv(type) ? MACHINE_XENFV : MACHINE_PC_XEN;
    if (!add_devices(m, pc_devices, G_N_ELEMENTS(pc_devices), error))
        return false;
    if (m->kind == MACHINE_XENFV &&
        !add_devices(m, xenfv_only_devices, G_N_ELEMENTS(xenfv_only_devices), error))
        return false;
    return true;
}
