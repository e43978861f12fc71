/* SPDX-License-Identifier: MIT */
/*
 * verify: a random mixed workload (read, write, flush, discard) against an
 * in-memory model of the disk. Requests in flight never overlap a write or
 * discard in flight, so every sector has one expected content; each
 * written sector carries its own number and the op that wrote it, so a
 * misplaced or stale sector is named in the failure. Sectors never written
 * (or discarded, unless the backend zeroes) are not checked.
 * disappear: the same writes, then exit with requests in flight.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/io/blkif.h>

#include "tests/blkfront/modes.h"

#define SECTOR 512u
#define MAX_SPAN_SECTORS (2u << 20) /* 1 GiB model */

enum { UNKNOWN = 0, KNOWN = 1 };

struct op_ctx {
    bool used;
    uint8_t op;
    uint64_t sector, seq;
    uint32_t n;
    uint8_t *buf;
};

struct verifier {
    struct blkfront *bf;
    const struct mode_opts *m;
    uint64_t span;         /* sectors */
    uint8_t *model, *known;
    uint8_t *busy;         /* requests in flight touching the sector */
    uint8_t *writing;      /* a write or discard in flight on the sector */
    struct op_ctx *ctx;
    unsigned int nctx;
    GRand *rand;
    uint64_t issued, seq;
    uint64_t count[8];
    uint64_t checked_bytes;
};

/* Sector content: its number, the op that wrote it, then pseudo-random. */
static void fill_sector(uint8_t *p, uint64_t sector, uint64_t seq)
{
    memcpy(p, &sector, 8);
    memcpy(p + 8, &seq, 8);
    uint64_t x = sector * 0x9E3779B97F4A7C15ull ^ seq;
    for (unsigned int i = 16; i < SECTOR; i += 8) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
}

static bool range_free(const struct verifier *v, uint64_t s, uint32_t n, bool exclusive)
{
    for (uint64_t i = s; i < s + n; i++)
        if (v->writing[i] || (exclusive && v->busy[i]))
            return false;
    return true;
}

static void mark(struct verifier *v, const struct op_ctx *c, int delta)
{
    bool excl = c->op == BLKIF_OP_WRITE || c->op == BLKIF_OP_DISCARD;
    for (uint64_t i = c->sector; i < c->sector + c->n; i++) {
        v->busy[i] = (uint8_t)(v->busy[i] + delta);
        if (excl)
            v->writing[i] = (uint8_t)(v->writing[i] + delta);
    }
}

static uint8_t pick_op(struct verifier *v)
{
    unsigned int r = (unsigned int)g_rand_int_range(v->rand, 0, 100);
    if (r < 6 && v->bf->use_flush)
        return BLKIF_OP_FLUSH_DISKCACHE;
    if (r < 14 && v->bf->use_discard)
        return BLKIF_OP_DISCARD;
    return r < 57 ? BLKIF_OP_READ : BLKIF_OP_WRITE;
}

/* A request shape inside the span: first_sect in the first page too. */
static void pick_range(struct verifier *v, struct blkfront_io *io)
{
    uint32_t cap = (uint32_t)MIN((uint64_t)v->m->max_sectors, v->span);
    cap = MIN(cap, v->bf->max_segs * 8u - 7u);
    io->nr_sectors = (uint32_t)g_rand_int_range(v->rand, 1, (gint32)cap + 1);
    io->sector = (uint64_t)g_rand_double_range(v->rand, 0, (double)(v->span - io->nr_sectors + 1));
    if (io->sector > v->span - io->nr_sectors)
        io->sector = v->span - io->nr_sectors;
    io->first_sect = (unsigned int)g_rand_int_range(v->rand, 0, 8);
}

static int free_ctx(struct verifier *v)
{
    for (unsigned int i = 0; i < v->nctx; i++)
        if (!v->ctx[i].used)
            return (int)i;
    return -1;
}

