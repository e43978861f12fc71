/* SPDX-License-Identifier: MIT */
/*
 * ioreqd: set up one ioreq server for one guest, serve it until told to
 * stop, then take everything down so the hypervisor stops routing to us.
 */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#include "config.h"
#include "backends/qdisk.h"
#include "devices/machine.h"
#include "ioreq/cli.h"
#include "ioreq/hv.h"
#include "ioreq/ioreq-server.h"
#include "ioreq/runstate.h"

#define DEV "ioreqd"

struct ioreqd {
    struct config cfg;
    struct chardev_set *chardevs;
    struct machine *machine;
    struct hv *hv;
    struct hv_domain_info info;
    struct ioreq_server server;
    struct runstate run; /* running or stopped, and the QMP monitors */
    struct xenbus *xenbus; /* PV backends (qdisk), with a Xen machine */
    GMainLoop *loop;
    GArray *fd_watches; /* guint source ids */
    bool hypervisor_lost;
};

static gboolean on_stop_signal(gpointer data)
{
    struct ioreqd *d = data;

    log_info(d->cfg.domid, DEV, "stopping on signal");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

/* Without its hypervisor a device model serves nobody: leave, saying so. */
static gboolean on_hypervisor_gone(gint fd, GIOCondition cond, gpointer data)
{
    struct ioreqd *d = data;

    log_warn(d->cfg.domid, DEV, "the hypervisor connection was lost: exiting");
    d->hypervisor_lost = true;
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE; /* teardown removes it with the others */
}

static void watch_hypervisor(struct ioreqd *d)
{
    int fd = d->hv->ops->liveness_fd ? d->hv->ops->liveness_fd(d->hv) : -1;

    if (fd >= 0) {
        guint id = g_unix_fd_add(fd, G_IO_HUP | G_IO_ERR, on_hypervisor_gone, d);
        g_array_append_val(d->fd_watches, id);
    }
}

static uint64_t monotonic_ns(void *unused)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static gboolean on_event(gint fd, GIOCondition cond, gpointer data)
{
    struct ioreqd *d = data;
    hv_port_t port = d->hv->ops->evtchn_pending(d->hv, fd);

    if (port >= 0)
        ioreq_server_handle_port(&d->server, port);
    /* -ioreq-poll-us: the guest that just asked is likely to ask again
     * soon; catch that without a sleep and a wake-up. Only after an event,
     * so an idle guest never makes us spin. */
    if (d->cfg.ioreq_poll_us)
        ioreq_server_poll(&d->server, (uint64_t)d->cfg.ioreq_poll_us * 1000u, monotonic_ns, NULL);
    return G_SOURCE_CONTINUE;
}

/* On Xen all ports share one fd, under xensim each has its own: watch each
 * distinct fd once. */
static void watch_ports(struct ioreqd *d)
{
    GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);

    for (unsigned int v = 0; v <= d->server.nr_vcpus; v++) {
        hv_port_t port = v < d->server.nr_vcpus ? d->server.vcpu_ports[v] : d->server.buffered_port;
        int fd = port >= 0 ? d->hv->ops->evtchn_fd(d->hv, port) : -1;
        if (fd < 0 || g_hash_table_contains(seen, GINT_TO_POINTER(fd)))
            continue;
        g_hash_table_add(seen, GINT_TO_POINTER(fd));
        guint id = g_unix_fd_add(fd, G_IO_IN, on_event, d);
        g_array_append_val(d->fd_watches, id);
    }
    g_hash_table_destroy(seen);
}

static struct hv *open_hypervisor(struct ioreqd *d, int *err)
{
    if (d->cfg.accel == ACCEL_XENSIM) {
        /* The real libxenstore finds xensim's store through this. */
        g_autofree char *xs_path = g_build_filename(d->cfg.sim_dir, "xenstore", NULL);
        const char *given = g_getenv("XENSTORED_PATH");
        if (!given || !*given)
            g_setenv("XENSTORED_PATH", xs_path, TRUE);
        return hv_sim_open(d->cfg.domid, d->cfg.sim_dir, err);
    }
#ifdef IOREQD_HAVE_XEN
    return hv_xen_open(d->cfg.domid, err);
#else
    *err = -ENOTSUP;
    return NULL;
#endif
}

