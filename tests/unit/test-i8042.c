/* SPDX-License-Identifier: MIT */
/* i8042 controller, PS/2 keyboard and mouse: the command sequences Linux
 * (i8042, atkbd, psmouse) and SeaBIOS issue, input events, interrupts,
 * the reset line, and hostile guests. */
#include <glib.h>

#include "board.h"
#include "devices/i8042.h"

#include <xen/sched.h>

#define STATUS_OBF 0x01
#define STATUS_SYS 0x04
#define STATUS_AUX 0x20

static struct board b;

static void start(void)
{
    board_start(&b, "xenfv", NULL);
}

static struct i8042 *kbc(void)
{
    return machine_find_device(b.m, "i8042");
}

static uint8_t status(void)
{
    return (uint8_t)pio_read(&b, 0x64, 1);
}

static void cmd(uint8_t c)
{
    pio_write(&b, 0x64, c, 1);
}

static void data(uint8_t v)
{
    pio_write(&b, 0x60, v, 1);
}

/* Reads the bytes the guest would poll for, asserting each is there and
 * comes from the expected side. */
static void expect(bool aux, const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t s = status();
        g_assert_cmphex(s & STATUS_OBF, ==, STATUS_OBF);
        g_assert_cmphex(s & STATUS_AUX, ==, aux ? STATUS_AUX : 0);
        g_assert_cmphex(pio_read(&b, 0x60, 1), ==, bytes[i]);
    }
}

#define EXPECT_KBD(...) do { const uint8_t e_[] = { __VA_ARGS__ }; expect(false, e_, sizeof(e_)); } while (0)
#define EXPECT_AUX(...) do { const uint8_t e_[] = { __VA_ARGS__ }; expect(true, e_, sizeof(e_)); } while (0)

static void expect_empty(void)
{
    g_assert_cmphex(status() & STATUS_OBF, ==, 0);
}

static void mouse_cmd(uint8_t c)
{
    cmd(0xd4);
    data(c);
}

/* Linux: i8042_controller_check/selftest/check_aux, atkbd and psmouse probes. */
static void test_linux_probe(void)
{
    start();
    expect_empty();
    cmd(0x20);
    EXPECT_KBD(0x45);
    /* disable both ports, interrupts off, as i8042_controller_init */
    cmd(0x60);
    data(0x34);
    cmd(0x20);
    EXPECT_KBD(0x34);
    cmd(0xaa);
    EXPECT_KBD(0x55);
    g_assert_cmphex(status() & STATUS_SYS, ==, STATUS_SYS);
    cmd(0xab);
    EXPECT_KBD(0x00);
    /* i8042_check_aux: loopback through the AUX output buffer */
    cmd(0x60);
    data(0x14); /* AUX enabled for the loop, no interrupts */
    cmd(0xd3);
    data(0x5a);
    EXPECT_AUX(0x5a);
    cmd(0xa7);
    cmd(0x20);
    EXPECT_KBD(0x34);
    cmd(0xa8);
    cmd(0x20);
    EXPECT_KBD(0x14);
    cmd(0xa9);
    EXPECT_KBD(0x00);
    /* ports and interrupts on, translation on */
    cmd(0x60);
    data(0x47);
    /* atkbd_probe / atkbd_activate */
    data(0xf2);
    EXPECT_KBD(0xfa, 0xab, 0x41);
    data(0xed);
    EXPECT_KBD(0xfa);
    data(0x00);
    EXPECT_KBD(0xfa);
    data(0xf3);
    EXPECT_KBD(0xfa);
    data(0x00);
    EXPECT_KBD(0xfa);
    data(0xf4);
    EXPECT_KBD(0xfa);
    /* psmouse: reset, id, IntelliMouse knock, Explorer knock, enable */
    mouse_cmd(0xff);
    EXPECT_AUX(0xfa, 0xaa, 0x00);
    mouse_cmd(0xf2);
    EXPECT_AUX(0xfa, 0x00);
    static const uint8_t imps[] = { 200, 100, 80 }, exps[] = { 200, 200, 80 };
    for (size_t i = 0; i < 3; i++) {
        mouse_cmd(0xf3);
        EXPECT_AUX(0xfa);
        mouse_cmd(imps[i]);
        EXPECT_AUX(0xfa);
    }
    mouse_cmd(0xf2);
    EXPECT_AUX(0xfa, 0x03);
    for (size_t i = 0; i < 3; i++) {
        mouse_cmd(0xf3);
        EXPECT_AUX(0xfa);
        mouse_cmd(exps[i]);
        EXPECT_AUX(0xfa);
    }
    mouse_cmd(0xf2);
    EXPECT_AUX(0xfa, 0x04);
    mouse_cmd(0xe8);
    EXPECT_AUX(0xfa);
    mouse_cmd(0x03);
    EXPECT_AUX(0xfa);
    mouse_cmd(0xe6);
    EXPECT_AUX(0xfa);
    mouse_cmd(0xf4);
    EXPECT_AUX(0xfa);
    expect_empty();
    /* input reaches the guest with the right interrupts */
    unsigned int irq1 = b.f->isa_irq_raises[1], irq12 = b.f->isa_irq_raises[12];
    g_assert_true(i8042_key_event(kbc(), 30 /* KEY_A */, true));
    g_assert_cmpuint(b.f->isa_irq_raises[1], ==, irq1 + 1);
    EXPECT_KBD(0x1e);
    g_assert_false(b.f->isa_irq_level[1]);
    i8042_mouse_event(kbc(), 5, 3, 1, PS2_BUTTON_LEFT | PS2_BUTTON_SIDE);
    g_assert_cmpuint(b.f->isa_irq_raises[12], ==, irq12 + 1);
    /* left, y up is negative on PS/2, wheel away = -1, side button */
    EXPECT_AUX(0x29, 0x05, 0xfd, 0x1f);
    g_assert_false(b.f->isa_irq_level[12]);
    expect_empty();
    board_stop(&b);
}

