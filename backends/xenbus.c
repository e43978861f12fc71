/* SPDX-License-Identifier: MIT */
#include "backends/xenbus.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "ioreq/log.h"

#define DEV "xenbus"

struct backend_type {
    const struct xenbus_device_ops *ops;
    char *root;  /* /local/domain/0/backend/TYPE/DOMID */
    char *token; /* "be:TYPE" */
};

struct xenbus {
    struct hv *hv;
    uint32_t domid;
    GMainContext *ctx;
    struct xs_handle *xs;
    GSource *watch_source;
    GPtrArray *types;     /* struct backend_type * */
    GHashTable *devices;  /* "TYPE/DEVID" -> struct xenbus_device * */
    struct ratelimit toolstack_rl;
};

static const char *state_name(enum xenbus_state s)
{
    static const char *const names[] = {
        "Unknown", "Initialising", "InitWait", "Initialised", "Connected",
        "Closing", "Closed", "Reconfiguring", "Reconfigured",
    };
    return (unsigned int)s < G_N_ELEMENTS(names) ? names[s] : "invalid";
}

bool xenbus_parse_uint(const char *s, uint64_t max, uint64_t *value)
{
    guint64 v;

    if (!s || !*s || !g_ascii_isdigit(s[0]))
        return false;
    if (!g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL))
        return false;
    *value = v;
    return true;
}

static char *read_key(struct xenbus *bus, const char *dir, const char *key)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, key);
    unsigned int len = 0;
    char *raw = xs_read(bus->xs, XBT_NULL, path, &len);

    if (!raw)
        return NULL;
    /* xenstore values are byte strings; keep ours NUL-free C strings. */
    char *value = g_strndup(raw, len);
    free(raw);
    if (strlen(value) != len) {
        g_free(value);
        return NULL;
    }
    return value;
}

char *xenbus_read_backend(struct xenbus_device *dev, const char *key)
{
    return read_key(dev->bus, dev->backend_path, key);
}

char *xenbus_read_frontend(struct xenbus_device *dev, const char *key)
{
    return read_key(dev->bus, dev->frontend_path, key);
}

bool xenbus_read_backend_uint(struct xenbus_device *dev, const char *key, uint64_t max, uint64_t *value)
{
    g_autofree char *s = xenbus_read_backend(dev, key);
    return xenbus_parse_uint(s, max, value);
}

bool xenbus_read_frontend_uint(struct xenbus_device *dev, const char *key, uint64_t max, uint64_t *value)
{
    g_autofree char *s = xenbus_read_frontend(dev, key);
    return xenbus_parse_uint(s, max, value);
}

bool xenbus_write_backend(struct xenbus_device *dev, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *path = g_strdup_printf("%s/%s", dev->backend_path, key);

    if (!xs_write(dev->bus->xs, XBT_NULL, path, value, strlen(value))) {
        log_warn(dev->bus->domid, dev->name, "cannot write %s: %s", path, g_strerror(errno));
        return false;
    }
    return true;
}

static void set_state(struct xenbus_device *dev, enum xenbus_state state)
{
    if (dev->backend_state == state)
        return;
    log_info(dev->bus->domid, dev->name, "backend %s -> %s (frontend %s)",
             state_name(dev->backend_state), state_name(state), state_name(dev->frontend_state));
    dev->backend_state = state;
    xenbus_write_backend(dev, "state", "%u", (unsigned int)state);
}

void xenbus_reannounce_state(struct xenbus_device *dev)
{
    xenbus_write_backend(dev, "state", "%u", (unsigned int)dev->backend_state);
}

static void disconnect(struct xenbus_device *dev)
{
    if (!dev->connected)
        return;
    dev->ops->disconnect(dev);
    dev->connected = false;
}

void xenbus_device_fail(struct xenbus_device *dev, const char *why)
{
    log_warn(dev->bus->domid, dev->name, "closing the device: %s", why);
    xenbus_write_backend(dev, "error", "%s", why);
    disconnect(dev);
    set_state(dev, XenbusStateClosing);
}

static char *frontend_token(const struct xenbus_device *dev)
{
    return g_strdup_printf("fe:%s:%u", dev->ops->type, dev->devid);
}

static char *device_key(const char *type, uint32_t devid)
{
    return g_strdup_printf("%s/%u", type, devid);
}

/* Frees the device without touching xenstore beyond removing our watch:
 * its directory may already be gone. */
static void device_destroy(struct xenbus_device *dev)
{
    struct xenbus *bus = dev->bus;

    disconnect(dev);
    if (dev->frontend_watched) {
        g_autofree char *token = frontend_token(dev);
        xs_unwatch(bus->xs, dev->frontend_path, token);
    }
    dev->ops->free(dev);
    log_info(bus->domid, dev->name, "device removed");
    g_autofree char *key = device_key(dev->ops->type, dev->devid);
    g_hash_table_remove(bus->devices, key);
}

