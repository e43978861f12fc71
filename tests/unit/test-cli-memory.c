/* SPDX-License-Identifier: MIT */
/* -m, as libxl passes it (-m MiB) and as QEMU spells it
 * (-m [size=]SIZE[,maxmem=SIZE][,slots=N]); hostile values get one line
 * naming the option. */
#include <glib.h>
#include <string.h>

#include "ioreq/cli.h"

static bool parse_m(const char *value, struct config *c, GError **err)
{
    char *argv[] = { "ioreqd", "-xen-domid", "1", "-m", (char *)value, NULL };

    config_init(c);
    return cli_parse(c, 5, argv, err);
}

static void test_sizes(void)
{
    static const struct { const char *arg; uint64_t bytes, maxmem; unsigned int slots; } good[] = {
        { "1024", 1ull << 30, 1ull << 30, 0 },         /* libxl: plain MiB */
        { "512M", 512ull << 20, 512ull << 20, 0 },
        { "512m", 512ull << 20, 512ull << 20, 0 },
        { "2G", 2ull << 30, 2ull << 30, 0 },
        { "1t", 1ull << 40, 1ull << 40, 0 },
        { "4096K", 4ull << 20, 4ull << 20, 0 },
        { "1", 1ull << 20, 1ull << 20, 0 },
        { "size=8G", 8ull << 30, 8ull << 30, 0 },
        { "2G,maxmem=4G,slots=2", 2ull << 30, 4ull << 30, 2 },
        { "size=2048,slots=256", 2ull << 30, 2ull << 30, 256 },
    };
    struct config c;
    GError *err = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_assert_true(parse_m(good[i].arg, &c, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(c.ram_size, ==, good[i].bytes);
        g_assert_cmpuint(c.ram_maxmem, ==, good[i].maxmem);
        g_assert_cmpuint(c.ram_slots, ==, good[i].slots);
        config_clear(&c);
    }
    /* not given: 0, ask the hypervisor */
    char *argv[] = { "ioreqd", "-xen-domid", "1", NULL };
    config_init(&c);
    g_assert_true(cli_parse(&c, 3, argv, &err));
    g_assert_cmpuint(c.ram_size, ==, 0);
    config_clear(&c);
}

static void test_hostile(void)
{
    static const char *const bad[] = {
        "", "0", "-1", "x", "1.5G", "1024X", "1GB", "12 M", "0x400", "4095K",
        "99999999999999999999", "18446744073709551615", "16777217M", "17T",
        "1M,maxmem=512K", "1G,maxmem=99999999999999999999", "1G,maxmem=17T",
        "1G,slots=257", "1G,slots=-1", "1G,slots=x", "1G,hotplug=on", "size=",
        "1G,size=2G", "maxmem=4G",
    };
    struct config c;
    GError *err = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_assert_false(parse_m(bad[i], &c, &err));
        g_assert_nonnull(err);
        /* one line, naming the option */
        g_assert_nonnull(strstr(err->message, "-m"));
        g_assert_null(strchr(err->message, '\n'));
        g_clear_error(&err);
        config_clear(&c);
    }
    char *argv[] = { "ioreqd", "-xen-domid", "1", "-m", NULL };
    config_init(&c);
    g_assert_false(cli_parse(&c, 4, argv, &err));
    g_assert_nonnull(strstr(err->message, "-m"));
    g_clear_error(&err);
    config_clear(&c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cli/memory/sizes", test_sizes);
    g_test_add_func("/cli/memory/hostile", test_hostile);
    return g_test_run();
}
