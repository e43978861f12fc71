/* SPDX-License-Identifier: MIT */
/*
 * blkfront: a test PV block frontend for a xensim domain. See usage().
 * Exit status: 0 fine, 1 the mode found a failure, 2 it could not connect
 * (or a bad command line).
 */
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xen/io/blkif.h>

#include "tests/blkfront/blkfront.h"
#include "tests/blkfront/modes.h"

static void usage(FILE *f)
{
    fputs("usage: blkfront --dir DIR --domid N --devid N --gpa-base ADDR --gpa-size SIZE\n"
          "                [--mode connect|verify|bench|raw|disappear] [options]\n"
          "negotiation (auto: as the backend advertises; on/N: forced even if it does not):\n"
          "  --protocol native|x86_32-abi|x86_64-abi|none   request layout (none: key unwritten)\n"
          "  --queues auto|N  --ring-page-order auto|N\n"
          "  --persistent auto|on|off  --flush auto|on|off  --discard auto|on|off\n"
          "  --indirect auto|off|N     --max-segments N (cap with indirect, default 256)\n"
          "  --queue-depth N (per queue, default 32)\n"
          "grants (several disks of one guest share its table):\n"
          "  --grant-refs FIRST:COUNT   our refs (default 8 to the table's end)\n"
          "  --shared-grant-table GPA   the table another frontend set up (default: our\n"
          "                             own, at --gpa-base)\n"
          "  --connect-timeout SECONDS (default 10)  --io-timeout SECONDS (default 30)\n"
          "  --evtchn direct|text   event channels through the ports' own eventfds\n"
          "                         (default) or xensim's qtest text lines\n"
          "modes:\n"
          "  --ops N --seed N --max-sectors N --span-sectors N --discard-zeroes   (verify, disappear)\n"
          "  --bench-seconds S  --bench-loads randread-4k,seqread-1m,seqwrite-1m  (bench)\n"
          "  --bench-windows N  timed runs per workload, each after a line on stdin (bench)\n"
          "  --raw-cases a,b,...                                                  (raw)\n"
          "  --linger SECONDS   stay connected after the mode (tests poke the device)\n",
          f);
}

struct cli {
    struct blkfront_opts o;
    struct mode_opts m;
    const char *mode;
    int linger_ms; /* stay connected this long after the mode */
};

static bool num(const char *s, uint64_t *out)
{
    char *end;
    *out = g_ascii_strtoull(s, &end, 0);
    return s[0] && !*end;
}

/* auto | on | off */
static bool tristate(const char *s, int *out)
{
    if (!strcmp(s, "auto"))
        *out = BLKFRONT_AUTO;
    else if (!strcmp(s, "on"))
        *out = 1;
    else if (!strcmp(s, "off"))
        *out = 0;
    else
        return false;
    return true;
}

/* auto | off | N */
static bool auto_num(const char *s, int *out)
{
    uint64_t v;
    if (!strcmp(s, "auto"))
        *out = BLKFRONT_AUTO;
    else if (!strcmp(s, "off"))
        *out = 0;
    else if (num(s, &v) && v <= 65535)
        *out = (int)v;
    else
        return false;
    return true;
}

static bool protocol(const char *s, struct blkfront_opts *o)
{
    o->write_protocol = strcmp(s, "none") != 0;
    if (!strcmp(s, "native") || !strcmp(s, "none"))
        o->abi = BLKFRONT_ABI_NATIVE;
    else if (!strcmp(s, "x86_32-abi"))
        o->abi = BLKFRONT_ABI_X86_32;
    else if (!strcmp(s, "x86_64-abi"))
        o->abi = BLKFRONT_ABI_X86_64;
    else
        return false;
    return true;
}

enum {
    OPT_DIR = 256, OPT_DOMID, OPT_DEVID, OPT_GPA_BASE, OPT_GPA_SIZE, OPT_MODE, OPT_PROTOCOL,
    OPT_QUEUES, OPT_ORDER, OPT_PERSISTENT, OPT_FLUSH, OPT_DISCARD, OPT_INDIRECT, OPT_MAX_SEGS,
    OPT_DEPTH, OPT_CONNECT_TIMEOUT, OPT_IO_TIMEOUT, OPT_OPS, OPT_SEED, OPT_MAX_SECTORS,
    OPT_SPAN, OPT_DISCARD_ZEROES, OPT_BENCH_SECONDS, OPT_BENCH_LOADS, OPT_BENCH_WINDOWS,
    OPT_RAW_CASES, OPT_GRANT_REFS, OPT_SHARED_GNTTAB, OPT_LINGER, OPT_EVTCHN, OPT_HELP,
};