/* SeaBIOS ps2port.c: self-test, keyboard reset with ports disabled by the
 * command byte and enabled one at a time, then mouse reset. */
static void test_seabios_init(void)
{
    start();
    cmd(0xaa);
    EXPECT_KBD(0x55);
    cmd(0x60);
    data(0x30); /* both disabled, no interrupts */
    cmd(0x60);
    data(0x20); /* keyboard port on for the command */
    data(0xff);
    EXPECT_KBD(0xfa, 0xaa);
    data(0xf5);
    EXPECT_KBD(0xfa);
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x02);
    EXPECT_KBD(0xfa);
    data(0xf4);
    EXPECT_KBD(0xfa);
    cmd(0x60);
    data(0x10); /* mouse port on */
    mouse_cmd(0xff);
    EXPECT_AUX(0xfa, 0xaa, 0x00);
    mouse_cmd(0xf2);
    EXPECT_AUX(0xfa, 0x00);
    /* while the mouse port is off, its bytes wait */
    cmd(0xa7);
    mouse_cmd(0xf2);
    expect_empty();
    cmd(0xa8);
    EXPECT_AUX(0xfa, 0x00);
    board_stop(&b);
}

static void test_keyboard_scancodes(void)
{
    start();
    /* translation on (power-on command byte): set 1 bytes */
    g_assert_true(i8042_key_event(kbc(), 30, true));
    g_assert_true(i8042_key_event(kbc(), 30, false));
    EXPECT_KBD(0x1e, 0x9e);
    g_assert_true(i8042_key_event(kbc(), 103 /* KEY_UP */, true));
    g_assert_true(i8042_key_event(kbc(), 103, false));
    EXPECT_KBD(0xe0, 0x48, 0xe0, 0xc8);
    g_assert_true(i8042_key_event(kbc(), 119 /* KEY_PAUSE */, true));
    g_assert_false(i8042_key_event(kbc(), 119, false)); /* no break code */
    EXPECT_KBD(0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
    /* raw set 2: translation off */
    cmd(0x60);
    data(0x05);
    g_assert_true(i8042_key_event(kbc(), 30, true));
    g_assert_true(i8042_key_event(kbc(), 30, false));
    EXPECT_KBD(0x1c, 0xf0, 0x1c);
    g_assert_true(i8042_key_event(kbc(), 97 /* KEY_RIGHTCTRL */, false));
    EXPECT_KBD(0xe0, 0xf0, 0x14);
    g_assert_true(i8042_key_event(kbc(), 65 /* KEY_F7 */, true));
    EXPECT_KBD(0x83);
    /* get/set scancode set; set 3 is refused the way Linux checks */
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x00);
    EXPECT_KBD(0xfa, 0x02);
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x03);
    EXPECT_KBD(0xfa);
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x00);
    EXPECT_KBD(0xfa, 0x02);
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x01);
    EXPECT_KBD(0xfa);
    g_assert_true(i8042_key_event(kbc(), 16 /* KEY_Q */, true));
    EXPECT_KBD(0x10);
    data(0xf2);
    EXPECT_KBD(0xfa, 0xab, 0x83); /* untranslated id */
    data(0xee);
    EXPECT_KBD(0xee);
    data(0xfe);
    EXPECT_KBD(0xee); /* resend */
    /* unknown keys and disabled scanning */
    g_assert_false(i8042_key_event(kbc(), 0, true));
    g_assert_false(i8042_key_event(kbc(), 84, true));
    g_assert_false(i8042_key_event(kbc(), 100000, true));
    data(0xf5);
    EXPECT_KBD(0xfa);
    g_assert_false(i8042_key_event(kbc(), 30, true));
    expect_empty();
    board_stop(&b);
}

