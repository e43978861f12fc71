/* SPDX-License-Identifier: MIT */
/*
 * xensim's xenstore against the real libxenstore: the store runs on its own
 * main context in a thread; the test talks to it as clients do, through
 * XENSTORED_PATH. Plus raw-socket clients that break the protocol.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenstore.h>

#include <xen/io/xs_wire.h>

#include "contrib/xensim/xenstore.h"

struct fixture {
    char *dir, *dom0_path, *guest_path;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    struct xs_store *store;
};

static gboolean introduce_in_loop(gpointer data)
{
    struct fixture *fx = data;
    xs_store_introduce_domain(fx->store, 5);
    return G_SOURCE_REMOVE;
}

static gpointer run_loop(gpointer data)
{
    struct fixture *fx = data;
    g_main_context_push_thread_default(fx->ctx);
    g_main_loop_run(fx->loop);
    g_main_context_pop_thread_default(fx->ctx);
    return NULL;
}

static void setup(struct fixture *fx, gconstpointer data)
{
    GError *err = NULL;

    fx->dir = g_dir_make_tmp("xs-test-XXXXXX", &err);
    g_assert_no_error(err);
    fx->dom0_path = g_build_filename(fx->dir, "xenstore", NULL);
    fx->guest_path = g_build_filename(fx->dir, "dom5.xenstore", NULL);
    fx->ctx = g_main_context_new();
    fx->loop = g_main_loop_new(fx->ctx, FALSE);
    fx->store = xs_store_new(fx->ctx, fx->dom0_path, &err);
    g_assert_no_error(err);
    g_assert_true(xs_store_add_guest_socket(fx->store, 5, fx->guest_path, &err));
    g_assert_no_error(err);
    introduce_in_loop(fx);
    fx->thread = g_thread_new("xenstore", run_loop, fx);
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

static void teardown(struct fixture *fx, gconstpointer data)
{
    g_main_context_invoke(fx->ctx, quit_loop, fx->loop);
    g_thread_join(fx->thread);
    xs_store_free(fx->store);
    g_main_loop_unref(fx->loop);
    g_main_context_unref(fx->ctx);
    g_rmdir(fx->dir);
    g_free(fx->dir);
    g_free(fx->dom0_path);
    g_free(fx->guest_path);
}

static struct xs_handle *open_at(const char *path)
{
    g_setenv("XENSTORED_PATH", path, TRUE);
    struct xs_handle *h = xs_open(0);
    g_assert_nonnull(h);
    return h;
}

static char *read_str(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    unsigned int len;
    return xs_read(h, t, path, &len);
}

static void test_read_write_dir(struct fixture *fx, gconstpointer data)
{
    struct xs_handle *h = open_at(fx->dom0_path);
    unsigned int n;

    g_assert_true(xs_write(h, XBT_NULL, "/a/b/c", "v1", 2));
    g_autofree char *v = read_str(h, XBT_NULL, "/a/b/c");
    g_assert_cmpstr(v, ==, "v1");
    g_autofree char *parent = read_str(h, XBT_NULL, "/a/b");
    g_assert_cmpstr(parent, ==, ""); /* created on the way, empty */
    g_assert_true(xs_mkdir(h, XBT_NULL, "/a/d"));
    g_assert_true(xs_mkdir(h, XBT_NULL, "/a/d")); /* again: fine */
    char **names = xs_directory(h, XBT_NULL, "/a", &n);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpstr(names[0], ==, "b");
    g_assert_cmpstr(names[1], ==, "d");
    free(names);
    g_assert_true(xs_rm(h, XBT_NULL, "/a/b"));
    g_assert_null(read_str(h, XBT_NULL, "/a/b/c"));
    g_assert_cmpint(errno, ==, ENOENT);
    g_assert_false(xs_rm(h, XBT_NULL, "/nope/deeper"));
    g_autofree char *dompath = xs_get_domain_path(h, 5);
    g_assert_cmpstr(dompath, ==, "/local/domain/5");
    g_assert_true(xs_is_domain_introduced(h, 5));
    g_assert_false(xs_is_domain_introduced(h, 6));
    /* a value that fills the whole payload */
    g_autofree char *big = g_malloc(4000);
    memset(big, 'x', 4000);
    g_assert_true(xs_write(h, XBT_NULL, "/big", big, 4000));
    unsigned int len;
    g_autofree char *back = xs_read(h, XBT_NULL, "/big", &len);
    g_assert_cmpuint(len, ==, 4000);
    g_assert_cmpmem(back, len, big, 4000);
    /* bad paths */
    g_assert_false(xs_write(h, XBT_NULL, "/a//b", "x", 1));
    g_assert_false(xs_write(h, XBT_NULL, "/a/b/", "x", 1));
    g_assert_false(xs_write(h, XBT_NULL, "/a/b c", "x", 1));
    xs_close(h);
}

