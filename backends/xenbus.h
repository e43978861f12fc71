/* SPDX-License-Identifier: MIT */
/*
 * The xenbus backend core: watch what the toolstack writes under
 * /local/domain/0/backend/TYPE/DOMID/DEVID, create a device when it comes
 * online, and walk the backend's half of the XenbusState handshake with
 * the frontend in /local/domain/DOMID/device/..., including every
 * shortened path either side may take (reconnect after Closed, a frontend
 * back in Initialising from any state as FreeBSD's is after a resume, one
 * that jumps straight to Connected, one that never appears, online=0).
 *
 * Device types plug in through xenbus_device_ops; qdisk is the first.
 * Everything the toolstack or the frontend writes is treated as hostile:
 * parsed strictly, checked, and a device that cannot be served is closed
 * with an `error` node rather than crashing anything.
 */
#ifndef BACKENDS_XENBUS_H
#define BACKENDS_XENBUS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include <xen/io/xenbus.h>

struct hv;
struct xs_handle;
struct xenbus;
struct xenbus_device;

struct xenbus_device_ops {
    const char *type;          /* backend directory name: "qdisk" */
    const char *frontend_type; /* frontend directory name: "vbd" */
    /* online=1 and state=Initialising: read the toolstack's keys, open
     * what the device needs and write its features. false: the device is
     * closed with the error. */
    bool (*init)(struct xenbus_device *dev, GError **error);
    /* The frontend is Initialised (or Connected): read its keys and
     * connect. false: the device goes to Closing with the error. */
    bool (*connect)(struct xenbus_device *dev, GError **error);
    /* Undo connect; safe to call when not connected. */
    void (*disconnect)(struct xenbus_device *dev);
    /* Something under the backend directory changed while connected (the
     * toolstack grew the disk, say). May be NULL. */
    void (*backend_changed)(struct xenbus_device *dev);
    /* Undo init. */
    void (*free)(struct xenbus_device *dev);
};

struct xenbus_device {
    struct xenbus *bus;
    const struct xenbus_device_ops *ops;
    uint32_t devid;
    uint32_t frontend_domid;
    char *backend_path;
    char *frontend_path;
    char *name;                /* for logs: "vbd 51712" */
    enum xenbus_state backend_state;
    enum xenbus_state frontend_state;
    bool connected;
    bool frontend_watched;
    void *priv;                /* the device type's state */
};

/* Serves every backend of `ops` types for domid. The xenstore connection
 * is opened here (XENSTORED_PATH chooses xensim's), before any privilege
 * drop. */
struct xenbus *xenbus_new(struct hv *hv, uint32_t domid, GMainContext *ctx, GError **error);
bool xenbus_add_type(struct xenbus *bus, const struct xenbus_device_ops *ops, GError **error);
/* Disconnects and frees every device (backends go to Closed). */
void xenbus_free(struct xenbus *bus);

struct hv *xenbus_hv(const struct xenbus *bus);
uint32_t xenbus_domid(const struct xenbus *bus);
GMainContext *xenbus_context(const struct xenbus *bus);
unsigned int xenbus_device_count(const struct xenbus *bus);

/* Keys of one device. Reads return NULL when absent; the _uint forms fail
 * on anything but a plain decimal number in [0, max]. */
char *xenbus_read_backend(struct xenbus_device *dev, const char *key);
char *xenbus_read_frontend(struct xenbus_device *dev, const char *key);
bool xenbus_read_backend_uint(struct xenbus_device *dev, const char *key, uint64_t max, uint64_t *value);
bool xenbus_read_frontend_uint(struct xenbus_device *dev, const char *key, uint64_t max, uint64_t *value);
bool xenbus_write_backend(struct xenbus_device *dev, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Announces the current state again (after new `sectors`, say), which
 * wakes the frontend's watch as Linux's blkback does on resize. */
void xenbus_reannounce_state(struct xenbus_device *dev);
/* The device cannot go on (corrupt ring, say): disconnect and close. */
void xenbus_device_fail(struct xenbus_device *dev, const char *why);

/* Strict unsigned decimal: no sign, no spaces, no trailing junk. */
bool xenbus_parse_uint(const char *s, uint64_t max, uint64_t *value);

#endif
