/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/control.h"

#include <errno.h>
#include <glib-unix.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "contrib/xensim/domain.h"
#include "contrib/xensim/gnttab.h"
#include "contrib/xensim/protocol.h"

#define MAX_LOCAL_PORT 0x3FFFFFFFu

struct xsim_control {
    int listen_fd;
    guint listen_watch;
    char *path;
    GPtrArray *domains;
    GList *conns;
    struct xsim_ratelimit *rl;
};

struct control_conn {
    struct xsim_control *ctl;
    int fd;
    guint watch;
    struct xsim_domain *dom; /* NULL until OPEN */
    bool restricted;
    GHashTable *bindings; /* local port -> struct binding */
    uint32_t next_local_port;
    struct xsim_grant_user grants; /* valid once dom is set */
    union control_rx *rx; /* one datagram, heap: grant requests are 16 KiB */
    union control_tx *tx; /* a grant reply's items */
};

/* A bound event channel and the domain it belongs to (a connection that
 * is not restricted may bind another domain's ports). */
struct binding {
    struct xsim_domain *dom;
    struct xsim_evtchn *ch; /* a ref */
};

/* A received datagram: the fixed header, then a grant op's items. Read
 * through the union so the items need no copy and keep their alignment. */
union control_rx {
    struct {
        struct xsim_request req;
        union {
            uint32_t refs[XSIM_GRANT_MAX_REFS];
            struct xsim_grant_copy_seg segs[XSIM_GRANT_MAX_COPY_SEGS];
            struct xsim_pfn_extent extents[XSIM_MAX_MODIFIED_EXTENTS];
        } items;
    } msg;
    unsigned char bytes[XSIM_MAX_REQUEST_SIZE + 1]; /* +1: tell oversize apart */
};
_Static_assert(offsetof(union control_rx, msg.items) == sizeof(struct xsim_request),
               "items follow the header with no padding");

union control_tx {
    uint64_t offsets[XSIM_GRANT_MAX_REFS];
    struct xsim_grant_copy_result results[XSIM_GRANT_MAX_COPY_SEGS];
    uint64_t dirty_bitmap[XSIM_MAX_VRAM_PAGES / 64];
};
_Static_assert(sizeof(struct xsim_pfn_extent) * XSIM_MAX_MODIFIED_EXTENTS <=
                   XSIM_MAX_REQUEST_SIZE - sizeof(struct xsim_request),
               "a full MODIFIED_MEMORY fits the largest datagram");

/* What one op answers besides its status. */
struct op_answer {
    struct xsim_reply reply;
    int fds[XSIM_MAX_FDS];
    unsigned int nr_fds;
    size_t payload_len; /* bytes of c->tx sent after the reply (grant ops) */
};

