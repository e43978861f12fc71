/* SPDX-License-Identifier: MIT */
/*
 * xensim's xenstore server: the wire protocol of <xen/io/xs_wire.h> on unix
 * stream sockets, so the real libxenstore and xenstore-utils work against
 * it (XENSTORED_PATH=<socket>). Every client is hostile: a malformed
 * request is answered with XS_ERROR where the protocol can carry it, and a
 * client that breaks the framing or stops reading is disconnected.
 *
 * Transactions work on a snapshot of the tree and record what they
 * touched; commit fails with EAGAIN if any of it changed since the start
 * (the client retries), otherwise their operations are replayed on the
 * live tree and fire watches then.
 */
#include "contrib/xensim/xenstore.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <stdint.h>
#include <xen/io/xs_wire.h>

#include "contrib/xensim/xs-tree.h"

#define MAX_WATCHES_PER_CONN 128
#define MAX_TXNS_PER_CONN 16
#define MAX_NODES 200000
#define MAX_OUTPUT_BYTES (1u << 20)
#define HEADER_SIZE sizeof(struct xsd_sockmsg)

struct xs_watch {
    char *path;  /* absolute, or "@special" */
    char *given; /* as the client wrote it: events echo its form */
    char *token;
};

enum xs_op_kind { TXN_WRITE, TXN_MKDIR, TXN_RM, TXN_SET_PERMS };

struct xs_txn_op {
    enum xs_op_kind kind;
    char *path;
    GByteArray *value;
    GArray *perms;
};

struct xs_txn {
    uint32_t id;
    struct xs_node *root;   /* snapshot */
    uint64_t start_gen;
    GHashTable *touched;    /* path -> GINT_TO_POINTER(1 + existed at start) */
    GPtrArray *ops;         /* struct xs_txn_op */
};

struct xs_conn {
    struct xs_store *xs;
    int fd;
    GSource *in_src, *out_src;
    struct xs_actor who;
    guint8 in[HEADER_SIZE + XENSTORE_PAYLOAD_MAX];
    size_t in_len;
    GByteArray *out;
    GPtrArray *watches;     /* struct xs_watch */
    GHashTable *txns;       /* id -> struct xs_txn */
    uint32_t next_txn;
};

struct xs_listener {
    struct xs_store *xs;
    int fd;
    GSource *src;
    struct xs_actor who;
    char *path;
};

struct xs_store {
    GMainContext *ctx;
    struct xs_node *root;
    uint64_t gen;
    GPtrArray *conns;
    GPtrArray *listeners;
    GHashTable *introduced; /* domid set */
    gint64 last_warning;
    unsigned int warnings;
};

/* ---- logging ------------------------------------------------------------ */

/* Client-triggered: at most 20 lines a second across the store. */
static void client_warning(struct xs_store *xs, const struct xs_conn *c, const char *what)
{
    gint64 now = g_get_monotonic_time();

    if (now - xs->last_warning > G_USEC_PER_SEC) {
        xs->last_warning = now;
        xs->warnings = 0;
    }
    if (xs->warnings++ < 20)
        g_warning("xenstore: dom%u client: %s", c->who.domid, what);
}

/* ---- small helpers -------------------------------------------------------- */

static void watch_free(gpointer p)
{
    struct xs_watch *w = p;
    g_free(w->path);
    g_free(w->given);
    g_free(w->token);
    g_free(w);
}

static void txn_op_free(gpointer p)
{
    struct xs_txn_op *op = p;
    g_free(op->path);
    if (op->value)
        g_byte_array_free(op->value, TRUE);
    if (op->perms)
        g_array_free(op->perms, TRUE);
    g_free(op);
}

static void txn_free(gpointer p)
{
    struct xs_txn *t = p;
    xs_node_free(t->root);
    g_hash_table_destroy(t->touched);
    g_ptr_array_free(t->ops, TRUE);
    g_free(t);
}

static bool is_under(const char *base, const char *path)
{
    size_t n = strlen(base);
    return strncmp(base, path, n) == 0 && (path[n] == '\0' || path[n] == '/' || !strcmp(base, "/"));
}

static char *parent_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == path ? g_strdup("/") : g_strndup(path, (gsize)(slash - path));
}

/* ---- output ------------------------------------------------------------------ */

