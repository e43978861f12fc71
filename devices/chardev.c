/* SPDX-License-Identifier: MIT */
#include "devices/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/options.h"

enum chardev_kind { CHARDEV_NULL, CHARDEV_FILE, CHARDEV_STDIO, CHARDEV_SOCKET, CHARDEV_PTY };

struct chardev {
    char *id;
    enum chardev_kind kind;
    int out_fd;       /* where bytes go now; -1 when nobody listens */
    int listen_fd;    /* socket server only */
    guint accept_watch;
    char *socket_path;
    size_t dropped;
    /* input side (chardev_set_reader) */
    struct chardev_reader reader;
    guint in_watch;   /* watching in_fd while the reader has room */
    int in_fd;
    guint retry_timer; /* a pty without a peer: look again later */
};

static void input_stop(struct chardev *cd);

struct chardev_set {
    GPtrArray *devs;
};

static void chardev_free(gpointer p)
{
    struct chardev *cd = p;

    input_stop(cd);
    if (cd->retry_timer)
        g_source_remove(cd->retry_timer);
    if (cd->accept_watch)
        g_source_remove(cd->accept_watch);
    if (cd->out_fd > STDERR_FILENO)
        close(cd->out_fd);
    if (cd->listen_fd >= 0)
        close(cd->listen_fd);
    if (cd->socket_path)
        unlink(cd->socket_path);
    g_free(cd->socket_path);
    g_free(cd->id);
    g_free(cd);
}

struct chardev_set *chardev_set_new(void)
{
    struct chardev_set *set = g_new0(struct chardev_set, 1);
    set->devs = g_ptr_array_new_with_free_func(chardev_free);
    return set;
}

void chardev_set_free(struct chardev_set *set)
{
    if (!set)
        return;
    g_ptr_array_free(set->devs, TRUE);
    g_free(set);
}

struct chardev *chardev_set_find(struct chardev_set *set, const char *id)
{
    for (unsigned int i = 0; i < set->devs->len; i++) {
        struct chardev *cd = g_ptr_array_index(set->devs, i);
        if (strcmp(cd->id, id) == 0)
            return cd;
    }
    return NULL;
}

const char *chardev_id(const struct chardev *cd)
{
    return cd->id;
}

size_t chardev_dropped(const struct chardev *cd)
{
    return cd->dropped;
}

void chardev_write(struct chardev *cd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len && cd->out_fd >= 0) {
        /* A console client that disconnects must never kill the device
         * model with SIGPIPE. */
        ssize_t n = cd->kind == CHARDEV_SOCKET ? send(cd->out_fd, p, len, MSG_NOSIGNAL)
                                               : write(cd->out_fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break; /* a slow reader never stalls the guest */
        } else {
            /* The peer went away: a socket chardev waits for the next one. */
            if (cd->kind == CHARDEV_SOCKET) {
                input_stop(cd);
                close(cd->out_fd);
                cd->out_fd = -1;
            }
            break;
        }
    }
    cd->dropped += len;
}

static void set_error(GError **error, const char *id, const char *what, int err)
{
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "chardev '%s': %s: %s", id,
                what, g_strerror(err));
}

static int make_unix_addr(struct sockaddr_un *addr, const char *path)
{
    *addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr->sun_path))
        return -ENAMETOOLONG;
    strcpy(addr->sun_path, path);
    return 0;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct chardev *cd = data;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn < 0)
        return G_SOURCE_CONTINUE;
    input_stop(cd);
    if (cd->out_fd >= 0)
        close(cd->out_fd); /* one client at a time, as QEMU: the newest wins */
    cd->out_fd = conn;
    chardev_input_wake(cd);
    return G_SOURCE_CONTINUE;
}

static bool open_socket(struct chardev *cd, struct opts *o, GError **error)
{
    const char *path = opts_get_str(o, "path", NULL);
    struct sockaddr_un addr;
    bool server, wait;
    int fd;

    if (!opts_get_bool(o, "server", false, &server, error) ||
        !opts_get_bool(o, "wait", false, &wait, error))
        return false;
    if (!path || make_unix_addr(&addr, path) < 0) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "chardev '%s': socket needs path= (a unix socket path)", cd->id);
        return false;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_error(error, cd->id, "socket", errno);
        return false;
    }
    if (!server) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            set_error(error, cd->id, path, errno);
            close(fd);
            return false;
        }
        cd->out_fd = fd;
        return true;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
        set_error(error, cd->id, path, errno);
        close(fd);
        return false;
    }
    cd->listen_fd = fd;
    cd->socket_path = g_strdup(path);
    cd->accept_watch = g_unix_fd_add(fd, G_IO_IN, on_accept, cd);
    return true;
}

static bool open_pty(struct chardev *cd, GError **error)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        set_error(error, cd->id, "pty", errno);
        if (fd >= 0)
            close(fd);
        return false;
    }
    /* The same line QEMU prints, which libxl and scripts parse. */
    fprintf(stderr, "char device redirected to %s (label %s)\n", ptsname(fd), cd->id);
    cd->out_fd = fd;
    return true;
}

