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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/parse", test_parse);
    g_test_add_func("/options/numbers", test_numbers);
    g_test_add_func("/options/unknown-malformed", test_unknown_and_malformed);
    g_test_add_func("/options/cli", test_cli);
    return g_test_run();
}
