/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART ("isa-serial"): COM1-4 at 0x3f8/IRQ 4, 0x2f8/IRQ 3,
 * 0x3e8/IRQ 4, 0x2e8/IRQ 3. Transmission is instant (the chardev never
 * stalls the guest), reception goes through the 16-byte FIFO with the
 * chardev throttled while it is full, so input is not lost to a slow
 * guest. The interrupt reaches the ISA line only with MCR OUT2 set, as on
 * a PC; each new cause after a guest access is a new edge on the PIC.
 */
#include "devices/serial.h"

#include <stdio.h>
#include <string.h>

#include "devices/machine.h"
#include "ioreq/log.h"

#define UART_PORTS 8
#define FIFO_SIZE 16
#define MAX_PORTS 4

/* register offsets */
#define REG_DATA 0 /* RBR / THR, DLL with DLAB */
#define REG_IER 1  /* DLM with DLAB */
#define REG_IIR 2  /* FCR on write */
#define REG_LCR 3
#define REG_MCR 4
#define REG_LSR 5
#define REG_MSR 6
#define REG_SCR 7

#define IER_RX 0x01
#define IER_THRE 0x02
#define IER_LINE 0x04
#define IER_MODEM 0x08
#define IER_WRITABLE 0x0f

#define IIR_NONE 0x01
#define IIR_LINE 0x06
#define IIR_RX 0x04
#define IIR_RX_TIMEOUT 0x0c
#define IIR_THRE 0x02
#define IIR_MODEM 0x00
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_WRITABLE 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* Outside loopback the line looks connected: CTS, DSR, DCD. */
#define MSR_CONNECTED (MSR_CTS | MSR_DSR | MSR_DCD)

static const struct { uint16_t iobase; uint8_t irq; } standard_ports[MAX_PORTS] = {
    { 0x3f8, 4 }, { 0x2f8, 3 }, { 0x3e8, 4 }, { 0x2e8, 3 },
};
static const uint8_t fifo_triggers[4] = { 1, 4, 8, 14 };

struct serial {
    char *id;
    struct machine *machine;
    struct chardev *chr;
    struct io_region ports;
    uint64_t iobase, irq;
    uint16_t divisor;
    uint8_t ier, lcr, mcr, msr, scr;
    bool fifo_enabled;
    uint8_t rx_trigger;
    bool overrun;
    bool thre_pending;
    uint8_t rx[FIFO_SIZE];
    unsigned int rx_head, rx_count;
    bool irq_level;
    uint64_t overruns;
    struct ratelimit guest_log;
};

static uint32_t domid_of(const struct serial *s)
{
    return s->machine ? s->machine->domid : 0;
}

static uint8_t interrupt_id(const struct serial *s)
{
    if ((s->ier & IER_LINE) && s->overrun)
        return IIR_LINE;
    if ((s->ier & IER_RX) && s->rx_count)
        /* No timer for the character timeout: data below the trigger level
         * is reported as timed out at once, so it is never stranded. */
        return s->fifo_enabled && s->rx_count < s->rx_trigger ? IIR_RX_TIMEOUT : IIR_RX;
    if ((s->ier & IER_THRE) && s->thre_pending)
        return IIR_THRE;
    if ((s->ier & IER_MODEM) && (s->msr & MSR_DELTAS))
        return IIR_MODEM;
    return IIR_NONE;
}

static void set_line(struct serial *s, bool level)
{
    if (s->irq_level == level || !s->machine)
        return;
    s->irq_level = level;
    int rc = machine_set_isa_irq(s->machine, (uint8_t)s->irq, level);
    if (rc < 0)
        log_limited(&s->guest_log, domid_of(s), s->id, "IRQ %u refused: %s", (unsigned)s->irq,
                    g_strerror(-rc));
}

static void update_irq(struct serial *s)
{
    set_line(s, interrupt_id(s) != IIR_NONE && (s->mcr & MCR_OUT2));
}