static void conn_close(struct xs_conn *c);
static gboolean on_writable(gint fd, GIOCondition cond, gpointer data);

static void flush_output(struct xs_conn *c)
{
    while (c->out->len) {
        ssize_t n = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            g_byte_array_remove_range(c->out, 0, (guint)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        return; /* the reader side notices the hang-up and closes */
    }
    if (c->out->len && !c->out_src) {
        c->out_src = g_unix_fd_source_new(c->fd, G_IO_OUT);
        g_source_set_callback(c->out_src, G_SOURCE_FUNC(on_writable), c, NULL);
        g_source_attach(c->out_src, c->xs->ctx);
    } else if (!c->out->len && c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
        c->out_src = NULL;
    }
}

static gboolean on_writable(gint fd, GIOCondition cond, gpointer data)
{
    struct xs_conn *c = data;
    flush_output(c);
    return G_SOURCE_CONTINUE;
}

static void send_msg(struct xs_conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                     const void *body, size_t len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = req_id, .tx_id = tx_id,
                               .len = (uint32_t)len };

    g_byte_array_append(c->out, (const guint8 *)&hdr, sizeof(hdr));
    g_byte_array_append(c->out, body, (guint)len);
    flush_output(c);
}

static void send_error(struct xs_conn *c, const struct xsd_sockmsg *req, int err)
{
    const char *name = "EINVAL";

    for (size_t i = 0; i < G_N_ELEMENTS(xsd_errors); i++)
        if (xsd_errors[i].errnum == err)
            name = xsd_errors[i].errstring;
    send_msg(c, XS_ERROR, req->req_id, req->tx_id, name, strlen(name) + 1);
}

static void send_ok(struct xs_conn *c, const struct xsd_sockmsg *req)
{
    send_msg(c, req->type, req->req_id, req->tx_id, "OK", 3);
}

/* ---- watches ------------------------------------------------------------------- */

static void send_watch_event(struct xs_conn *c, const struct xs_watch *w, const char *path)
{
    g_autoptr(GByteArray) body = g_byte_array_new();
    size_t prefix_len = 0;
    g_autofree char *home = g_strdup_printf("/local/domain/%u/", c->who.domid);

    /* a watch set with a relative path reports relative paths */
    if (w->given[0] != '/' && w->given[0] != '@' && g_str_has_prefix(path, home))
        prefix_len = strlen(home);
    g_byte_array_append(body, (const guint8 *)path + prefix_len,
                        (guint)(strlen(path) - prefix_len + 1));
    g_byte_array_append(body, (const guint8 *)w->token, (guint)strlen(w->token) + 1);
    send_msg(c, XS_WATCH_EVENT, 0, 0, body->data, body->len);
}

/* Unprivileged watchers hear only about nodes they may read (for a removed
 * node: its nearest existing ancestor). */
static bool may_see(struct xs_store *xs, const struct xs_conn *c, const char *path)
{
    if (c->who.privileged || path[0] == '@')
        return true;
    g_autofree char *p = g_strdup(path);
    struct xs_node *n;
    while (!(n = xs_tree_lookup(xs->root, p))) {
        char *up = parent_path(p);
        g_free(p);
        p = up;
    }
    return xs_can_read(&c->who, n);
}

static void fire_watches(struct xs_store *xs, const char *path, bool removed)
{
    for (unsigned int i = 0; i < xs->conns->len; i++) {
        struct xs_conn *c = g_ptr_array_index(xs->conns, i);
        if (!may_see(xs, c, path))
            continue;
        for (unsigned int j = 0; j < c->watches->len; j++) {
            struct xs_watch *w = g_ptr_array_index(c->watches, j);
            if (w->path[0] == '@' || path[0] == '@') {
                if (!strcmp(w->path, path))
                    send_watch_event(c, w, path);
            } else if (is_under(w->path, path)) {
                send_watch_event(c, w, path);
            } else if (removed && is_under(path, w->path)) {
                send_watch_event(c, w, w->path); /* its node went with the subtree */
            }
        }
    }
}

/* ---- tree operations (on the live tree or a transaction's snapshot) -------- */

struct op_ctx {
    struct xs_store *xs;
    struct xs_node *root;
    const struct xs_actor *who;
    uint64_t gen;
    bool live; /* fire watches */
};