static const struct option long_opts[] = {
    { "dir", required_argument, NULL, OPT_DIR },
    { "domid", required_argument, NULL, OPT_DOMID },
    { "devid", required_argument, NULL, OPT_DEVID },
    { "gpa-base", required_argument, NULL, OPT_GPA_BASE },
    { "gpa-size", required_argument, NULL, OPT_GPA_SIZE },
    { "mode", required_argument, NULL, OPT_MODE },
    { "protocol", required_argument, NULL, OPT_PROTOCOL },
    { "queues", required_argument, NULL, OPT_QUEUES },
    { "ring-page-order", required_argument, NULL, OPT_ORDER },
    { "persistent", required_argument, NULL, OPT_PERSISTENT },
    { "flush", required_argument, NULL, OPT_FLUSH },
    { "discard", required_argument, NULL, OPT_DISCARD },
    { "indirect", required_argument, NULL, OPT_INDIRECT },
    { "max-segments", required_argument, NULL, OPT_MAX_SEGS },
    { "queue-depth", required_argument, NULL, OPT_DEPTH },
    { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
    { "io-timeout", required_argument, NULL, OPT_IO_TIMEOUT },
    { "ops", required_argument, NULL, OPT_OPS },
    { "seed", required_argument, NULL, OPT_SEED },
    { "max-sectors", required_argument, NULL, OPT_MAX_SECTORS },
    { "span-sectors", required_argument, NULL, OPT_SPAN },
    { "discard-zeroes", no_argument, NULL, OPT_DISCARD_ZEROES },
    { "bench-seconds", required_argument, NULL, OPT_BENCH_SECONDS },
    { "bench-loads", required_argument, NULL, OPT_BENCH_LOADS },
    { "bench-windows", required_argument, NULL, OPT_BENCH_WINDOWS },
    { "raw-cases", required_argument, NULL, OPT_RAW_CASES },
    { "grant-refs", required_argument, NULL, OPT_GRANT_REFS },
    { "shared-grant-table", required_argument, NULL, OPT_SHARED_GNTTAB },
    { "linger", required_argument, NULL, OPT_LINGER },
    { "evtchn", required_argument, NULL, OPT_EVTCHN },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

static bool seconds_ms(const char *s, int *ms)
{
    char *end;
    double v = g_ascii_strtod(s, &end);
    if (!s[0] || *end || v <= 0 || v > 3600)
        return false;
    *ms = (int)(v * 1000);
    return true;
}

/* FIRST:COUNT */
static bool grant_refs(const char *s, struct blkfront_opts *o)
{
    uint64_t first, count;
    gchar **f = g_strsplit(s, ":", 3);
    bool ok = g_strv_length(f) == 2 && num(f[0], &first) && num(f[1], &count) &&
              first <= UINT32_MAX && count >= 1 && count <= UINT32_MAX;
    g_strfreev(f);
    if (ok) {
        o->first_ref = (uint32_t)first;
        o->nr_refs = (uint32_t)count;
    }
    return ok;
}

/* direct | text */
static bool evtchn_mode(const char *s, enum guest_evtchn_mode *out)
{
    if (!strcmp(s, "direct"))
        *out = GUEST_EVTCHN_DIRECT;
    else if (!strcmp(s, "text"))
        *out = GUEST_EVTCHN_TEXT;
    else
        return false;
    return true;
}

/* One option; false if its value is bad. */
static bool apply_opt(struct cli *c, int opt, const char *a)
{
    uint64_t v = 0;
    struct blkfront_opts *o = &c->o;
    struct mode_opts *m = &c->m;
    switch (opt) {
    case OPT_DIR: o->dir = a; return true;
    case OPT_DOMID: return num(a, &v) && v < 0x7FF0 && ((o->domid = (unsigned int)v), true);
    case OPT_DEVID: return num(a, &v) && v <= UINT32_MAX && ((o->devid = (unsigned int)v), true);
    case OPT_GPA_BASE: return num(a, &o->gpa_base);
    case OPT_GPA_SIZE: return num(a, &o->gpa_size);
    case OPT_MODE: c->mode = a; return true;
    case OPT_PROTOCOL: return protocol(a, o);
    case OPT_QUEUES: return auto_num(a, &o->queues);
    case OPT_ORDER: return auto_num(a, &o->ring_order);
    case OPT_PERSISTENT: return tristate(a, &o->persistent);
    case OPT_FLUSH: return tristate(a, &o->flush);
    case OPT_DISCARD: return tristate(a, &o->discard);
    case OPT_INDIRECT: return auto_num(a, &o->indirect);
    case OPT_MAX_SEGS: return num(a, &v) && v >= 11 && v <= 4096 &&
                              ((o->max_segments = (unsigned int)v), true);
    case OPT_DEPTH: return num(a, &v) && v >= 1 && v <= 4096 &&
                           ((o->queue_depth = (unsigned int)v), true);
    case OPT_CONNECT_TIMEOUT: return seconds_ms(a, &o->connect_timeout_ms);
    case OPT_IO_TIMEOUT: return seconds_ms(a, &o->io_timeout_ms);
    case OPT_OPS: return num(a, &m->ops);
    case OPT_SEED: return num(a, &m->seed);
    case OPT_MAX_SECTORS: return num(a, &v) && v >= 1 && v <= 65536 &&
                                 ((m->max_sectors = (uint32_t)v), true);
    case OPT_SPAN: return num(a, &m->span_sectors);
    case OPT_DISCARD_ZEROES: m->discard_zeroes = true; return true;
    case OPT_BENCH_SECONDS: {
        int ms;
        return seconds_ms(a, &ms) && ((m->bench_seconds = ms / 1000.0), true);
    }
    case OPT_BENCH_LOADS: return bench_loads_valid(a) && ((m->bench_loads = a), true);
    case OPT_BENCH_WINDOWS: return num(a, &m->bench_windows) && m->bench_windows >= 1;
    case OPT_RAW_CASES: m->raw_cases = a; return true;
    case OPT_GRANT_REFS: return grant_refs(a, o);
    case OPT_LINGER: return seconds_ms(a, &c->linger_ms);
    case OPT_SHARED_GNTTAB: return num(a, &o->shared_gnttab) && o->shared_gnttab;
    case OPT_EVTCHN: return evtchn_mode(a, &o->evtchn);
    default: return false;
    }
}

static const char *option_name(int val)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

static bool parse(int argc, char **argv, struct cli *c)
{
    blkfront_opts_init(&c->o);
    c->m = (struct mode_opts){ .ops = 2000, .seed = 1, .max_sectors = 128, .bench_seconds = 2,
                               .bench_windows = 1 };
    c->mode = "connect";
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || !apply_opt(c, opt, optarg)) {
            if (opt != '?')
                fprintf(stderr, "blkfront: bad value for --%s: %s\n", option_name(opt),
                        optarg);
            return false;
        }
    }
    if (optind != argc || !c->o.dir || !c->o.gpa_size) {
        fprintf(stderr, "blkfront: --dir, --domid, --devid, --gpa-base and --gpa-size are "
                        "needed\n");
        return false;
    }
    return true;
}

