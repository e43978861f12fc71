/* SPDX-License-Identifier: MIT */
/*
 * isa-debugcon: the one-port debug console (port 0xe9 by default) that
 * SeaBIOS, hvmloader and many kernels print to. Bytes written go to a
 * chardev; a read returns the `readback` value so a guest can probe for it.
 */
#include "devices/machine.h"

struct debugcon {
    char *id;
    struct io_region port;
    struct chardev *out;
    uint64_t iobase;
    uint64_t readback;
    struct dispatch *dispatch;
};

static uint64_t debugcon_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct debugcon *dc = opaque;
    return dc->readback;
}

static void debugcon_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct debugcon *dc = opaque;
    uint8_t byte = value & 0xff;

    chardev_write(dc->out, &byte, 1);
}

static const struct io_ops debugcon_ops = {
    .read = debugcon_read,
    .write = debugcon_write,
};

static void *debugcon_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct debugcon *dc = g_new0(struct debugcon, 1);

    dc->id = g_strdup(id);
    if (!opts_get_u64(o, "iobase", 0xe9, &dc->iobase, error) ||
        !opts_get_u64(o, "readback", 0xe9, &dc->readback, error) ||
        !(dc->out = machine_chardev(m, o, id, error)))
        goto fail;
    if (dc->iobase > 0xffff || dc->readback > 0xff) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "device '%s': iobase must be a port (0-0xffff), readback a byte", id);
        goto fail;
    }
    io_region_init(&dc->port, dc->id, HV_RANGE_PORT, 1, &debugcon_ops, dc);
    return dc;
fail:
    g_free(dc->id);
    g_free(dc);
    return NULL;
}

static bool debugcon_realize(void *state, struct machine *m, GError **error)
{
    struct debugcon *dc = state;
    int rc = dispatch_map_region(m->dispatch, &dc->port, dc->iobase);

    if (rc < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "%s: cannot claim port 0x%" G_GINT64_MODIFIER "x: %s", dc->id, dc->iobase,
                    g_strerror(-rc));
        return false;
    }
    dc->dispatch = m->dispatch;
    return true;
}

static void debugcon_destroy(void *state)
{
    struct debugcon *dc = state;

    if (dc->dispatch)
        dispatch_unmap_region(dc->dispatch, &dc->port);
    g_free(dc->id);
    g_free(dc);
}

const struct device_class isa_debugcon_class = {
    .name = "isa-debugcon",
    .description = "one-port debug console (writes go to a chardev)",
    .properties = "  chardev=ID     where the bytes go (required)\n"
                  "  iobase=PORT    I/O port (default 0xe9)\n"
                  "  readback=BYTE  value a read returns (default 0xe9)\n"
                  "  id=NAME        device name in logs\n",
    .create = debugcon_create,
    .realize = debugcon_realize,
    .destroy = debugcon_destroy,
};