static void test_keyboard_bad_commands(void)
{
    start();
    data(0x01); /* not a command */
    EXPECT_KBD(0xfe);
    data(0xf0);
    EXPECT_KBD(0xfa);
    data(0x07); /* no such set */
    EXPECT_KBD(0xfe);
    data(0xed);
    EXPECT_KBD(0xfa);
    data(0xf4); /* a command where an argument was due: a new command */
    EXPECT_KBD(0xfa);
    data(0xfa); /* set-3 key type command: acknowledged, no effect */
    EXPECT_KBD(0xfa);
    board_stop(&b);
}

static void test_queue_overflow(void)
{
    start();
    unsigned int accepted = 0;
    for (unsigned int i = 0; i < 1000; i++)
        accepted += i8042_key_event(kbc(), 103, i % 2 == 0); /* two bytes each */
    /* the output buffer holds one byte, so one byte of the queue stays free */
    g_assert_cmpuint(accepted, ==, PS2_QUEUE_SIZE / 2);
    g_assert_cmpuint(i8042_keys_dropped(kbc()), ==, 1000 - accepted);
    /* what is queued is whole scancodes, in order */
    for (unsigned int i = 0; i < accepted; i++) {
        if (i % 2 == 0)
            EXPECT_KBD(0xe0, 0x48);
        else
            EXPECT_KBD(0xe0, 0xc8);
    }
    expect_empty();
    board_stop(&b);
}

static void enable_mouse(void)
{
    cmd(0x60);
    data(0x47);
    mouse_cmd(0xf4);
    EXPECT_AUX(0xfa);
}

static void test_mouse_packets(void)
{
    start();
    /* reporting off: nothing */
    i8042_mouse_event(kbc(), 10, 10, 0, 0);
    expect_empty();
    enable_mouse();
    /* 3-byte packets before the knock; a wheel alone sends nothing */
    i8042_mouse_event(kbc(), 0, 0, 3, 0);
    expect_empty();
    i8042_mouse_event(kbc(), -1, -2, 0, PS2_BUTTON_RIGHT | PS2_BUTTON_MIDDLE);
    EXPECT_AUX(0x1e, 0xff, 0x02);
    /* big moves are split into 9-bit steps */
    i8042_mouse_event(kbc(), 600, 0, 0, 0);
    EXPECT_AUX(0x08, 0xff, 0x00, 0x08, 0xff, 0x00, 0x08, 0x5a, 0x00);
    expect_empty();
    /* status request */
    i8042_mouse_event(kbc(), 0, 0, 0, PS2_BUTTON_LEFT);
    EXPECT_AUX(0x09, 0x00, 0x00);
    mouse_cmd(0xe9);
    EXPECT_AUX(0xfa, 0x24, 0x02, 100);
    /* remote mode: only on "read data" */
    mouse_cmd(0xf0);
    EXPECT_AUX(0xfa);
    i8042_mouse_event(kbc(), 4, 0, 0, PS2_BUTTON_LEFT);
    expect_empty();
    mouse_cmd(0xeb);
    EXPECT_AUX(0xfa, 0x09, 0x04, 0x00);
    mouse_cmd(0xea);
    EXPECT_AUX(0xfa);
    /* 2:1 scaling in stream mode */
    mouse_cmd(0xe7);
    EXPECT_AUX(0xfa);
    i8042_mouse_event(kbc(), 3, 0, 0, PS2_BUTTON_LEFT);
    EXPECT_AUX(0x09, 0x03, 0x00);
    i8042_mouse_event(kbc(), 10, 0, 0, PS2_BUTTON_LEFT);
    EXPECT_AUX(0x09, 0x14, 0x00);
    board_stop(&b);
}

