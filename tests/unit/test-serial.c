/* SPDX-License-Identifier: MIT */
/* 16550A UART: the Linux 8250 probe, output to a chardev, input through
 * a socket chardev with throttling, interrupts, loopback, -serial parsing
 * and hostile accesses. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "board.h"
#include "devices/serial.h"

#define COM1 0x3f8
#define COM2 0x2f8

struct fixture {
    struct board b;
    char *dir;
};

/* A board with "-machine none" and the given -serial options. */
static void start(struct fixture *fx, const char *const *serials)
{
    GError *err = NULL;
    struct board *b = &fx->b;

    fx->dir = g_dir_make_tmp("ioreqd-serial-XXXXXX", NULL);
    g_assert_nonnull(fx->dir);
    b->f = fake_hv_new();
    b->d = dispatch_new(&b->f->hv, 0);
    b->chardevs = chardev_set_new();
    b->m = machine_new(7, b->chardevs);
    machine_set_hv(b->m, &b->f->hv);
    for (size_t i = 0; serials[i]; i++) {
        g_autofree char *spec = g_strdup_printf(serials[i], fx->dir);
        g_assert_true(machine_add_serial(b->m, spec, &err));
        g_assert_no_error(err);
    }
    g_assert_true(machine_realize(b->m, b->d, &err));
    g_assert_no_error(err);
}

