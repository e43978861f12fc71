/* SPDX-License-Identifier: MIT */
/*
 * Microbenchmark of the disk I/O engine alone (backends/blk-io.c): keeps
 * QD requests in flight on FILE for SECONDS and prints one line
 *   engine=NAME mode=MODE bs=N qd=N ios=N seconds=S iops=N mbps=N
 * Completions resubmit from done(); a GSource kicks once per main-loop
 * iteration, as the blkif ring handler kicks once per ring notification.
 * The fio comparison is in blk_io.py (tests/bench/run.sh blk-io).
 *
 *   blk-io-bench [--engine io_uring|threads] [--mode randread|seqread|seqwrite]
 *                [--bs BYTES] [--qd N] [--seconds S] [--direct] FILE|nbd:...
 */
#include "backends/blk-io.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mode { MODE_RANDREAD, MODE_SEQREAD, MODE_SEQWRITE };

struct bench {
    struct blk_io *io;
    GMainLoop *loop;
    enum mode mode;
    uint64_t bs, blocks, next_block, ios;
    GRand *rng;
    gint64 deadline;
    unsigned int in_flight;
    bool stopping;
};

struct slot {
    struct blk_io_req req;
    struct iovec iov;
    struct bench *b;
};

static void slot_start(struct slot *s)
{
    struct bench *b = s->b;
    uint64_t block;

    if (b->mode == MODE_RANDREAD) {
        block = (uint64_t)g_rand_double_range(b->rng, 0, (double)b->blocks);
        block = MIN(block, b->blocks - 1);
    } else {
        block = b->next_block++ % b->blocks;
    }
    s->req.offset = block * b->bs;
    b->in_flight++;
    blk_io_submit(b->io, &s->req);
}

static void slot_done(struct blk_io_req *req, int result)
{
    struct slot *s = req->opaque;
    struct bench *b = s->b;

    b->in_flight--;
    if (result < 0) {
        fprintf(stderr, "blk-io-bench: I/O error: %s\n", g_strerror(-result));
        exit(1);
    }
    b->ios++;
    if (!b->stopping && g_get_monotonic_time() >= b->deadline)
        b->stopping = true;
    if (!b->stopping)
        slot_start(s);
    else if (b->in_flight == 0)
        g_main_loop_quit(b->loop);
}

/* Kicks whatever done() callbacks queued, once per iteration, just before
 * the main loop polls. */
struct kick_source {
    GSource base;
    struct bench *b;
};

static gboolean kick_prepare(GSource *source, gint *timeout)
{
    blk_io_kick(((struct kick_source *)source)->b->io);
    *timeout = -1;
    return FALSE;
}

static gboolean kick_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs kick_funcs = { .prepare = kick_prepare, .dispatch = kick_dispatch };

static enum mode parse_mode(const char *s)
{
    if (strcmp(s, "randread") == 0)
        return MODE_RANDREAD;
    if (strcmp(s, "seqread") == 0)
        return MODE_SEQREAD;
    if (strcmp(s, "seqwrite") == 0)
        return MODE_SEQWRITE;
    fprintf(stderr, "blk-io-bench: unknown mode %s\n", s);
    exit(2);
}

int main(int argc, char **argv)
{
    g_autofree char *engine = NULL, *mode_name = NULL;
    gint64 bs = 4096, qd = 32;
    double seconds = 5;
    gboolean direct = FALSE;
    GOptionEntry entries[] = {
        { "engine", 0, 0, G_OPTION_ARG_STRING, &engine, "io_uring or threads", "E" },
        { "mode", 0, 0, G_OPTION_ARG_STRING, &mode_name, "randread, seqread, seqwrite", "M" },
        { "bs", 0, 0, G_OPTION_ARG_INT64, &bs, "request size in bytes", "N" },
        { "qd", 0, 0, G_OPTION_ARG_INT64, &qd, "requests in flight", "N" },
        { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "run time", "S" },
        { "direct", 0, 0, G_OPTION_ARG_NONE, &direct, "O_DIRECT", NULL },
        { NULL },
    };
    GOptionContext *octx = g_option_context_new("FILE");
    GError *error = NULL;
    struct blk_io_opts opts = { 0 };
    struct bench b = { 0 };
    struct slot *slots;
    GSource *kick;
    gint64 start, elapsed;
    uint8_t *buffers;

    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &error) || argc != 2 || bs < 512 ||
        bs % 512 || bs > 64 << 20 || qd < 1 || qd > 1024) {
        fprintf(stderr, "blk-io-bench: %s\n", error ? error->message : "bad arguments (--help)");
        return 2;
    }
    g_option_context_free(octx);
    opts.target = argv[1];
    opts.direct = direct;
    opts.queue_depth = (unsigned int)qd;
    opts.engine = !engine ? BLK_IO_ENGINE_AUTO
                  : strcmp(engine, "threads") == 0 ? BLK_IO_ENGINE_THREADS : BLK_IO_ENGINE_URING;
    b.mode = mode_name ? parse_mode(mode_name) : MODE_RANDREAD;
    b.io = blk_io_open(&opts, NULL, &error);
    if (!b.io) {
        fprintf(stderr, "blk-io-bench: %s\n", error->message);
        return 1;
    }
    b.bs = (uint64_t)bs;
    b.blocks = blk_io_size(b.io) / b.bs;
    if (b.blocks == 0) {
        fprintf(stderr, "blk-io-bench: %s is smaller than one request\n", argv[1]);
        return 1;
    }
    b.rng = g_rand_new_with_seed(42);
    b.loop = g_main_loop_new(NULL, FALSE);
    buffers = g_aligned_alloc((gsize)qd, (gsize)bs, 4096);
    memset(buffers, 0x5a, (size_t)qd * (size_t)bs);
    slots = g_new0(struct slot, (gsize)qd);
    kick = g_source_new(&kick_funcs, sizeof(struct kick_source));
    ((struct kick_source *)kick)->b = &b;
    g_source_attach(kick, NULL);

    start = g_get_monotonic_time();
    b.deadline = start + (gint64)(seconds * G_USEC_PER_SEC);
    for (gint64 i = 0; i < qd; i++) {
        struct slot *s = &slots[i];

        s->b = &b;
        s->iov = (struct iovec){ buffers + i * bs, (size_t)bs };
        s->req = (struct blk_io_req){
            .op = b.mode == MODE_SEQWRITE ? BLK_IO_WRITE : BLK_IO_READ,
            .iov = &s->iov, .iovcnt = 1, .done = slot_done, .opaque = s,
        };
        slot_start(s);
    }
    blk_io_kick(b.io);
    g_main_loop_run(b.loop);
    elapsed = g_get_monotonic_time() - start;

    printf("engine=%s mode=%s bs=%" G_GINT64_FORMAT " qd=%" G_GINT64_FORMAT " ios=%" G_GUINT64_FORMAT
           " seconds=%.3f iops=%.0f mbps=%.1f\n",
           blk_io_engine_name(b.io), mode_name ? mode_name : "randread", bs, qd, b.ios,
           (double)elapsed / G_USEC_PER_SEC, (double)b.ios * G_USEC_PER_SEC / (double)elapsed,
           (double)b.ios * (double)bs * G_USEC_PER_SEC / (double)elapsed / 1e6);
    blk_io_close(b.io);
    g_source_destroy(kick);
    g_source_unref(kick);
    g_free(slots);
    g_aligned_free(buffers);
    g_main_loop_unref(b.loop);
    g_rand_free(b.rng);
    return 0;
}