static void test_mouse_bad_input(void)
{
    start();
    mouse_cmd(0xf3);
    EXPECT_AUX(0xfa);
    mouse_cmd(55); /* not a sample rate */
    EXPECT_AUX(0xfe);
    mouse_cmd(0xe8);
    EXPECT_AUX(0xfa);
    mouse_cmd(9); /* no such resolution */
    EXPECT_AUX(0xfe);
    mouse_cmd(0x42); /* no such command */
    EXPECT_AUX(0xfe);
    /* wrap mode echoes until reset-wrap */
    mouse_cmd(0xee);
    EXPECT_AUX(0xfa);
    mouse_cmd(0x12);
    EXPECT_AUX(0x12);
    mouse_cmd(0xec);
    EXPECT_AUX(0xfa);
    /* the guest never reads: packets are dropped whole and counted */
    enable_mouse();
    for (int i = 0; i < 1000; i++)
        i8042_mouse_event(kbc(), i % 2 ? 1 : -1, 0, 0, 0);
    g_assert_cmpuint(i8042_mouse_dropped(kbc()), >, 0);
    /* what did fit are whole packets, alternating left and right */
    unsigned int packets = 0;
    while (status() & STATUS_OBF) {
        if (packets++ % 2 == 0)
            EXPECT_AUX(0x18, 0xff, 0x00);
        else
            EXPECT_AUX(0x08, 0x01, 0x00);
    }
    g_assert_cmpuint(packets, ==, (PS2_QUEUE_SIZE + 1) / 3);
    g_assert_cmpuint(i8042_mouse_dropped(kbc()), ==, 1000 - packets);
    /* hostile magnitudes */
    i8042_mouse_event(kbc(), G_MAXINT, G_MININT, G_MAXINT, ~0u);
    i8042_mouse_event(kbc(), G_MININT, G_MAXINT, G_MININT, 0);
    board_stop(&b);
}

static void test_reset_line(void)
{
    start();
    cmd(0xff); /* pulses nothing */
    cmd(0xd1);
    data(0x03); /* reset line stays high */
    g_assert_cmpuint(b.f->shutdowns, ==, 0);
    cmd(0xd0);
    EXPECT_KBD(0x03);
    cmd(0xfe);
    g_assert_cmpuint(b.f->shutdowns, ==, 1);
    g_assert_cmpuint(b.f->shutdown_reason, ==, SHUTDOWN_reboot);
    cmd(0xd1);
    data(0x00);
    g_assert_cmpuint(b.f->shutdowns, ==, 2);
    cmd(0xd0);
    EXPECT_KBD(0x03); /* the CPU is out of reset, A20 stays on */
    board_stop(&b);
}

static void test_controller_ram_and_misc(void)
{
    start();
    cmd(0x7f);
    data(0x99);
    cmd(0x3f);
    EXPECT_KBD(0x99);
    cmd(0xa4);
    EXPECT_KBD(0xf1);
    cmd(0xc0);
    EXPECT_KBD(0x80);
    cmd(0xe0);
    EXPECT_KBD(0x00);
    /* 0xd2: bytes appear as keyboard data */
    cmd(0xd2);
    data(0x61);
    EXPECT_KBD(0x61);
    /* status: last write was a command */
    cmd(0xdf);
    g_assert_cmphex(status() & 0x08, ==, 0x08);
    /* reading an empty buffer repeats the last byte */
    g_assert_cmphex(pio_read(&b, 0x60, 1), ==, 0x61);
    board_stop(&b);
}

