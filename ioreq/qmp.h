/* SPDX-License-Identifier: MIT */
/*
 * QMP, the JSON monitor protocol libxl speaks to its device model: a
 * greeting, capabilities negotiation, then one command object in, one
 * answer out. Every byte a client sends is hostile: messages are capped in
 * size and nesting, answers queue up to a cap, and a client that breaks
 * either is dropped; a malformed message gets the protocol's error and the
 * session goes on.
 *
 * A monitor serves one client at a time on its listening socket; the next
 * waits in the socket's backlog until the current one leaves (as QEMU's
 * monitors do).
 */
#ifndef IOREQD_QMP_H
#define IOREQD_QMP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define QMP_MAX_MESSAGE (64 * 1024)  /* bytes of one JSON message from a client */
#define QMP_MAX_DEPTH 32             /* nesting of one message */
#define QMP_MAX_OUTPUT (256 * 1024)  /* answers queued for a client that does not read */

/* Reported as the QEMU version ioreqd's QMP follows (libxl picks commands
 * by it); the package string says what really answers. */
#define QMP_QEMU_MAJOR 7
#define QMP_QEMU_MINOR 2
#define QMP_QEMU_MICRO 0

enum qmp_run_state { QMP_PRELAUNCH, QMP_RUNNING, QMP_PAUSED };

/* What the device model does for the commands; each returns 0 or -errno
 * and may set *why to a message for the client. */
struct qmp_hooks {
    void *opaque;
    enum qmp_run_state (*run_state)(void *opaque);
    int (*stop)(void *opaque, GError **why);
    int (*cont)(void *opaque, GError **why);
    void (*quit)(void *opaque); /* called once the answer is on its way */
    int (*set_dirty_log)(void *opaque, bool enable, GError **why);
};

/* -------- one client's protocol state, without a socket (unit-testable) */
struct qmp_session;

struct qmp_session *qmp_session_new(uint32_t domid, const struct qmp_hooks *hooks);
void qmp_session_free(struct qmp_session *s);
/* The greeting goes out first, then answers as messages complete. */
void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len);
/* Bytes waiting to go to the client; the caller consumes from the front. */
GString *qmp_session_output(struct qmp_session *s);
/* False once the client must be dropped (its answers piled up past the
 * cap) or asked to quit. */
bool qmp_session_alive(const struct qmp_session *s);
bool qmp_session_quit_requested(const struct qmp_session *s);
/* An asynchronous event (STOP, RESUME) for a negotiated client. */
void qmp_session_event(struct qmp_session *s, const char *event);

/* -------- a monitor socket */
struct qmp_monitor;

/* spec: "socket,id=ID,path=P,server=on,wait=off" or "socket,id=ID,fd=N,
 * server=on,wait=off" (a listening socket libxl opened for us). */
struct qmp_monitor *qmp_monitor_new(uint32_t domid, const char *spec,
                                    const struct qmp_hooks *hooks, GError **error);
void qmp_monitor_free(struct qmp_monitor *m);
void qmp_monitor_event(struct qmp_monitor *m, const char *event);

#endif
