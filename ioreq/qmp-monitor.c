/* SPDX-License-Identifier: MIT */
/*
 * A QMP monitor socket: listen, serve one client at a time (the next waits
 * in the backlog), move bytes between the socket and its qmp_session.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/options.h"
#include "ioreq/log.h"
#include "ioreq/qmp.h"

#define DEV "qmp"
#define READ_CHUNK 4096

struct qmp_monitor {
    uint32_t domid;
    char *label;        /* the chardev id, for logs */
    char *path;         /* unlinked at exit when we created it */
    int listen_fd;
    guint listen_watch;
    const struct qmp_hooks *hooks;
    int client_fd;
    guint client_watch;
    GIOCondition watching;
    struct qmp_session *session;
};

static bool fail(GError **error, const char *spec, const char *why)
{
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "-chardev %s: %s", spec, why);
    return false;
}

/* fd=N from libxl: it must be a listening unix stream socket. */
static int adopt_fd(const char *spec, uint64_t fd, GError **error)
{
    int accepting = 0, type = 0;
    socklen_t l1 = sizeof(accepting), l2 = sizeof(type);

    if (fd > INT32_MAX || getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l1) < 0 ||
        getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 || !accepting ||
        type != SOCK_STREAM) {
        fail(error, spec, "fd= is not a listening stream socket");
        return -1;
    }
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

static int listen_path(const char *spec, const char *path, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fail(error, spec, "the socket path is too long");
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path); /* a stale socket from a previous run, as QEMU does */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "-chardev %s: %s: %s",
                    spec, path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* "socket,id=ID,path=P|fd=N,server=on,wait=off" (or "server,nowait"). */
static int open_listener(struct qmp_monitor *m, const char *spec, GError **error)
{
    g_autoptr(opts) o = opts_parse(spec, "backend", error);
    bool server, wait;
    uint64_t fd;

    if (!o)
        return -1;
    if (strcmp(opts_get_str(o, "backend", ""), "socket") != 0)
        return fail(error, spec, "a QMP monitor needs a socket chardev"), -1;
    m->label = g_strdup(opts_get_str(o, "id", "qmp"));
    bool nowait;
    if (!opts_get_bool(o, "server", false, &server, error) ||
        !opts_get_bool(o, "nowait", false, &nowait, error) ||
        !opts_get_bool(o, "wait", !nowait, &wait, error)) /* QEMU: a server waits by default */
        return -1;
    if (!server)
        return fail(error, spec, "a QMP monitor must be server=on"), -1;
    if (wait)
        return fail(error, spec, "wait=on is not supported: use wait=off"), -1;
    const char *path = opts_get_str(o, "path", NULL);
    bool have_fd = opts_has(o, "fd");
    if (have_fd && !opts_get_u64(o, "fd", 0, &fd, error))
        return -1;
    if (!opts_check_all_used(o, "-chardev socket", error))
        return -1;
    if (!path == !have_fd)
        return fail(error, spec, "give exactly one of path= and fd="), -1;
    if (have_fd)
        return adopt_fd(spec, fd, error);
    m->path = g_strdup(path);
    return listen_path(spec, path, error);
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data);

static void start_listening(struct qmp_monitor *m)
{
    m->listen_watch = g_unix_fd_add(m->listen_fd, G_IO_IN, on_accept, m);
}

static void drop_client(struct qmp_monitor *m, const char *why)
{
    log_info(m->domid, DEV, "%s: client left (%s)", m->label, why);
    if (m->client_watch)
        g_source_remove(m->client_watch);
    m->client_watch = 0;
    close(m->client_fd);
    m->client_fd = -1;
    qmp_session_free(m->session);
    m->session = NULL;
    start_listening(m); /* the next client in the backlog, if any */
}

/* Write what the session queued; false if the client is gone. */
static bool flush_output(struct qmp_monitor *m)
{
    GString *out = qmp_session_output(m->session);

    while (out->len) {
        ssize_t n = send(m->client_fd, out->str, out->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        g_string_erase(out, 0, n);
    }
    return true;
}

static gboolean on_client(gint fd, GIOCondition cond, gpointer data);

/* Read when there is room for answers, write while some are queued. */
static void update_watch(struct qmp_monitor *m)
{
    GIOCondition want = G_IO_IN | G_IO_HUP | G_IO_ERR;

    if (qmp_session_output(m->session)->len)
        want |= G_IO_OUT;
    if (m->client_watch && want == m->watching)
        return;
    if (m->client_watch)
        g_source_remove(m->client_watch);
    m->client_watch = g_unix_fd_add(m->client_fd, want, on_client, m);
    m->watching = want;
}

static bool read_input(struct qmp_monitor *m)
{
    char buf[READ_CHUNK];
    ssize_t n = recv(m->client_fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    qmp_session_feed(m->session, buf, (size_t)n);
    return true;
}

static gboolean on_client(gint fd, GIOCondition cond, gpointer data)
{
    struct qmp_monitor *m = data;
    bool ok = true;

    if (cond & G_IO_IN)
        ok = read_input(m);
    else if (cond & (G_IO_HUP | G_IO_ERR))
        ok = false;
    if (ok)
        ok = flush_output(m);
    if (!ok || !qmp_session_alive(m->session)) {
        m->client_watch = 0; /* returning REMOVE drops this source */
        drop_client(m, ok ? "its answers piled up" : "disconnected");
        return G_SOURCE_REMOVE;
    }
    if (qmp_session_quit_requested(m->session) && !qmp_session_output(m->session)->len) {
        m->client_watch = 0;
        const struct qmp_hooks *h = m->hooks;
        drop_client(m, "quit");
        h->quit(h->opaque);
        return G_SOURCE_REMOVE;
    }
    GIOCondition before = m->watching;
    update_watch(m);
    /* update_watch replaced this source when the condition changed */
    return m->watching == before ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct qmp_monitor *m = data;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (cfd < 0)
        return G_SOURCE_CONTINUE;
    m->client_fd = cfd;
    m->session = qmp_session_new(m->domid, m->hooks);
    log_info(m->domid, DEV, "%s: client connected", m->label);
    /* one client at a time: the next waits in the backlog */
    m->listen_watch = 0;
    m->client_watch = 0;
    update_watch(m);
    return G_SOURCE_REMOVE;
}

struct qmp_monitor *qmp_monitor_new(uint32_t domid, const char *spec,
                                    const struct qmp_hooks *hooks, GError **error)
{
    struct qmp_monitor *m = g_new0(struct qmp_monitor, 1);

    m->domid = domid;
    m->hooks = hooks;
    m->client_fd = -1;
    m->listen_fd = open_listener(m, spec, error);
    if (m->listen_fd < 0) {
        g_free(m->label);
        g_free(m->path);
        g_free(m);
        return NULL;
    }
    start_listening(m);
    return m;
}

void qmp_monitor_event(struct qmp_monitor *m, const char *event)
{
    if (!m->session)
        return;
    qmp_session_event(m->session, event);
    update_watch(m);
}

void qmp_monitor_free(struct qmp_monitor *m)
{
    if (!m)
        return;
    if (m->client_watch)
        g_source_remove(m->client_watch);
    if (m->client_fd >= 0)
        close(m->client_fd);
    qmp_session_free(m->session);
    if (m->listen_watch)
        g_source_remove(m->listen_watch);
    close(m->listen_fd);
    if (m->path)
        unlink(m->path);
    g_free(m->path);
    g_free(m->label);
    g_free(m);
}