static unsigned int rx_capacity(const struct serial *s)
{
    return s->fifo_enabled ? FIFO_SIZE : 1;
}

static void rx_push(struct serial *s, uint8_t byte)
{
    if (s->rx_count >= rx_capacity(s)) {
        s->overrun = true;
        s->overruns++;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % FIFO_SIZE] = byte;
    s->rx_count++;
}

static uint8_t rx_pop(struct serial *s)
{
    uint8_t byte;

    if (!s->rx_count)
        return 0;
    byte = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
    s->rx_count--;
    if (s->chr)
        chardev_input_wake(s->chr); /* room again */
    return byte;
}

static void rx_clear(struct serial *s)
{
    s->rx_head = s->rx_count = 0;
    if (s->chr)
        chardev_input_wake(s->chr);
}

size_t serial_can_receive(struct serial *s)
{
    if (s->mcr & MCR_LOOP)
        return 0; /* the line is disconnected in loopback */
    return rx_capacity(s) - s->rx_count;
}

void serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
    if (s->mcr & MCR_LOOP)
        return;
    for (size_t i = 0; i < len; i++)
        rx_push(s, buf[i]);
    update_irq(s);
}

uint64_t serial_overruns(const struct serial *s)
{
    return s->overruns;
}

/* Modem inputs in loopback follow the outputs: RTS->CTS, DTR->DSR,
 * OUT1->RI, OUT2->DCD. */
static uint8_t modem_inputs(uint8_t mcr)
{
    if (!(mcr & MCR_LOOP))
        return MSR_CONNECTED;
    return (mcr & MCR_RTS ? MSR_CTS : 0) | (mcr & MCR_DTR ? MSR_DSR : 0) |
           (mcr & MCR_OUT1 ? MSR_RI : 0) | (mcr & MCR_OUT2 ? MSR_DCD : 0);
}

static void write_mcr(struct serial *s, uint8_t value)
{
    uint8_t old = s->msr & ~MSR_DELTAS, now;
    bool was_loop = s->mcr & MCR_LOOP;

    s->mcr = value & MCR_WRITABLE;
    now = modem_inputs(s->mcr);
    s->msr = (s->msr & MSR_DELTAS) | now;
    if ((old ^ now) & MSR_CTS)
        s->msr |= MSR_DCTS;
    if ((old ^ now) & MSR_DSR)
        s->msr |= MSR_DDSR;
    if ((old & MSR_RI) && !(now & MSR_RI))
        s->msr |= MSR_TERI; /* trailing edge only */
    if ((old ^ now) & MSR_DCD)
        s->msr |= MSR_DDCD;
    if (was_loop && !(s->mcr & MCR_LOOP) && s->chr)
        chardev_input_wake(s->chr);
}

static void write_fcr(struct serial *s, uint8_t value)
{
    bool enable = value & FCR_ENABLE;

    if (enable != s->fifo_enabled) {
        rx_clear(s); /* switching modes empties both FIFOs */
        s->fifo_enabled = enable;
    }
    if (!enable)
        return;
    if (value & FCR_CLEAR_RX) {
        rx_clear(s);
        s->overrun = false;
    }
    s->rx_trigger = fifo_triggers[value >> 6];
}

static void transmit(struct serial *s, uint8_t byte)
{
    if (s->mcr & MCR_LOOP)
        rx_push(s, byte);
    else if (s->chr)
        chardev_write(s->chr, &byte, 1);
    /* The holding register empties at once: a fresh THRE interrupt, with
     * the line dropped first so the PIC sees an edge. */
    s->thre_pending = false;
    update_irq(s);
    s->thre_pending = true;
}

static void write_ier(struct serial *s, uint8_t value)
{
    uint8_t old = s->ier;

    s->ier = value & IER_WRITABLE;
    /* Enabling the THRE interrupt while the holding register is empty
     * raises it, which drivers use to kick off transmission. */
    if ((s->ier & IER_THRE) && !(old & IER_THRE))
        s->thre_pending = true;
}

