/* SPDX-License-Identifier: MIT */
/*
 * qtest server. QEMU's commands:
 *   outb|outw|outl PORT VAL          -> OK
 *   inb|inw|inl PORT                 -> OK 0xVVVV (inl: 0xVVVVVVVV)
 *   readb|readw|readl|readq ADDR     -> OK 0x%016x
 *   writeb|writew|writel|writeq ADDR VAL -> OK
 *   read ADDR SIZE                   -> OK 0xHEXBYTES
 *   write ADDR SIZE 0xHEXBYTES       -> OK (missing trailing bytes are 0)
 *   memset ADDR SIZE BYTE            -> OK
 *   clock_step [NS] / clock_set NS   -> OK NEWTIME (virtual, ns)
 *   irq_intercept_in NAME            -> OK, then async "IRQ raise|lower N"
 *   endianness                       -> OK little
 * Extensions:
 *   vcpu N                           choose the issuing vCPU
 *   xen_rep_pio in|out PORT SIZE COUNT GPA DF
 *   xen_rep_mmio read|write ADDR SIZE COUNT GPA DF
 *   xen_rep_mmio_fill ADDR SIZE COUNT VAL DF
 *   xen_wait_servers N TIMEOUT_MS    -> OK | FAIL timeout
 *   xen_servers                      -> OK COUNT [ID,on|off,buf|nobuf,port=..,mmio=..,pci=..]...
 *   xen_domain_state                 -> OK running|crashed|shutdown:REASON
 *   xen_msi_last                     -> OK COUNT ADDR DATA: MSIs injected so far
 *                                       and the last one (0 0 0 if none)
 *   xen_invalidate                   -> OK once every enabled server answered
 *   xen_modified_pages               -> OK PAGES: pages device models reported
 *                                       written (MODIFIED_MEMORY) so far
 *   xen_evtchn_alloc_unbound REMOTE  -> OK PORT, then async "EVTCHN PORT"
 *   xen_evtchn_send PORT / xen_evtchn_close PORT -> OK
 *   xen_evtchn_fds PORT              -> OK with the port's two eventfds attached
 *                                       (SCM_RIGHTS: send, then receive); no more
 *                                       EVTCHN lines for it
 *   xen_gnttab_setup GPA NFRAMES     -> OK | FAIL reason: the grant table v1 is at
 *                                       GPA (RAM, page aligned, 1..32 frames; gnttab.h)
 *   xen_guest_memfd                  -> OK SIZE GPA+LEN@OFF... [hole=S-E] with the
 *                                       guest RAM memfd attached (SCM_RIGHTS)
 *   xen_pci_setup                    -> OK | FAIL reason: hvmloader's PCI stage
 *                                       (firmware/pci-setup.h) through real config cycles;
 *                                       with --domain ...,pci-setup=on it also runs by
 *                                       itself before the first guest access (guest-start.h)
 *   xen_bench_pio PORT SIZE N        -> OK MEDIAN_NS P99_NS MEAN_NS TOTAL_NS: N timed
 *   xen_bench_mmio_write ADDR SIZE N    reads of PORT / writes to ADDR (bench.c)
 * Numbers are 0x-hex or decimal. Anything else gets "FAIL reason" and the
 * connection carries on.
 */
#include "contrib/xensim/qtest.h"

#include <errno.h>
#include <glib-unix.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "contrib/xensim/bench.h"
#include "contrib/xensim/control.h"
#include "contrib/xensim/guest-start.h"
#include "firmware/pci-setup.h"

#define QTEST_MAX_LINE 4096
#define QTEST_MAX_ARGS 8
#define QTEST_MAX_RW (1u << 20)        /* read/write payload */
#define QTEST_MAX_MEMSET (256u << 20)
#define QTEST_MAX_REP (1u << 20)
#define QTEST_MAX_WAIT_MS 600000u
#define QTEST_MAX_FRONTEND_PORTS 64
#define QTEST_DEFAULT_STEP_NS 1000000u
#define QTEST_SEND_TIMEOUT_S 2
#define QTEST_MAX_REPLY_FDS 2

struct xsim_qtest {
    struct xsim_domain *d;
    struct xsim_qtest_threads *threads;
    struct xsim_ratelimit *rl;
    int listen_fd;
    guint listen_watch;
    char *path;
};