static void test_hostile_guest(void)
{
    start();
    /* widths the ports do not have: nobody serves them */
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x60, 2));
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x64, 4));
    g_assert_cmphex(pio_read(&b, 0x60, 2), ==, 0xffff);
    g_assert_null(dispatch_find(b.d, HV_RANGE_PORT, 0x61, 1)); /* Xen's port */
    /* command floods, unknown commands, replies nobody reads */
    for (unsigned int i = 0; i < 10000; i++)
        cmd(0x20);
    for (unsigned int i = 0; i < 10000; i++)
        cmd(0xc1 + (i % 15));
    /* random bytes to both ports (keeping clear of the reset pulses) */
    GRand *rng = g_rand_new_with_seed(42);
    for (unsigned int i = 0; i < 200000; i++) {
        uint8_t v = (uint8_t)g_rand_int(rng);
        if (g_rand_boolean(rng)) {
            if (v >= 0xf0 || v == 0xd1)
                v = 0xd4;
            cmd(v);
        } else {
            data(v);
        }
        if (g_rand_int_range(rng, 0, 4) == 0)
            pio_read(&b, 0x60, 1);
        if (g_rand_int_range(rng, 0, 50) == 0)
            i8042_key_event(kbc(), g_rand_int_range(rng, 0, 300), g_rand_boolean(rng));
        if (g_rand_int_range(rng, 0, 50) == 0)
            i8042_mouse_event(kbc(), g_rand_int(rng), g_rand_int(rng), g_rand_int(rng),
                              g_rand_int(rng));
    }
    g_rand_free(rng);
    g_assert_cmpuint(b.f->shutdowns, ==, 0);
    /* the controller still answers afterwards */
    cmd(0x60);
    data(0x47);
    while (status() & STATUS_OBF)
        pio_read(&b, 0x60, 1);
    cmd(0xaa);
    EXPECT_KBD(0x55);
    board_stop(&b);
}

static void test_irq_edges(void)
{
    start();
    unsigned int raises = b.f->isa_irq_raises[1];
    i8042_key_event(kbc(), 30, true);
    i8042_key_event(kbc(), 30, false);
    g_assert_cmpuint(b.f->isa_irq_raises[1], ==, raises + 1);
    EXPECT_KBD(0x1e);
    g_assert_cmpuint(b.f->isa_irq_raises[1], ==, raises + 2); /* a new edge per byte */
    EXPECT_KBD(0x9e);
    g_assert_false(b.f->isa_irq_level[1]);
    /* interrupts disabled in the command byte: no line */
    cmd(0x60);
    data(0x44);
    i8042_key_event(kbc(), 30, true);
    g_assert_false(b.f->isa_irq_level[1]);
    EXPECT_KBD(0x1e);
    /* without a hypervisor nothing is signalled, nothing breaks */
    machine_set_hv(b.m, NULL);
    cmd(0x60);
    data(0x47);
    i8042_key_event(kbc(), 30, true);
    cmd(0xfe);
    EXPECT_KBD(0x1e);
    g_assert_cmpuint(b.f->shutdowns, ==, 0);
    board_stop(&b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK);
    g_test_add_func("/i8042/linux-probe", test_linux_probe);
    g_test_add_func("/i8042/seabios-init", test_seabios_init);
    g_test_add_func("/i8042/keyboard-scancodes", test_keyboard_scancodes);
    g_test_add_func("/i8042/keyboard-bad-commands", test_keyboard_bad_commands);
    g_test_add_func("/i8042/queue-overflow", test_queue_overflow);
    g_test_add_func("/i8042/mouse-packets", test_mouse_packets);
    g_test_add_func("/i8042/mouse-bad-input", test_mouse_bad_input);
    g_test_add_func("/i8042/reset-line", test_reset_line);
    g_test_add_func("/i8042/controller-ram-misc", test_controller_ram_and_misc);
    g_test_add_func("/i8042/hostile-guest", test_hostile_guest);
    g_test_add_func("/i8042/irq-edges", test_irq_edges);
    return g_test_run();
}
