/* SPDX-License-Identifier: MIT */
/*
 * xensim: the simulated hypervisor.
 *   xensim --dir DIR --domain ID,mem=SIZE,vcpus=N[,arch=x86|arm]
 *                 [,mmio_hole=SIZE|,max-ram-below-4g=SIZE] [--domain ...]
 * SIZE takes a K/M/G/T suffix (a bare number is MiB, like xl's memory= and
 * mmio_hole=). The x86 MMIO hole defaults to Xen's 256 MiB.
 * Creates DIR/control, DIR/xenstore, and per domain DIR/domN.qtest and
 * DIR/domN.xenstore; prints one line per socket and then "xensim: ready".
 * SIGTERM/SIGINT stop it cleanly (exit 0).
 */
#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "contrib/xensim/control.h"
#include "contrib/xensim/domain.h"
#include "contrib/xensim/protocol.h"
#include "contrib/xensim/qtest.h"
#include "contrib/xensim/xenstore.h"
#include "firmware/memmap.h"

#define XSIM_MIN_MEM (1ull << 20)
#define XSIM_MAX_MEM (1ull << 40)
#define XSIM_MAX_DOMID 0x7FEF /* DOMID_FIRST_RESERVED - 1 */

struct domain_spec {
    uint32_t domid;
    uint64_t mem;
    uint64_t mmio_hole; /* x86 only; validated by memmap_check_hole */
    bool pci_setup;     /* pci-setup=on: the PCI stage before the guest's first access */
    unsigned int vcpus;
    enum hv_arch arch;
};

struct xsim_ctx {
    char *dir;
    GMainLoop *loop;
    gint stopping;
    struct xsim_ratelimit rl;
    struct xsim_qtest_threads threads;
    GPtrArray *domains; /* struct xsim_domain * */
    GPtrArray *qtests;  /* struct xsim_qtest * */
    struct xsim_control *control;
    struct xs_store *xs;
    GPtrArray *xenstore_paths; /* sockets to remove at exit */
    gint poll_us;              /* --poll-us, for benchmarks */
};

/* ------------------------------------------------------------ arguments */

/* "64M", "1G", "512K", "2T"; a bare number is MiB. */
static bool parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!g_ascii_isdigit(*s))
        return false;
    uint64_t v = g_ascii_strtoull(s, &end, 10);
    if (errno)
        return false;
    unsigned int shift;
    switch (g_ascii_toupper(*end)) {
    case 'K': shift = 10; break;
    case '\0':
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    if (*end && end[1] && g_ascii_strcasecmp(end + 1, "B") && g_ascii_strcasecmp(end + 1, "iB"))
        return false;
    if (v > (UINT64_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    guint64 v;
    if (!g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL))
        return false;
    *out = v;
    return true;
}

static bool parse_domain_option(struct domain_spec *spec, const char *opt)
{
    uint64_t v;
    if (g_str_has_prefix(opt, "mem="))
        return parse_size(opt + 4, &spec->mem);
    if (g_str_has_prefix(opt, "mmio_hole="))
        return parse_size(opt + 10, &spec->mmio_hole) && memmap_check_hole(spec->mmio_hole, NULL);
    if (g_str_has_prefix(opt, "max-ram-below-4g=")) /* libxl's spelling towards the DM */
        return parse_size(opt + 17, &v) &&
               memmap_hole_from_max_ram_below_4g(v, &spec->mmio_hole, NULL);
    if (g_str_has_prefix(opt, "vcpus=")) {
        if (!parse_uint(opt + 6, XSIM_MAX_VCPUS, &v) || v == 0)
            return false;
        spec->vcpus = (unsigned int)v;
        return true;
    }
    if (!strcmp(opt, "arch=x86")) {
        spec->arch = HV_ARCH_X86;
        return true;
    }
    if (!strcmp(opt, "arch=arm")) {
        spec->arch = HV_ARCH_ARM;
        return true;
    }
    if (!strcmp(opt, "pci-setup=on") || !strcmp(opt, "pci-setup=off")) {
        spec->pci_setup = !strcmp(opt, "pci-setup=on");
        return true;
    }
    return false;
}

static bool parse_domain_spec(const char *text, struct domain_spec *spec, GError **error)
{
    gchar **parts = g_strsplit(text, ",", -1);
    uint64_t domid = 0;
    bool ok = parts[0] && parse_uint(parts[0], XSIM_MAX_DOMID, &domid) && domid >= 1;
    *spec = (struct domain_spec){ .domid = (uint32_t)domid, .vcpus = 1, .arch = HV_ARCH_X86,
                                  .mmio_hole = MEMMAP_DEFAULT_MMIO_HOLE };
    for (unsigned int i = 1; ok && parts[i]; i++)
        ok = parse_domain_option(spec, parts[i]);
    ok = ok && spec->mem >= XSIM_MIN_MEM && spec->mem <= XSIM_MAX_MEM &&
         spec->mem % XSIM_PAGE_SIZE == 0;
    ok = ok && !(spec->pci_setup && spec->arch != HV_ARCH_X86); /* no hvmloader on ARM */
    g_strfreev(parts);
    if (!ok)
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "bad --domain '%s' (want ID,mem=SIZE,vcpus=N[,arch=x86|arm]"
                    "[,mmio_hole=SIZE|max-ram-below-4g=SIZE][,pci-setup=on|off], ID 1..%u, "
                    "1M <= mem <= 1T, 1..%u vcpus, 256M <= mmio_hole <= 3840M, pci-setup x86 only)",
                    text, XSIM_MAX_DOMID, XSIM_MAX_VCPUS);
    return ok;
}