struct qtest_conn {
    struct xsim_listener listener; /* first: the domain calls back with it */
    struct xsim_domain *d;
    struct xsim_qtest_threads *threads;
    struct xsim_ratelimit *rl;
    int fd;
    GMutex write_lock;
    bool write_failed;
    unsigned int vcpu;
    char line[QTEST_MAX_LINE + 1];
    size_t len;
    bool overlong;
    GPtrArray *frontend_ports; /* struct xsim_evtchn * (refs) */
};

/* ------------------------------------------------------------------ output */

static void send_raw(struct qtest_conn *c, const char *text, size_t len)
{
    g_mutex_lock(&c->write_lock);
    while (len && !c->write_failed) {
        ssize_t n = send(c->fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* peer gone or not reading for QTEST_SEND_TIMEOUT_S: stop writing */
            c->write_failed = true;
            break;
        }
        text += n;
        len -= (size_t)n;
    }
    g_mutex_unlock(&c->write_lock);
}

static void send_line(struct qtest_conn *c, const char *line)
{
    char *full = g_strconcat(line, "\n", NULL);
    send_raw(c, full, strlen(full));
    g_free(full);
}

/* A reply line with nr_fds fds (at most QTEST_MAX_REPLY_FDS, in order)
 * attached to its first byte (SCM_RIGHTS); the rest of the line follows as
 * plain bytes. The receiver gets its own copies: ours stay open. */
static void send_line_with_fds(struct qtest_conn *c, const char *line, const int *fds,
                               unsigned int nr_fds)
{
    g_assert(nr_fds >= 1 && nr_fds <= QTEST_MAX_REPLY_FDS);
    char *full = g_strconcat(line, "\n", NULL);
    union {
        struct cmsghdr hdr;
        char buf[CMSG_SPACE(QTEST_MAX_REPLY_FDS * sizeof(int))];
    } control = { 0 };
    struct iovec iov = { .iov_base = full, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                          .msg_controllen = CMSG_SPACE(nr_fds * sizeof(int)) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nr_fds * sizeof(int));
    g_mutex_lock(&c->write_lock);
    ssize_t n;
    do {
        n = c->write_failed ? -1 : sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != 1)
        c->write_failed = true;
    g_mutex_unlock(&c->write_lock);
    send_raw(c, full + 1, strlen(full) - 1);
    g_free(full);
}

static void listener_send_line(struct xsim_listener *l, const char *line)
{
    send_line((struct qtest_conn *)l, line);
}

