/* SPDX-License-Identifier: MIT */
/*
 * i8042 keyboard controller: data port 0x60, command/status port 0x64,
 * the PS/2 keyboard on ISA IRQ 1 and the PS/2 mouse on ISA IRQ 12 (both
 * edge-triggered on the PIC: each new byte is a low-to-high change of the
 * level we give the hypervisor). The controller has one output byte;
 * when the guest takes it, the next comes from (in order) the
 * controller's own replies, the keyboard, the mouse.
 * Pulsing the reset line (command 0xfe, or output port bit 0 cleared)
 * reboots the domain.
 */
#include "devices/i8042.h"
#include "devices/machine.h"
#include "ioreq/log.h"

#include <xen/sched.h> /* SHUTDOWN_reboot; needs hv.h's stdint first */

#define DATA_PORT 0x60
#define CONTROL_PORT 0x64
#define KBD_IRQ 1
#define MOUSE_IRQ 12

/* status register */
#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_CMD 0x08      /* last write went to the command port */
#define STATUS_UNLOCKED 0x10 /* keyboard not inhibited by the key lock */
#define STATUS_AUX_OBF 0x20

/* command byte (controller RAM byte 0) */
#define CTR_KBD_INT 0x01
#define CTR_AUX_INT 0x02
#define CTR_SYS 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_TRANSLATE 0x40
#define CTR_POWER_ON (CTR_KBD_INT | CTR_SYS | CTR_TRANSLATE)

/* output port */
#define OUTPORT_RESET_HIGH 0x01 /* low = CPU held in reset */
#define OUTPORT_A20 0x02
#define OUTPORT_POWER_ON (OUTPORT_RESET_HIGH | OUTPORT_A20)

/* controller commands */
#define CMD_READ_RAM 0x20        /* 0x20-0x3f */
#define CMD_WRITE_RAM 0x60       /* 0x60-0x7f */
#define CMD_PASSWORD_TEST 0xa4
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPUT 0xc0
#define CMD_READ_OUTPUT 0xd0
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_A20_OFF 0xdd
#define CMD_A20_ON 0xdf
#define CMD_READ_TEST_INPUTS 0xe0
#define CMD_PULSE 0xf0           /* 0xf0-0xff: pulse output bits 0-3 low */

#define SELF_TEST_OK 0x55
#define INTERFACE_OK 0x00
#define NO_PASSWORD 0xf1
#define RAM_SIZE 32

struct i8042 {
    char *id;
    struct machine *machine;
    struct io_region data_port, control_port;
    struct ps2_kbd kbd;
    struct ps2_mouse mouse;
    struct ps2_queue replies;  /* the controller's own answers */
    uint8_t ram[RAM_SIZE];     /* ram[0] is the command byte */
    uint8_t out;               /* output buffer */
    bool out_full, out_from_aux;
    bool last_write_was_cmd;
    bool sys_flag;
    uint8_t outport;
    uint8_t awaiting_data;     /* command whose data byte comes next, 0 = none */
    bool irq_level[2];         /* as last told to the hypervisor: kbd, aux */
    struct ratelimit guest_log;
};

static uint32_t domid_of(const struct i8042 *c)
{
    return c->machine ? c->machine->domid : 0;
}

static bool translating(const struct i8042 *c)
{
    return c->ram[0] & CTR_TRANSLATE;
}

/* Give the hypervisor the line level only when it changes. */
static void set_irq(struct i8042 *c, unsigned int which, uint8_t irq, bool level)
{
    if (c->irq_level[which] == level || !c->machine)
        return;
    c->irq_level[which] = level;
    int rc = machine_set_isa_irq(c->machine, irq, level);
    if (rc < 0)
        log_limited(&c->guest_log, domid_of(c), c->id, "IRQ %u level %d refused: %s", irq,
                    level, g_strerror(-rc));
}

static void fill_output(struct i8042 *c)
{
    uint8_t byte;

    if (c->out_full)
        return;
    if (ps2_queue_pop(&c->replies, &byte))
        c->out_from_aux = false;
    else if (!(c->ram[0] & CTR_KBD_DISABLE) && ps2_queue_pop(&c->kbd.q, &byte))
        c->out_from_aux = false;
    else if (!(c->ram[0] & CTR_AUX_DISABLE) && ps2_queue_pop(&c->mouse.q, &byte))
        c->out_from_aux = true;
    else
        return;
    c->out = byte;
    c->out_full = true;
}