int xsim_listen_unix(const char *path, int type, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "socket path too long: %s",
                    path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return -1;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static struct xsim_domain *find_domain(struct xsim_control *ctl, uint64_t domid)
{
    for (guint i = 0; i < ctl->domains->len; i++) {
        struct xsim_domain *d = g_ptr_array_index(ctl->domains, i);
        if (d->domid == domid)
            return d;
    }
    return NULL;
}

/* ------------------------------------------------------------------- ops */

static int op_open(struct control_conn *c, const struct xsim_request *req, struct op_answer *a)
{
    if (c->dom)
        return -EALREADY;
    struct xsim_domain *d = find_domain(c->ctl, req->arg[0]);
    if (!d)
        return -ESRCH;
    if (req->arg[1] != XSIM_PROTOCOL_VERSION)
        return -EPROTO;
    c->dom = d;
    xsim_grant_user_init(&c->grants, &d->gnttab, XSIM_GRANT_BACKEND_DOMID);
    a->reply.val[0] = d->nr_vcpus;
    a->reply.val[1] = d->arch;
    memcpy(a->reply.ram, d->layout.region, sizeof(a->reply.ram));
    a->fds[a->nr_fds++] = d->ram_fd;
    return 0;
}

static int op_create_server(struct control_conn *c, struct xsim_domain *d,
    const struct xsim_request *req,
                            struct op_answer *a)
{
    if (req->arg[0] > 1)
        return -EINVAL;
    unsigned int id;
    int err = xsim_domain_create_server(d, c, req->arg[0] == 1, &id);
    if (!err)
        a->reply.val[0] = id;
    return err;
}

static int op_get_server_pages(struct control_conn *c, struct xsim_domain *d,
    const struct xsim_request *req,
                               struct op_answer *a)
{
    struct xsim_server *s;
    int err = xsim_domain_get_server(d, c, req->arg[0], &s);
    if (err)
        return err;
    a->fds[a->nr_fds++] = s->slot_fd;
    if (s->buf) {
        a->fds[a->nr_fds++] = s->buf_fd;
        a->reply.val[0] = s->buf_port->port;
    }
    /* the domain's ref keeps the fds open until the reply is sent: only this
     * thread (the main loop) destroys servers */
    xsim_server_unref(s);
    return 0;
}

static int op_evtchn_bind(struct control_conn *c, struct xsim_domain *d,
                          const struct xsim_request *req, struct op_answer *a)
{
    if (req->arg[0] == 0 || req->arg[0] >= XSIM_MAX_EVTCHN_PORTS)
        return -ENOENT;
    if (c->next_local_port > MAX_LOCAL_PORT)
        return -ENOSPC;
    int err = 0;
    g_mutex_lock(&d->lock);
    struct xsim_evtchn *ch = xsim_evtchn_lookup(&d->evtchns, (uint32_t)req->arg[0]);
    if (!ch)
        err = -ENOENT;
    else if (ch->bound)
        err = -EBUSY;
    else if (ch->kind == XSIM_EVTCHN_FRONTEND && ch->remote_domid != 0)
        err = -EPERM; /* offered to another domain than the device models' */
    if (!err) {
        ch->bound = true;
        xsim_evtchn_ref(ch);
    }
    g_mutex_unlock(&d->lock);
    if (err)
        return err;
    uint32_t local = c->next_local_port++;
    struct binding *b = g_new(struct binding, 1);
    *b = (struct binding){ .dom = d, .ch = ch };
    g_hash_table_insert(c->bindings, GUINT_TO_POINTER(local), b);
    a->reply.val[0] = local;
    a->fds[a->nr_fds++] = ch->to_dm_fd;
    a->fds[a->nr_fds++] = ch->to_guest_fd;
    return 0;
}

static void release_binding(struct binding *b)
{
    g_mutex_lock(&b->dom->lock);
    b->ch->bound = false;
    g_mutex_unlock(&b->dom->lock);
    xsim_evtchn_unref(b->ch);
    g_free(b);
}

static int op_evtchn_unbind(struct control_conn *c, const struct xsim_request *req)
{
    if (req->arg[0] > MAX_LOCAL_PORT)
        return -ENOENT;
    gpointer key = GUINT_TO_POINTER((uint32_t)req->arg[0]);
    struct binding *b = g_hash_table_lookup(c->bindings, key);
    if (!b)
        return -ENOENT;
    g_hash_table_remove(c->bindings, key);
    release_binding(b);
    return 0;
}

/* ---- grants: the items were checked to be exactly arg[0] of them ---- */

static int op_grant_map(struct control_conn *c, const struct xsim_request *req,
                        struct op_answer *a)
{
    if (req->arg[1] > 1 || req->arg[2] || req->arg[3])
        return -EINVAL;
    unsigned int count = (unsigned int)req->arg[0];
    uint32_t handle, bad_index;
    int16_t bad_status;
    int err = xsim_grant_map(&c->grants, c->rx->msg.items.refs, count, req->arg[1] == 1,
                             c->tx->offsets, &handle, &bad_index, &bad_status);
    if (err) {
        a->reply.val[0] = bad_index;
        a->reply.val[1] = (uint64_t)(int64_t)bad_status;
        return err;
    }
    a->reply.val[0] = handle;
    a->payload_len = (size_t)count * sizeof(c->tx->offsets[0]);
    return 0;
}

static int op_grant_copy(struct control_conn *c, const struct xsim_request *req,
                         struct op_answer *a)
{
    if (req->arg[1] || req->arg[2] || req->arg[3])
        return -EINVAL;
    unsigned int count = (unsigned int)req->arg[0];
    xsim_grant_copy(&c->grants, c->rx->msg.items.segs, count, c->tx->results);
    a->payload_len = (size_t)count * sizeof(c->tx->results[0]);
    return 0;
}

/* ---- dirty tracking ---- */

static int op_track_dirty_vram(struct control_conn *c, struct xsim_domain *d,
    const struct xsim_request *req,
                               struct op_answer *a)
{
    if (req->arg[2] || req->arg[3])
        return -EINVAL;
    int err = xsim_dirty_track_vram(&d->dirty, &d->layout, req->arg[0], req->arg[1],
                                    c->tx->dirty_bitmap);
    if (err)
        return err;
    a->reply.val[0] = req->arg[1];
    a->payload_len = (size_t)((req->arg[1] + 63) / 64) * sizeof(uint64_t);
    return 0;
}

static int op_modified_memory(struct control_conn *c, struct xsim_domain *d,
    const struct xsim_request *req,
                              struct op_answer *a)
{
    if (req->arg[1] || req->arg[2] || req->arg[3])
        return -EINVAL;
    unsigned int count = (unsigned int)req->arg[0], bad = 0;
    const struct xsim_pfn_extent *ext = c->rx->msg.items.extents;
    int err = xsim_dirty_modified(&d->dirty, &d->layout, ext, count, &bad);
    if (err) {
        a->reply.val[0] = bad;
        xsim_log_limited(c->ctl->rl, "dom%u: MODIFIED_MEMORY extent %u (pfn 0x%" PRIx64
                         ", %u pages) is not guest RAM: refused", d->domid, bad,
                         ext[bad].first_pfn, ext[bad].nr);
        return err;
    }
    xsim_log_limited(c->ctl->rl, "dom%u: a device model modified %u extent(s) from pfn 0x%" PRIx64,
                     d->domid, count, ext[0].first_pfn);
    return 0;
}

/* Items a variable-length op carries (0 for fixed ops), or -EINVAL when
 * the datagram's length disagrees with its declared count. */
static int check_items(const struct xsim_request *req, size_t len)
{
    size_t item, max;
    switch (req->op) {
    case XSIM_OP_GRANT_MAP:
        item = sizeof(uint32_t);
        max = XSIM_GRANT_MAX_REFS;
        break;
    case XSIM_OP_GRANT_COPY:
        item = sizeof(struct xsim_grant_copy_seg);
        max = XSIM_GRANT_MAX_COPY_SEGS;
        break;
    case XSIM_OP_MODIFIED_MEMORY:
        item = sizeof(struct xsim_pfn_extent);
        max = XSIM_MAX_MODIFIED_EXTENTS;
        break;
    default:
        return len == sizeof(*req) ? 0 : -EINVAL;
    }
    if (req->arg[0] == 0 || req->arg[0] > max)
        return -EINVAL;
    return len == sizeof(*req) + req->arg[0] * item ? 0 : -EINVAL;
}

static int op_get_ram(struct xsim_domain *d, struct op_answer *a)
{
    a->reply.val[0] = d->nr_vcpus;
    a->reply.val[1] = d->arch;
    memcpy(a->reply.ram, d->layout.region, sizeof(a->reply.ram));
    a->fds[a->nr_fds++] = d->ram_fd;
    return 0;
}

/* Grant ops use the connection's state of its own domain's table. */
static int dispatch_grant_op(struct control_conn *c, struct xsim_domain *d,
                             const struct xsim_request *req, struct op_answer *a)
{
    if (d != c->dom)
        return -EOPNOTSUPP;
    if (req->op == XSIM_OP_GRANT_MAP)
        return op_grant_map(c, req, a);
    if (req->op == XSIM_OP_GRANT_COPY)
        return op_grant_copy(c, req, a);
    return req->arg[0] > UINT32_MAX ? -ENOENT : xsim_grant_unmap(&c->grants, (uint32_t)req->arg[0]);
}

/* Ops that need an OPENed connection, on domain d (its own or a target). */
static int dispatch_bound_op(struct control_conn *c, struct xsim_domain *d,
                             const struct xsim_request *req, struct op_answer *a)
{
    const uint64_t *arg = req->arg;
    switch (req->op) {
    case XSIM_OP_CREATE_SERVER:
        return op_create_server(c, d, req, a);
    case XSIM_OP_GET_SERVER_PAGES:
        return op_get_server_pages(c, d, req, a);
    case XSIM_OP_SET_SERVER_STATE:
        return xsim_domain_set_server_state(d, c, arg[0], arg[1]);
    case XSIM_OP_MAP_RANGE:
    case XSIM_OP_UNMAP_RANGE:
        return xsim_domain_map_range(d, c, arg[0], arg[1], arg[2], arg[3],
                                     req->op == XSIM_OP_MAP_RANGE);
    case XSIM_OP_DESTROY_SERVER:
        return xsim_domain_destroy_server(d, c, arg[0]);
    case XSIM_OP_EVTCHN_BIND:
        return op_evtchn_bind(c, d, req, a);
    case XSIM_OP_EVTCHN_UNBIND:
        return op_evtchn_unbind(c, req);
    case XSIM_OP_SET_ISA_IRQ:
        return xsim_domain_set_isa_irq(d, arg[0], arg[1]);
    case XSIM_OP_SET_PCI_INTX:
        return xsim_domain_set_pci_intx(d, arg[0], arg[1], arg[2]);
    case XSIM_OP_SET_PCI_LINK_ROUTE:
        return xsim_domain_set_link_route(d, arg[0], arg[1]);
    case XSIM_OP_INJECT_MSI:
        return xsim_domain_inject_msi(d, arg[0], arg[1]);
    case XSIM_OP_SET_SPI:
        return xsim_domain_set_spi(d, arg[0], arg[1]);
    case XSIM_OP_SHUTDOWN:
        return xsim_domain_shutdown(d, arg[0]);
    case XSIM_OP_RESTRICT:
        c->restricted = true;
        return 0;
    case XSIM_OP_GRANT_MAP:
    case XSIM_OP_GRANT_UNMAP:
    case XSIM_OP_GRANT_COPY:
        return dispatch_grant_op(c, d, req, a);
    case XSIM_OP_GET_RAM:
        return op_get_ram(d, a);
    case XSIM_OP_TRACK_DIRTY_VRAM:
        return op_track_dirty_vram(c, d, req, a);
    case XSIM_OP_MODIFIED_MEMORY:
        return op_modified_memory(c, d, req, a);
    default:
        return -EOPNOTSUPP;
    }
}

/* The domain a request acts on: the connection's, or the one it names in
 * target. A restricted connection may name only its own (-EPERM). */
static int target_domain(struct control_conn *c, uint32_t target, struct xsim_domain **d)
{
    if (target == 0) {
        *d = c->dom;
        return 0;
    }
    if (!(target & XSIM_TARGET_OTHER) || (target & ~XSIM_TARGET_OTHER) > UINT16_MAX)
        return -EINVAL;
    uint32_t domid = target & ~XSIM_TARGET_OTHER;
    if (domid == c->dom->domid) {
        *d = c->dom;
        return 0;
    }
    if (c->restricted) {
        xsim_log_limited(c->ctl->rl, "control: a connection restricted to domain %u asked "
                         "for domain %u: refused", c->dom->domid, domid);
        return -EPERM;
    }
    *d = find_domain(c->ctl, domid);
    return *d ? 0 : -ESRCH;
}

static int handle_request(struct control_conn *c, const struct xsim_request *req,
                          struct op_answer *a)
{
    if (req->op == XSIM_OP_OPEN)
        return req->target ? -EINVAL : op_open(c, req, a);
    if (req->op < XSIM_OP_OPEN || req->op > XSIM_OP_LAST)
        return req->target & ~(XSIM_TARGET_OTHER | UINT16_MAX) ? -EINVAL : -EOPNOTSUPP;
    if (!c->dom)
        return -ENOTCONN;
    struct xsim_domain *d;
    int err = target_domain(c, req->target, &d);
    return err ? err : dispatch_bound_op(c, d, req, a);
}

/* ------------------------------------------------------------ connection */

static bool send_answer(struct control_conn *c, struct op_answer *a)
{
    char cbuf[CMSG_SPACE(sizeof(int) * XSIM_MAX_FDS)];
    struct iovec iov[2] = {
        { .iov_base = &a->reply, .iov_len = sizeof(a->reply) },
        { .iov_base = c->tx, .iov_len = a->payload_len },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = a->payload_len ? 2 : 1 };
    a->reply.nr_fds = a->nr_fds;
    if (a->nr_fds) {
        memset(cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * a->nr_fds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * a->nr_fds);
        memcpy(CMSG_DATA(cm), a->fds, sizeof(int) * a->nr_fds);
    }
    ssize_t n;
    do {
        /* a client that does not read its replies loses its connection */
        n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof(a->reply) + a->payload_len);
}

static void conn_free(struct control_conn *c)
{
    struct xsim_control *ctl = c->ctl;
    ctl->conns = g_list_remove(ctl->conns, c);
    if (c->watch)
        g_source_remove(c->watch);
    if (c->dom) {
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, c->bindings);
        while (g_hash_table_iter_next(&it, &key, &value))
            release_binding(value);
        /* servers it created, in its own domain or (unrestricted) others */
        for (guint i = 0; i < c->ctl->domains->len; i++)
            xsim_domain_destroy_owned_servers(g_ptr_array_index(c->ctl->domains, i), c);
        /* a backend that died with grants mapped gives them back, as Xen
         * does when a gntdev fd closes */
        xsim_grant_user_release(&c->grants);
    }
    g_hash_table_destroy(c->bindings);
    g_free(c->rx);
    g_free(c->tx);
    close(c->fd);
    g_free(c);
}