static bool open_backend(struct chardev *cd, const char *backend, struct opts *o, GError **error)
{
    if (!strcmp(backend, "null")) {
        cd->kind = CHARDEV_NULL;
        return true;
    }
    if (!strcmp(backend, "stdio")) {
        cd->kind = CHARDEV_STDIO;
        cd->out_fd = STDOUT_FILENO;
        return true;
    }
    if (!strcmp(backend, "file")) {
        const char *path = opts_get_str(o, "path", NULL);
        bool append;
        cd->kind = CHARDEV_FILE;
        if (!opts_get_bool(o, "append", false, &append, error))
            return false;
        if (!path) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "chardev '%s': file needs path=", cd->id);
            return false;
        }
        cd->out_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
        if (cd->out_fd < 0)
            set_error(error, cd->id, path, errno);
        return cd->out_fd >= 0;
    }
    if (!strcmp(backend, "socket")) {
        cd->kind = CHARDEV_SOCKET;
        return open_socket(cd, o, error);
    }
    if (!strcmp(backend, "pty")) {
        cd->kind = CHARDEV_PTY;
        return open_pty(cd, error);
    }
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "chardev: unknown backend '%s' (file, stdio, socket, pty, null)", backend);
    return false;
}

bool chardev_set_add(struct chardev_set *set, const char *spec, GError **error)
{
    g_autoptr(opts) o = opts_parse(spec, "backend", error);
    const char *id, *backend;

    if (!o)
        return false;
    backend = opts_get_str(o, "backend", "");
    id = opts_get_str(o, "id", NULL);
    if (!id || !*id) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "chardev '%s': id= is required", spec);
        return false;
    }
    if (chardev_set_find(set, id)) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "chardev: duplicate id '%s'", id);
        return false;
    }
    struct chardev *cd = g_new0(struct chardev, 1);
    cd->id = g_strdup(id);
    cd->out_fd = -1;
    cd->listen_fd = -1;
    g_autofree char *what = g_strdup_printf("chardev '%s'", id);
    if (!open_backend(cd, backend, o, error) || !opts_check_all_used(o, what, error)) {
        chardev_free(cd);
        return false;
    }
    g_ptr_array_add(set->devs, cd);
    return true;
}

/* ---- input ---- */

#define INPUT_CHUNK 256
#define PTY_RETRY_SECONDS 1

static void input_stop(struct chardev *cd)
{
    if (cd->in_watch)
        g_source_remove(cd->in_watch);
    cd->in_watch = 0;
}

static int input_fd(const struct chardev *cd)
{
    switch (cd->kind) {
    case CHARDEV_STDIO: return STDIN_FILENO;
    case CHARDEV_SOCKET:
    case CHARDEV_PTY: return cd->out_fd;
    default: return -1; /* null and file have no input */
    }
}

static gboolean retry_input(gpointer data)
{
    struct chardev *cd = data;

    cd->retry_timer = 0;
    chardev_input_wake(cd);
    return G_SOURCE_REMOVE;
}

/* The peer hung up: a socket waits for the next client; a pty master
 * reports a hang-up until someone opens the slave, so look again later. */
static void input_hangup(struct chardev *cd)
{
    input_stop(cd);
    if (cd->kind == CHARDEV_SOCKET && cd->out_fd >= 0) {
        close(cd->out_fd);
        cd->out_fd = -1;
    } else if (cd->kind == CHARDEV_PTY && !cd->retry_timer) {
        cd->retry_timer = g_timeout_add_seconds(PTY_RETRY_SECONDS, retry_input, cd);
    }
}

static gboolean on_input(gint fd, GIOCondition cond, gpointer data)
{
    struct chardev *cd = data;
    uint8_t buf[INPUT_CHUNK];
    size_t room = cd->reader.can_read(cd->reader.opaque);

    if (!room) {
        cd->in_watch = 0; /* the device wakes us when it has room */
        return G_SOURCE_REMOVE;
    }
    ssize_t n = read(fd, buf, MIN(room, sizeof(buf)));
    if (n > 0) {
        cd->reader.read(cd->reader.opaque, buf, (size_t)n);
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return G_SOURCE_CONTINUE;
    cd->in_watch = 0;
    input_hangup(cd);
    return G_SOURCE_REMOVE;
}

void chardev_input_wake(struct chardev *cd)
{
    int fd = input_fd(cd);

    if (cd->in_watch || !cd->reader.read || fd < 0)
        return;
    if (!cd->reader.can_read(cd->reader.opaque))
        return;
    cd->in_fd = fd;
    cd->in_watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_input, cd);
}

void chardev_set_reader(struct chardev *cd, const struct chardev_reader *reader)
{
    input_stop(cd);
    cd->reader = reader ? *reader : (struct chardev_reader){ 0 };
    chardev_input_wake(cd);
}
