/* SPDX-License-Identifier: MIT */
#include "ioreq/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/options.h"
#include "firmware/memmap.h"

void config_init(struct config *c)
{
    *c = (struct config){
        .accel = ACCEL_XEN,
        .devices = g_ptr_array_new_with_free_func(g_free),
        .chardevs = g_ptr_array_new_with_free_func(g_free),
        .serials = g_ptr_array_new_with_free_func(g_free),
    };
}

void config_clear(struct config *c)
{
    g_free(c->sim_dir);
    g_free(c->name);
    g_free(c->machine);
    g_ptr_array_free(c->devices, TRUE);
    g_ptr_array_free(c->chardevs, TRUE);
    g_ptr_array_free(c->serials, TRUE);
    privsep_clear(&c->privsep);
    xl_options_clear(&c->xl);
}

static bool bad(GError **error, const char *fmt, const char *arg)
{
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, fmt, arg);
    return false;
}

static bool parse_domid(struct config *c, const char *arg, GError **error)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(arg, 10, 1, 0x7fef, &v, NULL))
        return bad(error, "-xen-domid: '%s' is not a guest domain id (1-32751)", arg);
    c->domid = (uint32_t)v;
    c->have_domid = true;
    return true;
}

static bool parse_accel(struct config *c, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "accel", error);

    if (!o)
        return false;
    const char *kind = opts_get_str(o, "accel", "");
    if (!strcmp(kind, "xen")) {
        c->accel = ACCEL_XEN;
    } else if (!strcmp(kind, "xensim")) {
        const char *dir = opts_get_str(o, "dir", NULL);
        if (!dir)
            return bad(error, "-accel %s: xensim needs dir=DIR (xensim's --dir)", arg);
        c->accel = ACCEL_XENSIM;
        g_free(c->sim_dir);
        c->sim_dir = g_strdup(dir);
    } else {
        return bad(error, "-accel: unknown accelerator '%s' (xen, xensim)", kind);
    }
    return opts_check_all_used(o, "-accel", error);
}

static bool parse_name(struct config *c, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "guest", error);

    if (!o)
        return false;
    g_free(c->name);
    c->name = g_strdup(opts_get_str(o, "guest", ""));
    opts_get_str(o, "debug-threads", NULL); /* libvirt/libxl pass it; threads are not named */
    return opts_check_all_used(o, "-name", error);
}

/* Bounded well below anything a person would notice as a stuck CPU. */
#define MAX_IOREQ_POLL_US 10000

static bool parse_poll_us(struct config *c, const char *arg, GError **error)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(arg, 10, 0, MAX_IOREQ_POLL_US, &v, NULL))
        return bad(error, "-ioreq-poll-us: '%s' is not 0-10000 microseconds", arg);
    c->ioreq_poll_us = (unsigned int)v;
    return true;
}

/* QEMU's -m SIZE: a plain number is MiB; K, M, G, T (either case) scale.
 * Anything else, or a value that overflows, is refused. */
static bool parse_ram_size(const char *text, uint64_t *bytes)
{
    char *end;
    unsigned int shift = 20;

    if (!g_ascii_isdigit(text[0]))
        return false;
    errno = 0;
    guint64 v = g_ascii_strtoull(text, &end, 10);
    if (errno)
        return false;
    if (*end) {
        const char *units = "KMGT";
        const char *u = strchr(units, g_ascii_toupper(*end));
        if (!u || end[1])
            return false;
        shift = 10 * (unsigned int)(u - units + 1);
    }
    if (v > (UINT64_MAX >> shift))
        return false;
    *bytes = v << shift;
    return true;
}

/* QEMU's limit on memory hotplug slots. */
#define MAX_RAM_SLOTS 256

/* -m SIZE | -m [size=]SIZE[,maxmem=SIZE][,slots=N]: the guest's RAM, for
 * the memory map BARs must stay off (firmware/memmap.h). */