static int op_write(struct op_ctx *o, const char *path, const guint8 *value, size_t len)
{
    struct xs_node *n;
    bool created;

    if (xs_tree_count(o->root) >= MAX_NODES && !xs_tree_lookup(o->root, path))
        return ENOSPC;
    int rc = xs_tree_create(o->root, o->who, path, o->gen, &n, &created);
    if (rc < 0)
        return -rc;
    if (!created && !xs_can_write(o->who, n))
        return EACCES;
    g_byte_array_set_size(n->value, 0);
    g_byte_array_append(n->value, value, (guint)len);
    n->gen = o->gen;
    if (o->live)
        fire_watches(o->xs, path, false);
    return 0;
}

static int op_mkdir(struct op_ctx *o, const char *path)
{
    struct xs_node *n;
    bool created;

    if (xs_tree_lookup(o->root, path))
        return 0; /* mkdir of an existing node succeeds, as in Xen */
    if (xs_tree_count(o->root) >= MAX_NODES)
        return ENOSPC;
    int rc = xs_tree_create(o->root, o->who, path, o->gen, &n, &created);
    if (rc < 0)
        return -rc;
    if (o->live)
        fire_watches(o->xs, path, false);
    return 0;
}

static int op_rm(struct op_ctx *o, const char *path)
{
    struct xs_node *n = xs_tree_lookup(o->root, path);

    if (!n) {
        g_autofree char *parent = parent_path(path);
        /* removing what is already gone is fine if its parent exists */
        return xs_tree_lookup(o->root, parent) ? 0 : ENOENT;
    }
    if (!n->parent)
        return EINVAL; /* not the root */
    if (!xs_can_write(o->who, n))
        return EACCES;
    n->parent->gen = o->gen;
    xs_node_remove(n);
    if (o->live)
        fire_watches(o->xs, path, true);
    return 0;
}

static int op_set_perms(struct op_ctx *o, const char *path, const GArray *perms)
{
    struct xs_node *n = xs_tree_lookup(o->root, path);

    if (!n)
        return ENOENT;
    if (!xs_can_write(o->who, n))
        return EACCES;
    /* only the privileged hand a node to another domain */
    if (!o->who->privileged && g_array_index(perms, struct xs_perm, 0).domid != o->who->domid)
        return EPERM;
    g_array_set_size(n->perms, 0);
    g_array_append_vals(n->perms, perms->data, perms->len);
    n->gen = o->gen;
    if (o->live)
        fire_watches(o->xs, path, false);
    return 0;
}

/* ---- requests ----------------------------------------------------------------- */

/* Split a payload into NUL-terminated strings; *rest points past the n-th. */
static bool take_strings(const char *body, size_t len, unsigned int n, const char **out,
                         size_t *consumed)
{
    size_t pos = 0;

    for (unsigned int i = 0; i < n; i++) {
        const char *nul = memchr(body + pos, '\0', len - pos);
        if (!nul)
            return false;
        out[i] = body + pos;
        pos = (size_t)(nul - body) + 1;
    }
    *consumed = pos;
    return true;
}

struct request {
    struct xs_conn *c;
    const struct xsd_sockmsg *hdr;
    const char *body;
    size_t len;
    struct xs_txn *txn;
};

static struct xs_node *root_for(struct request *r)
{
    return r->txn ? r->txn->root : r->c->xs->root;
}

static void touch(struct request *r, const char *path)
{
    if (!r->txn || g_hash_table_contains(r->txn->touched, path))
        return;
    bool existed = xs_tree_lookup(r->txn->root, path) != NULL;
    g_hash_table_insert(r->txn->touched, g_strdup(path), GINT_TO_POINTER(1 + existed));
}

/* The single path argument of most requests, made absolute and checked. */
static char *request_path(struct request *r, size_t *consumed)
{
    const char *arg;
    size_t used;

    if (!take_strings(r->body, r->len, 1, &arg, &used))
        return NULL;
    if (consumed)
        *consumed = used;
    char *path = xs_path_canonical(&r->c->who, arg, false);
    if (path) {
        touch(r, path);
        g_autofree char *parent = parent_path(path);
        touch(r, parent);
    }
    return path;
}