static uint64_t serial_read(void *opaque, uint64_t offset, unsigned int size)
{
    struct serial *s = opaque;
    uint8_t value = 0;

    /* The registers are bytes: a wider read has no defined meaning, and
     * must not pop data or clear status as a side effect. */
    if (size != 1) {
        log_limited(&s->guest_log, domid_of(s), s->id, "%u-byte read of port 0x%x",
                    size, (unsigned)(s->iobase + offset));
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    }
    switch (offset) {
    case REG_DATA:
        value = (s->lcr & LCR_DLAB) ? (s->divisor & 0xff) : rx_pop(s);
        break;
    case REG_IER:
        value = (s->lcr & LCR_DLAB) ? (s->divisor >> 8) : s->ier;
        break;
    case REG_IIR:
        value = interrupt_id(s);
        if (value == IIR_THRE)
            s->thre_pending = false; /* reading the cause clears it */
        value |= s->fifo_enabled ? IIR_FIFO_ON : 0;
        break;
    case REG_LCR: value = s->lcr; break;
    case REG_MCR: value = s->mcr; break;
    case REG_LSR:
        value = (s->rx_count ? LSR_DR : 0) | (s->overrun ? LSR_OE : 0) | LSR_THRE | LSR_TEMT;
        s->overrun = false;
        break;
    case REG_MSR:
        value = s->msr;
        s->msr &= ~MSR_DELTAS;
        break;
    case REG_SCR: value = s->scr; break;
    }
    update_irq(s);
    return value;
}

static void serial_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
    struct serial *s = opaque;
    uint8_t byte = value & 0xff;

    if (size != 1) {
        log_limited(&s->guest_log, domid_of(s), s->id, "%u-byte access to port 0x%x ignored",
                    size, (unsigned)(s->iobase + offset));
        return;
    }
    switch (offset) {
    case REG_DATA:
        if (s->lcr & LCR_DLAB)
            s->divisor = (uint16_t)((s->divisor & 0xff00) | byte);
        else
            transmit(s, byte);
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB)
            s->divisor = (uint16_t)((s->divisor & 0x00ff) | (byte << 8));
        else
            write_ier(s, byte);
        break;
    case REG_IIR: write_fcr(s, byte); break;
    case REG_LCR: s->lcr = byte; break;
    case REG_MCR: write_mcr(s, byte); break;
    case REG_SCR: s->scr = byte; break;
    default: /* LSR and MSR are read-only */
        log_limited(&s->guest_log, domid_of(s), s->id, "write to read-only port 0x%x ignored",
                    (unsigned)(s->iobase + offset));
        break;
    }
    update_irq(s);
}

static const struct io_ops serial_ops = {
    .read = serial_read,
    .write = serial_write,
};

static size_t reader_can_read(void *opaque)
{
    return serial_can_receive(opaque);
}

static void reader_read(void *opaque, const uint8_t *buf, size_t len)
{
    serial_receive(opaque, buf, len);
}

static void serial_power_on(struct serial *s)
{
    s->divisor = 12; /* 9600 baud */
    s->rx_trigger = 1;
    s->msr = MSR_CONNECTED;
    s->thre_pending = false;
}

static bool serial_parse_location(struct serial *s, struct opts *o, const char *id,
                                  GError **error)
{
    uint64_t index;

    if (!opts_get_u64(o, "index", 0, &index, error))
        return false;
    if (index >= MAX_PORTS) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "device '%s': index must be 0-3 (COM1-COM4)", id);
        return false;
    }
    if (!opts_get_u64(o, "iobase", standard_ports[index].iobase, &s->iobase, error) ||
        !opts_get_u64(o, "irq", standard_ports[index].irq, &s->irq, error))
        return false;
    if (s->iobase > 0x10000 - UART_PORTS || s->irq > 15) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "device '%s': iobase must leave 8 ports below 0x10000, irq be 0-15", id);
        return false;
    }
    return true;
}