static void update_irqs(struct i8042 *c)
{
    set_irq(c, 0, KBD_IRQ, c->out_full && !c->out_from_aux && (c->ram[0] & CTR_KBD_INT));
    set_irq(c, 1, MOUSE_IRQ, c->out_full && c->out_from_aux && (c->ram[0] & CTR_AUX_INT));
}

/* After every change: next byte in, interrupt lines to match. */
static void sync_state(struct i8042 *c)
{
    fill_output(c);
    update_irqs(c);
}

static void reply(struct i8042 *c, uint8_t byte)
{
    /* the guest asks one thing at a time; a flood of unread answers just
     * loses the oldest-unasked ones */
    if (!ps2_queue_push(&c->replies, &byte, 1))
        log_limited(&c->guest_log, domid_of(c), c->id, "controller replies unread: dropped");
}

static void reboot(struct i8042 *c, const char *why)
{
    log_limited(&c->guest_log, domid_of(c), c->id, "guest pulsed the reset line (%s): reboot",
                why);
    if (!c->machine)
        return;
    int rc = machine_shutdown(c->machine, SHUTDOWN_reboot);
    if (rc < 0)
        log_limited(&c->guest_log, domid_of(c), c->id, "reboot refused: %s", g_strerror(-rc));
}

static void write_output_port(struct i8042 *c, uint8_t value)
{
    /* A20 is always enabled in an HVM guest; only the reset line acts. */
    c->outport = value | OUTPORT_A20;
    if (!(value & OUTPORT_RESET_HIGH)) {
        c->outport |= OUTPORT_RESET_HIGH; /* the CPU comes back out of reset */
        reboot(c, "output port");
    }
}

static uint8_t output_port_value(const struct i8042 *c)
{
    return (c->outport & (OUTPORT_RESET_HIGH | OUTPORT_A20)) |
           (c->out_full && !c->out_from_aux ? 0x10 : 0) |
           (c->out_full && c->out_from_aux ? 0x20 : 0);
}

static void set_port_disabled(struct i8042 *c, uint8_t bit, bool disabled)
{
    c->ram[0] = disabled ? (c->ram[0] | bit) : (c->ram[0] & ~bit);
}

/* Commands without a data byte; false if `cmd` is none of them. */
static bool simple_command(struct i8042 *c, uint8_t cmd)
{
    switch (cmd) {
    case CMD_PASSWORD_TEST: reply(c, NO_PASSWORD); return true;
    case CMD_AUX_DISABLE: set_port_disabled(c, CTR_AUX_DISABLE, true); return true;
    case CMD_AUX_ENABLE: set_port_disabled(c, CTR_AUX_DISABLE, false); return true;
    case CMD_AUX_TEST: reply(c, INTERFACE_OK); return true;
    case CMD_SELF_TEST:
        c->sys_flag = true;
        reply(c, SELF_TEST_OK);
        return true;
    case CMD_KBD_TEST: reply(c, INTERFACE_OK); return true;
    case CMD_KBD_DISABLE: set_port_disabled(c, CTR_KBD_DISABLE, true); return true;
    case CMD_KBD_ENABLE: set_port_disabled(c, CTR_KBD_DISABLE, false); return true;
    case CMD_READ_INPUT: reply(c, 0x80); return true; /* key lock open */
    case CMD_READ_OUTPUT: reply(c, output_port_value(c)); return true;
    case CMD_A20_OFF: case CMD_A20_ON: return true;   /* A20 stays on */
    case CMD_READ_TEST_INPUTS: reply(c, 0x00); return true;
    default: return false;
    }
}

static void controller_command(struct i8042 *c, uint8_t cmd)
{
    c->awaiting_data = 0;
    if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + RAM_SIZE) {
        reply(c, c->ram[cmd - CMD_READ_RAM]);
    } else if ((cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE) ||
               cmd == CMD_WRITE_OUTPUT || cmd == CMD_WRITE_KBD_OBUF ||
               cmd == CMD_WRITE_AUX_OBUF || cmd == CMD_WRITE_AUX) {
        c->awaiting_data = cmd;
    } else if (cmd >= CMD_PULSE) {
        if (!(cmd & OUTPORT_RESET_HIGH))
            reboot(c, "command 0xfe");
    } else if (!simple_command(c, cmd)) {
        log_limited(&c->guest_log, domid_of(c), c->id, "unknown controller command 0x%02x",
                    cmd);
    }
}