static bool parse_memory(struct config *c, const char *arg, GError **error)
{
    g_autoptr(opts) o = opts_parse(arg, "size", error);
    uint64_t size = 0, maxmem, slots;

    if (!o) {
        g_prefix_error(error, "-m: ");
        return false;
    }
    const char *text = opts_get_str(o, "size", NULL);
    if (!text || !parse_ram_size(text, &size) || size < MEMMAP_MIB || size > MEMMAP_MAX_RAM ||
        size % MEMMAP_PAGE_SIZE)
        return bad(error, "-m %s: the size must be 1M..16T, 4 KiB aligned "
                          "(a plain number is MiB; K, M, G, T suffixes)", arg);
    if (!opts_get_u64(o, "maxmem", size, &maxmem, NULL) || maxmem < size ||
        maxmem > MEMMAP_MAX_RAM)
        return bad(error, "-m %s: maxmem must be at least the size and at most 16T", arg);
    if (!opts_get_u64(o, "slots", 0, &slots, NULL) || slots > MAX_RAM_SLOTS)
        return bad(error, "-m %s: slots must be 0..256", arg);
    if (!opts_check_all_used(o, "-m", error))
        return false;
    c->ram_size = size;
    c->ram_maxmem = maxmem;
    c->ram_slots = (unsigned int)slots;
    return true;
}

/* Options that take an argument, and what to do with it. */
static bool apply_option(struct config *c, const char *opt, const char *arg, GError **error)
{
    if (!strcmp(opt, "xen-domid"))
        return parse_domid(c, arg, error);
    if (!strcmp(opt, "accel"))
        return parse_accel(c, arg, error);
    if (!strcmp(opt, "machine") || !strcmp(opt, "M")) {
        g_free(c->machine);
        c->machine = g_strdup(arg);
        return true;
    }
    if (!strcmp(opt, "device")) {
        g_ptr_array_add(c->devices, g_strdup(arg));
        return true;
    }
    if (!strcmp(opt, "chardev")) {
        g_ptr_array_add(c->chardevs, g_strdup(arg));
        return true;
    }
    if (!strcmp(opt, "serial")) {
        g_ptr_array_add(c->serials, g_strdup(arg));
        return true;
    }
    if (!strcmp(opt, "name"))
        return parse_name(c, arg, error);
    if (!strcmp(opt, "ioreq-poll-us"))
        return parse_poll_us(c, arg, error);
    if (!strcmp(opt, "m"))
        return parse_memory(c, arg, error);
    if (!strcmp(opt, "runas"))
        return privsep_parse_user(&c->privsep, arg, error);
    if (!strcmp(opt, "chroot")) {
        g_free(c->privsep.chroot_dir);
        c->privsep.chroot_dir = g_strdup(arg);
        return true;
    }
    if (!strcmp(opt, "run-with"))
        return privsep_parse_run_with(&c->privsep, arg, error);
    if (!strcmp(opt, "display")) {
        if (strcmp(arg, "none") != 0)
            return bad(error, "-display: only 'none' is supported, not '%s'", arg);
        return true;
    }
    bool ok;
    if (xl_apply_option(&c->xl, opt, arg, &ok, error))
        return ok;
    return bad(error, "unknown option '-%s'", opt);
}

static bool takes_argument(const char *opt)
{
    static const char *const with_arg[] = {
        "xen-domid", "accel", "machine", "M", "device", "chardev", "name", "display",
        "runas", "chroot", "run-with", "serial", "ioreq-poll-us", "m",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(with_arg); i++)
        if (!strcmp(opt, with_arg[i]))
            return true;
    return xl_takes_argument(opt);
}