/* Issue one random request if the queues and the model allow. */
static int issue_one(struct verifier *v)
{
    int ci = free_ctx(v);
    if (ci < 0)
        return -EAGAIN;
    struct op_ctx *c = &v->ctx[ci];
    struct blkfront_io io = { .op = pick_op(v), .tag = (uint64_t)ci, .queue = BLKFRONT_AUTO };
    if (io.op != BLKIF_OP_FLUSH_DISKCACHE) {
        pick_range(v, &io);
        bool excl = io.op != BLKIF_OP_READ;
        if (!range_free(v, io.sector, io.nr_sectors, excl))
            return 0; /* try another shape next time */
    }
    *c = (struct op_ctx){ .used = true, .op = io.op, .sector = io.sector, .n = io.nr_sectors,
                          .seq = ++v->seq };
    if (io.op == BLKIF_OP_READ || io.op == BLKIF_OP_WRITE)
        c->buf = g_malloc((size_t)io.nr_sectors * SECTOR);
    if (io.op == BLKIF_OP_WRITE)
        for (uint32_t i = 0; i < io.nr_sectors; i++)
            fill_sector(c->buf + (size_t)i * SECTOR, io.sector + i, c->seq);
    io.write_from = c->buf;
    io.read_to = io.op == BLKIF_OP_READ ? c->buf : NULL;
    int r = blkfront_submit(v->bf, &io);
    if (r < 0) {
        g_free(c->buf);
        c->used = false;
        return r;
    }
    if (io.op != BLKIF_OP_FLUSH_DISKCACHE)
        mark(v, c, +1);
    v->issued++;
    v->count[io.op & 7]++;
    return 1;
}

static bool check_read(struct verifier *v, const struct op_ctx *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t s = c->sector + i;
        if (v->known[s] != KNOWN)
            continue;
        const uint8_t *got = c->buf + (size_t)i * SECTOR, *want = v->model + s * SECTOR;
        if (memcmp(got, want, SECTOR)) {
            unsigned int off = 0;
            while (got[off] == want[off])
                off++;
            uint64_t got_sector, got_seq, want_seq;
            memcpy(&got_sector, got, 8);
            memcpy(&got_seq, got + 8, 8);
            memcpy(&want_seq, want + 8, 8);
            printf("verify: MISMATCH read op %" PRIu64 " sector %" PRIu64 " byte %u: expected "
                   "0x%02x (written by op %" PRIu64 ") got 0x%02x (header: sector %" PRIu64
                   " op %" PRIu64 ")\n", c->seq, s, off, want[off], want_seq, got[off],
                   got_sector, got_seq);
            return false;
        }
        v->checked_bytes += SECTOR;
    }
    return true;
}

static void apply(struct verifier *v, const struct op_ctx *c)
{
    if (c->op == BLKIF_OP_WRITE) {
        memcpy(v->model + c->sector * SECTOR, c->buf, (size_t)c->n * SECTOR);
        memset(v->known + c->sector, KNOWN, c->n);
    } else if (c->op == BLKIF_OP_DISCARD) {
        memset(v->model + c->sector * SECTOR, 0, (size_t)c->n * SECTOR);
        memset(v->known + c->sector, v->m->discard_zeroes ? KNOWN : UNKNOWN, c->n);
    }
}

static bool finish(struct verifier *v, const struct blkfront_done *d)
{
    struct op_ctx *c = &v->ctx[d->tag];
    bool ok = true;
    if (d->status != BLKIF_RSP_OKAY) {
        printf("verify: op %" PRIu64 " (operation %u, sector %" PRIu64 ", %u sectors) failed: "
               "%d %s\n", c->seq, c->op, c->sector, c->n, d->status,
               blkfront_status_name(d->status));
        ok = false;
    } else if (c->op == BLKIF_OP_READ) {
        ok = check_read(v, c);
    } else {
        apply(v, c);
    }
    if (c->op != BLKIF_OP_FLUSH_DISKCACHE)
        mark(v, c, -1);
    g_free(c->buf);
    c->buf = NULL;
    c->used = false;
    return ok;
}

