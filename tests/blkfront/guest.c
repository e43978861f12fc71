/* SPDX-License-Identifier: MIT */
#include "tests/blkfront/guest.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REPLY_FDS 2 /* xen_evtchn_fds */

/* Fds a reply carried (SCM_RIGHTS), in order; any beyond max are closed. */
struct reply_fds {
    int fd[MAX_REPLY_FDS];
    unsigned int nr, max;
};

static void reply_fds_close(struct reply_fds *f)
{
    for (unsigned int i = 0; i < f->nr; i++)
        close(f->fd[i]);
    f->nr = 0;
}

/* ------------------------------------------------------------ qtest lines */

/* Read what the socket has (it polled readable). 1: got data, 0:
 * interrupted, -1: socket closed or failed. */
static int receive_ready(struct guest *g, struct reply_fds *fds)
{
    if (g->len == sizeof(g->buf))
        return -1; /* a line longer than any reply we expect */
    union {
        struct cmsghdr hdr;
        char space[CMSG_SPACE(MAX_REPLY_FDS * sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = g->buf + g->len, .iov_len = sizeof(g->buf) - g->len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
                          .msg_controllen = sizeof(control.space) };
    ssize_t n = recvmsg(g->fd, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return n < 0 && errno == EINTR ? 0 : -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
            if (fds && fds->nr < fds->max)
                fds->fd[fds->nr++] = fd;
            else
                close(fd);
        }
    }
    g->len += (size_t)n;
    return 1;
}

/* Receive more bytes (and the fds they carry) within timeout_ms.
 * 1: got data, 0: timeout, -1: socket closed or failed. */
static int receive(struct guest *g, int timeout_ms, struct reply_fds *fds)
{
    struct pollfd pfd = { .fd = g->fd, .events = POLLIN };
    int r = poll(&pfd, 1, timeout_ms);
    if (r == 0)
        return 0;
    if (r < 0)
        return errno == EINTR ? 0 : -1;
    return receive_ready(g, fds);
}

static bool port_bit(const uint64_t *bitmap, unsigned int port)
{
    return port < GUEST_MAX_PORTS && (bitmap[port / 64] >> (port % 64) & 1);
}

static void set_port_bit(uint64_t *bitmap, unsigned int port, bool on)
{
    if (on)
        bitmap[port / 64] |= 1ull << (port % 64);
    else
        bitmap[port / 64] &= ~(1ull << (port % 64));
}

static void note_event(struct guest *g, const char *line)
{
    unsigned int port = (unsigned int)strtoul(line + strlen("EVTCHN "), NULL, 10);
    if (port < GUEST_MAX_PORTS)
        set_port_bit(g->pending, port, true);
    else
        g->pending_high++;
}

/* Take one complete line out of the buffer (g_free) or NULL. */
static char *take_line(struct guest *g)
{
    char *nl = memchr(g->buf, '\n', g->len);
    if (!nl)
        return NULL;
    size_t n = (size_t)(nl - g->buf);
    char *line = g_strndup(g->buf, n);
    memmove(g->buf, nl + 1, g->len - n - 1);
    g->len -= n + 1;
    return line;
}

/* The next reply line, recording EVTCHN lines on the way. */
static char *next_reply(struct guest *g, struct reply_fds *fds)
{
    for (;;) {
        char *line;
        while ((line = take_line(g))) {
            if (!g_str_has_prefix(line, "EVTCHN "))
                return line;
            note_event(g, line);
            g_free(line);
        }
        if (receive(g, -1, fds) < 0)
            return NULL;
    }
}

static bool send_all(struct guest *g, const char *text)
{
    size_t len = strlen(text);
    while (len) {
        ssize_t n = send(g->fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        text += n;
        len -= (size_t)n;
    }
    return true;
}

char *guest_cmd(struct guest *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *line = g_strconcat(body, "\n", NULL);
    bool sent = send_all(g, line);
    g_free(body);
    g_free(line);
    return sent ? next_reply(g, NULL) : NULL;
}

/* ------------------------------------------------------------------- RAM */

/* "GPA+SIZE@OFFSET" */
static bool parse_region(const char *word, struct guest_region *r)
{
    char *end;
    r->gpa = g_ascii_strtoull(word, &end, 0);
    if (*end != '+')
        return false;
    r->size = g_ascii_strtoull(end + 1, &end, 0);
    if (*end != '@')
        return false;
    r->offset = g_ascii_strtoull(end + 1, &end, 0);
    return *end == '\0';
}

static bool parse_memfd_reply(struct guest *g, const char *reply)
{
    gchar **w = g_strsplit(reply, " ", -1);
    bool ok = w[0] && !strcmp(w[0], "OK") && w[1];
    if (ok)
        g->ram_size = g_ascii_strtoull(w[1], NULL, 0);
    for (unsigned int i = 2; ok && w[i]; i++) {
        if (g_str_has_prefix(w[i], "hole="))
            continue; /* the VGA window: we never place anything below 1 MiB */
        ok = g->nr_regions < GUEST_MAX_REGIONS && parse_region(w[i], &g->region[g->nr_regions]);
        g->nr_regions++;
    }
    for (unsigned int i = 0; ok && i < g->nr_regions; i++)
        ok = g->region[i].offset <= g->ram_size &&
             g->region[i].size <= g->ram_size - g->region[i].offset;
    g_strfreev(w);
    return ok && g->nr_regions > 0;
}

/* A command whose reply carries fds: its reply (g_free) or NULL. */
static char *cmd_with_fds(struct guest *g, const char *line, struct reply_fds *fds)
{
    return send_all(g, line) ? next_reply(g, fds) : NULL;
}

static bool map_ram(struct guest *g, char **err)
{
    struct reply_fds fds = { .max = 1 };
    char *reply = cmd_with_fds(g, "xen_guest_memfd\n", &fds);
    bool ok = reply && parse_memfd_reply(g, reply) && fds.nr == 1;
    if (!ok) {
        *err = g_strdup_printf("xen_guest_memfd: %s%s", reply ? reply : "connection closed",
                               reply && fds.nr == 0 ? " (no fd)" : "");
    } else {
        g->ram = mmap(NULL, g->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds.fd[0], 0);
        if (g->ram == MAP_FAILED) {
            g->ram = NULL;
            ok = false;
            *err = g_strdup_printf("mmap guest RAM: %s", g_strerror(errno));
        }
    }
    reply_fds_close(&fds);
    g_free(reply);
    return ok;
}

bool guest_open(struct guest *g, const char *dir, unsigned int domid, char **err)
{
    memset(g, 0, sizeof(*g));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char *path = g_strdup_printf("%s/dom%u.qtest", dir, domid);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        *err = g_strdup_printf("%s: path too long", path);
        g_free(path);
        return false;
    }
    strcpy(sa.sun_path, path);
    g->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (g->fd < 0 || connect(g->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        *err = g_strdup_printf("%s: %s", path, g_strerror(errno));
        g_free(path);
        if (g->fd >= 0)
            close(g->fd);
        g->fd = -1;
        return false;
    }
    g_free(path);
    if (!map_ram(g, err)) {
        guest_close(g);
        return false;
    }
    return true;
}

static void close_port_fds(struct guest *g, unsigned int port)
{
    if (!port_bit(g->direct, port))
        return;
    close(g->send_fd[port]);
    close(g->recv_fd[port]);
    set_port_bit(g->direct, port, false);
}

void guest_close(struct guest *g)
{
    for (unsigned int port = 0; port < GUEST_MAX_PORTS; port++)
        close_port_fds(g, port);
    if (g->ram)
        munmap(g->ram, g->ram_size);
    g->ram = NULL;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

void *guest_ptr(struct guest *g, uint64_t gpa, uint64_t len)
{
    for (unsigned int i = 0; i < g->nr_regions; i++) {
        const struct guest_region *r = &g->region[i];
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return g->ram + r->offset + (gpa - r->gpa);
    }
    return NULL;
}

/* ---------------------------------------------------------------- grants */

bool guest_gnttab_setup(struct guest *g, uint64_t gpa, unsigned int nframes, char **err)
{
    uint64_t bytes = (uint64_t)nframes * GUEST_PAGE_SIZE;
    grant_entry_v1_t *table = guest_ptr(g, gpa, bytes);
    if (!table) {
        *err = g_strdup_printf("grant table at 0x%" PRIx64 ": not guest RAM", gpa);
        return false;
    }
    memset(table, 0, bytes);
    char *r = guest_cmd(g, "xen_gnttab_setup 0x%" PRIx64 " %u", gpa, nframes);
    bool ok = r && !strcmp(r, "OK");
    if (ok) {
        g->gnttab = table;
        g->nr_grants = nframes * (GUEST_PAGE_SIZE / sizeof(grant_entry_v1_t));
    } else {
        *err = g_strdup_printf("xen_gnttab_setup: %s", r ? r : "connection closed");
    }
    g_free(r);
    return ok;
}

bool guest_gnttab_attach(struct guest *g, uint64_t gpa, unsigned int nframes, char **err)
{
    g->gnttab = guest_ptr(g, gpa, (uint64_t)nframes * GUEST_PAGE_SIZE);
    if (!g->gnttab) {
        *err = g_strdup_printf("grant table at 0x%" PRIx64 ": not guest RAM", gpa);
        return false;
    }
    g->nr_grants = nframes * (GUEST_PAGE_SIZE / sizeof(grant_entry_v1_t));
    return true;
}

void guest_grant(struct guest *g, grant_ref_t ref, domid_t domid, uint64_t gpa, bool readonly)
{
    grant_entry_v1_t *e = &g->gnttab[ref];
    e->frame = (uint32_t)(gpa / GUEST_PAGE_SIZE);
    e->domid = domid;
    /* the backend may look at any time: flags last, after the rest */
    __atomic_store_n(&e->flags, (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0)),
                     __ATOMIC_RELEASE);
}

bool guest_grant_end(struct guest *g, grant_ref_t ref)
{
    uint16_t *flags = &g->gnttab[ref].flags;
    uint16_t old = __atomic_load_n(flags, __ATOMIC_ACQUIRE);
    do {
        if (old & (GTF_reading | GTF_writing))
            return false;
    } while (!__atomic_compare_exchange_n(flags, &old, 0, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_ACQUIRE));
    return true;
}

uint16_t guest_grant_flags(struct guest *g, grant_ref_t ref)
{
    return __atomic_load_n(&g->gnttab[ref].flags, __ATOMIC_ACQUIRE);
}

/* -------------------------------------------------------- event channels */

/* Take the port's eventfds: from now on we signal and wait on them
 * ourselves and xensim relays nothing for the port. */
static bool take_port_fds(struct guest *g, unsigned int port, char **err)
{
    struct reply_fds fds = { .max = MAX_REPLY_FDS };
    char *line = g_strdup_printf("xen_evtchn_fds %u\n", port);
    char *r = cmd_with_fds(g, line, &fds);
    bool ok = r && !strcmp(r, "OK") && fds.nr == MAX_REPLY_FDS;
    if (ok) {
        g->send_fd[port] = fds.fd[0];
        g->recv_fd[port] = fds.fd[1];
        set_port_bit(g->direct, port, true);
    } else {
        *err = g_strdup_printf("xen_evtchn_fds %u: %s (%u fds)", port,
                               r ? r : "connection closed", fds.nr);
        reply_fds_close(&fds);
    }
    g_free(line);
    g_free(r);
    return ok;
}

bool guest_evtchn_alloc(struct guest *g, unsigned int remote, unsigned int *port, char **err)
{
    char *r = guest_cmd(g, "xen_evtchn_alloc_unbound %u", remote);
    char *end = NULL;
    unsigned long p = r && g_str_has_prefix(r, "OK ") ? strtoul(r + 3, &end, 10) : 0;
    bool ok = end && !*end && p > 0 && p < GUEST_MAX_PORTS;
    if (ok)
        *port = (unsigned int)p;
    else
        *err = g_strdup_printf("xen_evtchn_alloc_unbound: %s", r ? r : "connection closed");
    g_free(r);
    if (ok && g->evtchn_mode == GUEST_EVTCHN_DIRECT && !take_port_fds(g, *port, err)) {
        guest_evtchn_close(g, *port);
        return false;
    }
    return ok;
}

/* The hypercall: add 1 to the backend's eventfd. EAGAIN means the counter
 * is saturated, which is still a pending event. */
static bool send_direct(struct guest *g, unsigned int port)
{
    uint64_t one = 1;
    ssize_t n;
    do {
        n = write(g->send_fd[port], &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(one) || (n < 0 && errno == EAGAIN);
}

bool guest_evtchn_send(struct guest *g, unsigned int port)
{
    if (port_bit(g->direct, port))
        return send_direct(g, port);
    char *r = guest_cmd(g, "xen_evtchn_send %u", port);
    bool ok = r && !strcmp(r, "OK");
    g_free(r);
    return ok;
}

void guest_evtchn_close(struct guest *g, unsigned int port)
{
    g_free(guest_cmd(g, "xen_evtchn_close %u", port));
    close_port_fds(g, port);
}

static bool take_pending(struct guest *g)
{
    bool any = g->pending_high != 0;
    g->pending_high = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(g->pending); i++) {
        any |= g->pending[i] != 0;
        g->pending[i] = 0;
    }
    return any;
}

/* Poll the qtest socket (EVTCHN lines of text ports, and how we notice
 * xensim is gone) and every direct port's receive eventfd for up to
 * timeout_ms; a fired eventfd is read (cleared) and its port noted.
 * -1: the socket died. */
static int wait_input(struct guest *g, int timeout_ms)
{
    struct pollfd pfds[GUEST_MAX_PORTS + 1];
    unsigned int ports[GUEST_MAX_PORTS + 1];
    nfds_t n = 0;
    pfds[n++] = (struct pollfd){ .fd = g->fd, .events = POLLIN };
    for (unsigned int port = 1; port < GUEST_MAX_PORTS; port++) {
        if (!port_bit(g->direct, port))
            continue;
        ports[n] = port;
        pfds[n++] = (struct pollfd){ .fd = g->recv_fd[port], .events = POLLIN };
    }
    int r = poll(pfds, n, timeout_ms);
    if (r <= 0)
        return r < 0 && errno != EINTR ? -1 : 0;
    for (nfds_t i = 1; i < n; i++) {
        uint64_t count;
        if ((pfds[i].revents & POLLIN) &&
            read(pfds[i].fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
            set_port_bit(g->pending, ports[i], true);
    }
    return pfds[0].revents ? receive_ready(g, NULL) : 1;
}

bool guest_wait_event(struct guest *g, int timeout_ms, bool *dead)
{
    *dead = false;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        char *line;
        while ((line = take_line(g))) {
            if (g_str_has_prefix(line, "EVTCHN "))
                note_event(g, line);
            g_free(line); /* nothing else arrives unasked */
        }
        if (take_pending(g))
            return true;
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0)
            return false;
        if (wait_input(g, (int)left) < 0) {
            *dead = true;
            return false;
        }
    }
}