/* The toolstack waits for this key, as it does for QEMU. Failing to write
 * it is logged, not fatal: the guest is served either way. */
static void announce_running(struct ioreqd *d)
{
    struct xs_handle *xs = xs_open(0);
    g_autofree char *path = g_strdup_printf("/local/domain/0/device-model/%u/state", d->cfg.domid);

    if (!xs || !xs_write(xs, XBT_NULL, path, "running", strlen("running")))
        log_warn(d->cfg.domid, DEV, "could not write %s: %s", path, g_strerror(errno));
    if (xs)
        xs_close(xs);
}

/* The RAM BARs must stay off: -m (libxl always passes it) wins; else what
 * the hypervisor reports (xensim does, Xen's DM interface cannot). */
static bool set_guest_ram(struct ioreqd *d, GError **error)
{
    uint64_t ram = d->cfg.ram_size ? d->cfg.ram_size : d->info.ram_size;

    if (d->cfg.ram_size && d->info.ram_size && d->cfg.ram_size != d->info.ram_size)
        log_warn(d->cfg.domid, DEV,
                 "-m says %" G_GUINT64_FORMAT " MiB, the hypervisor %" G_GUINT64_FORMAT
                 " MiB: BARs are kept off the -m map",
                 d->cfg.ram_size >> 20, d->info.ram_size >> 20);
    if (!ram)
        log_info(d->cfg.domid, DEV, "guest RAM size unknown (no -m): BARs are kept off "
                 "everything below the MMIO hole, RAM above 4 GiB is not checked");
    return machine_set_guest_ram(d->machine, ram, error);
}

/* The Xen machines serve their guest's PV disks, as QEMU's do. The
 * xenstore connection is opened here, before any privilege is dropped. */
static bool start_backends(struct ioreqd *d, GError **error)
{
    if (d->machine->kind == MACHINE_NONE)
        return true;
    d->xenbus = xenbus_new(d->hv, d->cfg.domid, NULL, error);
    return d->xenbus && xenbus_add_type(d->xenbus, &qdisk_ops, error);
}

/* Test hook (xensim only): IOREQD_TEST_FOREIGN_DOMID=N makes ioreqd try,
 * once set up and deprivileged, what dm_restrict must forbid on domain N,
 * and log what each attempt got (test_privsep). */
static void probe_foreign_domain(struct ioreqd *d)
{
    const char *v = g_getenv("IOREQD_TEST_FOREIGN_DOMID");
    guint64 domid;

    if (!v || d->cfg.accel != ACCEL_XENSIM ||
        !g_ascii_string_to_unsigned(v, 10, 1, 0x7fef, &domid, NULL))
        return;
    g_autofree char *result = hv_sim_probe_foreign(d->hv, (uint32_t)domid);
    log_info(d->cfg.domid, DEV, "foreign-domain probe on dom%u: %s", (unsigned)domid, result);
}

static void announce_when_running(void *opaque)
{
    announce_running(opaque);
}

/* Everything up to the server being enabled; false with an error message. */
static bool setup(struct ioreqd *d, GError **error)
{
    int err = 0;

    d->hv = open_hypervisor(d, &err);
    if (!d->hv) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-err), "cannot reach the %s: %s",
                    d->cfg.accel == ACCEL_XENSIM ? "simulated hypervisor" : "Xen hypervisor",
                    g_strerror(-err));
        return false;
    }
    d->hv->ops->get_info(d->hv, &d->info);
    if (!xl_check_smp(&d->cfg.xl, d->info.nr_vcpus, error))
        return false;
    err = ioreq_server_setup(&d->server, d->hv, d->info.nr_vcpus, d->info.arch == HV_ARCH_X86);
    if (err < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-err),
                    "cannot set up the ioreq server: %s", g_strerror(-err));
        return false;
    }
    machine_set_hv(d->machine, d->hv);
    if (d->info.arch == HV_ARCH_X86 && !set_guest_ram(d, error))
        return false;
    if (!machine_realize(d->machine, d->server.dispatch, error))
        return false;
    watch_ports(d);
    watch_hypervisor(d);
    err = runstate_begin(&d->run, &d->server, d->cfg.xl.start_paused);
    if (err < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-err),
                    "cannot enable the ioreq server: %s", g_strerror(-err));
        return false;
    }
    log_info(d->cfg.domid, DEV, "serving as ioreq server %u (%u vCPUs, %s, %u devices)",
             d->server.id, d->info.nr_vcpus, d->hv->ops->name, d->machine->devices->len);
    if (!start_backends(d, error))
        return false;
    if (runstate_take_announcement(&d->run)) /* with -S: at the first QMP cont */
        announce_running(d);
    /* Last: everything privileged (sockets, pages, files) is open now. */
    if (!privsep_apply(&d->cfg.privsep, d->hv, error))
        return false;
    probe_foreign_domain(d);
    return true;
}