static bool verifier_init(struct verifier *v, struct blkfront *bf, const struct mode_opts *m)
{
    memset(v, 0, sizeof(*v));
    v->bf = bf;
    v->m = m;
    v->span = m->span_sectors ? MIN(m->span_sectors, bf->be.sectors) : bf->be.sectors;
    if (v->span > MAX_SPAN_SECTORS)
        v->span = MAX_SPAN_SECTORS;
    if (v->span < 16) {
        printf("verify: the disk has %" PRIu64 " sectors, too small\n", bf->be.sectors);
        return false;
    }
    v->model = g_malloc0(v->span * SECTOR);
    v->known = g_malloc0(v->span);
    v->busy = g_malloc0(v->span);
    v->writing = g_malloc0(v->span);
    for (unsigned int i = 0; i < bf->nr_queues; i++)
        v->nctx += bf->q[i].depth;
    v->ctx = g_new0(struct op_ctx, v->nctx);
    v->rand = g_rand_new_with_seed((guint32)m->seed);
    return true;
}

static void verifier_free(struct verifier *v)
{
    for (unsigned int i = 0; i < v->nctx; i++)
        g_free(v->ctx[i].buf);
    g_free(v->ctx);
    g_free(v->model);
    g_free(v->known);
    g_free(v->busy);
    g_free(v->writing);
    if (v->rand)
        g_rand_free(v->rand);
}

/* Fill the queues (a few shape retries when the model refuses). */
static bool top_up(struct verifier *v, uint64_t limit)
{
    for (int tries = 0; tries < 64 && v->issued < limit; tries++) {
        int r = issue_one(v);
        if (r == -EAGAIN)
            break;
        if (r < 0) {
            printf("verify: cannot build a request: %s\n", g_strerror(-r));
            return false;
        }
    }
    return blkfront_kick(v->bf);
}

int mode_verify(struct blkfront *bf, const struct mode_opts *m)
{
    struct verifier v;
    bool ok = verifier_init(&v, bf, m);
    while (ok && (v.issued < m->ops || blkfront_in_flight(bf))) {
        ok = top_up(&v, m->ops);
        struct blkfront_done done[64];
        char *err = NULL;
        int n = ok ? blkfront_complete(bf, done, 64, bf->opt.io_timeout_ms, &err) : 0;
        if (n < 0) {
            printf("verify: %s\n", err);
            g_free(err);
            ok = false;
        }
        for (int i = 0; ok && i < n; i++)
            ok = finish(&v, &done[i]);
    }
    if (ok)
        printf("verify: ok %" PRIu64 " ops (%" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
               " flushes, %" PRIu64 " discards), %" PRIu64 " bytes checked\n",
               v.issued, v.count[BLKIF_OP_READ], v.count[BLKIF_OP_WRITE],
               v.count[BLKIF_OP_FLUSH_DISKCACHE], v.count[BLKIF_OP_DISCARD], v.checked_bytes);
    verifier_free(&v);
    return ok ? 0 : 1;
}

void mode_disappear(struct blkfront *bf, const struct mode_opts *m)
{
    struct verifier v;
    if (!verifier_init(&v, bf, m))
        exit(1);
    /* keep the queues full until ops are issued, then vanish mid-I/O */
    while (v.issued < m->ops) {
        if (!top_up(&v, m->ops))
            exit(1);
        struct blkfront_done done[64];
        char *err = NULL;
        int n = v.issued < m->ops ? blkfront_complete(bf, done, 64, bf->opt.io_timeout_ms, &err)
                                  : 0;
        if (n < 0) {
            printf("disappear: %s\n", err);
            exit(1);
        }
        for (int i = 0; i < n; i++)
            finish(&v, &done[i]);
    }
    printf("disappear: exiting with %u requests in flight\n", blkfront_in_flight(bf));
    fflush(stdout);
    _exit(0); /* no Closing, no grant taken back: the backend must cope */
}