/* ------------------------------------------------------------- set-up */

static char *dir_path(struct xsim_ctx *ctx, const char *fmt, unsigned int domid)
{
    char *name = g_strdup_printf(fmt, domid);
    char *path = g_build_filename(ctx->dir, name, NULL);
    g_free(name);
    return path;
}

static void announce(const char *what, const char *path)
{
    printf("xensim: %s %s\n", what, path);
    fflush(stdout);
}

/* What a toolstack writes for a new domain. */
static void xenstore_populate(struct xs_store *xs, const struct xsim_domain *d)
{
    char *base = g_strdup_printf("/local/domain/%u", d->domid);
    char *vm = g_strdup_printf("/vm/00000000-0000-0000-0000-%012x", d->domid);
    char *value, *path;

#define XS_SET(p, v)                                                                           \
    do {                                                                                       \
        path = g_strdup_printf("%s/%s", base, p);                                            \
        value = v;                                                                             \
        xs_store_write(xs, path, value);                                                       \
        g_free(path);                                                                          \
        g_free(value);                                                                         \
    } while (0)

    xs_store_introduce_domain(xs, d->domid);
    XS_SET("name", g_strdup_printf("dom%u", d->domid));
    XS_SET("domid", g_strdup_printf("%u", d->domid));
    XS_SET("vm", g_strdup(vm));
    XS_SET("memory/static-max", g_strdup_printf("%" PRIu64, d->mem >> 10));
    XS_SET("memory/target", g_strdup_printf("%" PRIu64, d->mem >> 10));
    for (unsigned int i = 0; i < d->nr_vcpus; i++) {
        char *cpu = g_strdup_printf("cpu/%u/availability", i);
        XS_SET(cpu, g_strdup("online"));
        g_free(cpu);
    }
#undef XS_SET
    char *vm_name = g_strdup_printf("%s/name", vm);
    char *name = g_strdup_printf("dom%u", d->domid);
    xs_store_write(xs, vm_name, name);
    g_free(vm_name);
    g_free(name);
    g_free(vm);
    g_free(base);
}

static bool setup_domain(struct xsim_ctx *ctx, const struct domain_spec *spec, GError **error)
{
    struct xsim_domain *d = xsim_domain_new(spec->domid, spec->arch, spec->mem, spec->mmio_hole,
                                            spec->vcpus,
                                            &ctx->rl, &ctx->stopping, error);
    if (!d)
        return false;
    d->vcpu_spin_ns = (uint64_t)ctx->poll_us * 1000u;
    d->pci_setup_at_start = spec->pci_setup;
    g_ptr_array_add(ctx->domains, d);

    char *path = dir_path(ctx, XSIM_QTEST_FMT, d->domid);
    struct xsim_qtest *q = xsim_qtest_new(d, path, &ctx->threads, &ctx->rl, error);
    if (q) {
        g_ptr_array_add(ctx->qtests, q);
        announce("qtest", path);
    }
    g_free(path);
    if (!q)
        return false;

    xenstore_populate(ctx->xs, d);
    path = dir_path(ctx, XSIM_GUEST_XENSTORE_FMT, d->domid);
    bool ok = xs_store_add_guest_socket(ctx->xs, d->domid, path, error);
    if (ok)
        announce("xenstore-guest", path);
    g_ptr_array_add(ctx->xenstore_paths, path);
    return ok;
}