static void reply(struct qtest_conn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void reply(struct qtest_conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    send_line(c, line);
    g_free(line);
}

static void reply_io(struct qtest_conn *c, int rc)
{
    switch (rc) {
    case XSIM_IO_OK:
        reply(c, "OK");
        break;
    case XSIM_IO_CRASHED:
        reply(c, "FAIL domain crashed");
        break;
    case XSIM_IO_SHUTDOWN:
        reply(c, "FAIL domain shutdown");
        break;
    case XSIM_IO_STOPPED:
        reply(c, "FAIL xensim stopping");
        break;
    default:
        reply(c, "FAIL bad argument");
        break;
    }
}

/* ------------------------------------------------------------------ parsing */

/* 0x-prefixed hex or decimal, the whole string, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    unsigned int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        int digit = g_ascii_xdigit_value(*s);
        if (digit < 0 || (unsigned int)digit >= base)
            return false;
        if (v > (UINT64_MAX - (uint64_t)digit) / base)
            return false;
        v = v * base + (uint64_t)digit;
    }
    *out = v;
    return true;
}

static bool parse_max(const char *s, uint64_t max, uint64_t *out)
{
    return parse_u64(s, out) && *out <= max;
}

static uint64_t width_mask(unsigned int size)
{
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

/* The access size encoded in the last letter of inb/outw/readl/writeq. */
static unsigned int size_suffix(const char *cmd)
{
    switch (cmd[strlen(cmd) - 1]) {
    case 'b': return 1;
    case 'w': return 2;
    case 'l': return 4;
    default: return 8;
    }
}

/* ----------------------------------------------------------------- commands */

typedef void (*cmd_fn)(struct qtest_conn *c, const char *name, int argc, char **argv);

static void cmd_out(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    unsigned int size = size_suffix(name);
    uint64_t port, value;
    if (!parse_max(argv[0], 0xFFFF, &port) || !parse_max(argv[1], width_mask(size), &value)) {
        reply(c, "FAIL bad argument");
        return;
    }
    reply_io(c, xsim_guest_pio(c->d, c->vcpu, (uint32_t)port, size, false, &value));
}

static void cmd_in(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    unsigned int size = size_suffix(name);
    uint64_t port, value = 0;
    if (!parse_max(argv[0], 0xFFFF, &port)) {
        reply(c, "FAIL bad argument");
        return;
    }
    int rc = xsim_guest_pio(c->d, c->vcpu, (uint32_t)port, size, true, &value);
    if (rc == XSIM_IO_OK)
        reply(c, "OK 0x%0*" PRIx64, size == 4 ? 8 : 4, value); /* QEMU's 4 digits, 8 for inl */
    else
        reply_io(c, rc);
}

static void cmd_readn(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    unsigned int size = size_suffix(name);
    uint64_t addr, value = 0;
    if (!parse_u64(argv[0], &addr)) {
        reply(c, "FAIL bad argument");
        return;
    }
    int rc = xsim_guest_mem(c->d, c->vcpu, addr, size, true, &value);
    if (rc == XSIM_IO_OK)
        reply(c, "OK 0x%016" PRIx64, value);
    else
        reply_io(c, rc);
}

static void cmd_writen(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    unsigned int size = size_suffix(name);
    uint64_t addr, value;
    if (!parse_u64(argv[0], &addr) || !parse_max(argv[1], width_mask(size), &value)) {
        reply(c, "FAIL bad argument");
        return;
    }
    reply_io(c, xsim_guest_mem(c->d, c->vcpu, addr, size, false, &value));
}

static void cmd_read(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t addr, len;
    if (!parse_u64(argv[0], &addr) || !parse_max(argv[1], QTEST_MAX_RW, &len) || len == 0) {
        reply(c, "FAIL bad argument");
        return;
    }
    uint8_t *buf = g_malloc(len);
    int rc = xsim_guest_mem_read(c->d, c->vcpu, addr, buf, len);
    if (rc == XSIM_IO_OK) {
        GString *out = g_string_sized_new(2 * len + 8);
        g_string_append(out, "OK 0x");
        for (uint64_t i = 0; i < len; i++)
            g_string_append_printf(out, "%02x", buf[i]);
        send_line(c, out->str);
        g_string_free(out, TRUE);
    } else {
        reply_io(c, rc);
    }
    g_free(buf);
}

/* "0x" then up to 2*len hex digits, in pairs; missing bytes are zero. */
static bool parse_hex_bytes(const char *s, uint8_t *buf, uint64_t len)
{
    if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return false;
    s += 2;
    size_t digits = strlen(s);
    if (digits % 2 || digits / 2 > len)
        return false;
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = g_ascii_xdigit_value(s[2 * i]), lo = g_ascii_xdigit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static void cmd_write(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t addr, len;
    if (!parse_u64(argv[0], &addr) || !parse_max(argv[1], QTEST_MAX_RW, &len) || len == 0) {
        reply(c, "FAIL bad argument");
        return;
    }
    uint8_t *buf = g_malloc0(len);
    if (parse_hex_bytes(argv[2], buf, len))
        reply_io(c, xsim_guest_mem_write(c->d, c->vcpu, addr, buf, len));
    else
        reply(c, "FAIL bad hex data");
    g_free(buf);
}

static void cmd_memset(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t addr, len, byte;
    if (!parse_u64(argv[0], &addr) || !parse_max(argv[1], QTEST_MAX_MEMSET, &len) ||
        !parse_max(argv[2], 0xFF, &byte)) {
        reply(c, "FAIL bad argument");
        return;
    }
    if (len == 0) {
        reply(c, "OK");
        return;
    }
    reply_io(c, xsim_guest_mem_set(c->d, c->vcpu, addr, (uint8_t)byte, len));
}

static void cmd_clock(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    bool set = strcmp(name, "clock_set") == 0;
    uint64_t ns = QTEST_DEFAULT_STEP_NS;
    if (argc == 1 && !parse_max(argv[0], INT64_MAX, &ns)) {
        reply(c, "FAIL bad argument");
        return;
    }
    g_mutex_lock(&c->d->lock);
    if (set)
        c->d->clock_ns = ns;
    else
        c->d->clock_ns = ns > INT64_MAX - c->d->clock_ns ? INT64_MAX : c->d->clock_ns + ns;
    uint64_t now = c->d->clock_ns;
    g_mutex_unlock(&c->d->lock);
    reply(c, "OK %" PRIu64, now);
}

static void cmd_irq_intercept_in(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    g_mutex_lock(&c->d->listeners_lock);
    c->listener.intercept_irq = true;
    g_mutex_unlock(&c->d->listeners_lock);
    reply(c, "OK");
}

static void cmd_endianness(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    reply(c, "OK little");
}

static void cmd_vcpu(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t n;
    if (!parse_u64(argv[0], &n) || n >= c->d->nr_vcpus) {
        reply(c, "FAIL no such vcpu");
        return;
    }
    c->vcpu = (unsigned int)n;
    reply(c, "OK");
}

/* Parse "SIZE COUNT X DF" shared by the rep extensions. */
static bool parse_rep_tail(char **argv, uint64_t *size, uint64_t *count, uint64_t *x,
                           uint64_t *df)
{
    return parse_max(argv[0], 8, size) && parse_max(argv[1], QTEST_MAX_REP, count) &&
           *count > 0 && parse_u64(argv[2], x) && parse_max(argv[3], 1, df);
}

static void cmd_rep_pio(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    bool in = strcmp(argv[0], "in") == 0;
    uint64_t port, size, count, gpa, df;
    if ((!in && strcmp(argv[0], "out")) || !parse_max(argv[1], 0xFFFF, &port) ||
        !parse_rep_tail(argv + 2, &size, &count, &gpa, &df)) {
        reply(c, "FAIL bad argument");
        return;
    }
    reply_io(c, xsim_guest_rep_pio(c->d, c->vcpu, (uint32_t)port, (unsigned int)size,
                                   (uint32_t)count, gpa, df, in));
}

static void cmd_rep_mmio(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    bool rd = strcmp(argv[0], "read") == 0;
    uint64_t addr, size, count, gpa, df;
    if ((!rd && strcmp(argv[0], "write")) || !parse_u64(argv[1], &addr) ||
        !parse_rep_tail(argv + 2, &size, &count, &gpa, &df)) {
        reply(c, "FAIL bad argument");
        return;
    }
    reply_io(c, xsim_guest_rep_mmio(c->d, c->vcpu, addr, (unsigned int)size, (uint32_t)count,
                                    gpa, df, rd));
}

static void cmd_rep_fill(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t addr, size, count, value, df;
    if (!parse_u64(argv[0], &addr) || !parse_rep_tail(argv + 1, &size, &count, &value, &df) ||
        value > width_mask((unsigned int)size)) {
        reply(c, "FAIL bad argument");
        return;
    }
    reply_io(c, xsim_guest_rep_fill(c->d, c->vcpu, addr, (unsigned int)size, (uint32_t)count,
                                    value, df));
}

static void cmd_wait_servers(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t n, timeout;
    if (!parse_max(argv[0], XSIM_MAX_SERVERS, &n) ||
        !parse_max(argv[1], QTEST_MAX_WAIT_MS, &timeout)) {
        reply(c, "FAIL bad argument");
        return;
    }
    if (xsim_domain_wait_servers(c->d, (unsigned int)n, timeout))
        reply(c, "OK");
    else
        reply(c, "FAIL timeout");
}

static void cmd_servers(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    char *text = xsim_domain_describe_servers(c->d);
    reply(c, "OK %s", text);
    g_free(text);
}

static void cmd_msi_last(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    g_mutex_lock(&c->d->lock);
    uint64_t count = c->d->irq.msi_count, addr = c->d->irq.last_msi_addr;
    uint32_t data = c->d->irq.last_msi_data;
    g_mutex_unlock(&c->d->lock);
    reply(c, "OK %" G_GUINT64_FORMAT " 0x%" G_GINT64_MODIFIER "x 0x%x", count, addr, data);
}

static void cmd_modified_pages(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    reply(c, "OK %" G_GUINT64_FORMAT, xsim_dirty_modified_pages(&c->d->dirty));
}

static void cmd_domain_state(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    unsigned int reason;
    switch (xsim_domain_get_state(c->d, &reason)) {
    case XSIM_DOMAIN_RUNNING:
        reply(c, "OK running");
        break;
    case XSIM_DOMAIN_CRASHED:
        reply(c, "OK crashed");
        break;
    case XSIM_DOMAIN_SHUTDOWN:
        reply(c, "OK shutdown:%s", xsim_shutdown_reason_name(reason));
        break;
    }
}

static void cmd_invalidate(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    reply_io(c, xsim_guest_invalidate(c->d, c->vcpu));
}

/* The stage's config cycles are issued as this connection's vCPU, so they
 * are routed to the device models exactly as a guest's own would be. */
static void cmd_pci_setup(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    GError *error = NULL;

    if (xsim_pci_setup_run(c->d, c->vcpu, &error)) {
        reply(c, "OK");
        return;
    }
    reply(c, "FAIL %s", error->message);
    g_error_free(error);
}

static void cmd_evtchn_alloc(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t remote;
    if (!parse_max(argv[0], 0x7FEF, &remote)) {
        reply(c, "FAIL bad argument");
        return;
    }
    if (c->frontend_ports->len >= QTEST_MAX_FRONTEND_PORTS) {
        reply(c, "FAIL too many ports");
        return;
    }
    int err = 0;
    g_mutex_lock(&c->d->lock);
    struct xsim_evtchn *ch = xsim_evtchn_alloc(&c->d->evtchns, XSIM_EVTCHN_FRONTEND, &err);
    if (ch) {
        ch->remote_domid = (uint32_t)remote;
        ch->owner = c;
    }
    g_mutex_unlock(&c->d->lock);
    if (!ch) {
        reply(c, "FAIL %s", g_strerror(-err));
        return;
    }
    g_ptr_array_add(c->frontend_ports, ch);
    reply(c, "OK %u", ch->port);
}

static void cmd_evtchn_send(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t port;
    bool found = false;
    if (parse_max(argv[0], XSIM_MAX_EVTCHN_PORTS, &port)) {
        g_mutex_lock(&c->d->lock);
        struct xsim_evtchn *ch = xsim_evtchn_lookup(&c->d->evtchns, (uint32_t)port);
        found = ch && ch->kind == XSIM_EVTCHN_FRONTEND;
        if (found)
            xsim_eventfd_signal(ch->to_dm_fd);
        g_mutex_unlock(&c->d->lock);
    }
    if (found)
        reply(c, "OK");
    else
        reply(c, "FAIL no such port");
}

/* A port this connection allocated and has not closed, or NULL. */
static struct xsim_evtchn *own_port(struct qtest_conn *c, const char *arg)
{
    uint64_t port;
    if (!parse_max(arg, XSIM_MAX_EVTCHN_PORTS, &port))
        return NULL;
    for (guint i = 0; i < c->frontend_ports->len; i++) {
        struct xsim_evtchn *ch = g_ptr_array_index(c->frontend_ports, i);
        if (ch->port == port)
            return ch;
    }
    return NULL;
}

static void close_frontend_port(struct qtest_conn *c, struct xsim_evtchn *ch)
{
    g_mutex_lock(&c->d->lock);
    if (xsim_evtchn_lookup(&c->d->evtchns, ch->port) == ch)
        xsim_evtchn_close(&c->d->evtchns, ch->port);
    g_mutex_unlock(&c->d->lock);
    g_ptr_array_remove(c->frontend_ports, ch);
    xsim_evtchn_unref(ch);
}

static void cmd_evtchn_close(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    struct xsim_evtchn *ch = own_port(c, argv[0]);
    if (!ch) {
        reply(c, "FAIL no such port");
        return;
    }
    close_frontend_port(c, ch);
    reply(c, "OK");
}

/* Why a port is not ours: someone else's (another qtest connection's or an
 * ioreq server's) or none at all. */
static const char *not_own_port_reason(struct qtest_conn *c, const char *arg)
{
    uint64_t port;
    if (!parse_max(arg, XSIM_MAX_EVTCHN_PORTS, &port))
        return "bad argument";
    g_mutex_lock(&c->d->lock);
    bool exists = xsim_evtchn_lookup(&c->d->evtchns, (uint32_t)port) != NULL;
    g_mutex_unlock(&c->d->lock);
    return exists ? "port not allocated by this connection" : "no such port";
}

/* A guest's event channel is a hypercall and an upcall, not a text line
 * relayed by a third party: hand the guest the port's eventfds (send =
 * to_dm, receive = to_guest) so it signals and waits on them itself, as
 * the backend does on its side. From now on this thread no longer polls
 * to_guest; xen_evtchn_send keeps working. Events sent before the backend
 * binds stay counted in to_dm, which the backend gets at bind. */
static void cmd_evtchn_fds(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    struct xsim_evtchn *ch = own_port(c, argv[0]);
    if (!ch) {
        reply(c, "FAIL %s", not_own_port_reason(c, argv[0]));
        return;
    }
    if (ch->guest_has_fds) {
        reply(c, "FAIL fds already given");
        return;
    }
    ch->guest_has_fds = true;
    const int fds[] = { ch->to_dm_fd, ch->to_guest_fd };
    send_line_with_fds(c, "OK", fds, G_N_ELEMENTS(fds));
}

static void cmd_gnttab_setup(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    uint64_t gpa, nr_frames;
    if (!parse_u64(argv[0], &gpa) || !parse_u64(argv[1], &nr_frames)) {
        reply(c, "FAIL bad argument");
        return;
    }
    switch (xsim_gnttab_setup(&c->d->gnttab, gpa, nr_frames)) {
    case 0:
        reply(c, "OK");
        break;
    case -EFAULT:
        reply(c, "FAIL not guest RAM");
        break;
    case -EBUSY:
        reply(c, "FAIL grants in use");
        break;
    default:
        reply(c, "FAIL bad argument (GPA page aligned, NFRAMES 1..%u)", XSIM_GRANT_MAX_FRAMES);
        break;
    }
}

/* The guest's own RAM for a test frontend playing the guest: the memfd
 * (sealed against resizing) and where each region sits in guest-physical
 * space, so the frontend reads and writes it at memory speed. */
static void cmd_guest_memfd(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    const struct xsim_ram_layout *l = &c->d->layout;
    GString *out = g_string_new(NULL);
    g_string_printf(out, "OK 0x%" PRIx64, l->total);
    for (unsigned int i = 0; i < XSIM_RAM_REGIONS; i++)
        if (l->region[i].size)
            g_string_append_printf(out, " 0x%" PRIx64 "+0x%" PRIx64 "@0x%" PRIx64,
                                   l->region[i].gpa, l->region[i].size, l->region[i].offset);
    if (l->hole_end > l->hole_start)
        g_string_append_printf(out, " hole=0x%" PRIx64 "-0x%" PRIx64, l->hole_start,
                               l->hole_end);
    send_line_with_fds(c, out->str, &c->d->ram_fd, 1);
    g_string_free(out, TRUE);
}

/* Benchmarks (bench.c): the timing happens inside xensim. */
static void cmd_bench(struct qtest_conn *c, const char *name, int argc, char **argv)
{
    bool pio = strcmp(name, "xen_bench_pio") == 0;
    uint64_t addr, size, n;
    struct xsim_bench_result r;
    if (!parse_u64(argv[0], &addr) || (pio && addr > 0xFFFF) || !parse_max(argv[1], 8, &size) ||
        !parse_max(argv[2], XSIM_BENCH_MAX_ITERATIONS, &n) || n == 0) {
        reply(c, "FAIL bad argument");
        return;
    }
    int rc = xsim_bench_run(c->d, c->vcpu, pio ? XSIM_BENCH_PIO_READ : XSIM_BENCH_MMIO_WRITE,
                            addr, (unsigned int)size, (uint32_t)n, &r);
    if (rc == XSIM_IO_OK)
        reply(c, "OK %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, r.median_ns, r.p99_ns,
              r.mean_ns, r.total_ns);
    else
        reply_io(c, rc);
}

struct qtest_cmd {
    const char *name;
    int min_args, max_args;
    cmd_fn fn;
};

static const struct qtest_cmd commands[] = {
    { "outb", 2, 2, cmd_out },   { "outw", 2, 2, cmd_out },   { "outl", 2, 2, cmd_out },
    { "inb", 1, 1, cmd_in },     { "inw", 1, 1, cmd_in },     { "inl", 1, 1, cmd_in },
    { "readb", 1, 1, cmd_readn }, { "readw", 1, 1, cmd_readn },
    { "readl", 1, 1, cmd_readn }, { "readq", 1, 1, cmd_readn },
    { "writeb", 2, 2, cmd_writen }, { "writew", 2, 2, cmd_writen },
    { "writel", 2, 2, cmd_writen }, { "writeq", 2, 2, cmd_writen },
    { "read", 2, 2, cmd_read },  { "write", 3, 3, cmd_write }, { "memset", 3, 3, cmd_memset },
    { "clock_step", 0, 1, cmd_clock }, { "clock_set", 1, 1, cmd_clock },
    { "irq_intercept_in", 1, 1, cmd_irq_intercept_in },
    { "endianness", 0, 0, cmd_endianness },
    { "vcpu", 1, 1, cmd_vcpu },
    { "xen_rep_pio", 6, 6, cmd_rep_pio },
    { "xen_rep_mmio", 6, 6, cmd_rep_mmio },
    { "xen_rep_mmio_fill", 5, 5, cmd_rep_fill },
    { "xen_wait_servers", 2, 2, cmd_wait_servers },
    { "xen_servers", 0, 0, cmd_servers },
    { "xen_domain_state", 0, 0, cmd_domain_state },
    { "xen_msi_last", 0, 0, cmd_msi_last },
    { "xen_invalidate", 0, 0, cmd_invalidate },
    { "xen_modified_pages", 0, 0, cmd_modified_pages },
    { "xen_evtchn_alloc_unbound", 1, 1, cmd_evtchn_alloc },
    { "xen_evtchn_send", 1, 1, cmd_evtchn_send },
    { "xen_evtchn_close", 1, 1, cmd_evtchn_close },
    { "xen_evtchn_fds", 1, 1, cmd_evtchn_fds },
    { "xen_gnttab_setup", 2, 2, cmd_gnttab_setup },
    { "xen_guest_memfd", 0, 0, cmd_guest_memfd },
    { "xen_pci_setup", 0, 0, cmd_pci_setup },
    { "xen_bench_pio", 3, 3, cmd_bench },
    { "xen_bench_mmio_write", 3, 3, cmd_bench },
};

/* Commands that are the guest running: port I/O, memory, rep and timed
 * accesses. The rest inspect or configure the simulation. */
static bool is_guest_access(const char *name)
{
    static const char *const prefixes[] = { "out", "in", "read", "write", "memset",
                                            "xen_rep_", "xen_bench_" };
    for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++)
        if (g_str_has_prefix(name, prefixes[i]))
            return true;
    return false;
}

static void handle_line(struct qtest_conn *c, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    if (memchr(line, '\0', len)) {
        reply(c, "FAIL NUL in line");
        return;
    }
    char *argv[QTEST_MAX_ARGS + 2];
    int argc = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save)) {
        if (argc > QTEST_MAX_ARGS) {
            reply(c, "FAIL too many arguments");
            return;
        }
        argv[argc++] = tok;
    }
    if (argc == 0) {
        reply(c, "FAIL empty command");
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const struct qtest_cmd *cmd = &commands[i];
        if (strcmp(cmd->name, argv[0]))
            continue;
        if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
            reply(c, "FAIL wrong number of arguments");
            return;
        }
        if (is_guest_access(cmd->name))
            xsim_guest_start(c->d, c->vcpu); /* pci-setup=on: firmware runs first */
        cmd->fn(c, argv[0], argc - 1, argv + 1);
        return;
    }
    xsim_log_limited(c->rl, "dom%u qtest: unknown command", c->d->domid);
    reply(c, "FAIL unknown command");
}