static void record_op(struct request *r, enum xs_op_kind kind, const char *path,
                      const guint8 *value, size_t len, const GArray *perms)
{
    struct xs_txn_op *op = g_new0(struct xs_txn_op, 1);

    op->kind = kind;
    op->path = g_strdup(path);
    if (value) {
        op->value = g_byte_array_new();
        g_byte_array_append(op->value, value, (guint)len);
    }
    if (perms) {
        op->perms = g_array_new(FALSE, FALSE, sizeof(struct xs_perm));
        g_array_append_vals(op->perms, perms->data, perms->len);
    }
    g_ptr_array_add(r->txn->ops, op);
}

static struct op_ctx op_ctx_for(struct request *r)
{
    struct xs_store *xs = r->c->xs;
    return (struct op_ctx){ .xs = xs, .root = root_for(r), .who = &r->c->who,
                            .gen = r->txn ? r->txn->start_gen : ++xs->gen, .live = !r->txn };
}

static int do_read(struct request *r)
{
    g_autofree char *path = request_path(r, NULL);
    struct xs_node *n = path ? xs_tree_lookup(root_for(r), path) : NULL;

    if (!path)
        return EINVAL;
    if (!n)
        return ENOENT;
    if (!xs_can_read(&r->c->who, n))
        return EACCES;
    send_msg(r->c, XS_READ, r->hdr->req_id, r->hdr->tx_id, n->value->data, n->value->len);
    return 0;
}

static int do_directory(struct request *r, bool part)
{
    size_t used;
    g_autofree char *path = request_path(r, &used);
    struct xs_node *n = path ? xs_tree_lookup(root_for(r), path) : NULL;
    g_autoptr(GByteArray) body = g_byte_array_new();
    guint64 offset = 0;

    if (!path)
        return EINVAL;
    if (part) {
        const char *off_text;
        size_t more;
        if (!take_strings(r->body + used, r->len - used, 1, &off_text, &more) ||
            !g_ascii_string_to_unsigned(off_text, 10, 0, G_MAXUINT, &offset, NULL))
            return EINVAL;
    }
    if (!n)
        return ENOENT;
    if (!xs_can_read(&r->c->who, n))
        return EACCES;
    if (part) {
        char gen[24];
        int len = g_snprintf(gen, sizeof(gen), "%" G_GUINT64_FORMAT, n->gen);
        g_byte_array_append(body, (const guint8 *)gen, (guint)len + 1);
    }
    for (guint64 i = 0; i < n->children->len; i++) {
        const struct xs_node *child = g_ptr_array_index(n->children, (guint)i);
        size_t len = strlen(child->name) + 1;
        if (part && i < offset)
            continue;
        if (body->len + len + 1 > XENSTORE_PAYLOAD_MAX) {
            if (!part)
                return E2BIG; /* the client then asks part by part */
            break;
        }
        g_byte_array_append(body, (const guint8 *)child->name, (guint)len);
    }
    if (part)
        g_byte_array_append(body, (const guint8 *)"", 1); /* end marker */
    send_msg(r->c, r->hdr->type, r->hdr->req_id, r->hdr->tx_id, body->data, body->len);
    return 0;
}

static int do_get_perms(struct request *r)
{
    g_autofree char *path = request_path(r, NULL);
    struct xs_node *n = path ? xs_tree_lookup(root_for(r), path) : NULL;
    g_autoptr(GByteArray) body = g_byte_array_new();

    if (!path)
        return EINVAL;
    if (!n)
        return ENOENT;
    if (!xs_can_read(&r->c->who, n))
        return EACCES;
    xs_perms_format(n->perms, body);
    send_msg(r->c, XS_GET_PERMS, r->hdr->req_id, r->hdr->tx_id, body->data, body->len);
    return 0;
}

static int do_write(struct request *r)
{
    size_t used;
    g_autofree char *path = request_path(r, &used);

    if (!path)
        return EINVAL;
    struct op_ctx o = op_ctx_for(r);
    int err = op_write(&o, path, (const guint8 *)r->body + used, r->len - used);
    if (!err && r->txn)
        record_op(r, TXN_WRITE, path, (const guint8 *)r->body + used, r->len - used, NULL);
    if (!err)
        send_ok(r->c, r->hdr);
    return err;
}