static void stop(struct fixture *fx)
{
    board_stop(&fx->b);
    g_autoptr(GDir) dir = g_dir_open(fx->dir, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(fx->dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(fx->dir);
    g_free(fx->dir);
}

static uint8_t in(struct fixture *fx, unsigned int reg)
{
    return (uint8_t)pio_read(&fx->b, COM1 + reg, 1);
}

static void out(struct fixture *fx, unsigned int reg, uint8_t v)
{
    pio_write(&fx->b, COM1 + reg, v, 1);
}

static struct serial *com1(struct fixture *fx)
{
    return machine_find_device(fx->b.m, "isa-serial");
}

/* drivers/tty/serial/8250: presence, loopback and FIFO type checks. */
static void test_linux_probe(void)
{
    static const char *const serials[] = { "null", NULL };
    struct fixture fx;

    start(&fx, serials);
    g_assert_true(fake_hv_has_range(fx.b.f, HV_RANGE_PORT, COM1, COM1 + 7));
    out(&fx, 1, 0);
    g_assert_cmphex(in(&fx, 1), ==, 0);
    out(&fx, 1, 0xff);
    g_assert_cmphex(in(&fx, 1), ==, 0x0f);
    out(&fx, 1, 0);
    out(&fx, 7, 0xa5);
    g_assert_cmphex(in(&fx, 7), ==, 0xa5);
    out(&fx, 4, 0x1a); /* loopback, RTS, OUT2 */
    g_assert_cmphex(in(&fx, 6) & 0xf0, ==, 0x90);
    out(&fx, 4, 0);
    out(&fx, 2, 0x01);
    g_assert_cmphex(in(&fx, 2) >> 6, ==, 3); /* 16550A FIFO */
    g_assert_cmphex(in(&fx, 2) & 0x20, ==, 0); /* no 64-byte FIFO: not a 16750 */
    out(&fx, 3, 0xbf);
    g_assert_cmphex(in(&fx, 2), !=, 0); /* no EFR: not a 16650 */
    out(&fx, 0, 0x01); /* divisor 115200 */
    out(&fx, 1, 0x00);
    g_assert_cmphex(in(&fx, 0), ==, 0x01);
    out(&fx, 3, 0x03);
    g_assert_cmphex(in(&fx, 5), ==, 0x60);
    /* leaving loopback changed DSR (DTR was off): reported once */
    g_assert_cmphex(in(&fx, 6), ==, 0xb2);
    g_assert_cmphex(in(&fx, 6), ==, 0xb0); /* a connected line */
    stop(&fx);
}

static void test_output_to_chardev(void)
{
    static const char *const serials[] = { "file:%s/out", NULL };
    struct fixture fx;

    start(&fx, serials);
    for (const char *c = "hello\n"; *c; c++) {
        g_assert_cmphex(in(&fx, 5) & 0x20, ==, 0x20);
        out(&fx, 0, (uint8_t)*c);
    }
    g_autofree char *path = g_build_filename(fx.dir, "out", NULL);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "hello\n");
    stop(&fx);
}

static void test_interrupts(void)
{
    static const char *const serials[] = { "null", NULL };
    struct fixture fx;

    start(&fx, serials);
    struct fake_hv *f = fx.b.f;
    out(&fx, 2, 0x01);
    out(&fx, 1, 0x02); /* THRE interrupt, but OUT2 still off: no line */
    g_assert_false(f->isa_irq_level[4]);
    g_assert_cmphex(in(&fx, 2), ==, 0xc2);
    out(&fx, 1, 0x00);
    out(&fx, 4, 0x0b); /* DTR, RTS, OUT2 as Linux */
    out(&fx, 1, 0x02);
    g_assert_true(f->isa_irq_level[4]);
    unsigned int raises = f->isa_irq_raises[4];
    g_assert_cmphex(in(&fx, 2), ==, 0xc2); /* reading the cause clears it */
    g_assert_false(f->isa_irq_level[4]);
    g_assert_cmphex(in(&fx, 2), ==, 0xc1);
    out(&fx, 0, 'x');
    g_assert_cmpuint(f->isa_irq_raises[4], ==, raises + 1);
    out(&fx, 0, 'y'); /* each byte is a new edge */
    g_assert_cmpuint(f->isa_irq_raises[4], ==, raises + 2);
    /* receive: data beats THRE, line status beats data */
    out(&fx, 1, 0x07);
    serial_receive(com1(&fx), (const uint8_t *)"ab", 2);
    g_assert_cmphex(in(&fx, 2), ==, 0xc4);
    out(&fx, 2, 0xc1); /* trigger 14: fewer bytes report as a timeout */
    g_assert_cmphex(in(&fx, 2), ==, 0xcc);
    g_assert_cmphex(in(&fx, 5) & 0x01, ==, 0x01);
    g_assert_cmphex(in(&fx, 0), ==, 'a');
    g_assert_cmphex(in(&fx, 0), ==, 'b');
    g_assert_cmphex(in(&fx, 5) & 0x01, ==, 0);
    g_assert_cmphex(in(&fx, 0), ==, 0); /* empty */
    uint8_t many[20];
    memset(many, 'z', sizeof(many));
    g_assert_cmpuint(serial_can_receive(com1(&fx)), ==, 16);
    serial_receive(com1(&fx), many, sizeof(many));
    g_assert_cmpuint(serial_overruns(com1(&fx)), ==, 4);
    g_assert_cmphex(in(&fx, 2), ==, 0xc6);
    g_assert_cmphex(in(&fx, 5), ==, 0x63);
    g_assert_cmphex(in(&fx, 5), ==, 0x61); /* OE clears on read */
    out(&fx, 2, 0x03); /* clear the receive FIFO */
    g_assert_cmphex(in(&fx, 5), ==, 0x60);
    /* modem status interrupt from loopback changes */
    out(&fx, 1, 0x08);
    out(&fx, 4, 0x19); /* loop, DTR, OUT2 */
    g_assert_cmphex(in(&fx, 2), ==, 0xc0);
    g_assert_cmphex(in(&fx, 6) & 0x0f, !=, 0);
    g_assert_cmphex(in(&fx, 6) & 0x0f, ==, 0);
    stop(&fx);
}

static void test_loopback(void)
{
    static const char *const serials[] = { "file:%s/out", NULL };
    struct fixture fx;

    start(&fx, serials);
    out(&fx, 2, 0x01);
    out(&fx, 4, 0x10);
    g_assert_cmpuint(serial_can_receive(com1(&fx)), ==, 0);
    out(&fx, 0, 0x42);
    g_assert_cmphex(in(&fx, 5) & 0x01, ==, 0x01);
    g_assert_cmphex(in(&fx, 0), ==, 0x42);
    serial_receive(com1(&fx), (const uint8_t *)"x", 1); /* line disconnected */
    g_assert_cmphex(in(&fx, 5) & 0x01, ==, 0);
    out(&fx, 4, 0x00);
    g_autofree char *path = g_build_filename(fx.dir, "out", NULL);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, ""); /* nothing left the UART */
    stop(&fx);
}

/* Bytes from a socket client reach the guest in order, none lost while
 * the FIFO is full: the chardev waits for room. */