static void print_connected(const struct blkfront *bf)
{
    printf("blkfront: connected backend=%s sectors=%" PRIu64 " sector-size=%" PRIu64
           " info=%" PRIu64 " queues=%u ring-page-order=%u protocol=%s persistent=%d "
           "indirect=%u flush=%d discard=%d discard-granularity=%" PRIu64
           " discard-alignment=%" PRIu64 " discard-secure=%d evtchn=%s\n",
           bf->be_dir, bf->be.sectors, bf->be.sector_size, bf->be.info, bf->nr_queues,
           bf->ring_order, bf->opt.write_protocol ? bf->layout->protocol : "none",
           bf->use_persistent, bf->use_indirect ? bf->max_segs : 0, bf->use_flush,
           bf->use_discard, bf->be.discard_granularity, bf->be.discard_alignment,
           bf->be.discard_secure, bf->opt.evtchn == GUEST_EVTCHN_TEXT ? "text" : "direct");
    fflush(stdout);
}

static int run_mode(struct blkfront *bf, const struct cli *c)
{
    if (!strcmp(c->mode, "verify"))
        return mode_verify(bf, &c->m);
    if (!strcmp(c->mode, "bench"))
        return mode_bench(bf, &c->m);
    if (!strcmp(c->mode, "raw"))
        return mode_raw(bf, &c->m);
    if (!strcmp(c->mode, "disappear"))
        mode_disappear(bf, &c->m);
    return 0; /* connect */
}

int main(int argc, char **argv)
{
    struct cli c;
    if (!parse(argc, argv, &c)) {
        usage(stderr);
        return 2;
    }
    const char *modes[] = { "connect", "verify", "bench", "raw", "disappear" };
    bool known = false;
    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++)
        known |= !strcmp(modes[i], c.mode);
    if (!known) {
        fprintf(stderr, "blkfront: unknown mode %s\n", c.mode);
        return 2;
    }
    struct blkfront *bf = g_new0(struct blkfront, 1);
    char *err = NULL;
    if (!blkfront_connect(bf, &c.o, &err)) {
        fprintf(stderr, "blkfront: %s\n", err);
        g_free(err);
        blkfront_abandon(bf);
        g_free(bf);
        return 2;
    }
    print_connected(bf);
    int status = run_mode(bf, &c);
    g_usleep((gulong)c.linger_ms * 1000);
    if (!blkfront_close(bf, &err)) {
        fprintf(stderr, "blkfront: close: %s\n", err);
        g_free(err);
        status = status ? status : 1;
    } else {
        printf("blkfront: closed\n");
    }
    g_free(bf);
    return status;
}
