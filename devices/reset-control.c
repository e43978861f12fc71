/* SPDX-License-Identifier: MIT */
/*
 * The PC's two reset registers, both of which reboot the domain:
 *   0x92   System Control Port A: bit 0 written as 1 is a fast reset;
 *          bit 1 (A20 gate) reads 1, A20 being always on in an HVM guest.
 *   0xcf9  Reset Control Register (PIIX3): writing bit 2 (RST_CPU) resets;
 *          bits 1 (SYS_RST) and 3 (FULL_RST) are kept. It is the reset
 *          register of Xen's ACPI FADT, so an OS's ACPI reboot lands here.
 * Both are byte-wide; the hypervisor keeps 4-byte 0xcf8 accesses for PCI
 * config, so a byte at 0xcf9 reaches us as port I/O.
 */
#include "devices/machine.h"
#include "ioreq/log.h"

#include <xen/sched.h> /* SHUTDOWN_reboot; after hv.h's stdint */

#define PORT_A 0x92
#define PORT_A_FAST_RESET 0x01
#define PORT_A_A20 0x02
#define RCR_PORT 0xcf9
#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04
#define RCR_FULL_RST 0x08

struct reset_control {
    char *id;
    struct machine *machine;
    struct io_region port_a, rcr;
    uint8_t port_a_value;
    uint8_t rcr_value;
    struct ratelimit guest_log;
};

static void reboot(struct reset_control *r, const char *why)
{
    log_limited(&r->guest_log, r->machine ? r->machine->domid : 0, r->id,
                "guest resets the machine (%s): reboot", why);
    if (!r->machine)
        return;
    int rc = machine_shutdown(r->machine, SHUTDOWN_reboot);
    if (rc < 0)
        log_limited(&r->guest_log, r->machine->domid, r->id, "reboot refused: %s",
                    g_strerror(-rc));
}

static uint64_t port_a_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct reset_control *r = opaque;
    return r->port_a_value | PORT_A_A20;
}

static void port_a_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct reset_control *r = opaque;

    /* the reset bit is a pulse: it never reads back as set */
    r->port_a_value = (uint8_t)(value & ~PORT_A_FAST_RESET);
    if (value & PORT_A_FAST_RESET)
        reboot(r, "port 0x92");
}

static uint64_t rcr_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct reset_control *r = opaque;
    return r->rcr_value;
}

static void rcr_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct reset_control *r = opaque;

    r->rcr_value = value & (RCR_SYS_RST | RCR_FULL_RST);
    if (value & RCR_RST_CPU)
        reboot(r, "port 0xcf9");
}

static const struct io_ops port_a_ops = { .read = port_a_read, .write = port_a_write };
static const struct io_ops rcr_ops = { .read = rcr_read, .write = rcr_write };

static void *reset_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct reset_control *r = g_new0(struct reset_control, 1);

    r->id = g_strdup(id);
    r->guest_log = (struct ratelimit)RATELIMIT_INIT;
    io_region_init(&r->port_a, r->id, HV_RANGE_PORT, 1, &port_a_ops, r);
    io_region_init(&r->rcr, r->id, HV_RANGE_PORT, 1, &rcr_ops, r);
    return r;
}

static bool reset_realize(void *state, struct machine *m, GError **error)
{
    struct reset_control *r = state;

    r->machine = m;
    return machine_map_ports(m, &r->port_a, PORT_A, error) &&
           machine_map_ports(m, &r->rcr, RCR_PORT, error);
}

static void reset_destroy(void *state)
{
    struct reset_control *r = state;

    if (r->machine) {
        dispatch_unmap_region(r->machine->dispatch, &r->port_a);
        dispatch_unmap_region(r->machine->dispatch, &r->rcr);
    }
    g_free(r->id);
    g_free(r);
}

const struct device_class reset_control_class = {
    .name = "pc-reset",
    .description = "reset registers 0x92 and 0xcf9 (reset = domain reboot; part of xenfv)",
    .properties = "  id=NAME  device name in logs\n",
    .create = reset_create,
    .realize = reset_realize,
    .destroy = reset_destroy,
};
