/* SPDX-License-Identifier: MIT */
#include "ioreq/runstate.h"

#include <errno.h>

#include "ioreq/log.h"
#include "ioreq/mapcache.h"

#define DEV "runstate"

static void broadcast(struct runstate *r, const char *event)
{
    for (unsigned int i = 0; r->monitors && i < r->monitors->len; i++)
        qmp_monitor_event(g_ptr_array_index(r->monitors, i), event);
}

static enum qmp_run_state hook_run_state(void *opaque)
{
    struct runstate *r = opaque;
    return r->state;
}

static int set_serving(struct runstate *r, bool on, GError **why)
{
    if (!r->server) {
        g_set_error(why, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                    "the device model is still setting up");
        return -EAGAIN;
    }
    int rc = on ? ioreq_server_enable(r->server)
                : r->server->hv->ops->set_server_state(r->server->hv, r->server->id, false);
    if (rc < 0) {
        log_warn(r->domid, DEV, "cannot %s the ioreq server: %s", on ? "enable" : "disable",
                 g_strerror(-rc));
        return rc;
    }
    r->server->enabled = on;
    return 0;
}

static int hook_stop(void *opaque, GError **why)
{
    struct runstate *r = opaque;

    if (r->state != QMP_RUNNING)
        return 0; /* QEMU: stopping a stopped machine is no error */
    int rc = set_serving(r, false, why);
    if (rc == 0) {
        r->state = QMP_PAUSED;
        log_info(r->domid, DEV, "stopped (QMP): the ioreq server is disabled");
        broadcast(r, "STOP");
    }
    return rc;
}

static int hook_cont(void *opaque, GError **why)
{
    struct runstate *r = opaque;

    if (r->state == QMP_RUNNING)
        return 0;
    int rc = set_serving(r, true, why);
    if (rc == 0) {
        r->state = QMP_RUNNING;
        log_info(r->domid, DEV, "running (QMP cont)");
        broadcast(r, "RESUME");
        if (runstate_take_announcement(r))
            r->announce(r->opaque);
    }
    return rc;
}

static void hook_quit(void *opaque)
{
    struct runstate *r = opaque;

    log_info(r->domid, DEV, "quit (QMP)");
    g_main_loop_quit(r->loop);
}

/* Live migration: Xen's log-dirty sees the guest's writes, not ours
 * through foreign mappings; while it is on, the map cache reports them
 * (grant copies and writable grant mappings Xen marks itself). */
static int hook_dirty_log(void *opaque, bool enable, GError **why)
{
    struct runstate *r = opaque;

    if (!r->server) {
        g_set_error(why, G_FILE_ERROR, G_FILE_ERROR_AGAIN, "the device model is still setting up");
        return -EAGAIN;
    }
    if (enable != r->dirty_log)
        log_info(r->domid, DEV, "dirty logging %s (QMP)", enable ? "on" : "off");
    mapcache_set_log_dirty(r->server->mapcache, enable);
    r->dirty_log = enable;
    return 0;
}

void runstate_init(struct runstate *r, uint32_t domid, GMainLoop *loop,
                   void (*announce)(void *opaque), void *opaque)
{
    *r = (struct runstate){
        .domid = domid,
        .state = QMP_PRELAUNCH,
        .announce = announce,
        .opaque = opaque,
        .loop = loop,
        .hooks = {
            .run_state = hook_run_state,
            .stop = hook_stop,
            .cont = hook_cont,
            .quit = hook_quit,
            .set_dirty_log = hook_dirty_log,
        },
        .monitors = g_ptr_array_new_with_free_func((GDestroyNotify)qmp_monitor_free),
    };
    r->hooks.opaque = r;
}

bool runstate_add_monitors(struct runstate *r, GPtrArray *specs, GError **error)
{
    for (unsigned int i = 0; specs && i < specs->len; i++) {
        struct qmp_monitor *m =
            qmp_monitor_new(r->domid, g_ptr_array_index(specs, i), &r->hooks, error);
        if (!m)
            return false;
        g_ptr_array_add(r->monitors, m);
    }
    return true;
}

int runstate_begin(struct runstate *r, struct ioreq_server *server, bool paused)
{
    r->server = server;
    if (paused) {
        log_info(r->domid, DEV, "waiting for QMP cont before serving the guest (-S)");
        return 0;
    }
    int rc = ioreq_server_enable(server);
    if (rc == 0)
        r->state = QMP_RUNNING;
    return rc;
}

bool runstate_take_announcement(struct runstate *r)
{
    if (r->state != QMP_RUNNING || r->announced)
        return false;
    r->announced = true;
    return true;
}

void runstate_clear(struct runstate *r)
{
    if (r->monitors)
        g_ptr_array_free(r->monitors, TRUE);
    r->monitors = NULL;
}
