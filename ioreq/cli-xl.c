/* SPDX-License-Identifier: MIT */
#include "ioreq/cli-xl.h"

#include <string.h>

#include "devices/options.h"

static bool bad(GError **error, const char *fmt, const char *arg)
{
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, fmt, arg);
    return false;
}

static void add_to(GPtrArray **array, char *item)
{
    if (!*array)
        *array = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(*array, item);
}

void xl_options_clear(struct xl_options *x)
{
    if (x->monitor_ids)
        g_ptr_array_free(x->monitor_ids, TRUE);
    if (x->qmp_specs)
        g_ptr_array_free(x->qmp_specs, TRUE);
    if (x->globals)
        g_ptr_array_free(x->globals, TRUE);
    g_free(x->boot_order);
    *x = (struct xl_options){ 0 };
}

/* -smp N[,maxcpus=M] (libxl's two forms; cpus= is QEMU's long spelling). */
static bool parse_smp(struct xl_options *x, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "cpus", error);
    uint64_t cpus, max;

    if (!o)
        return false;
    if (!opts_get_u64(o, "cpus", 0, &cpus, NULL) || cpus < 1 || cpus > XL_MAX_VCPUS ||
        !opts_get_u64(o, "maxcpus", cpus, &max, NULL) || max < cpus || max > XL_MAX_VCPUS)
        return bad(error, "-smp %s: expected N[,maxcpus=M] with 1 <= N <= M <= 128", arg);
    if (!opts_check_all_used(o, "-smp", error))
        return false;
    x->smp_cpus = (unsigned int)cpus;
    x->smp_max = (unsigned int)max;
    return true;
}

/* Drive letters as QEMU knows them: a, b floppies; c disk; d CD; n-p network. */
static bool valid_boot_order(const char *order)
{
    if (!*order || strlen(order) > 16)
        return false;
    for (const char *p = order; *p; p++)
        if (*p < 'a' || *p > 'p')
            return false;
    return true;
}

/* Under Xen the boot order is hvmloader's and SeaBIOS's business (libxl
 * also writes it to xenstore): checked, kept for the logs. */
static bool parse_boot(struct xl_options *x, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "order", error);

    if (!o)
        return false;
    const char *order = opts_get_str(o, "order", NULL);
    if (!order || !valid_boot_order(order))
        return bad(error, "-boot %s: expected order=DRIVES, drive letters a-p", arg);
    if (!opts_check_all_used(o, "-boot", error))
        return false;
    g_free(x->boot_order);
    x->boot_order = g_strdup(order);
    return true;
}

static bool parse_mon(struct xl_options *x, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "chardev", error);
    bool pretty;

    if (!o)
        return false;
    const char *id = opts_get_str(o, "chardev", NULL);
    const char *mode = opts_get_str(o, "mode", "readline");
    if (!id || !*id)
        return bad(error, "-mon %s: chardev=ID is required", arg);
    if (strcmp(mode, "control") != 0)
        return bad(error, "-mon %s: only mode=control (QMP) is supported; "
                          "ioreqd has no human monitor", arg);
    if (!opts_get_bool(o, "pretty", false, &pretty, error))
        return false;
    if (!opts_check_all_used(o, "-mon", error))
        return false;
    add_to(&x->monitor_ids, g_strdup(id));
    return true;
}

/* -qmp unix:PATH,server=on,wait=off (or the old server,nowait): the same
 * socket a -chardev socket would describe. */
static bool parse_qmp(struct xl_options *x, const char *arg, GError **error)
{
    if (!g_str_has_prefix(arg, "unix:") || !arg[5])
        return bad(error, "-qmp %s: only unix:PATH,server=on,wait=off is supported", arg);
    unsigned int n = x->qmp_specs ? x->qmp_specs->len : 0;
    add_to(&x->qmp_specs, g_strdup_printf("socket,id=qmp%u,path=%s", n, arg + 5));
    return true;
}

/* -global DRIVER.PROP=VALUE or driver=D,property=P,value=V, normalised to
 * the first form. */
static bool parse_global(struct xl_options *x, const char *arg, GError **error)
{
    const char *dot = strchr(arg, '.');
    const char *eq = strchr(arg, '=');

    if (g_str_has_prefix(arg, "driver=")) {
        g_autoptr(opts) o = opts_parse(arg, NULL, error);
        if (!o)
            return false;
        const char *d = opts_get_str(o, "driver", ""), *p = opts_get_str(o, "property", "");
        const char *v = opts_get_str(o, "value", NULL);
        if (!*d || !*p || !v || strchr(d, '.') || strchr(p, '='))
            return bad(error, "-global %s: expected DRIVER.PROP=VALUE", arg);
        if (!opts_check_all_used(o, "-global", error))
            return false;
        add_to(&x->globals, g_strdup_printf("%s.%s=%s", d, p, v));
        return true;
    }
    if (!dot || !eq || dot == arg || eq < dot + 2 || strchr(arg, ','))
        return bad(error, "-global %s: expected DRIVER.PROP=VALUE", arg);
    add_to(&x->globals, g_strdup(arg));
    return true;
}

