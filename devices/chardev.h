/* SPDX-License-Identifier: MIT */
/*
 * Character devices (-chardev), the byte streams behind consoles: file,
 * stdio, unix socket (server or client) and pty. A device writes guest
 * output with chardev_write(); it never blocks the guest on a slow reader:
 * output that cannot be delivered now is dropped and counted.
 */
#ifndef IOREQD_CHARDEV_H
#define IOREQD_CHARDEV_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chardev;
struct chardev_set;

struct chardev_set *chardev_set_new(void);
void chardev_set_free(struct chardev_set *set);

/* Parse and open one -chardev argument ("file,id=x,path=p" ...). */
bool chardev_set_add(struct chardev_set *set, const char *spec, GError **error);
struct chardev *chardev_set_find(struct chardev_set *set, const char *id);

void chardev_write(struct chardev *cd, const void *buf, size_t len);

/* Input (socket client, pty, stdio) for a device that takes it, e.g. a
 * UART. can_read says how many bytes the device takes now; while it says
 * 0 nothing is read (the peer is throttled, no byte is lost) until the
 * device calls chardev_input_wake. Called from the main loop. */
struct chardev_reader {
    size_t (*can_read)(void *opaque);
    void (*read)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
};
void chardev_set_reader(struct chardev *cd, const struct chardev_reader *reader);
void chardev_input_wake(struct chardev *cd);
const char *chardev_id(const struct chardev *cd);
size_t chardev_dropped(const struct chardev *cd);

#endif