static int do_mkdir_or_rm(struct request *r, bool rm)
{
    g_autofree char *path = request_path(r, NULL);

    if (!path)
        return EINVAL;
    struct op_ctx o = op_ctx_for(r);
    int err = rm ? op_rm(&o, path) : op_mkdir(&o, path);
    if (!err && r->txn)
        record_op(r, rm ? TXN_RM : TXN_MKDIR, path, NULL, 0, NULL);
    if (!err)
        send_ok(r->c, r->hdr);
    return err;
}

static int do_set_perms(struct request *r)
{
    size_t used;
    g_autofree char *path = request_path(r, &used);
    g_autoptr(GArray) perms = g_array_new(FALSE, FALSE, sizeof(struct xs_perm));

    if (!path)
        return EINVAL;
    while (used < r->len) {
        const char *text;
        size_t more;
        struct xs_perm p;
        if (!take_strings(r->body + used, r->len - used, 1, &text, &more) ||
            !xs_perm_parse(text, &p) || perms->len >= 64)
            return EINVAL;
        g_array_append_val(perms, p);
        used += more;
    }
    if (perms->len == 0)
        return EINVAL;
    struct op_ctx o = op_ctx_for(r);
    int err = op_set_perms(&o, path, perms);
    if (!err && r->txn)
        record_op(r, TXN_SET_PERMS, path, NULL, 0, perms);
    if (!err)
        send_ok(r->c, r->hdr);
    return err;
}

static int do_watch(struct request *r, bool add)
{
    const char *args[2];
    size_t used;

    if (!take_strings(r->body, r->len, 2, args, &used))
        return EINVAL;
    g_autofree char *path = xs_path_canonical(&r->c->who, args[0], true);
    if (!path)
        return EINVAL;
    GPtrArray *ws = r->c->watches;
    for (unsigned int i = 0; i < ws->len; i++) {
        struct xs_watch *w = g_ptr_array_index(ws, i);
        if (!strcmp(w->path, path) && !strcmp(w->token, args[1])) {
            if (!add) {
                g_ptr_array_remove_index(ws, i);
                send_ok(r->c, r->hdr);
                return 0;
            }
            return EEXIST;
        }
    }
    if (!add)
        return ENOENT;
    if (ws->len >= MAX_WATCHES_PER_CONN)
        return E2BIG;
    struct xs_watch *w = g_new0(struct xs_watch, 1);
    w->path = g_steal_pointer(&path);
    w->given = g_strdup(args[0]);
    w->token = g_strdup(args[1]);
    g_ptr_array_add(ws, w);
    send_ok(r->c, r->hdr);
    /* Xen fires every new watch once, so clients can read the initial state */
    send_watch_event(r->c, w, w->path);
    return 0;
}

static int do_transaction_start(struct request *r)
{
    struct xs_conn *c = r->c;
    char reply[16];

    if (r->txn)
        return EBUSY; /* no nesting */
    if (g_hash_table_size(c->txns) >= MAX_TXNS_PER_CONN)
        return EBUSY;
    struct xs_txn *t = g_new0(struct xs_txn, 1);
    do {
        t->id = ++c->next_txn;
    } while (t->id == 0 || g_hash_table_contains(c->txns, GUINT_TO_POINTER(t->id)));
    t->root = xs_node_clone(c->xs->root, NULL);
    t->start_gen = c->xs->gen;
    t->touched = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    t->ops = g_ptr_array_new_with_free_func(txn_op_free);
    g_hash_table_insert(c->txns, GUINT_TO_POINTER(t->id), t);
    int len = g_snprintf(reply, sizeof(reply), "%u", t->id);
    send_msg(c, XS_TRANSACTION_START, r->hdr->req_id, 0, reply, (size_t)len + 1);
    return 0;
}

/* Has anything the transaction looked at changed since it started? */
static bool txn_conflicts(struct xs_store *xs, struct xs_txn *t)
{
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, t->touched);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        struct xs_node *n = xs_tree_lookup(xs->root, key);
        bool existed = GPOINTER_TO_INT(value) == 2;
        if ((n != NULL) != existed || (n && n->gen > t->start_gen))
            return true;
    }
    return false;
}