static bool apply_flag(struct config *c, const char *opt, GError **error)
{
    if (!strcmp(opt, "h") || !strcmp(opt, "help"))
        c->show_help = true;
    else if (!strcmp(opt, "version"))
        c->show_version = true;
    else if (!strcmp(opt, "xen-domid-restrict"))
        c->privsep.restrict_domain = true;
    else if (!strcmp(opt, "nodefaults"))
        c->nodefaults = true;
    else if (!strcmp(opt, "no-user-config") || !strcmp(opt, "xen-attach"))
        ; /* libxl passes these; they are what ioreqd does anyway */
    else if (!xl_apply_flag(&c->xl, opt))
        return bad(error, "unknown option '-%s'", opt);
    return true;
}

bool cli_parse(struct config *c, int argc, char **argv, GError **error)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return bad(error, "unexpected argument '%s'", a);
        /* QEMU accepts both -opt and --opt */
        const char *opt = a + (a[1] == '-' ? 2 : 1);
        if (!takes_argument(opt)) {
            if (!apply_flag(c, opt, error))
                return false;
            continue;
        }
        if (i + 1 >= argc)
            return bad(error, "option '%s' needs an argument", a);
        if (!apply_option(c, opt, argv[++i], error))
            return false;
    }
    if (!c->show_help && !c->show_version && !c->have_domid)
        return bad(error, "%s", "-xen-domid is required (the guest this process serves)");
    return xl_finish(&c->xl, c->chardevs, c->devices, error);
}

void cli_print_help(const char *prog)
{
    printf("Usage: %s -xen-domid N [options]\n"
           "ioreqd: a lean device model for Xen HVM guests.\n\n"
           "  -xen-domid N              the guest domain to serve\n"
           "  -accel xen                talk to Xen through libxen* (default)\n"
           "  -accel xensim,dir=DIR     talk to the simulated hypervisor in DIR\n"
           "  -machine TYPE[,prop=val]  none | xenfv[,max-ram-below-4g=SIZE] | pc,accel=xen\n"
           "  -m [size=]SIZE[,maxmem=SIZE][,slots=N]\n"
           "                            guest RAM (plain number: MiB), so BARs stay off it;\n"
           "                            default: what the hypervisor reports\n"
           "  -device NAME[,prop=val]   add a device (-device help, -device NAME,help)\n"
           "  -chardev BACKEND,id=ID[,...]\n"
           "                            file,path=P[,append=on] | stdio | null | pty |\n"
           "                            socket,path=P[,server=on,wait=off]\n"
           "  -serial SPEC              a 16550A UART on the xenfv machine (COM1, COM2...):\n"
           "                            pty | stdio | null | none | file:PATH |\n"
           "                            unix:PATH[,server,nowait]\n"
           "  -name NAME                guest name for logs\n"
           "  -xen-domid-restrict       restrict hypervisor handles to the guest's domain\n"
           "  -runas USER|UID:GID       drop to this user after set-up (no extra groups)\n"
           "  -chroot DIR               enter DIR after set-up\n"
           "  -run-with user=U,chroot=D the same, in newer QEMU's spelling\n"
           "  -nodefaults               create no default devices\n"
           "  -ioreq-poll-us N          after serving a request, keep checking the slots\n"
           "                            for N more microseconds before sleeping (0-10000,\n"
           "                            default 0): lower latency for busy guests at the\n"
           "                            cost of CPU; an idle guest still costs nothing\n"
           "  -display none             no local display\n"
           "  -mon chardev=ID,mode=control, -qmp unix:PATH,server=on,wait=off\n"
           "                            QMP on that socket (libxl's monitors)\n"
           "  -S                        start with emulation stopped until QMP cont\n"
           "  -smp N[,maxcpus=M]        checked against the domain's vCPU count\n"
           "  -boot order=DRIVES        accepted: the firmware reads the boot order\n"
           "  -vnc none, -net none      accepted (no VNC server, no emulated NIC yet)\n"
           "  -global DRIVER.PROP=VAL   default property of every -device DRIVER\n"
           "  -no-shutdown, -no-user-config, -xen-attach, -nodefaults: accepted\n"
           "  -h, --help                this text\n"
           "  --version                 print the version\n",
           prog);
}