static void device_free_memory(gpointer data)
{
    struct xenbus_device *dev = data;

    g_free(dev->backend_path);
    g_free(dev->frontend_path);
    g_free(dev->name);
    g_free(dev);
}

static enum xenbus_state read_frontend_state(struct xenbus_device *dev)
{
    uint64_t v;

    if (!xenbus_read_frontend_uint(dev, "state", XenbusStateReconfigured, &v))
        return XenbusStateUnknown;
    return (enum xenbus_state)v;
}

static void try_connect(struct xenbus_device *dev)
{
    g_autoptr(GError) error = NULL;

    if (dev->backend_state == XenbusStateClosed)
        set_state(dev, XenbusStateInitWait);
    if (dev->backend_state != XenbusStateInitWait)
        return;
    if (!dev->ops->connect(dev, &error)) {
        /* connect cleans up after itself; nothing to disconnect. */
        xenbus_device_fail(dev, error ? error->message : "cannot connect");
        return;
    }
    dev->connected = true;
    set_state(dev, XenbusStateConnected);
}

/* The frontend moved (or we were told something changed): the backend's
 * half of the handshake. Every state is re-read, so watch events that
 * coalesced several frontend steps into one still end in the right place. */
static void follow_frontend(struct xenbus_device *dev)
{
    switch (dev->frontend_state) {
    case XenbusStateInitialising:
    case XenbusStateInitWait:
        /* A frontend starting over gets a fresh InitWait: after Closed
         * (Linux, Windows), and also straight from a connection or from
         * Closing: FreeBSD's blkfront, resuming from a suspend even when
         * it was cancelled, writes Initialising and then publishes a new
         * ring without closing the old one. Whatever we had mapped is
         * stale. (Should its Initialised come before we read its state, the
         * old connection stays: nothing in xenstore tells them apart.) */
        if (dev->backend_state != XenbusStateInitWait) {
            if (dev->connected)
                log_info(dev->bus->domid, dev->name,
                         "the frontend started over without closing: dropping the connection");
            disconnect(dev);
            set_state(dev, XenbusStateInitWait);
        }
        break;
    case XenbusStateInitialised:
    case XenbusStateConnected:
        try_connect(dev);
        break;
    case XenbusStateClosing:
        disconnect(dev);
        if (dev->backend_state != XenbusStateClosed)
            set_state(dev, XenbusStateClosing);
        break;
    case XenbusStateClosed:
        disconnect(dev);
        set_state(dev, XenbusStateClosed);
        break;
    case XenbusStateUnknown:
        /* Not there yet (stay in InitWait, waiting costs nothing), or gone
         * after having been there. */
        if (dev->backend_state != XenbusStateInitWait) {
            disconnect(dev);
            set_state(dev, XenbusStateClosed);
        }
        break;
    default:
        break; /* Reconfiguring: not part of blkif */
    }
}

/* online=0: close politely when a frontend is attached, then go. */
static void take_offline(struct xenbus_device *dev)
{
    bool frontend_attached = dev->frontend_state != XenbusStateClosed &&
                             dev->frontend_state != XenbusStateUnknown &&
                             dev->frontend_state != XenbusStateInitialising;

    if (frontend_attached && dev->backend_state != XenbusStateInitWait) {
        set_state(dev, XenbusStateClosing);
        return;
    }
    disconnect(dev);
    set_state(dev, XenbusStateClosed);
    device_destroy(dev);
}

static bool check_frontend_path(struct xenbus *bus, struct xenbus_device *dev, GError **error)
{
    uint64_t fe_domid;
    g_autofree char *expected = NULL;

    if (!xenbus_read_backend_uint(dev, "frontend-id", 0x7fef, &fe_domid) || fe_domid != bus->domid) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "frontend-id is missing or not domain %u", bus->domid);
        return false;
    }
    dev->frontend_domid = (uint32_t)fe_domid;
    dev->frontend_path = xenbus_read_backend(dev, "frontend");
    expected = g_strdup_printf("/local/domain/%u/device/%s/%u", bus->domid, dev->ops->frontend_type,
                               dev->devid);
    /* The frontend's directory is the guest's to write: only the one the
     * toolstack makes for this device is accepted, never another path. */
    if (!dev->frontend_path || strcmp(dev->frontend_path, expected) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "frontend is '%s', expected '%s'",
                    dev->frontend_path ? dev->frontend_path : "(missing)", expected);
        return false;
    }
    return true;
}

static void refuse_device(struct xenbus_device *dev, const char *why)
{
    log_limited(&dev->bus->toolstack_rl, dev->bus->domid, dev->name, "cannot create the device: %s",
                why);
    xenbus_write_backend(dev, "hotplug-error", "%s", why);
    xenbus_write_backend(dev, "hotplug-status", "error");
    xenbus_write_backend(dev, "state", "%u", (unsigned int)XenbusStateClosed);
}