static void txn_replay(struct xs_store *xs, const struct xs_actor *who, struct xs_txn *t)
{
    struct op_ctx o = { .xs = xs, .root = xs->root, .who = who, .gen = ++xs->gen, .live = true };

    for (unsigned int i = 0; i < t->ops->len; i++) {
        struct xs_txn_op *op = g_ptr_array_index(t->ops, i);
        switch (op->kind) {
        case TXN_WRITE: op_write(&o, op->path, op->value->data, op->value->len); break;
        case TXN_MKDIR: op_mkdir(&o, op->path); break;
        case TXN_RM: op_rm(&o, op->path); break;
        case TXN_SET_PERMS: op_set_perms(&o, op->path, op->perms); break;
        }
    }
}

static int do_transaction_end(struct request *r)
{
    const char *arg;
    size_t used;

    if (!r->txn)
        return ENOENT;
    if (!take_strings(r->body, r->len, 1, &arg, &used) || (strcmp(arg, "T") && strcmp(arg, "F")))
        return EINVAL;
    struct xs_txn *t = r->txn;
    bool commit = !strcmp(arg, "T");
    int err = 0;
    if (commit && txn_conflicts(r->c->xs, t))
        err = EAGAIN;
    else if (commit)
        txn_replay(r->c->xs, &r->c->who, t);
    g_hash_table_remove(r->c->txns, GUINT_TO_POINTER(t->id));
    r->txn = NULL;
    if (!err)
        send_ok(r->c, r->hdr);
    return err;
}

static bool parse_domid(struct request *r, unsigned int *domid)
{
    const char *arg;
    size_t used;
    guint64 v;

    if (!take_strings(r->body, r->len, 1, &arg, &used) ||
        !g_ascii_string_to_unsigned(arg, 10, 0, 0x7fff, &v, NULL))
        return false;
    *domid = (unsigned int)v;
    return true;
}

static int do_domain_op(struct request *r)
{
    struct xs_store *xs = r->c->xs;
    unsigned int domid;

    if (!parse_domid(r, &domid))
        return EINVAL;
    switch (r->hdr->type) {
    case XS_GET_DOMAIN_PATH: {
        g_autofree char *path = g_strdup_printf("/local/domain/%u", domid);
        send_msg(r->c, XS_GET_DOMAIN_PATH, r->hdr->req_id, r->hdr->tx_id, path, strlen(path) + 1);
        return 0;
    }
    case XS_IS_DOMAIN_INTRODUCED:
        send_msg(r->c, r->hdr->type, r->hdr->req_id, r->hdr->tx_id,
                 g_hash_table_contains(xs->introduced, GUINT_TO_POINTER(domid)) ? "T" : "F", 2);
        return 0;
    default:
        break;
    }
    if (!r->c->who.privileged)
        return EACCES;
    if (r->hdr->type == XS_INTRODUCE) {
        g_hash_table_add(xs->introduced, GUINT_TO_POINTER(domid));
        fire_watches(xs, "@introduceDomain", false);
    } else if (r->hdr->type == XS_RELEASE) {
        g_hash_table_remove(xs->introduced, GUINT_TO_POINTER(domid));
        fire_watches(xs, "@releaseDomain", false);
    }
    send_ok(r->c, r->hdr); /* XS_RESUME, XS_SET_TARGET: nothing to do here */
    return 0;
}

static int dispatch(struct request *r)
{
    switch (r->hdr->type) {
    case XS_READ: return do_read(r);
    case XS_DIRECTORY: return do_directory(r, false);
    case XS_DIRECTORY_PART: return do_directory(r, true);
    case XS_GET_PERMS: return do_get_perms(r);
    case XS_WRITE: return do_write(r);
    case XS_MKDIR: return do_mkdir_or_rm(r, false);
    case XS_RM: return do_mkdir_or_rm(r, true);
    case XS_SET_PERMS: return do_set_perms(r);
    case XS_WATCH: return do_watch(r, true);
    case XS_UNWATCH: return do_watch(r, false);
    case XS_TRANSACTION_START: return do_transaction_start(r);
    case XS_TRANSACTION_END: return do_transaction_end(r);
    case XS_RESET_WATCHES:
        g_ptr_array_set_size(r->c->watches, 0);
        send_ok(r->c, r->hdr);
        return 0;
    case XS_CONTROL:
        if (!r->c->who.privileged)
            return EACCES;
        send_ok(r->c, r->hdr);
        return 0;
    case XS_GET_DOMAIN_PATH:
    case XS_IS_DOMAIN_INTRODUCED:
    case XS_INTRODUCE:
    case XS_RELEASE:
    case XS_RESUME:
    case XS_SET_TARGET:
        return do_domain_op(r);
    default:
        return ENOSYS;
    }
}

