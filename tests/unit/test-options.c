/* SPDX-License-Identifier: MIT */
/* Option strings and the command line: every mistake is an error that
 * names what was wrong. */
#include <glib.h>

#include "devices/options.h"
#include "ioreq/cli.h"

static void test_parse(void)
{
    GError *err = NULL;
    g_autoptr(opts) o = opts_parse("isa-debugcon,iobase=0x402,path=a,,b,flag", "driver", &err);
    uint64_t v;
    bool b;

    g_assert_no_error(err);
    g_assert_cmpstr(opts_get_str(o, "driver", NULL), ==, "isa-debugcon");
    g_assert_cmpstr(opts_get_str(o, "path", NULL), ==, "a,b");
    g_assert_true(opts_get_u64(o, "iobase", 0, &v, &err));
    g_assert_cmphex(v, ==, 0x402);
    g_assert_true(opts_get_bool(o, "flag", false, &b, &err));
    g_assert_true(b);
    g_assert_true(opts_check_all_used(o, "x", &err));
}

static void test_numbers(void)
{
    static const struct { const char *text; uint64_t value; } good[] = {
        { "n=16", 16 }, { "n=0x10", 16 }, { "n=4K", 4096 }, { "n=2g", 2ull << 30 },
    };
    static const char *const bad[] = { "n=", "n=x", "n=-1", "n=1Q", "n=99999999999999999999",
                                       "n=17179869184T" };
    GError *err = NULL;
    uint64_t v;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(opts) o = opts_parse(good[i].text, NULL, &err);
        g_assert_true(opts_get_u64(o, "n", 0, &v, &err));
        g_assert_cmpuint(v, ==, good[i].value);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(opts) o = opts_parse(bad[i], NULL, &err);
        g_assert_nonnull(o);
        g_assert_false(opts_get_u64(o, "n", 0, &v, &err));
        g_assert_nonnull(strstr(err->message, "'n'"));
        g_clear_error(&err);
    }
}

static void test_unknown_and_malformed(void)
{
    GError *err = NULL;
    g_autoptr(opts) o = opts_parse("dev,colour=blue", "driver", &err);

    opts_get_str(o, "driver", NULL);
    g_assert_false(opts_check_all_used(o, "device 'dev'", &err));
    g_assert_cmpstr(err->message, ==, "device 'dev' has no property 'colour'");
    g_clear_error(&err);
    g_assert_null(opts_parse("dev,=x", "driver", &err));
    g_clear_error(&err);
    g_assert_null(opts_parse("dev,a=1,a=2", "driver", &err));
    g_assert_nonnull(strstr(err->message, "twice"));
    g_clear_error(&err);
}

static bool parse_args(const char *line, struct config *c, GError **err)
{
    g_auto(GStrv) argv = g_strsplit(line, " ", -1);
    config_init(c);
    return cli_parse(c, (int)g_strv_length(argv), argv, err);
}