static void test_guest_permissions(struct fixture *fx, gconstpointer data)
{
    struct xs_handle *dom0 = open_at(fx->dom0_path);
    struct xs_handle *guest = open_at(fx->guest_path);
    unsigned int n;

    g_assert_true(xs_write(dom0, XBT_NULL, "/secret", "s", 1));
    g_assert_null(read_str(guest, XBT_NULL, "/secret"));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert_false(xs_write(guest, XBT_NULL, "/evil", "x", 1));
    g_assert_cmpint(errno, ==, EACCES);
    g_assert_false(xs_write(guest, XBT_NULL, "/local/domain/6/x", "x", 1));
    /* its own area, relative and absolute */
    g_assert_true(xs_write(guest, XBT_NULL, "device/vbd/768/state", "1", 1));
    g_autofree char *v = read_str(dom0, XBT_NULL, "/local/domain/5/device/vbd/768/state");
    g_assert_cmpstr(v, ==, "1");
    struct xs_permissions *perms = xs_get_permissions(dom0, XBT_NULL,
                                                      "/local/domain/5/device/vbd/768", &n);
    g_assert_nonnull(perms);
    g_assert_cmpuint(perms[0].id, ==, 5); /* the guest owns what it created */
    free(perms);
    /* a backend area granted to the guest: readable, not writable */
    struct xs_permissions grant[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                       { .id = 5, .perms = XS_PERM_READ } };
    g_assert_true(xs_write(dom0, XBT_NULL, "/local/domain/0/backend/vbd/5/768/state", "2", 1));
    g_assert_true(xs_set_permissions(dom0, XBT_NULL, "/local/domain/0/backend/vbd/5/768/state",
                                     grant, 2));
    g_autofree char *s = read_str(guest, XBT_NULL, "/local/domain/0/backend/vbd/5/768/state");
    g_assert_cmpstr(s, ==, "2");
    g_assert_false(xs_write(guest, XBT_NULL, "/local/domain/0/backend/vbd/5/768/state", "6", 1));
    /* a guest cannot give its node away */
    struct xs_permissions give[1] = { { .id = 7, .perms = XS_PERM_NONE } };
    g_assert_false(xs_set_permissions(guest, XBT_NULL, "device", give, 1));
    g_assert_cmpint(errno, ==, EPERM);
    xs_close(guest);
    xs_close(dom0);
}

static bool wait_watch(struct xs_handle *h, const char *want_path, const char *want_token)
{
    for (int tries = 0; tries < 50; tries++) {
        unsigned int n;
        char **ev = xs_check_watch(h);
        if (!ev) {
            g_usleep(20000);
            continue;
        }
        bool match = !strcmp(ev[XS_WATCH_PATH], want_path) && !strcmp(ev[XS_WATCH_TOKEN], want_token);
        (void)n;
        free(ev);
        if (match)
            return true;
    }
    return false;
}