static void *serial_create(struct machine *m, struct opts *o, const char *id, GError **error)
{
    struct serial *s = g_new0(struct serial, 1);

    s->id = g_strdup(id);
    s->guest_log = (struct ratelimit)RATELIMIT_INIT;
    if (!serial_parse_location(s, o, id, error) || !(s->chr = machine_chardev(m, o, id, error))) {
        g_free(s->id);
        g_free(s);
        return NULL;
    }
    serial_power_on(s);
    io_region_init(&s->ports, s->id, HV_RANGE_PORT, UART_PORTS, &serial_ops, s);
    return s;
}

static bool serial_realize(void *state, struct machine *m, GError **error)
{
    struct serial *s = state;
    const struct chardev_reader reader = { reader_can_read, reader_read, s };

    s->machine = m;
    if (!machine_map_ports(m, &s->ports, s->iobase, error))
        return false;
    chardev_set_reader(s->chr, &reader);
    return true;
}

static void serial_destroy(void *state)
{
    struct serial *s = state;

    if (s->machine) {
        chardev_set_reader(s->chr, NULL);
        dispatch_unmap_region(s->machine->dispatch, &s->ports);
    }
    g_free(s->id);
    g_free(s);
}

const struct device_class isa_serial_class = {
    .name = "isa-serial",
    .description = "16550A UART (COM1-4), output to and input from a chardev",
    .properties = "  chardev=ID    the line (required)\n"
                  "  index=N       COM1-4 location: 0x3f8/4, 0x2f8/3, 0x3e8/4, 0x2e8/3\n"
                  "  iobase=PORT   override the base port\n"
                  "  irq=N         override the ISA IRQ\n"
                  "  id=NAME       device name in logs\n",
    .create = serial_create,
    .realize = serial_realize,
    .destroy = serial_destroy,
};

/* ---- -serial ---- */

/* QEMU's -serial syntax -> a -chardev spec with the given id; NULL if the
 * syntax is not one we know. */
static char *serial_chardev_spec(const char *spec, const char *id)
{
    if (!strcmp(spec, "pty") || !strcmp(spec, "stdio") || !strcmp(spec, "null"))
        return g_strdup_printf("%s,id=%s", spec, id);
    if (g_str_has_prefix(spec, "file:") && spec[5])
        return g_strdup_printf("file,id=%s,path=%s", id, spec + 5);
    if (g_str_has_prefix(spec, "unix:") && spec[5]) {
        g_auto(GStrv) parts = g_strsplit(spec + 5, ",", -1);
        bool server = false;
        for (size_t i = 1; parts[i]; i++) {
            if (!strcmp(parts[i], "server"))
                server = true;
            /* a server never waits for a client here: the guest must not
             * stall on its console, so "nowait" is what we do anyway */
            else if (strcmp(parts[i], "nowait") != 0 && strcmp(parts[i], "wait=off") != 0)
                return NULL;
        }
        if (!*parts[0])
            return NULL;
        return g_strdup_printf("socket,id=%s,path=%s,server=%s", id, parts[0],
                               server ? "on" : "off");
    }
    return NULL;
}

bool machine_add_serial(struct machine *m, const char *spec, GError **error)
{
    unsigned int index = m->serial_ports;

    if (index >= MAX_PORTS) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "-serial %s: at most %u serial ports", spec, MAX_PORTS);
        return false;
    }
    m->serial_ports++;
    if (!strcmp(spec, "none"))
        return true; /* COMn left empty */
    char id[16];
    snprintf(id, sizeof(id), "serial%u", index);
    g_autofree char *chardev_spec = serial_chardev_spec(spec, id);
    if (!chardev_spec) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "-serial '%s': use pty, stdio, null, none, file:PATH or "
                    "unix:PATH[,server][,nowait]", spec);
        return false;
    }
    if (!chardev_set_add(m->chardevs, chardev_spec, error))
        return false;
    g_autofree char *device = g_strdup_printf("isa-serial,chardev=%s,id=%s,index=%u", id, id,
                                              index);
    return machine_add_device(m, device, error);
}