static void device_create(struct xenbus *bus, struct backend_type *type, uint32_t devid)
{
    struct xenbus_device *dev = g_new0(struct xenbus_device, 1);
    g_autoptr(GError) error = NULL;

    dev->bus = bus;
    dev->ops = type->ops;
    dev->devid = devid;
    dev->backend_path = g_strdup_printf("%s/%u", type->root, devid);
    dev->name = g_strdup_printf("%s %u", type->ops->frontend_type, devid);
    dev->backend_state = XenbusStateInitialising;
    if (!check_frontend_path(bus, dev, &error) || !type->ops->init(dev, &error)) {
        refuse_device(dev, error->message);
        device_free_memory(dev);
        return;
    }
    g_hash_table_insert(bus->devices, device_key(type->ops->type, devid), dev);
    log_info(bus->domid, dev->name, "created (frontend %s)", dev->frontend_path);
    xenbus_write_backend(dev, "hotplug-status", "connected");
    set_state(dev, XenbusStateInitWait);
    g_autofree char *token = frontend_token(dev);
    /* The watch fires once at once, which runs the first handshake step. */
    dev->frontend_watched = xs_watch(bus->xs, dev->frontend_path, token);
    if (!dev->frontend_watched)
        log_warn(bus->domid, dev->name, "cannot watch %s: %s", dev->frontend_path, g_strerror(errno));
}

static bool backend_dir_exists(struct xenbus *bus, const char *path)
{
    unsigned int len;
    void *v = xs_read(bus->xs, XBT_NULL, path, &len);

    free(v);
    return v != NULL;
}

static void device_update(struct xenbus *bus, struct backend_type *type, uint32_t devid,
                          bool backend_event)
{
    g_autofree char *key = device_key(type->ops->type, devid);
    struct xenbus_device *dev = g_hash_table_lookup(bus->devices, key);
    g_autofree char *be_path = g_strdup_printf("%s/%u", type->root, devid);
    uint64_t online = 0, state = 0;
    g_autofree char *online_s = read_key(bus, be_path, "online");
    bool has_online = xenbus_parse_uint(online_s, 1, &online);

    if (!dev) {
        g_autofree char *state_s = has_online && online == 1 ? read_key(bus, be_path, "state") : NULL;
        if (xenbus_parse_uint(state_s, XenbusStateReconfigured, &state) &&
            state == XenbusStateInitialising)
            device_create(bus, type, devid);
        return;
    }
    if (!backend_dir_exists(bus, be_path)) {
        device_destroy(dev);
        return;
    }
    dev->frontend_state = read_frontend_state(dev);
    if (!has_online || online == 0) {
        take_offline(dev);
        return;
    }
    follow_frontend(dev);
    if (backend_event && dev->connected && dev->ops->backend_changed)
        dev->ops->backend_changed(dev);
}

static bool parse_devid(const char *s, uint32_t *devid)
{
    uint64_t v;

    if (!xenbus_parse_uint(s, UINT32_MAX, &v))
        return false;
    *devid = (uint32_t)v;
    return true;
}

static void rescan(struct xenbus *bus, struct backend_type *type)
{
    unsigned int n = 0;
    char **names = xs_directory(bus->xs, XBT_NULL, type->root, &n);
    GHashTableIter it;
    gpointer value;
    g_autoptr(GArray) known = g_array_new(FALSE, FALSE, sizeof(uint32_t));

    for (unsigned int i = 0; names && i < n; i++) {
        uint32_t devid;
        if (parse_devid(names[i], &devid))
            device_update(bus, type, devid, true);
    }
    free(names);
    /* Devices whose directory went with the whole tree. */
    g_hash_table_iter_init(&it, bus->devices);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct xenbus_device *dev = value;
        if (dev->ops == type->ops)
            g_array_append_val(known, dev->devid);
    }
    for (unsigned int i = 0; i < known->len; i++)
        device_update(bus, type, g_array_index(known, uint32_t, i), true);
}

static struct backend_type *type_by_name(struct xenbus *bus, const char *name, size_t len)
{
    for (unsigned int i = 0; i < bus->types->len; i++) {
        struct backend_type *t = g_ptr_array_index(bus->types, i);
        if (strlen(t->ops->type) == len && !strncmp(t->ops->type, name, len))
            return t;
    }
    return NULL;
}