static void test_cli(void)
{
    static const struct { const char *line; const char *needle; } bad[] = {
        { "ioreqd -bogus", "'-bogus'" },
        { "ioreqd", "-xen-domid is required" },
        { "ioreqd -xen-domid 0", "'0'" },
        { "ioreqd -xen-domid abc", "'abc'" },
        { "ioreqd -xen-domid 1 -accel kvm", "'kvm'" },
        { "ioreqd -xen-domid 1 -accel xensim", "dir=" },
        { "ioreqd -xen-domid 1 -accel xensim,dir=/x,speed=9", "'speed'" },
        { "ioreqd -xen-domid 1 -display gtk", "'gtk'" },
        { "ioreqd -xen-domid 1 -device", "needs an argument" },
        { "ioreqd -xen-domid 1 stray", "'stray'" },
        { "ioreqd -xen-domid 1 -runas no-such-user-here", "'no-such-user-here'" },
        { "ioreqd -xen-domid 1 -runas 12:", "'12:'" },
        { "ioreqd -xen-domid 1 -runas :12", "':12'" },
        { "ioreqd -xen-domid 1 -run-with user=1:2,jail=/x", "'jail'" },
    };
    struct config c;
    GError *err = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(parse_args(bad[i].line, &c, &err));
        g_assert_nonnull(strstr(err->message, bad[i].needle));
        g_clear_error(&err);
        config_clear(&c);
    }
    g_assert_true(parse_args("ioreqd -xen-domid 5 -xen-attach -no-user-config -nodefaults "
                             "--accel xensim,dir=/tmp/s -name guest=vm1,debug-threads=on "
                             "-device isa-debugcon -chardev null,id=n -display none",
                             &c, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(c.domid, ==, 5);
    g_assert_cmpint(c.accel, ==, ACCEL_XENSIM);
    g_assert_cmpstr(c.sim_dir, ==, "/tmp/s");
    g_assert_cmpstr(c.name, ==, "vm1");
    g_assert_cmpuint(c.devices->len, ==, 1);
    g_assert_false(c.privsep.restrict_domain);
    config_clear(&c);
    g_assert_true(parse_args("ioreqd -xen-domid 5 -xen-domid-restrict -runas 123:456 -chroot /a "
                             "-run-with chroot=/b,user=root", &c, &err));
    g_assert_no_error(err);
    g_assert_true(c.privsep.restrict_domain);
    g_assert_true(c.privsep.change_user);
    g_assert_cmpuint(c.privsep.uid, ==, 0); /* the last word wins, as in QEMU */
    g_assert_cmpstr(c.privsep.chroot_dir, ==, "/b");
    config_clear(&c);
}

/* What libxl passes a qemu-xen device model: every refusal is one exact line. */
static void test_xl_options(void)
{
    static const struct { const char *line; const char *message; } bad[] = {
        { "-vnc 127.0.0.1:0,to=99",
          "-vnc 127.0.0.1:0,to=99: ioreqd has no VNC server yet; only -vnc none is accepted "
          "(vnc=0 in xl.cfg)" },
        { "-net nic", "-net nic: ioreqd emulates no network card; only -net none is accepted "
                      "(use PV network: vif type=vif in xl.cfg)" },
        { "-smp 0", "-smp 0: expected N[,maxcpus=M] with 1 <= N <= M <= 128" },
        { "-smp 4,maxcpus=2", "-smp 4,maxcpus=2: expected N[,maxcpus=M] with 1 <= N <= M <= 128" },
        { "-smp 129", "-smp 129: expected N[,maxcpus=M] with 1 <= N <= M <= 128" },
        { "-smp two", "-smp two: expected N[,maxcpus=M] with 1 <= N <= M <= 128" },
        { "-smp 2,sockets=2", "-smp has no property 'sockets'" },
        { "-boot order=cz", "-boot order=cz: expected order=DRIVES, drive letters a-p" },
        { "-boot order=", "-boot order=: expected order=DRIVES, drive letters a-p" },
        { "-boot order=c,menu=on", "-boot has no property 'menu'" },
        { "-mon chardev=m,mode=readline",
          "-mon chardev=m,mode=readline: only mode=control (QMP) is supported; "
          "ioreqd has no human monitor" },
        { "-mon mode=control", "-mon mode=control: chardev=ID is required" },
        { "-mon chardev=nope,mode=control", "-mon: no -chardev with id 'nope' (or two monitors on it)" },
        { "-qmp tcp:localhost:4444", "-qmp tcp:localhost:4444: only unix:PATH,server=on,wait=off is supported" },
        { "-global novalue", "-global novalue: expected DRIVER.PROP=VALUE" },
        { "-global .p=1", "-global .p=1: expected DRIVER.PROP=VALUE" },
        { "-global d.=1", "-global d.=1: expected DRIVER.PROP=VALUE" },
        { "-global driver=d,property=p", "-global driver=d,property=p: expected DRIVER.PROP=VALUE" },
        { "-display sdl", "-display: only 'none' is supported, not 'sdl'" },
    };
    struct config c;
    GError *err = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *line = g_strdup_printf("ioreqd -xen-domid 1 %s", bad[i].line);
        g_assert_false(parse_args(line, &c, &err));
        g_assert_cmpstr(err->message, ==, bad[i].message);
        g_clear_error(&err);
        config_clear(&c);
    }
    g_assert_true(parse_args(
        "ioreqd -xen-domid 5 -no-shutdown -S "
        "-chardev socket,id=libxl-cmd,path=/run/q1,server=on,wait=off "
        "-mon chardev=libxl-cmd,mode=control "
        "-chardev socket,id=libxenstat-cmd,path=/run/q2,server=on,wait=off "
        "-mon chardev=libxenstat-cmd,mode=control -qmp unix:/run/q3,server,nowait "
        "-nodefaults -no-user-config -xen-attach -vnc none -display none -boot order=cd "
        "-smp 2,maxcpus=4 -net none -chardev null,id=n -device isa-debugcon,chardev=n "
        "-device isa-debugcon,iobase=0x402,chardev=n -global isa-debugcon.iobase=0x403 "
        "-global driver=pci-testdev,property=romfile,value=/a,,b",
        &c, &err));
    g_assert_no_error(err);
    g_assert_true(c.xl.start_paused);
    g_assert_true(c.xl.no_shutdown);
    g_assert_cmpuint(c.xl.smp_cpus, ==, 2);
    g_assert_cmpuint(c.xl.smp_max, ==, 4);
    g_assert_cmpstr(c.xl.boot_order, ==, "cd");
    /* the monitors' chardevs belong to QMP now, not to the chardev set */
    g_assert_cmpuint(c.chardevs->len, ==, 1);
    g_assert_cmpuint(c.xl.qmp_specs->len, ==, 3);
    g_assert_cmpstr(g_ptr_array_index(c.xl.qmp_specs, 0), ==, "socket,id=qmp0,path=/run/q3,server,nowait");
    g_assert_cmpstr(g_ptr_array_index(c.xl.qmp_specs, 1), ==,
                    "socket,id=libxl-cmd,path=/run/q1,server=on,wait=off");
    /* -global: a default, never over what the -device says */
    g_assert_cmpstr(g_ptr_array_index(c.devices, 0), ==, "isa-debugcon,chardev=n,iobase=0x403");
    g_assert_cmpstr(g_ptr_array_index(c.devices, 1), ==, "isa-debugcon,iobase=0x402,chardev=n");
    g_assert_cmpstr(g_ptr_array_index(c.xl.globals, 1), ==, "pci-testdev.romfile=/a,b");
    g_assert_true(xl_check_smp(&c.xl, 4, &err));
    g_assert_false(xl_check_smp(&c.xl, 2, &err));
    g_assert_cmpstr(err->message, ==,
                    "-smp: 4 vCPUs (maxcpus) given, but the domain has 2: Xen decides the count");
    g_clear_error(&err);
    config_clear(&c);
    /* -smp N alone means maxcpus=N; without -smp any count is fine */
    g_assert_true(parse_args("ioreqd -xen-domid 5 -smp 3 -boot cd", &c, &err));
    g_assert_true(xl_check_smp(&c.xl, 3, &err));
    g_assert_false(xl_check_smp(&c.xl, 4, &err));
    g_clear_error(&err);
    config_clear(&c);
    g_assert_true(parse_args("ioreqd -xen-domid 5", &c, &err));
    g_assert_true(xl_check_smp(&c.xl, 7, &err));
    config_clear(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/parse", test_parse);
    g_test_add_func("/options/numbers", test_numbers);
    g_test_add_func("/options/unknown-malformed", test_unknown_and_malformed);
    g_test_add_func("/options/cli", test_cli);
    g_test_add_func("/options/xl", test_xl_options);
    return g_test_run();
}