/* Split received bytes into lines; a line past QTEST_MAX_LINE is dropped
 * up to its newline and answered once. */
static void feed(struct qtest_conn *c, const char *data, size_t n)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (!c->overlong && c->len + take <= QTEST_MAX_LINE) {
            memcpy(c->line + c->len, data, take);
            c->len += take;
        } else {
            c->overlong = true;
        }
        if (!nl)
            return;
        if (c->overlong) {
            reply(c, "FAIL line too long");
        } else {
            c->line[c->len] = '\0';
            handle_line(c, c->line, c->len);
        }
        c->len = 0;
        c->overlong = false;
        data = nl + 1;
        n -= take + 1;
    }
}

/* ---------------------------------------------------------------- threads */

/* Announce backend notifications of the polled frontend ports (polled[i]
 * is pfds[i]'s). */
static void deliver_frontend_events(struct qtest_conn *c, const struct pollfd *pfds,
                                    struct xsim_evtchn *const *polled, guint n)
{
    for (guint i = 0; i < n; i++)
        if ((pfds[i].revents & POLLIN) && xsim_eventfd_drain(polled[i]->to_guest_fd))
            reply(c, "EVTCHN %u", polled[i]->port);
}

/* Our ports whose notifications we relay as EVTCHN lines: all but those
 * whose guest took the fds (it reads them itself; we must not race it). */