/* Options first, so a typo is reported before anything is set up. */
static bool configure(struct ioreqd *d, GError **error)
{
    runstate_init(&d->run, d->cfg.domid, d->loop, announce_when_running, d);
    if (!runstate_add_monitors(&d->run, d->cfg.xl.qmp_specs, error))
        return false;
    d->chardevs = chardev_set_new();
    for (unsigned int i = 0; i < d->cfg.chardevs->len; i++)
        if (!chardev_set_add(d->chardevs, g_ptr_array_index(d->cfg.chardevs, i), error))
            return false;
    d->machine = machine_new(d->cfg.domid, d->chardevs);
    if (d->cfg.machine && !machine_configure(d->machine, d->cfg.machine, error))
        return false;
    for (unsigned int i = 0; i < d->cfg.serials->len; i++)
        if (!machine_add_serial(d->machine, g_ptr_array_index(d->cfg.serials, i), error))
            return false;
    for (unsigned int i = 0; i < d->cfg.devices->len; i++)
        if (!machine_add_device(d->machine, g_ptr_array_index(d->cfg.devices, i), error))
            return false;
    return true;
}

static void teardown(struct ioreqd *d)
{
    for (unsigned int i = 0; i < d->fd_watches->len; i++)
        g_source_remove(g_array_index(d->fd_watches, guint, i));
    g_array_free(d->fd_watches, TRUE);
    runstate_clear(&d->run);
    /* Backends close (frontends see Closed) while grants can still be
     * unmapped. */
    xenbus_free(d->xenbus);
    /* Devices unregister while the server still exists, then the server
     * goes, then the connection. */
    machine_free(d->machine);
    if (d->hv)
        ioreq_server_teardown(&d->server);
    hv_close(d->hv);
    chardev_set_free(d->chardevs);
    if (d->loop)
        g_main_loop_unref(d->loop);
    config_clear(&d->cfg);
}

int main(int argc, char **argv)
{
    struct ioreqd d = { .server.buffered_port = -1 };
    g_autoptr(GError) error = NULL;
    int status = EXIT_SUCCESS;

    d.fd_watches = g_array_new(FALSE, FALSE, sizeof(guint));
    config_init(&d.cfg);
    if (!cli_parse(&d.cfg, argc, argv, &error)) {
        fprintf(stderr, "ioreqd: %s\n", error->message);
        teardown(&d);
        return EXIT_FAILURE;
    }
    if (d.cfg.show_help || d.cfg.show_version) {
        if (d.cfg.show_help)
            cli_print_help(argv[0]);
        else
            printf("ioreqd %s\n", IOREQD_VERSION);
        teardown(&d);
        return EXIT_SUCCESS;
    }
    /* Peers (console clients, the toolstack) come and go; a write to one
     * that left must be an error we handle, not the end of the guest's
     * device model. */
    signal(SIGPIPE, SIG_IGN);
    d.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_stop_signal, &d);
    g_unix_signal_add(SIGINT, on_stop_signal, &d);
    if (configure(&d, &error) && setup(&d, &error)) {
        g_main_loop_run(d.loop);
        if (d.hypervisor_lost)
            status = EXIT_FAILURE;
    } else {
        fprintf(stderr, "ioreqd: %s\n", error->message);
        status = EXIT_FAILURE;
    }
    teardown(&d);
    return status;
}