bool xl_takes_argument(const char *opt)
{
    static const char *const with_arg[] = { "smp", "boot", "vnc", "net", "global", "mon", "qmp" };

    for (size_t i = 0; i < G_N_ELEMENTS(with_arg); i++)
        if (!strcmp(opt, with_arg[i]))
            return true;
    return false;
}

bool xl_apply_option(struct xl_options *x, const char *opt, const char *arg, bool *ok,
                     GError **error)
{
    if (!strcmp(opt, "smp"))
        *ok = parse_smp(x, arg, error);
    else if (!strcmp(opt, "boot"))
        *ok = parse_boot(x, arg, error);
    else if (!strcmp(opt, "mon"))
        *ok = parse_mon(x, arg, error);
    else if (!strcmp(opt, "qmp"))
        *ok = parse_qmp(x, arg, error);
    else if (!strcmp(opt, "global"))
        *ok = parse_global(x, arg, error);
    else if (!strcmp(opt, "vnc"))
        *ok = !strcmp(arg, "none") ||
              bad(error, "-vnc %s: ioreqd has no VNC server yet; only -vnc none is accepted "
                         "(vnc=0 in xl.cfg)", arg);
    else if (!strcmp(opt, "net"))
        *ok = !strcmp(arg, "none") ||
              bad(error, "-net %s: ioreqd emulates no network card; only -net none is accepted "
                         "(use PV network: vif type=vif in xl.cfg)", arg);
    else
        return false;
    return true;
}

bool xl_apply_flag(struct xl_options *x, const char *opt)
{
    if (!strcmp(opt, "S"))
        x->start_paused = true;
    else if (!strcmp(opt, "no-shutdown"))
        x->no_shutdown = true; /* ioreqd never exits on a guest shutdown anyway */
    else
        return false;
    return true;
}

/* The id= of a -chardev spec, or NULL. */
static char *chardev_spec_id(const char *spec)
{
    g_autoptr(opts) o = opts_parse(spec, "backend", NULL);
    return o ? g_strdup(opts_get_str(o, "id", NULL)) : NULL;
}

static bool take_monitor_chardevs(struct xl_options *x, GPtrArray *chardevs, GError **error)
{
    for (unsigned int m = 0; x->monitor_ids && m < x->monitor_ids->len; m++) {
        const char *id = g_ptr_array_index(x->monitor_ids, m);
        bool found = false;
        for (unsigned int i = 0; i < chardevs->len && !found; i++) {
            g_autofree char *cid = chardev_spec_id(g_ptr_array_index(chardevs, i));
            if (cid && !strcmp(cid, id)) {
                add_to(&x->qmp_specs, g_ptr_array_steal_index(chardevs, i));
                found = true;
            }
        }
        if (!found)
            return bad(error, "-mon: no -chardev with id '%s' (or two monitors on it)", id);
    }
    return true;
}

/* A -global for a driver given with -device is that device's default for
 * the property; one for a driver not created has no effect (as in QEMU). */
static void apply_globals(struct xl_options *x, GPtrArray *devices)
{
    for (unsigned int g = 0; x->globals && g < x->globals->len; g++) {
        const char *global = g_ptr_array_index(x->globals, g);
        const char *dot = strchr(global, '.');
        g_autofree char *driver = g_strndup(global, (gsize)(dot - global));
        g_autofree char *prop = g_strndup(dot + 1, (gsize)(strchr(dot, '=') - dot - 1));
        for (unsigned int i = 0; i < devices->len; i++) {
            char *spec = g_ptr_array_index(devices, i);
            g_autoptr(opts) o = opts_parse(spec, "driver", NULL);
            if (!o || strcmp(opts_get_str(o, "driver", ""), driver) != 0 || opts_has(o, prop))
                continue;
            /* the value goes back into an option string: commas double */
            g_auto(GStrv) parts = g_strsplit(strchr(global, '=') + 1, ",", -1);
            g_autofree char *escaped = g_strjoinv(",,", parts);
            devices->pdata[i] = g_strdup_printf("%s,%s=%s", spec, prop, escaped);
            g_free(spec);
        }
    }
}

bool xl_finish(struct xl_options *x, GPtrArray *chardevs, GPtrArray *devices, GError **error)
{
    if (!take_monitor_chardevs(x, chardevs, error))
        return false;
    apply_globals(x, devices);
    return true;
}

bool xl_check_smp(const struct xl_options *x, unsigned int nr_vcpus, GError **error)
{
    if (!x->smp_cpus || x->smp_max == nr_vcpus)
        return true;
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "-smp: %u vCPUs (maxcpus) given, but the domain has %u: Xen decides the count",
                x->smp_max, nr_vcpus);
    return false;
}