static guint relayed_ports(struct qtest_conn *c, struct pollfd *pfds,
                           struct xsim_evtchn **polled)
{
    guint n = 0;
    for (guint i = 0; i < c->frontend_ports->len; i++) {
        struct xsim_evtchn *ch = g_ptr_array_index(c->frontend_ports, i);
        if (ch->guest_has_fds)
            continue;
        polled[n] = ch;
        pfds[n++] = (struct pollfd){ .fd = ch->to_guest_fd, .events = POLLIN };
    }
    return n;
}

static void conn_loop(struct qtest_conn *c)
{
    char buf[QTEST_MAX_LINE];
    struct pollfd pfds[QTEST_MAX_FRONTEND_PORTS + 1];
    struct xsim_evtchn *polled[QTEST_MAX_FRONTEND_PORTS];
    for (;;) {
        guint nports = relayed_ports(c, pfds, polled);
        pfds[nports] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
        if (poll(pfds, nports + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        deliver_frontend_events(c, pfds, polled, nports);
        if (!pfds[nports].revents)
            continue;
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || g_atomic_int_get(c->threads->stopping))
            return;
        feed(c, buf, (size_t)n);
    }
}

static gpointer conn_thread(gpointer data)
{
    struct qtest_conn *c = data;
    struct xsim_qtest_threads *t = c->threads;
    xsim_domain_add_listener(c->d, &c->listener);
    conn_loop(c);
    xsim_domain_remove_listener(c->d, &c->listener);
    while (c->frontend_ports->len)
        close_frontend_port(c, g_ptr_array_index(c->frontend_ports, 0));
    g_ptr_array_free(c->frontend_ports, TRUE);

    g_mutex_lock(&t->lock);
    g_ptr_array_remove(t->conns, c);
    g_mutex_unlock(&t->lock);
    close(c->fd);
    g_mutex_clear(&c->write_lock);
    g_free(c);

    g_mutex_lock(&t->lock);
    t->live--;
    g_cond_broadcast(&t->cond);
    g_mutex_unlock(&t->lock);
    return NULL;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer user_data)
{
    struct xsim_qtest *q = user_data;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return G_SOURCE_CONTINUE;
    struct timeval tv = { .tv_sec = QTEST_SEND_TIMEOUT_S };
    setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    struct qtest_conn *c = g_new0(struct qtest_conn, 1);
    c->listener.send_line = listener_send_line;
    c->d = q->d;
    c->threads = q->threads;
    c->rl = q->rl;
    c->fd = cfd;
    g_mutex_init(&c->write_lock);
    c->frontend_ports = g_ptr_array_new();

    struct xsim_qtest_threads *t = q->threads;
    g_mutex_lock(&t->lock);
    g_ptr_array_add(t->conns, c);
    t->live++;
    g_mutex_unlock(&t->lock);
    GError *error = NULL;
    GThread *thread = g_thread_try_new("qtest", conn_thread, c, &error);
    if (!thread) {
        xsim_log_limited(q->rl, "dom%u qtest: %s", q->d->domid, error->message);
        g_error_free(error);
        shutdown(cfd, SHUT_RDWR);
        conn_thread(c); /* runs its teardown at once: recv sees the shutdown */
        return G_SOURCE_CONTINUE;
    }
    g_thread_unref(thread); /* detached: it accounts for itself in t->live */
    return G_SOURCE_CONTINUE;
}

struct xsim_qtest *xsim_qtest_new(struct xsim_domain *d, const char *path,
                                  struct xsim_qtest_threads *threads, struct xsim_ratelimit *rl,
                                  GError **error)
{
    int fd = xsim_listen_unix(path, SOCK_STREAM, error);
    if (fd < 0)
        return NULL;
    struct xsim_qtest *q = g_new0(struct xsim_qtest, 1);
    q->d = d;
    q->threads = threads;
    q->rl = rl;
    q->listen_fd = fd;
    q->path = g_strdup(path);
    q->listen_watch = g_unix_fd_add(fd, G_IO_IN, on_accept, q);
    return q;
}

void xsim_qtest_free(struct xsim_qtest *q)
{
    if (!q)
        return;
    g_source_remove(q->listen_watch);
    close(q->listen_fd);
    unlink(q->path);
    g_free(q->path);
    g_free(q);
}

void xsim_qtest_threads_init(struct xsim_qtest_threads *t, const gint *stopping)
{
    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    t->conns = g_ptr_array_new();
    t->live = 0;
    t->stopping = stopping;
}

void xsim_qtest_threads_stop(struct xsim_qtest_threads *t)
{
    g_mutex_lock(&t->lock);
    for (guint i = 0; i < t->conns->len; i++) {
        struct qtest_conn *c = g_ptr_array_index(t->conns, i);
        shutdown(c->fd, SHUT_RDWR);
    }
    while (t->live)
        g_cond_wait(&t->cond, &t->lock);
    g_mutex_unlock(&t->lock);
}

void xsim_qtest_threads_clear(struct xsim_qtest_threads *t)
{
    g_ptr_array_free(t->conns, TRUE);
    g_mutex_clear(&t->lock);
    g_cond_clear(&t->cond);
}