static void on_backend_event(struct xenbus *bus, struct backend_type *type, const char *path)
{
    size_t root_len = strlen(type->root);
    uint32_t devid;

    if (strncmp(path, type->root, root_len) != 0)
        return;
    if (path[root_len] == '\0') {
        rescan(bus, type);
        return;
    }
    if (path[root_len] != '/')
        return;
    g_autofree char *component = g_strdup(path + root_len + 1);
    char *slash = strchr(component, '/');
    if (slash)
        *slash = '\0';
    if (parse_devid(component, &devid))
        device_update(bus, type, devid, true);
}

/* Tokens are ours: "be:TYPE" or "fe:TYPE:DEVID". */
static void on_watch(struct xenbus *bus, const char *path, const char *token)
{
    uint32_t devid;

    if (g_str_has_prefix(token, "be:")) {
        struct backend_type *type = type_by_name(bus, token + 3, strlen(token + 3));
        if (type)
            on_backend_event(bus, type, path);
    } else if (g_str_has_prefix(token, "fe:")) {
        const char *name = token + 3;
        const char *colon = strchr(name, ':');
        struct backend_type *type = colon ? type_by_name(bus, name, (size_t)(colon - name)) : NULL;
        if (type && parse_devid(colon + 1, &devid))
            device_update(bus, type, devid, false);
    }
}

static gboolean on_xenstore_readable(gint fd, GIOCondition cond, gpointer data)
{
    struct xenbus *bus = data;
    char **event;

    while ((event = xs_check_watch(bus->xs)) != NULL) {
        on_watch(bus, event[XS_WATCH_PATH], event[XS_WATCH_TOKEN]);
        free(event);
    }
    if (errno != EAGAIN) {
        log_warn(bus->domid, DEV, "the xenstore connection failed: %s; backends stop",
                 g_strerror(errno));
        bus->watch_source = NULL;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

struct xenbus *xenbus_new(struct hv *hv, uint32_t domid, GMainContext *ctx, GError **error)
{
    struct xenbus *bus = g_new0(struct xenbus, 1);

    bus->hv = hv;
    bus->domid = domid;
    bus->ctx = ctx;
    bus->types = g_ptr_array_new();
    bus->devices = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, device_free_memory);
    bus->toolstack_rl = (struct ratelimit)RATELIMIT_INIT;
    bus->xs = xs_open(0);
    if (!bus->xs) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot open xenstore: %s",
                    g_strerror(errno));
        xenbus_free(bus);
        return NULL;
    }
    bus->watch_source = g_unix_fd_source_new(xs_fileno(bus->xs), G_IO_IN);
    g_source_set_callback(bus->watch_source, G_SOURCE_FUNC(on_xenstore_readable), bus, NULL);
    g_source_attach(bus->watch_source, ctx);
    return bus;
}

bool xenbus_add_type(struct xenbus *bus, const struct xenbus_device_ops *ops, GError **error)
{
    struct backend_type *type = g_new0(struct backend_type, 1);

    type->ops = ops;
    type->root = g_strdup_printf("/local/domain/0/backend/%s/%u", ops->type, bus->domid);
    type->token = g_strdup_printf("be:%s", ops->type);
    g_ptr_array_add(bus->types, type);
    /* Watching a path that does not exist yet is fine: the toolstack
     * creates it when it adds the first device. */
    if (!xs_watch(bus->xs, type->root, type->token)) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot watch %s: %s", type->root,
                    g_strerror(errno));
        return false;
    }
    log_info(bus->domid, DEV, "serving %s backends under %s", ops->type, type->root);
    return true;
}

void xenbus_free(struct xenbus *bus)
{
    if (!bus)
        return;
    if (bus->devices) {
        GList *devs = g_hash_table_get_values(bus->devices);
        for (GList *l = devs; l; l = l->next) {
            struct xenbus_device *dev = l->data;
            disconnect(dev);
            set_state(dev, XenbusStateClosed);
            device_destroy(dev);
        }
        g_list_free(devs);
        g_hash_table_destroy(bus->devices);
    }
    for (unsigned int i = 0; bus->types && i < bus->types->len; i++) {
        struct backend_type *t = g_ptr_array_index(bus->types, i);
        if (bus->xs)
            xs_unwatch(bus->xs, t->root, t->token);
        g_free(t->root);
        g_free(t->token);
        g_free(t);
    }
    if (bus->types)
        g_ptr_array_free(bus->types, TRUE);
    if (bus->watch_source) {
        g_source_destroy(bus->watch_source);
        g_source_unref(bus->watch_source);
    }
    if (bus->xs)
        xs_close(bus->xs);
    g_free(bus);
}

struct hv *xenbus_hv(const struct xenbus *bus)
{
    return bus->hv;
}

uint32_t xenbus_domid(const struct xenbus *bus)
{
    return bus->domid;
}

GMainContext *xenbus_context(const struct xenbus *bus)
{
    return bus->ctx;
}

unsigned int xenbus_device_count(const struct xenbus *bus)
{
    return g_hash_table_size(bus->devices);
}
