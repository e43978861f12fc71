/* SPDX-License-Identifier: MIT */
#include "tests/blkfront/xenbus.h"

#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_TOKEN "blkfront-state"

bool xenbus_open(struct xenbus *xb, const char *dir, unsigned int domid, char **err)
{
    memset(xb, 0, sizeof(*xb));
    /* libxenstore reads the socket path from the environment at open */
    char *path = g_strdup_printf("%s/dom%u.xenstore", dir, domid);
    g_setenv("XENSTORED_PATH", path, TRUE);
    xb->xs = xs_open(0);
    if (!xb->xs)
        *err = g_strdup_printf("xs_open %s: %s", path, g_strerror(errno));
    g_free(path);
    return xb->xs != NULL;
}

void xenbus_close(struct xenbus *xb)
{
    if (xb->watched)
        xs_unwatch(xb->xs, xb->watched, WATCH_TOKEN);
    g_free(xb->watched);
    xb->watched = NULL;
    if (xb->xs)
        xs_close(xb->xs);
    xb->xs = NULL;
}

char *xenbus_read(struct xenbus *xb, const char *dir, const char *key)
{
    char *path = g_strdup_printf("%s/%s", dir, key);
    unsigned int len = 0;
    char *v = xs_read(xb->xs, XBT_NULL, path, &len);
    g_free(path);
    char *copy = v ? g_strndup(v, len) : NULL;
    free(v);
    return copy;
}

bool xenbus_read_uint(struct xenbus *xb, const char *dir, const char *key, uint64_t def,
                      uint64_t *out)
{
    char *v = xenbus_read(xb, dir, key);
    if (!v) {
        *out = def;
        return true;
    }
    char *end;
    errno = 0;
    *out = g_ascii_strtoull(v, &end, 10);
    bool ok = v[0] && !*end && !errno;
    g_free(v);
    return ok;
}

struct xenbus_batch {
    GPtrArray *paths, *values;
};

struct xenbus_batch *xenbus_batch_new(void)
{
    struct xenbus_batch *b = g_new0(struct xenbus_batch, 1);
    b->paths = g_ptr_array_new_with_free_func(g_free);
    b->values = g_ptr_array_new_with_free_func(g_free);
    return b;
}

void xenbus_batch_add(struct xenbus_batch *b, const char *dir, const char *key, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_ptr_array_add(b->values, g_strdup_vprintf(fmt, ap));
    va_end(ap);
    g_ptr_array_add(b->paths, g_strdup_printf("%s/%s", dir, key));
}

void xenbus_batch_free(struct xenbus_batch *b)
{
    g_ptr_array_free(b->paths, TRUE);
    g_ptr_array_free(b->values, TRUE);
    g_free(b);
}

bool xenbus_batch_commit(struct xenbus *xb, struct xenbus_batch *b, char **err)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        xs_transaction_t t = xs_transaction_start(xb->xs);
        if (t == XBT_NULL) {
            *err = g_strdup_printf("xs_transaction_start: %s", g_strerror(errno));
            return false;
        }
        for (guint i = 0; i < b->paths->len; i++) {
            const char *path = b->paths->pdata[i], *value = b->values->pdata[i];
            if (!xs_write(xb->xs, t, path, value, (unsigned int)strlen(value))) {
                *err = g_strdup_printf("write %s: %s", path, g_strerror(errno));
                xs_transaction_end(xb->xs, t, true);
                return false;
            }
        }
        if (xs_transaction_end(xb->xs, t, false))
            return true;
        if (errno != EAGAIN) {
            *err = g_strdup_printf("xs_transaction_end: %s", g_strerror(errno));
            return false;
        }
    }
    *err = g_strdup("transaction kept conflicting");
    return false;
}

bool xenbus_write_state(struct xenbus *xb, const char *dir, unsigned int state, char **err)
{
    struct xenbus_batch *b = xenbus_batch_new();
    xenbus_batch_add(b, dir, "state", "%u", state);
    bool ok = xenbus_batch_commit(xb, b, err);
    xenbus_batch_free(b);
    return ok;
}

static bool read_state(struct xenbus *xb, const char *dir, unsigned int *state)
{
    uint64_t v;
    if (!xenbus_read_uint(xb, dir, "state", 0, &v) || v > 255)
        v = 0;
    *state = (unsigned int)v;
    return true;
}

bool xenbus_wait_state(struct xenbus *xb, const char *dir, bool (*accept)(unsigned int state),
                       int timeout_ms, unsigned int *state)
{
    char *path = g_strdup_printf("%s/state", dir);
    if (!xb->watched || strcmp(xb->watched, path)) {
        if (xb->watched)
            xs_unwatch(xb->xs, xb->watched, WATCH_TOKEN);
        g_free(xb->watched);
        xb->watched = xs_watch(xb->xs, path, WATCH_TOKEN) ? g_strdup(path) : NULL;
    }
    g_free(path);
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    for (;;) {
        read_state(xb, dir, state);
        if (accept(*state))
            return true;
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        if (left <= 0)
            return false;
        /* a watch event, or poll again every 100 ms if the watch failed */
        struct pollfd pfd = { .fd = xs_fileno(xb->xs), .events = POLLIN };
        poll(&pfd, 1, xb->watched ? (int)MIN(left, 1000) : (int)MIN(left, 100));
        char **ev;
        while ((ev = xs_check_watch(xb->xs)))
            free(ev);
    }
}

const char *xenbus_state_name(unsigned int state)
{
    static const char *const names[] = { "Unknown",     "Initialising", "InitWait",
                                         "Initialised", "Connected",    "Closing",
                                         "Closed",      "Reconfiguring", "Reconfigured" };
    return state < G_N_ELEMENTS(names) ? names[state] : "invalid";
}