static void handle_message(struct xs_conn *c, const struct xsd_sockmsg *hdr, const char *body)
{
    struct request r = { .c = c, .hdr = hdr, .body = body, .len = hdr->len };

    if (hdr->tx_id && hdr->type != XS_WATCH && hdr->type != XS_UNWATCH) {
        r.txn = g_hash_table_lookup(c->txns, GUINT_TO_POINTER(hdr->tx_id));
        if (!r.txn) {
            send_error(c, hdr, ENOENT);
            return;
        }
    }
    int err = dispatch(&r);
    if (err) {
        if (err == EINVAL || err == ENOSYS)
            client_warning(c->xs, c, "malformed or unknown request answered with an error");
        send_error(c, hdr, err);
    }
}

/* ---- connections ------------------------------------------------------------------- */

static void conn_close(struct xs_conn *c)
{
    struct xs_store *xs = c->xs;

    g_ptr_array_remove(xs->conns, c);
    if (c->in_src) {
        g_source_destroy(c->in_src);
        g_source_unref(c->in_src);
    }
    if (c->out_src) {
        g_source_destroy(c->out_src);
        g_source_unref(c->out_src);
    }
    close(c->fd);
    g_byte_array_free(c->out, TRUE);
    g_ptr_array_free(c->watches, TRUE);
    g_hash_table_destroy(c->txns);
    g_free(c);
}

/* Consume complete messages from the input buffer. False: drop the client. */
static bool process_input(struct xs_conn *c)
{
    while (c->in_len >= HEADER_SIZE) {
        struct xsd_sockmsg hdr;
        memcpy(&hdr, c->in, sizeof(hdr));
        if (hdr.len > XENSTORE_PAYLOAD_MAX) {
            client_warning(c->xs, c, "payload longer than the protocol allows: disconnected");
            return false;
        }
        size_t total = HEADER_SIZE + hdr.len;
        if (c->in_len < total)
            return true;
        char body[XENSTORE_PAYLOAD_MAX + 1];
        memcpy(body, c->in + HEADER_SIZE, hdr.len);
        body[hdr.len] = '\0';
        memmove(c->in, c->in + total, c->in_len - total);
        c->in_len -= total;
        handle_message(c, &hdr, body);
        if (c->out->len > MAX_OUTPUT_BYTES) {
            client_warning(c->xs, c, "not reading its replies: disconnected");
            return false;
        }
    }
    return true;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
    struct xs_conn *c = data;
    ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0 || (c->in_len += (size_t)n, !process_input(c))) {
        /* the source is destroyed with the connection */
        g_source_unref(c->in_src);
        c->in_src = NULL;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void conn_new(struct xs_store *xs, int fd, const struct xs_actor *who)
{
    struct xs_conn *c = g_new0(struct xs_conn, 1);

    c->xs = xs;
    c->fd = fd;
    c->who = *who;
    c->out = g_byte_array_new();
    c->watches = g_ptr_array_new_with_free_func(watch_free);
    c->txns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, txn_free);
    c->in_src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
    g_source_set_callback(c->in_src, G_SOURCE_FUNC(on_readable), c, NULL);
    g_source_attach(c->in_src, xs->ctx);
    g_ptr_array_add(xs->conns, c);
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
    struct xs_listener *l = data;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn >= 0)
        conn_new(l->xs, conn, &l->who);
    return G_SOURCE_CONTINUE;
}

static bool listen_at(struct xs_store *xs, const char *path, const struct xs_actor *who,
                      GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "%s: path too long", path);
        return false;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "xenstore socket %s: %s",
                    path, g_strerror(err));
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct xs_listener *l = g_new0(struct xs_listener, 1);
    l->xs = xs;
    l->fd = fd;
    l->who = *who;
    l->path = g_strdup(path);
    l->src = g_unix_fd_source_new(fd, G_IO_IN);
    g_source_set_callback(l->src, G_SOURCE_FUNC(on_accept), l, NULL);
    g_source_attach(l->src, xs->ctx);
    g_ptr_array_add(xs->listeners, l);
    return true;
}