static bool setup(struct xsim_ctx *ctx, char **domain_specs, GError **error)
{
    struct domain_spec *specs = g_new0(struct domain_spec, g_strv_length(domain_specs));
    unsigned int n = 0;
    bool ok = true;
    for (; ok && domain_specs[n]; n++) {
        ok = parse_domain_spec(domain_specs[n], &specs[n], error);
        for (unsigned int j = 0; ok && j < n; j++) {
            if (specs[j].domid == specs[n].domid) {
                g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "domain %u given twice", specs[n].domid);
                ok = false;
            }
        }
    }
    if (ok && g_mkdir_with_parents(ctx->dir, 0700) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", ctx->dir,
                    g_strerror(errno));
        ok = false;
    }
    if (ok) {
        char *path = g_build_filename(ctx->dir, XSIM_XENSTORE_SOCKET, NULL);
        ctx->xs = xs_store_new(g_main_context_default(), path, error);
        ok = ctx->xs != NULL;
        if (ok)
            announce("xenstore", path);
        g_ptr_array_add(ctx->xenstore_paths, path);
        if (ok)
            xs_store_write(ctx->xs, "/local/domain/0/name", "Domain-0");
    }
    for (unsigned int i = 0; ok && i < n; i++)
        ok = setup_domain(ctx, &specs[i], error);
    if (ok) {
        char *path = g_build_filename(ctx->dir, XSIM_CONTROL_SOCKET, NULL);
        ctx->control = xsim_control_new(path, ctx->domains, &ctx->rl, error);
        ok = ctx->control != NULL;
        if (ok)
            announce("control", path);
        g_free(path);
    }
    g_free(specs);
    return ok;
}

static void teardown(struct xsim_ctx *ctx)
{
    g_atomic_int_set(&ctx->stopping, 1);
    for (guint i = 0; i < ctx->qtests->len; i++)
        xsim_qtest_free(g_ptr_array_index(ctx->qtests, i));
    /* vCPU threads waiting on device models notice `stopping` and finish */
    xsim_qtest_threads_stop(&ctx->threads);
    xsim_control_free(ctx->control);
    if (ctx->xs)
        xs_store_free(ctx->xs);
    for (guint i = 0; i < ctx->domains->len; i++)
        xsim_domain_free(g_ptr_array_index(ctx->domains, i));
    for (guint i = 0; i < ctx->xenstore_paths->len; i++)
        g_unlink(g_ptr_array_index(ctx->xenstore_paths, i));
    g_ptr_array_free(ctx->xenstore_paths, TRUE);
    g_ptr_array_free(ctx->domains, TRUE);
    g_ptr_array_free(ctx->qtests, TRUE);
    xsim_qtest_threads_clear(&ctx->threads);
    xsim_ratelimit_clear(&ctx->rl);
    g_main_loop_unref(ctx->loop);
}

static gboolean on_signal(gpointer user_data)
{
    struct xsim_ctx *ctx = user_data;
    g_main_loop_quit(ctx->loop);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    char *dir = NULL;
    char **domain_specs = NULL;
    gint poll_us = 0;
    GOptionEntry entries[] = {
        { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "directory for the sockets", "DIR" },
        { "domain", 0, 0, G_OPTION_ARG_STRING_ARRAY, &domain_specs,
          "a domain (repeatable)", "ID,mem=SIZE,vcpus=N[,arch=x86|arm][,mmio_hole=SIZE][,pci-setup=on]" },
        { "poll-us", 0, 0, G_OPTION_ARG_INT, &poll_us,
          "benchmarks: a waiting vCPU spins up to US microseconds before sleeping", "US" },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    GOptionContext *opts = g_option_context_new("- simulated Xen hypervisor for ioreqd");
    g_option_context_add_main_entries(opts, entries, NULL);
    GError *error = NULL;
    bool ok = g_option_context_parse(opts, &argc, &argv, &error);
    g_option_context_free(opts);
    if (ok && (poll_us < 0 || poll_us > 1000000)) {
        g_set_error(&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "--poll-us: 0 to 1000000 microseconds");
        ok = false;
    }
    if (ok && (!dir || !domain_specs || argc > 1)) {
        g_set_error(&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                    "usage: xensim --dir DIR --domain ID,mem=SIZE,vcpus=N[,arch=x86|arm]...");
        ok = false;
    }
    if (!ok) {
        fprintf(stderr, "xensim: %s\n", error->message);
        g_error_free(error);
        g_free(dir);
        g_strfreev(domain_specs);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN); /* a vanished peer is an error return, not a signal */
    struct xsim_ctx ctx = { .dir = dir, .poll_us = poll_us };
    ctx.loop = g_main_loop_new(NULL, FALSE);
    xsim_ratelimit_init(&ctx.rl);
    xsim_qtest_threads_init(&ctx.threads, &ctx.stopping);
    ctx.domains = g_ptr_array_new();
    ctx.qtests = g_ptr_array_new();
    ctx.xenstore_paths = g_ptr_array_new_with_free_func(g_free);

    int status = 0;
    if (setup(&ctx, domain_specs, &error)) {
        guint term = g_unix_signal_add(SIGTERM, on_signal, &ctx);
        guint intr = g_unix_signal_add(SIGINT, on_signal, &ctx);
        printf("xensim: ready\n");
        fflush(stdout);
        g_main_loop_run(ctx.loop);
        g_source_remove(term);
        g_source_remove(intr);
        xsim_log("stopping");
    } else {
        fprintf(stderr, "xensim: %s\n", error->message);
        g_error_free(error);
        status = 1;
    }
    teardown(&ctx);
    g_free(dir);
    g_strfreev(domain_specs);
    return status;
}