static void test_watches(struct fixture *fx, gconstpointer data)
{
    struct xs_handle *dom0 = open_at(fx->dom0_path);
    struct xs_handle *guest = open_at(fx->guest_path);

    g_assert_true(xs_watch(dom0, "/w", "tok"));
    g_assert_true(wait_watch(dom0, "/w", "tok")); /* the initial event */
    g_assert_true(xs_write(dom0, XBT_NULL, "/w/child/x", "1", 1));
    g_assert_true(wait_watch(dom0, "/w/child/x", "tok"));
    g_assert_true(xs_write(dom0, XBT_NULL, "/other", "1", 1));
    g_assert_true(xs_write(dom0, XBT_NULL, "/w", "2", 1));
    g_assert_true(wait_watch(dom0, "/w", "tok")); /* /other fired nothing first */
    g_assert_true(xs_watch(dom0, "@releaseDomain", "rel"));
    g_assert_true(wait_watch(dom0, "@releaseDomain", "rel"));
    /* a guest's relative watch reports relative paths */
    g_assert_true(xs_watch(guest, "control", "g"));
    g_assert_true(wait_watch(guest, "control", "g"));
    g_assert_true(xs_write(dom0, XBT_NULL, "/local/domain/5/control/shutdown", "poweroff", 8));
    g_assert_true(wait_watch(guest, "control/shutdown", "g"));
    g_assert_true(xs_unwatch(dom0, "/w", "tok"));
    g_assert_false(xs_unwatch(dom0, "/w", "tok"));
    xs_close(guest);
    xs_close(dom0);
}

static void test_transactions(struct fixture *fx, gconstpointer data)
{
    struct xs_handle *a = open_at(fx->dom0_path);
    struct xs_handle *b = open_at(fx->dom0_path);

    g_assert_true(xs_write(a, XBT_NULL, "/t/n", "0", 1));
    xs_transaction_t ta = xs_transaction_start(a);
    xs_transaction_t tb = xs_transaction_start(b);
    g_assert_true(ta != XBT_NULL && tb != XBT_NULL);
    g_autofree char *va = read_str(a, ta, "/t/n");
    g_autofree char *vb = read_str(b, tb, "/t/n");
    g_assert_true(xs_write(a, ta, "/t/n", "A", 1));
    g_assert_true(xs_write(b, tb, "/t/n", "B", 1));
    /* inside the transaction its own write is visible, outside not yet */
    g_autofree char *inside = read_str(a, ta, "/t/n");
    g_autofree char *outside = read_str(a, XBT_NULL, "/t/n");
    g_assert_cmpstr(inside, ==, "A");
    g_assert_cmpstr(outside, ==, "0");
    g_assert_true(xs_transaction_end(a, ta, false));
    g_assert_false(xs_transaction_end(b, tb, false));
    g_assert_cmpint(errno, ==, EAGAIN);
    /* the retry sees A and succeeds */
    tb = xs_transaction_start(b);
    g_autofree char *again = read_str(b, tb, "/t/n");
    g_assert_cmpstr(again, ==, "A");
    g_assert_true(xs_write(b, tb, "/t/n", "B", 1));
    g_assert_true(xs_transaction_end(b, tb, false));
    g_autofree char *final = read_str(a, XBT_NULL, "/t/n");
    g_assert_cmpstr(final, ==, "B");
    /* abort discards; unrelated paths don't conflict */
    ta = xs_transaction_start(a);
    g_assert_true(xs_write(a, ta, "/t/gone", "x", 1));
    g_assert_true(xs_write(b, XBT_NULL, "/elsewhere", "y", 1));
    g_assert_true(xs_transaction_end(a, ta, true));
    g_assert_null(read_str(a, XBT_NULL, "/t/gone"));
    ta = xs_transaction_start(a);
    g_assert_true(xs_write(a, ta, "/t/m", "x", 1));
    g_assert_true(xs_write(b, XBT_NULL, "/elsewhere", "z", 1));
    g_assert_true(xs_transaction_end(a, ta, false));
    g_autofree char *m = read_str(a, XBT_NULL, "/t/m");
    g_assert_cmpstr(m, ==, "x");
    xs_close(a);
    xs_close(b);
}

/* ---- raw clients that break the protocol ---------------------------------- */

static int raw_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_send(int fd, uint32_t type, const void *body, uint32_t len, uint32_t claimed_len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = 9, .len = claimed_len };
    g_assert_cmpint(send(fd, &hdr, sizeof(hdr), MSG_NOSIGNAL), ==, sizeof(hdr));
    if (len)
        g_assert_cmpint(send(fd, body, len, MSG_NOSIGNAL), ==, len);
}