static void listener_free(gpointer p)
{
    struct xs_listener *l = p;
    g_source_destroy(l->src);
    g_source_unref(l->src);
    close(l->fd);
    unlink(l->path);
    g_free(l->path);
    g_free(l);
}

/* ---- the public API ------------------------------------------------------------------ */

struct xs_store *xs_store_new(GMainContext *ctx, const char *socket_path, GError **error)
{
    struct xs_store *xs = g_new0(struct xs_store, 1);
    const struct xs_actor dom0 = { .domid = 0, .privileged = true };

    xs->ctx = ctx;
    xs->root = xs_node_new_root();
    xs->conns = g_ptr_array_new();
    xs->listeners = g_ptr_array_new_with_free_func(listener_free);
    xs->introduced = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (!listen_at(xs, socket_path, &dom0, error)) {
        xs_store_free(xs);
        return NULL;
    }
    return xs;
}

void xs_store_free(struct xs_store *xs)
{
    if (!xs)
        return;
    while (xs->conns->len)
        conn_close(g_ptr_array_index(xs->conns, 0));
    g_ptr_array_free(xs->conns, TRUE);
    g_ptr_array_free(xs->listeners, TRUE);
    g_hash_table_destroy(xs->introduced);
    xs_node_free(xs->root);
    g_free(xs);
}

bool xs_store_add_guest_socket(struct xs_store *xs, unsigned int domid, const char *socket_path,
                               GError **error)
{
    const struct xs_actor guest = { .domid = domid, .privileged = false };
    return listen_at(xs, socket_path, &guest, error);
}

static const struct xs_actor store_dom0 = { .domid = 0, .privileged = true };

void xs_store_introduce_domain(struct xs_store *xs, unsigned int domid)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u", domid);
    struct op_ctx o = { .xs = xs, .root = xs->root, .who = &store_dom0, .gen = ++xs->gen,
                        .live = true };
    g_autoptr(GArray) perms = g_array_new(FALSE, FALSE, sizeof(struct xs_perm));
    struct xs_perm owner = { domid, 'n' };

    op_mkdir(&o, path);
    g_array_append_val(perms, owner);
    op_set_perms(&o, path, perms);
    g_hash_table_add(xs->introduced, GUINT_TO_POINTER(domid));
    fire_watches(xs, "@introduceDomain", false);
}

void xs_store_release_domain(struct xs_store *xs, unsigned int domid)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u", domid);

    xs_store_rm(xs, path);
    for (unsigned int i = xs->conns->len; i-- > 0;) {
        struct xs_conn *c = g_ptr_array_index(xs->conns, i);
        if (!c->who.privileged && c->who.domid == domid)
            conn_close(c);
    }
    g_hash_table_remove(xs->introduced, GUINT_TO_POINTER(domid));
    fire_watches(xs, "@releaseDomain", false);
}

bool xs_store_write(struct xs_store *xs, const char *path, const char *value)
{
    struct op_ctx o = { .xs = xs, .root = xs->root, .who = &store_dom0, .gen = ++xs->gen,
                        .live = true };
    g_autofree char *abs = xs_path_canonical(&store_dom0, path, false);

    return abs && op_write(&o, abs, (const guint8 *)value, strlen(value)) == 0;
}

char *xs_store_read(struct xs_store *xs, const char *path)
{
    g_autofree char *abs = xs_path_canonical(&store_dom0, path, false);
    struct xs_node *n = abs ? xs_tree_lookup(xs->root, abs) : NULL;

    return n ? g_strndup((const char *)n->value->data, n->value->len) : NULL;
}

bool xs_store_rm(struct xs_store *xs, const char *path)
{
    struct op_ctx o = { .xs = xs, .root = xs->root, .who = &store_dom0, .gen = ++xs->gen,
                        .live = true };
    g_autofree char *abs = xs_path_canonical(&store_dom0, path, false);

    return abs && op_rm(&o, abs) == 0;
}
