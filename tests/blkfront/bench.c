/* SPDX-License-Identifier: MIT */
/*
 * bench: 4 KiB random reads at the queue depth, then 1 MiB sequential
 * reads and writes (as large as the negotiated segments allow). Data stays
 * in the guest pages: nothing is copied, only the ring path is timed.
 * With --bench-windows N each workload is timed N times on the one
 * connection, each window started by a line on stdin, so that a driver
 * can run its peer between windows (tests/bench/qdisk.py).
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <xen/io/blkif.h>

#include "tests/blkfront/modes.h"

struct workload {
    const char *name;
    uint8_t op;
    uint32_t sectors;
    bool random;
};

static const char *const LOADS[] = { "randread-4k", "seqread-1m", "seqwrite-1m" };

struct run {
    uint64_t done, bytes, next_sector;
    double seconds;
};

static void next_io(struct blkfront *bf, const struct workload *w, GRand *rand, struct run *r,
                    struct blkfront_io *io)
{
    uint64_t slots = bf->be.sectors / w->sectors;
    uint64_t at = w->random ? (uint64_t)g_rand_double_range(rand, 0, (double)slots) % slots
                            : r->next_sector++ % slots;
    *io = (struct blkfront_io){ .op = w->op, .sector = at * w->sectors, .nr_sectors = w->sectors,
                                .queue = BLKFRONT_AUTO };
}

static bool run_workload(struct blkfront *bf, const struct workload *w, double seconds,
                         GRand *rand, struct run *r)
{
    gint64 start = g_get_monotonic_time(), stop = start + (gint64)(seconds * 1e6);
    bool issuing = true;
    while (issuing || blkfront_in_flight(bf)) {
        issuing = issuing && g_get_monotonic_time() < stop;
        struct blkfront_io io;
        while (issuing) {
            next_io(bf, w, rand, r, &io);
            if (blkfront_submit(bf, &io) < 0)
                break;
        }
        if (!blkfront_kick(bf))
            return false;
        struct blkfront_done done[64];
        char *err = NULL;
        int n = blkfront_complete(bf, done, 64, bf->opt.io_timeout_ms, &err);
        if (n < 0) {
            printf("bench: %s: %s\n", w->name, err);
            g_free(err);
            return false;
        }
        for (int i = 0; i < n; i++) {
            if (done[i].status != BLKIF_RSP_OKAY) {
                printf("bench: %s: status %d\n", w->name, done[i].status);
                return false;
            }
            r->done++;
            r->bytes += (uint64_t)w->sectors * 512;
        }
    }
    r->seconds = (double)(g_get_monotonic_time() - start) / 1e6;
    return true;
}

/* --bench-loads: every name must be one of LOADS. */
bool bench_loads_valid(const char *names)
{
    gchar **list = g_strsplit(names, ",", -1);
    bool ok = list[0] != NULL;
    for (gchar **name = list; ok && *name; name++) {
        ok = false;
        for (size_t i = 0; i < G_N_ELEMENTS(LOADS); i++)
            ok = ok || !strcmp(*name, LOADS[i]);
    }
    g_strfreev(list);
    return ok;
}

static bool load_selected(const struct mode_opts *m, const char *name)
{
    if (!m->bench_loads)
        return true;
    gchar **list = g_strsplit(m->bench_loads, ",", -1);
    bool found = g_strv_contains((const gchar *const *)list, name);
    g_strfreev(list);
    return found;
}

/* The driver's go-ahead for the next window: any line on stdin. */
static bool wait_for_go(void)
{
    char line[64];

    return fgets(line, sizeof(line), stdin) != NULL;
}

int mode_bench(struct blkfront *bf, const struct mode_opts *m)
{
    uint32_t big = MIN(bf->max_segs, 256u) * 8u; /* 1 MiB with 256 segments */
    const struct workload loads[] = {
        { LOADS[0], BLKIF_OP_READ, 8, true },
        { LOADS[1], BLKIF_OP_READ, big, false },
        { LOADS[2], BLKIF_OP_WRITE, big, false },
    };
    if (bf->be.sectors < 2048) {
        printf("bench: the disk is too small\n");
        return 1;
    }
    GRand *rand = g_rand_new_with_seed((guint32)m->seed);
    unsigned int qd = 0;
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        qd += bf->q[i].depth;
    int status = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(loads) && !status; i++) {
        if (!load_selected(m, loads[i].name))
            continue;
        for (uint64_t w = 0; w < m->bench_windows && !status; w++) {
            struct run r = { 0 };
            if (m->bench_windows > 1 && !wait_for_go()) {
                printf("bench: stdin closed before window %" PRIu64 "\n", w + 1);
                status = 1;
            } else if (!run_workload(bf, &loads[i], m->bench_seconds, rand, &r)) {
                status = 1;
            } else {
                printf("bench: %s qd=%u request=%u iops=%.0f mbps=%.1f\n", loads[i].name, qd,
                       loads[i].sectors * 512, (double)r.done / r.seconds,
                       (double)r.bytes / r.seconds / 1e6);
                fflush(stdout);
            }
        }
    }
    g_rand_free(rand);
    return status;
}