/* The reply's type and body (NUL-terminated in buf); -1 on close. */
static int raw_reply(int fd, char *buf, size_t size)
{
    struct xsd_sockmsg hdr;
    if (recv(fd, &hdr, sizeof(hdr), MSG_WAITALL) != sizeof(hdr))
        return -1;
    g_assert_cmpuint(hdr.len, <, size);
    g_assert_cmpint(recv(fd, buf, hdr.len, MSG_WAITALL), ==, (ssize_t)hdr.len);
    buf[hdr.len] = '\0';
    return (int)hdr.type;
}

static void assert_store_alive(struct fixture *fx)
{
    struct xs_handle *h = open_at(fx->dom0_path);
    g_assert_true(xs_write(h, XBT_NULL, "/alive", "yes", 3));
    xs_close(h);
}

static void test_bad_input(struct fixture *fx, gconstpointer data)
{
    char buf[8192];
    int fd = raw_connect(fx->dom0_path);

    raw_send(fd, XS_READ, "/no-nul", 7, 7); /* path without its NUL */
    g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, XS_ERROR);
    g_assert_cmpstr(buf, ==, "EINVAL");
    raw_send(fd, 0x7777, "", 0, 0); /* unknown type */
    g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, XS_ERROR);
    raw_send(fd, XS_TRANSACTION_END, "T", 2, 2); /* no transaction */
    g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, XS_ERROR);
    raw_send(fd, XS_SET_PERMS, "/x\0q9", 6, 6); /* bad permission letter */
    g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, XS_ERROR);
    /* watches are capped */
    int errors = 0;
    for (int i = 0; i < 200; i++) {
        char body[64];
        int len = g_snprintf(body, sizeof(body), "/flood%c%d", '\0', i);
        raw_send(fd, XS_WATCH, body, (uint32_t)len + 1, (uint32_t)len + 1);
        int type = raw_reply(fd, buf, sizeof(buf));
        if (type == XS_ERROR) {
            errors++;
            continue;
        }
        g_assert_cmpint(type, ==, XS_WATCH);
        g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, XS_WATCH_EVENT);
    }
    g_assert_cmpint(errors, ==, 200 - 128);
    /* a payload longer than the protocol allows: disconnected */
    raw_send(fd, XS_READ, "", 0, XENSTORE_PAYLOAD_MAX + 1);
    g_assert_cmpint(raw_reply(fd, buf, sizeof(buf)), ==, -1);
    close(fd);
    /* half a header, then gone */
    fd = raw_connect(fx->dom0_path);
    g_assert_cmpint(send(fd, "\x02\x00\x00", 3, 0), ==, 3);
    close(fd);
    /* a client that never reads its replies is cut off, others go on */
    fd = raw_connect(fx->dom0_path);
    struct xs_handle *h = open_at(fx->dom0_path);
    g_autofree char *big = g_malloc(4000);
    memset(big, 'y', 4000);
    g_assert_true(xs_write(h, XBT_NULL, "/big", big, 4000));
    xs_close(h);
    int sndbuf = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
    for (int i = 0; i < 600; i++) {
        struct xsd_sockmsg hdr = { .type = XS_READ, .len = 5 };
        if (send(fd, &hdr, sizeof(hdr), MSG_NOSIGNAL) < 0 || send(fd, "/big", 5, MSG_NOSIGNAL) < 0)
            break; /* already dropped */
    }
    close(fd);
    assert_store_alive(fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
    g_log_set_fatal_mask(NULL, G_LOG_LEVEL_CRITICAL);
#define ADD(path, fn) g_test_add(path, struct fixture, NULL, setup, fn, teardown)
    ADD("/xenstore/read-write-dir", test_read_write_dir);
    ADD("/xenstore/guest-permissions", test_guest_permissions);
    ADD("/xenstore/watches", test_watches);
    ADD("/xenstore/transactions", test_transactions);
    ADD("/xenstore/bad-input", test_bad_input);
    return g_test_run();
}