static void test_socket_input_throttled(void)
{
    static const char *const serials[] = { "unix:%s/sock,server,nowait", NULL };
    struct fixture fx;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char sent[100], got[100];

    start(&fx, serials);
    out(&fx, 2, 0x01);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/sock", fx.dir);
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(connect(client, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (char)('A' + i % 26);
    g_assert_cmpint(write(client, sent, sizeof(sent)), ==, sizeof(sent));
    size_t n = 0;
    for (int spins = 0; n < sizeof(got) && spins < 10000; spins++) {
        g_main_context_iteration(NULL, FALSE);
        while (n < sizeof(got) && (in(&fx, 5) & 0x01))
            got[n++] = (char)in(&fx, 0);
    }
    g_assert_cmpuint(n, ==, sizeof(sent));
    g_assert_cmpmem(got, n, sent, sizeof(sent));
    g_assert_cmpuint(serial_overruns(com1(&fx)), ==, 0);
    /* and output goes back to the client */
    out(&fx, 0, '!');
    char c = 0;
    g_assert_cmpint(read(client, &c, 1), ==, 1);
    g_assert_cmpint(c, ==, '!');
    close(client);
    for (int spins = 0; spins < 10; spins++)
        g_main_context_iteration(NULL, FALSE);
    stop(&fx);
}

static void test_serial_option(void)
{
    static const char *const serials[] = { "none", "null", NULL };
    struct fixture fx;
    GError *err = NULL;

    start(&fx, serials);
    /* "none" leaves COM1 empty; the next one is COM2 */
    g_assert_null(dispatch_find(fx.b.d, HV_RANGE_PORT, COM1, 1));
    g_assert_nonnull(dispatch_find(fx.b.d, HV_RANGE_PORT, COM2, 1));
    g_assert_true(machine_add_serial(fx.b.m, "null", &err));
    g_assert_true(machine_add_serial(fx.b.m, "null", &err));
    g_assert_false(machine_add_serial(fx.b.m, "null", &err)); /* a fifth */
    g_assert_nonnull(strstr(err->message, "at most"));
    g_clear_error(&err);
    stop(&fx);

    static const char *const bad[] = { "tcp:127.0.0.1:4555", "file:", "unix:", "unix:/x,bogus",
                                       "vc", "" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        struct chardev_set *cds = chardev_set_new();
        struct machine *m = machine_new(7, cds);
        g_assert_false(machine_add_serial(m, bad[i], &err));
        g_assert_nonnull(err);
        g_assert_null(strchr(err->message, '\n'));
        g_clear_error(&err);
        machine_free(m);
        chardev_set_free(cds);
    }
}

static void test_hostile_accesses(void)
{
    static const char *const serials[] = { "null", NULL };
    struct fixture fx;

    start(&fx, serials);
    serial_receive(com1(&fx), (const uint8_t *)"q", 1);
    /* wide accesses: all-ones, no side effects (the byte stays) */
    g_assert_cmphex(pio_read(&fx.b, COM1, 2), ==, 0xffff);
    g_assert_cmphex(pio_read(&fx.b, COM1 + 4, 4), ==, 0xffffffff);
    pio_write(&fx.b, COM1, 0x4141, 2);
    g_assert_cmphex(in(&fx, 5) & 0x01, ==, 0x01);
    /* read-only registers */
    out(&fx, 5, 0x00);
    out(&fx, 6, 0xff);
    g_assert_cmphex(in(&fx, 5), ==, 0x61);
    g_assert_cmphex(in(&fx, 6), ==, 0xb0);
    g_assert_null(dispatch_find(fx.b.d, HV_RANGE_PORT, COM1 + 6, 4));
    GRand *rng = g_rand_new_with_seed(7);
    for (unsigned int i = 0; i < 200000; i++) {
        unsigned int reg = g_rand_int_range(rng, 0, 8);
        unsigned int size = 1u << g_rand_int_range(rng, 0, 3);
        if (reg + size > 8)
            size = 1;
        if (g_rand_boolean(rng))
            pio_write(&fx.b, COM1 + reg, g_rand_int(rng), size);
        else
            pio_read(&fx.b, COM1 + reg, size);
        if (i % 97 == 0)
            serial_receive(com1(&fx), (const uint8_t *)"0123456789abcdefgh", 18);
    }
    g_rand_free(rng);
    stop(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_log_set_fatal_mask(NULL, G_LOG_FATAL_MASK);
    g_test_add_func("/serial/linux-probe", test_linux_probe);
    g_test_add_func("/serial/output", test_output_to_chardev);
    g_test_add_func("/serial/interrupts", test_interrupts);
    g_test_add_func("/serial/loopback", test_loopback);
    g_test_add_func("/serial/socket-input-throttled", test_socket_input_throttled);
    g_test_add_func("/serial/serial-option", test_serial_option);
    g_test_add_func("/serial/hostile", test_hostile_accesses);
    return g_test_run();
}
