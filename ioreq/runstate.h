/* SPDX-License-Identifier: MIT */
/*
 * Whether the device model is running, as the toolstack sees it over QMP:
 * prelaunch (-S, until the first "cont"), running, paused ("stop"). As
 * QEMU does on Xen, a stopped device model disables its ioreq server, so
 * the hypervisor routes nothing to it until "cont".
 */
#ifndef IOREQD_RUNSTATE_H
#define IOREQD_RUNSTATE_H

#include <glib.h>

#include "ioreq/ioreq-server.h"
#include "ioreq/qmp.h"

struct runstate {
    uint32_t domid;
    struct ioreq_server *server; /* NULL until set up */
    enum qmp_run_state state;
    bool announced;
    /* Tell the toolstack we run (the xenstore state key): once, the first
     * time the guest is served. */
    void (*announce)(void *opaque);
    void *opaque;
    GMainLoop *loop;
    bool dirty_log; /* xen-set-global-dirty-log */
    struct qmp_hooks hooks;
    GPtrArray *monitors; /* struct qmp_monitor * */
};

void runstate_init(struct runstate *r, uint32_t domid, GMainLoop *loop,
                   void (*announce)(void *opaque), void *opaque);
/* QMP monitors from their socket specs (cli-xl.h qmp_specs; NULL: none). */
bool runstate_add_monitors(struct runstate *r, GPtrArray *specs, GError **error);
/* Set-up is done: enable the server now, or leave it for "cont" (-S). */
int runstate_begin(struct runstate *r, struct ioreq_server *server, bool paused);
/* True once, when the toolstack should be told we run. */
bool runstate_take_announcement(struct runstate *r);
void runstate_clear(struct runstate *r);

#endif