static void write_ram(struct i8042 *c, unsigned int index, uint8_t value)
{
    if (index >= RAM_SIZE)
        return;
    c->ram[index] = value;
    if (index == 0)
        c->sys_flag = value & CTR_SYS;
}

static void controller_data(struct i8042 *c, uint8_t cmd, uint8_t value)
{
    switch (cmd) {
    case CMD_WRITE_OUTPUT:
        write_output_port(c, value);
        break;
    case CMD_WRITE_KBD_OBUF:
        if (!ps2_queue_push(&c->kbd.q, &value, 1))
            c->kbd.dropped++;
        break;
    case CMD_WRITE_AUX_OBUF:
        if (!ps2_queue_push(&c->mouse.q, &value, 1))
            c->mouse.dropped++;
        break;
    case CMD_WRITE_AUX:
        ps2_mouse_write(&c->mouse, value);
        break;
    default:
        if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE)
            write_ram(c, cmd - CMD_WRITE_RAM, value);
        break;
    }
}

static uint64_t data_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct i8042 *c = opaque;
    uint8_t value = c->out; /* an empty buffer reads the last byte again */

    c->out_full = false;
    /* The line drops as the byte is taken, so a next byte makes a new edge
     * on the (edge-triggered) PIC input. */
    update_irqs(c);
    sync_state(c);
    return value;
}

static void data_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct i8042 *c = opaque;
    uint8_t cmd = c->awaiting_data;

    c->last_write_was_cmd = false;
    c->awaiting_data = 0;
    if (cmd)
        controller_data(c, cmd, value & 0xff);
    else
        ps2_kbd_write(&c->kbd, value & 0xff, translating(c));
    sync_state(c);
}

static uint64_t control_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct i8042 *c = opaque;

    return (c->out_full ? STATUS_OBF : 0) | (c->out_full && c->out_from_aux ? STATUS_AUX_OBF : 0) |
           (c->sys_flag ? STATUS_SYS : 0) | (c->last_write_was_cmd ? STATUS_CMD : 0) |
           STATUS_UNLOCKED;
}

static void control_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct i8042 *c = opaque;

    c->last_write_was_cmd = true;
    controller_command(c, value & 0xff);
    sync_state(c);
}

static const struct io_ops data_ops = { .read = data_read, .write = data_write };
static const struct io_ops control_ops = { .read = control_read, .write = control_write };

bool i8042_key_event(struct i8042 *c, unsigned int keycode, bool down)
{
    bool queued = ps2_kbd_key(&c->kbd, keycode, down, translating(c));

    sync_state(c);
    return queued;
}

void i8042_mouse_event(struct i8042 *c, int dx, int dy, int dz, unsigned int buttons)
{
    ps2_mouse_event(&c->mouse, dx, dy, dz, buttons);
    sync_state(c);
}

uint64_t i8042_keys_dropped(const struct i8042 *c)
{
    return c->kbd.dropped;
}

uint64_t i8042_mouse_dropped(const struct i8042 *c)
{
    return c->mouse.dropped;
}

static void *i8042_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct i8042 *c = g_new0(struct i8042, 1);

    c->id = g_strdup(id);
    c->ram[0] = CTR_POWER_ON;
    c->outport = OUTPORT_POWER_ON;
    c->guest_log = (struct ratelimit)RATELIMIT_INIT;
    ps2_kbd_reset(&c->kbd);
    ps2_mouse_reset(&c->mouse);
    io_region_init(&c->data_port, c->id, HV_RANGE_PORT, 1, &data_ops, c);
    io_region_init(&c->control_port, c->id, HV_RANGE_PORT, 1, &control_ops, c);
    return c;
}

static bool i8042_realize(void *state, struct machine *m, GError **error)
{
    struct i8042 *c = state;

    c->machine = m;
    return machine_map_ports(m, &c->data_port, DATA_PORT, error) &&
           machine_map_ports(m, &c->control_port, CONTROL_PORT, error);
}

static void i8042_destroy(void *state)
{
    struct i8042 *c = state;

    if (c->machine) {
        dispatch_unmap_region(c->machine->dispatch, &c->data_port);
        dispatch_unmap_region(c->machine->dispatch, &c->control_port);
    }
    g_free(c->id);
    g_free(c);
}

const struct device_class i8042_class = {
    .name = "i8042",
    .description = "PS/2 keyboard and mouse controller (ports 0x60/0x64, IRQ 1/12)",
    .properties = "  id=NAME  device name in logs\n",
    .create = i8042_create,
    .realize = i8042_realize,
    .destroy = i8042_destroy,
};