/* A zero-length read is either an empty datagram or the peer gone. */
static bool peer_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static gboolean on_conn_ready(gint fd, GIOCondition cond, gpointer user_data)
{
    struct control_conn *c = user_data;
    struct xsim_request req;
    ssize_t n = recv(fd, c->rx->bytes, sizeof(c->rx->bytes), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n < 0 || (n == 0 && peer_gone(fd))) {
        c->watch = 0;
        conn_free(c);
        return G_SOURCE_REMOVE;
    }

    struct op_answer a;
    memset(&a, 0, sizeof(a));
    if (n >= (ssize_t)sizeof(req))
        memcpy(&req, c->rx->bytes, sizeof(req));
    if (n >= (ssize_t)sizeof(req) && req.op == XSIM_OP_GRANT_COPY_DONE) {
        /* the one op without a reply: its sender does not wait for one */
        if (n == (ssize_t)sizeof(req) && c->dom && !req.target)
            xsim_grant_copy_done(&c->grants);
        else
            xsim_log_limited(c->ctl->rl, "control: bad GRANT_COPY_DONE ignored");
        return G_SOURCE_CONTINUE;
    }
    if (n < (ssize_t)sizeof(req) || (size_t)n > XSIM_MAX_REQUEST_SIZE ||
        check_items(&req, (size_t)n) < 0) {
        xsim_log_limited(c->ctl->rl, "control: datagram of %zd bytes refused", n);
        a.reply.status = -EINVAL;
    } else {
        a.reply.status = handle_request(c, &req, &a);
        if (a.reply.status)
            xsim_log_limited(c->ctl->rl, "control: op %u refused: %s", req.op,
                             g_strerror(-a.reply.status));
    }
    if (a.reply.status) {
        a.nr_fds = 0;
        a.payload_len = 0;
    }
    if (!send_answer(c, &a)) {
        xsim_log_limited(c->ctl->rl, "control: reply failed, dropping the connection");
        c->watch = 0;
        conn_free(c);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer user_data)
{
    struct xsim_control *ctl = user_data;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            xsim_log_limited(ctl->rl, "control: accept: %s", g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }
    struct control_conn *c = g_new0(struct control_conn, 1);
    c->ctl = ctl;
    c->fd = cfd;
    c->next_local_port = 1;
    c->bindings = g_hash_table_new(g_direct_hash, g_direct_equal);
    c->rx = g_new(union control_rx, 1);
    c->tx = g_new(union control_tx, 1);
    c->watch = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_conn_ready, c);
    ctl->conns = g_list_prepend(ctl->conns, c);
    return G_SOURCE_CONTINUE;
}

struct xsim_control *xsim_control_new(const char *path, GPtrArray *domains,
                                      struct xsim_ratelimit *rl, GError **error)
{
    int fd = xsim_listen_unix(path, SOCK_SEQPACKET, error);
    if (fd < 0)
        return NULL;
    struct xsim_control *ctl = g_new0(struct xsim_control, 1);
    ctl->listen_fd = fd;
    ctl->path = g_strdup(path);
    ctl->domains = domains;
    ctl->rl = rl;
    ctl->listen_watch = g_unix_fd_add(fd, G_IO_IN, on_accept, ctl);
    return ctl;
}

void xsim_control_free(struct xsim_control *ctl)
{
    if (!ctl)
        return;
    while (ctl->conns)
        conn_free(ctl->conns->data);
    g_source_remove(ctl->listen_watch);
    close(ctl->listen_fd);
    unlink(ctl->path);
    g_free(ctl->path);
    g_free(ctl);
}
