/* SPDX-License-Identifier: MIT */
/*
 * The disk I/O engine (backends/blk-io.c) on real files: every common test
 * runs on io_uring, on the thread pool and on NBD (a qemu-nbd process
 * serving the same kind of file); engine-specific cases follow.
 */
#include "config.h"

#include "backends/blk-io.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024u * 1024u)

#ifdef IOREQD_HAVE_LIBNBD
#define IOREQD_NBD_OPEN_ERROR "cannot connect"
#else
#define IOREQD_NBD_OPEN_ERROR "libnbd"
#endif

/* ---- log capture: warnings are expected here, not fatal ---------------- */

struct log_capture {
    unsigned int lines;
    char last[512];
};

static void capture_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
    struct log_capture *cap = data;

    cap->lines++;
    g_strlcpy(cap->last, msg, sizeof(cap->last));
}

/* ---- disks: a temp file, optionally served by qemu-nbd ------------------ */

struct disk {
    const char *engine;                 /* "io_uring", "threads", "nbd" */
    char *dir;
    char *path;
    char *target;
    GPid server;
};

static bool is_nbd(const struct disk *d)
{
    return strcmp(d->engine, "nbd") == 0;
}

/* bind() creates the path before listen(): wait until a connect works. */
static void wait_for_server(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int ret = connect(fd, (struct sockaddr *)&addr, sizeof(addr));

        close(fd);
        if (ret == 0)
            return;
        g_usleep(10000);
    }
    g_error("qemu-nbd did not listen on %s", path);
}

/* The server dies with the test, even when an assertion aborts it. */
static void server_child_setup(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void start_qemu_nbd(struct disk *d, const char *format, bool readonly)
{
    char *sock = g_build_filename(d->dir, "nbd.sock", NULL);
    const char *argv[] = { "qemu-nbd", "-k", sock, "-f", format, "--discard=unmap",
                           "--cache=writeback", readonly ? "-r" : "-t", d->path, NULL };
    GError *error = NULL;

    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                           G_SPAWN_STDOUT_TO_DEV_NULL,
                       server_child_setup, NULL, &d->server, &error))
        g_error("qemu-nbd: %s", error->message);
    wait_for_server(sock);
    d->target = g_strdup_printf("nbd:unix:%s", sock);
    g_free(sock);
}

static void stop_server(struct disk *d)
{
    int status;

    if (!d->server)
        return;
    kill(d->server, SIGTERM);
    waitpid(d->server, &status, 0);
    g_spawn_close_pid(d->server);
    d->server = 0;
}

/* dir: NULL for the default temp dir (/tmp), or e.g. /dev/shm for tmpfs */
static void disk_create_in(struct disk *d, const char *engine, uint64_t size, const char *dir)
{
    int fd;

    memset(d, 0, sizeof(*d));
    d->engine = engine;
    d->dir = dir ? g_build_filename(dir, "blk-io-XXXXXX", NULL)
                 : g_build_filename(g_get_tmp_dir(), "blk-io-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(d->dir));
    d->path = g_build_filename(d->dir, "disk.img", NULL);
    fd = open(d->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    close(fd);
    if (is_nbd(d))
        start_qemu_nbd(d, "raw", false);
    else
        d->target = g_strdup(d->path);
}

static void disk_create(struct disk *d, const char *engine, uint64_t size)
{
    disk_create_in(d, engine, size, NULL);
}

static void disk_destroy(struct disk *d)
{
    char *sock = g_build_filename(d->dir, "nbd.sock", NULL);

    stop_server(d);
    g_unlink(sock);
    g_unlink(d->path);
    g_rmdir(d->dir);
    g_free(sock);
    g_free(d->path);
    g_free(d->dir);
    g_free(d->target);
}

static enum blk_io_engine_kind engine_kind(const char *engine)
{
    return strcmp(engine, "threads") == 0 ? BLK_IO_ENGINE_THREADS
           : strcmp(engine, "io_uring") == 0 ? BLK_IO_ENGINE_URING : BLK_IO_ENGINE_AUTO;
}

static struct blk_io *disk_open_opts(struct disk *d, bool readonly, bool direct, unsigned int qd)
{
    struct blk_io_opts opts = {
        .target = d->target, .readonly = readonly, .direct = direct,
        .engine = engine_kind(d->engine), .queue_depth = qd, .log_name = "dom7 vbd 51712",
    };
    GError *error = NULL;
    struct blk_io *io = blk_io_open(&opts, NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(io);
    g_assert_cmpstr(blk_io_engine_name(io), ==, d->engine);
    return io;
}

static struct blk_io *disk_open(struct disk *d, bool readonly, unsigned int qd)
{
    return disk_open_opts(d, readonly, false, qd);
}

/* ---- requests ---------------------------------------------------------- */

struct tracked {
    struct blk_io_req req;
    struct iovec iov[4];
    int result;
    unsigned int calls;
    unsigned int order;                 /* completion order, from 1 */
    unsigned int *counter;
    bool *in_submit;                    /* done() must never run inside submit */
};

static void tracked_done(struct blk_io_req *req, int result)
{
    struct tracked *t = req->opaque;

    if (t->in_submit)
        g_assert_false(*t->in_submit);
    t->calls++;
    t->result = result;
    t->order = ++*t->counter;
}

static void tracked_init(struct tracked *t, unsigned int *counter, enum blk_io_op op,
                         uint64_t offset, void *buf, size_t len)
{
    memset(t, 0, sizeof(*t));
    t->counter = counter;
    t->req.op = op;
    t->req.offset = offset;
    t->req.done = tracked_done;
    t->req.opaque = t;
    if (op == BLK_IO_READ || op == BLK_IO_WRITE) {
        t->iov[0] = (struct iovec){ buf, len };
        t->req.iov = t->iov;
        t->req.iovcnt = 1;
    } else {
        t->req.len = len;
    }
}

static gboolean test_timed_out(gpointer data)
{
    g_error("timed out waiting for blk_io completions");
    return G_SOURCE_REMOVE;
}

/* Runs the default context until *counter reaches target. */
static void wait_count(unsigned int *counter, unsigned int target)
{
    guint timeout = g_timeout_add_seconds(20, test_timed_out, NULL);

    while (*counter < target)
        g_main_context_iteration(NULL, TRUE);
    g_source_remove(timeout);
}

static int do_io(struct blk_io *io, enum blk_io_op op, uint64_t offset, void *buf, size_t len,
                 bool fua)
{
    unsigned int counter = 0;
    bool in_submit = true;
    struct tracked t;

    tracked_init(&t, &counter, op, offset, buf, len);
    t.req.fua = fua;
    t.in_submit = &in_submit;
    blk_io_submit(io, &t.req);
    in_submit = false;
    blk_io_kick(io);
    wait_count(&counter, 1);
    g_assert_cmpuint(t.calls, ==, 1);
    return t.result;
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed);
}

/* ---- common tests (every engine) --------------------------------------- */

#define MODEL_SIZE (4u * MIB)
#define SLOT (64u * 1024u)
#define BATCH 32u

struct mixed_op {
    struct blk_io_req req;
    struct iovec iov[4];
    uint8_t *buf;
    uint64_t len;
    const uint8_t *model;
    unsigned int *counter;
};

static void mixed_done(struct blk_io_req *req, int result)
{
    struct mixed_op *op = req->opaque;

    g_assert_cmpint(result, ==, 0);
    if (req->op == BLK_IO_READ)
        g_assert_cmpmem(op->buf, op->len, op->model + req->offset, op->len);
    ++*op->counter;
}

/* Split len bytes of buf into 1..4 iovecs at random 512-byte boundaries. */
static unsigned int random_split(GRand *rng, struct iovec *iov, uint8_t *buf, uint64_t len)
{
    unsigned int n = (unsigned int)g_rand_int_range(rng, 1, 5);
    uint64_t sectors = len / 512, used = 0;
    unsigned int i;

    for (i = 0; i + 1 < n && used + 1 < sectors; i++) {
        uint64_t take = (uint64_t)g_rand_int_range(rng, 1, (gint32)(sectors - used));

        iov[i] = (struct iovec){ buf + used * 512, take * 512 };
        used += take;
    }
    iov[i] = (struct iovec){ buf + used * 512, len - used * 512 };
    return i + 1;
}

/* Batches of 32 requests on distinct 64 KiB slots (requests in flight
 * never overlap, so the model is exact), reads checked against the model
 * as they complete, then the whole disk compared. */
static void test_random_mixed(gconstpointer engine)
{
    GRand *rng = g_rand_new_with_seed(6);
    uint8_t *model = g_malloc0(MODEL_SIZE);
    uint8_t *readback = g_malloc(MODEL_SIZE);
    struct mixed_op ops[BATCH];
    unsigned int slots = MODEL_SIZE / SLOT, counter = 0, expected = 0;
    struct disk d;
    struct blk_io *io;

    /* tmpfs: fua and flush cost nothing there, so the test stays fast */
    disk_create_in(&d, engine, MODEL_SIZE, "/dev/shm");
    io = disk_open(&d, false, 16);      /* smaller than a batch: overflow too */
    g_assert_cmpuint(blk_io_size(io), ==, MODEL_SIZE);
    for (unsigned int round = 0; round < 16; round++) {
        unsigned int *perm = g_new(unsigned int, slots);

        for (unsigned int i = 0; i < slots; i++)
            perm[i] = i;
        for (unsigned int i = slots - 1; i > 0; i--) {
            unsigned int j = (unsigned int)g_rand_int_range(rng, 0, (gint32)i + 1);
            unsigned int tmp = perm[i];

            perm[i] = perm[j];
            perm[j] = tmp;
        }
        for (unsigned int i = 0; i < BATCH; i++) {
            struct mixed_op *op = &ops[i];
            uint64_t sectors = (uint64_t)g_rand_int_range(rng, 1, SLOT / 512 + 1);
            uint64_t start = (uint64_t)g_rand_int_range(rng, 0, (gint32)(SLOT / 512 - sectors + 1));

            memset(op, 0, sizeof(*op));
            op->len = sectors * 512;
            op->buf = g_malloc(op->len);
            op->model = model;
            op->counter = &counter;
            op->req.offset = (uint64_t)perm[i] * SLOT + start * 512;
            op->req.op = g_rand_boolean(rng) ? BLK_IO_WRITE : BLK_IO_READ;
            op->req.fua = op->req.op == BLK_IO_WRITE && g_rand_int_range(rng, 0, 8) == 0;
            op->req.iov = op->iov;
            op->req.iovcnt = random_split(rng, op->iov, op->buf, op->len);
            op->req.done = mixed_done;
            op->req.opaque = op;
            if (op->req.op == BLK_IO_WRITE) {
                fill_pattern(op->buf, op->len, g_rand_int(rng));
                memcpy(model + op->req.offset, op->buf, op->len);
            }
            blk_io_submit(io, &op->req);
        }
        blk_io_kick(io);
        expected += BATCH;
        wait_count(&counter, expected);
        for (unsigned int i = 0; i < BATCH; i++)
            g_free(ops[i].buf);
        g_free(perm);
    }
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, readback, MODEL_SIZE, false), ==, 0);
    g_assert_cmpmem(readback, MODEL_SIZE, model, MODEL_SIZE);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(readback);
    g_free(model);
    g_rand_free(rng);
}

/* BLK_IO_MAX_IOV iovecs of 512 bytes written, read back through a
 * different split; one more iovec, none, or a NULL array is -EINVAL. */
static void test_many_iovecs(gconstpointer engine)
{
    size_t total = BLK_IO_MAX_IOV * 512;
    uint8_t *out = g_malloc(total), *in = g_malloc0(total);
    struct iovec *iov = g_new(struct iovec, BLK_IO_MAX_IOV + 1);
    unsigned int counter = 0;
    struct tracked t;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 2 * MIB);
    io = disk_open(&d, false, 0);
    fill_pattern(out, total, 99);
    for (unsigned int i = 0; i < BLK_IO_MAX_IOV; i++)
        iov[BLK_IO_MAX_IOV - 1 - i] = (struct iovec){ out + (size_t)(BLK_IO_MAX_IOV - 1 - i) * 512, 512 };
    tracked_init(&t, &counter, BLK_IO_WRITE, 4096, NULL, 0);
    t.req.iov = iov;
    t.req.iovcnt = BLK_IO_MAX_IOV;
    blk_io_submit(io, &t.req);
    blk_io_kick(io);
    wait_count(&counter, 1);
    g_assert_cmpint(t.result, ==, 0);

    /* read back as 256 iovecs of 2 KiB */
    for (unsigned int i = 0; i < 256; i++)
        iov[i] = (struct iovec){ in + (size_t)i * 2048, 2048 };
    tracked_init(&t, &counter, BLK_IO_READ, 4096, NULL, 0);
    t.req.iov = iov;
    t.req.iovcnt = 256;
    blk_io_submit(io, &t.req);
    blk_io_kick(io);
    wait_count(&counter, 2);
    g_assert_cmpint(t.result, ==, 0);
    g_assert_cmpmem(in, total, out, total);

    for (unsigned int i = 0; i <= BLK_IO_MAX_IOV; i++)
        iov[i] = (struct iovec){ in, 512 };
    tracked_init(&t, &counter, BLK_IO_READ, 0, NULL, 0);
    t.req.iov = iov;
    t.req.iovcnt = BLK_IO_MAX_IOV + 1;
    blk_io_submit(io, &t.req);
    wait_count(&counter, 3);
    g_assert_cmpint(t.result, ==, -EINVAL);
    t.req.iovcnt = 0;
    blk_io_submit(io, &t.req);
    wait_count(&counter, 4);
    g_assert_cmpint(t.result, ==, -EINVAL);
    t.req.iovcnt = 1;
    t.req.iov = NULL;
    blk_io_submit(io, &t.req);
    wait_count(&counter, 5);
    g_assert_cmpint(t.result, ==, -EINVAL);

    blk_io_close(io);
    disk_destroy(&d);
    g_free(iov);
    g_free(in);
    g_free(out);
}

/* A read or write reaching past the disk is -EIO however the caller
 * checked; so is an unknown op (-EINVAL); done() never runs inside submit. */
static void test_out_of_range(gconstpointer engine)
{
    uint8_t buf[4096] = { 0 };
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, MIB - 512, buf, 1024, false), ==, -EIO);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, MIB, buf, 512, false), ==, -EIO);
    g_assert_cmpint(do_io(io, BLK_IO_READ, UINT64_MAX - 511, buf, 1024, false), ==, -EIO);
    g_assert_cmpint(do_io(io, BLK_IO_DISCARD, MIB - 4096, NULL, 8192, false), ==,
                    blk_io_can_discard(io) ? -EIO : -EOPNOTSUPP);
    g_assert_cmpint(do_io(io, (enum blk_io_op)77, 0, buf, 512, false), ==, -EINVAL);
    g_assert_cmpint(do_io(io, BLK_IO_READ, MIB - 512, buf, 512, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, 0, false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

/* A flush submitted behind writes completes after every one of them. */
static void test_flush_ordering(gconstpointer engine)
{
    enum { N = 24 };
    struct tracked writes[N], flush, late;
    uint8_t *buf = g_malloc(N * 65536);
    unsigned int counter = 0;
    struct disk d;
    struct blk_io *io;

    disk_create_in(&d, engine, 4 * MIB, "/dev/shm");
    io = disk_open(&d, false, 8);
    fill_pattern(buf, N * 65536, 3);
    for (int round = 0; round < 3; round++) {
        unsigned int base = counter;

        for (unsigned int i = 0; i < N; i++) {
            tracked_init(&writes[i], &counter, BLK_IO_WRITE, (uint64_t)i * 65536,
                         buf + (size_t)i * 65536, 65536);
            writes[i].req.fua = i % 5 == 0;
            blk_io_submit(io, &writes[i].req);
            if (i == N / 2)
                blk_io_kick(io);      /* some in the kernel, some queued */
        }
        tracked_init(&flush, &counter, BLK_IO_FLUSH, 0, NULL, 0);
        blk_io_submit(io, &flush.req);
        tracked_init(&late, &counter, BLK_IO_READ, 0, buf, 512);
        blk_io_submit(io, &late.req);
        blk_io_kick(io);
        wait_count(&counter, base + N + 2);
        g_assert_cmpint(flush.result, ==, 0);
        for (unsigned int i = 0; i < N; i++) {
            g_assert_cmpint(writes[i].result, ==, 0);
            g_assert_cmpuint(writes[i].order, <, flush.order);
        }
    }
    /* a flush with nothing in flight, and two flushes back to back */
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(buf);
}

/* A fua write reports 0 and its data is there; a plain write too. */
static void test_fua(gconstpointer engine)
{
    uint8_t out[8192], in[8192];
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    fill_pattern(out, sizeof(out), 5);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 8192, out, sizeof(out), true), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 8192, in, sizeof(in), false), ==, 0);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    blk_io_close(io);
    disk_destroy(&d);
}

static void check_discard(const char *engine, const char *dir)
{
    uint8_t *out = g_malloc(256 * 1024), *in = g_malloc(256 * 1024);
    uint8_t *zero = g_malloc0(128 * 1024);
    struct stat before, after;
    struct disk d;
    struct blk_io *io;

    disk_create_in(&d, engine, 1 * MIB, dir);
    io = disk_open(&d, false, 0);
    g_assert_true(blk_io_can_discard(io));
    g_assert_cmpuint(blk_io_discard_granularity(io), >=, 512);
    g_assert_false(blk_io_can_secure_discard(io));
    fill_pattern(out, 256 * 1024, 11);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, out, 256 * 1024, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), ==, 0);
    g_assert_cmpint(stat(d.path, &before), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_DISCARD, 64 * 1024, NULL, 128 * 1024, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, in, 256 * 1024, false), ==, 0);
    g_assert_cmpmem(in, 64 * 1024, out, 64 * 1024);
    g_assert_cmpmem(in + 64 * 1024, 128 * 1024, zero, 128 * 1024);
    g_assert_cmpmem(in + 192 * 1024, 64 * 1024, out + 192 * 1024, 64 * 1024);
    g_assert_cmpint(stat(d.path, &after), ==, 0);
    g_assert_cmpint(after.st_blocks, <, before.st_blocks);   /* really a hole */
    g_assert_cmpint(do_io(io, BLK_IO_SECURE_DISCARD, 0, NULL, 4096, false), ==, -EOPNOTSUPP);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(zero);
    g_free(in);
    g_free(out);
}

static void test_discard_tmpfs(gconstpointer engine)
{
    check_discard(engine, "/dev/shm");
}

static void test_discard_tmpdir(gconstpointer engine)
{
    check_discard(engine, NULL);
}

/* Read-only disks refuse every mutating op with -EROFS; reads and
 * flushes work. */
static void test_readonly(gconstpointer engine)
{
    uint8_t buf[4096];
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, true, 0);
    g_assert_true(blk_io_is_readonly(io));
    g_assert_false(blk_io_can_discard(io));
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf, sizeof(buf), false), ==, -EROFS);
    g_assert_cmpint(do_io(io, BLK_IO_DISCARD, 0, NULL, 4096, false), ==, -EROFS);
    g_assert_cmpint(do_io(io, BLK_IO_SECURE_DISCARD, 0, NULL, 4096, false), ==, -EROFS);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf), false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

/* Nothing completes before the kick; 200 requests on a depth-4 queue all
 * complete, correctly. */
static void test_batching_and_overflow(gconstpointer engine)
{
    enum { N = 200 };
    struct tracked *reqs = g_new(struct tracked, N);
    uint8_t *buf = g_malloc((size_t)N * 4096), *check = g_malloc((size_t)N * 4096);
    unsigned int counter = 0;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 64);
    fill_pattern(buf, (size_t)N * 4096, 21);
    for (unsigned int i = 0; i < 3; i++) {
        tracked_init(&reqs[i], &counter, BLK_IO_WRITE, (uint64_t)i * 4096, buf + i * 4096, 4096);
        blk_io_submit(io, &reqs[i].req);
    }
    for (int i = 0; i < 50; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(200);
    }
    g_assert_cmpuint(counter, ==, 0);   /* batched until the kick */
    blk_io_kick(io);
    wait_count(&counter, 3);
    blk_io_close(io);

    io = disk_open(&d, false, 4);
    counter = 0;
    for (unsigned int i = 0; i < N; i++) {
        tracked_init(&reqs[i], &counter, BLK_IO_WRITE, (uint64_t)i * 4096, buf + (size_t)i * 4096, 4096);
        blk_io_submit(io, &reqs[i].req);
    }
    blk_io_kick(io);
    wait_count(&counter, N);
    for (unsigned int i = 0; i < N; i++) {
        g_assert_cmpint(reqs[i].result, ==, 0);
        g_assert_cmpuint(reqs[i].calls, ==, 1);
    }
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, check, (size_t)N * 4096, false), ==, 0);
    g_assert_cmpmem(check, (size_t)N * 4096, buf, (size_t)N * 4096);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(check);
    g_free(buf);
    g_free(reqs);
}

/* blk_io_close with requests in the kernel, queued and not even kicked:
 * every done() runs exactly once before it returns. */
static void test_close_in_flight(gconstpointer engine)
{
    enum { N = 100 };
    struct tracked *reqs = g_new(struct tracked, N);
    uint8_t *buf = g_malloc((size_t)N * 8192);
    unsigned int counter = 0;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 8);
    fill_pattern(buf, (size_t)N * 8192, 8);
    for (unsigned int i = 0; i < N; i++) {
        enum blk_io_op op = i % 10 == 9 ? BLK_IO_FLUSH : i % 3 ? BLK_IO_WRITE : BLK_IO_READ;

        tracked_init(&reqs[i], &counter, op, (uint64_t)i * 8192, buf + (size_t)i * 8192, 8192);
        blk_io_submit(io, &reqs[i].req);
        if (i == 40)
            blk_io_kick(io);
    }
    blk_io_close(io);
    g_assert_cmpuint(counter, ==, N);
    for (unsigned int i = 0; i < N; i++) {
        g_assert_cmpuint(reqs[i].calls, ==, 1);
        g_assert_cmpint(reqs[i].result, ==, 0);
    }
    blk_io_close(NULL);
    disk_destroy(&d);
    g_free(buf);
    g_free(reqs);
}

/* Refusals are logged with the disk's name, at most a burst per second. */
static void test_log_rate_limit(gconstpointer engine)
{
    struct log_capture cap = { 0 };
    guint handler;
    uint8_t buf[512];
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    handler = g_log_set_handler(NULL, G_LOG_LEVEL_WARNING, capture_log, &cap);
    for (int i = 0; i < 100; i++)
        g_assert_cmpint(do_io(io, BLK_IO_READ, 2 * MIB, buf, sizeof(buf), false), ==, -EIO);
    g_log_remove_handler(NULL, handler);
    g_assert_cmpuint(cap.lines, >=, 1);
    g_assert_cmpuint(cap.lines, <=, 12);
    g_assert_nonnull(strstr(cap.last, "dom7 vbd 51712"));
    blk_io_close(io);
    disk_destroy(&d);
}

/* ---- local files only --------------------------------------------------- */

/* O_DIRECT: aligned requests work, unaligned buffers, lengths or offsets
 * are -EINVAL before reaching the kernel. */
static void test_direct_alignment(gconstpointer engine)
{
    uint8_t *buf = g_aligned_alloc(2, 64 * 1024, 4096);
    unsigned int lbs, align;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open_opts(&d, false, true, 0);
    lbs = blk_io_logical_block_size(io);
    align = blk_io_min_io_alignment(io);
    g_assert_true(lbs == 512 || lbs == 4096);
    if (blk_io_is_direct(io)) {
        g_assert_cmpuint(align, >=, 2);
        g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf + 1, 4096, false), ==, -EINVAL);
        g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf, 4096 + 1, false), ==, -EINVAL);
        g_assert_cmpint(do_io(io, BLK_IO_READ, 1, buf, 4096, false), ==, -EINVAL);
    }
    fill_pattern(buf, 64 * 1024, 4);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 8192, buf, 8192, true), ==, 0);
    memset(buf + 32 * 1024, 0, 8192);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 8192, buf + 32 * 1024, 8192, false), ==, 0);
    g_assert_cmpmem(buf + 32 * 1024, 8192, buf, 8192);
    blk_io_close(io);
    disk_destroy(&d);
    g_aligned_free(buf);
}

/* The file shrinks under the disk: a read that crosses the new EOF gets
 * the part before it (a short read), then EOF: -EIO, never success. */
static void test_short_read_eof(gconstpointer engine)
{
    uint8_t buf[16384];
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    g_assert_cmpint(truncate(d.path, 6000), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, 8192, false), ==, -EIO);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, 4096, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 65536, buf, 4096, false), ==, -EIO);
    blk_io_close(io);
    disk_destroy(&d);
}

/* Growing the file: refresh_size reports it once; the new area works. */
static void test_resize(gconstpointer engine)
{
    uint8_t buf[4096] = { 1 };
    uint64_t size = 0;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    g_assert_false(blk_io_refresh_size(io, &size));
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 2 * MIB - 4096, buf, 4096, false), ==, -EIO);
    g_assert_cmpint(truncate(d.path, 2 * MIB), ==, 0);
    g_assert_true(blk_io_refresh_size(io, &size));
    g_assert_cmpuint(size, ==, 2 * MIB);
    g_assert_cmpuint(blk_io_size(io), ==, 2 * MIB);
    g_assert_false(blk_io_refresh_size(io, &size));
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 2 * MIB - 4096, buf, 4096, false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

/* A real kernel error: with RLIMIT_FSIZE below the offset, the write that
 * crosses it is cut short, the rest fails with EFBIG, and -EFBIG reaches
 * done() (with one log line). */
static void test_io_error(gconstpointer engine)
{
    struct log_capture cap = { 0 };
    struct rlimit old, small = { 0 };
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_action;
    uint8_t buf[65536] = { 7 };
    guint handler;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, engine, 1 * MIB);
    io = disk_open(&d, false, 0);
    g_assert_cmpint(sigaction(SIGXFSZ, &ign, &old_action), ==, 0);
    g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
    small.rlim_cur = 512 * 1024;
    small.rlim_max = old.rlim_max;
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
    handler = g_log_set_handler(NULL, G_LOG_LEVEL_WARNING, capture_log, &cap);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 512 * 1024 - 4096, buf, sizeof(buf), false), ==, -EFBIG);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 768 * 1024, buf, 4096, true), ==, -EFBIG);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf, 4096, false), ==, 0);
    g_log_remove_handler(NULL, handler);
    g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
    g_assert_cmpint(sigaction(SIGXFSZ, &old_action, NULL), ==, 0);
    g_assert_cmpuint(cap.lines, ==, 2);
    g_assert_nonnull(strstr(cap.last, "File too large"));
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 768 * 1024, buf, 4096, false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

static void test_open_errors(void)
{
    struct blk_io_opts opts = { .target = "/nonexistent/disk.img", .log_name = "dom1 vbd 1" };
    GError *error = NULL;

    g_assert_null(blk_io_open(&opts, NULL, &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_clear_error(&error);
    opts.target = "/dev/null";           /* a character device: refused */
    g_assert_null(blk_io_open(&opts, NULL, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
    opts.target = "nbd:unix:/nonexistent/nbd.sock";
    g_assert_null(blk_io_open(&opts, NULL, &error));
    g_assert_nonnull(strstr(error->message, IOREQD_NBD_OPEN_ERROR));
    g_clear_error(&error);
    opts.target = "nbd:no-port";
    g_assert_null(blk_io_open(&opts, NULL, &error));
    g_assert_nonnull(error);
    g_clear_error(&error);
}

#ifdef IOREQD_HAVE_LIBURING
/* Fails io_uring_setup with ENOSYS, as a container's seccomp profile or a
 * kernel built without io_uring does. No arch check: the call has number
 * 425 on every architecture. */
static void forbid_io_uring(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = G_N_ELEMENTS(filter), .filter = filter };

    g_assert_cmpint(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ==, 0);
    g_assert_cmpint(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0), ==, 0);
}

static void auto_fallback_child(void)
{
    struct log_capture cap = { 0 };
    struct disk d;
    struct blk_io_opts opts = { .engine = BLK_IO_ENGINE_AUTO, .log_name = "dom2 vbd 768" };
    GError *error = NULL;
    struct blk_io *io;
    uint8_t buf[4096];

    disk_create(&d, "threads", 1 * MIB);
    opts.target = d.target;
    io = blk_io_open(&opts, NULL, &error);      /* unconstrained: io_uring */
    g_assert_no_error(error);
    g_assert_cmpstr(blk_io_engine_name(io), ==, "io_uring");
    blk_io_close(io);

    forbid_io_uring();
    g_log_set_handler(NULL, G_LOG_LEVEL_MESSAGE, capture_log, &cap);
    io = blk_io_open(&opts, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(blk_io_engine_name(io), ==, "threads");
    g_assert_cmpuint(cap.lines, ==, 1);
    g_assert_nonnull(strstr(cap.last, "io_uring unavailable"));
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf), false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

/* AUTO falls back to the thread pool when io_uring cannot be set up, and
 * says so once. In a child: a seccomp filter cannot be lifted. */
static void test_auto_fallback(void)
{
    if (g_test_subprocess()) {
        auto_fallback_child();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}
#endif

/* ---- NBD only ----------------------------------------------------------- */
#ifdef IOREQD_HAVE_LIBNBD

/* A qcow2 image through qemu-nbd: the reason NBD is there. */
static void test_nbd_qcow2(void)
{
    struct disk d;
    uint8_t out[65536], in[65536];
    char *cmd;
    struct blk_io *io;

    memset(&d, 0, sizeof(d));
    d.engine = "nbd";
    d.dir = g_build_filename(g_get_tmp_dir(), "blk-io-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(d.dir));
    d.path = g_build_filename(d.dir, "disk.qcow2", NULL);
    cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s 8M", d.path);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(cmd);
    start_qemu_nbd(&d, "qcow2", false);
    io = disk_open(&d, false, 0);
    g_assert_cmpuint(blk_io_size(io), ==, 8 * MIB);
    g_assert_true(blk_io_has_volatile_cache(io));
    fill_pattern(out, sizeof(out), 77);
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 3 * MIB, out, sizeof(out), true), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 3 * MIB, in, sizeof(in), false), ==, 0);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    blk_io_close(io);
    disk_destroy(&d);
}

/* A read-only export makes a read-only disk even when asked for r/w. */
static void test_nbd_readonly_export(void)
{
    uint8_t buf[4096];
    struct disk d;
    struct blk_io *io;

    disk_create(&d, "threads", 1 * MIB);   /* the file only */
    d.engine = "nbd";
    g_free(d.target);
    start_qemu_nbd(&d, "raw", true);
    io = disk_open(&d, false, 0);
    g_assert_true(blk_io_is_readonly(io));
    g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf, sizeof(buf), false), ==, -EROFS);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf), false), ==, 0);
    blk_io_close(io);
    disk_destroy(&d);
}

/* The server dies with requests outstanding: each gets an -errno. */
static void test_nbd_server_dies(void)
{
    struct log_capture cap = { 0 };
    enum { N = 16 };
    struct tracked reqs[N];
    uint8_t buf[4096];
    unsigned int counter = 0;
    guint handler;
    struct disk d;
    struct blk_io *io;

    disk_create(&d, "nbd", 1 * MIB);
    io = disk_open(&d, false, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf), false), ==, 0);
    handler = g_log_set_handler(NULL, G_LOG_LEVEL_WARNING, capture_log, &cap);
    stop_server(&d);
    for (unsigned int i = 0; i < N; i++) {
        tracked_init(&reqs[i], &counter, BLK_IO_READ, (uint64_t)i * 4096, buf, sizeof(buf));
        blk_io_submit(io, &reqs[i].req);
    }
    blk_io_kick(io);
    wait_count(&counter, N);
    for (unsigned int i = 0; i < N; i++)
        g_assert_cmpint(reqs[i].result, <, 0);
    g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0, false), <, 0);
    blk_io_close(io);
    g_log_remove_handler(NULL, handler);
    g_assert_cmpuint(cap.lines, >=, 1);
    disk_destroy(&d);
}

#endif

/* ---- registration ------------------------------------------------------- */

static void add_for(const char *engine, const char *name, GTestDataFunc fn)
{
    char *path = g_strdup_printf("/blk-io/%s/%s", engine, name);

    g_test_add_data_func(path, engine, fn);
    g_free(path);
}

int main(int argc, char **argv)
{
    /* Engines not built are not registered (meson says which are off). */
    static const char *const all[] = {
#ifdef IOREQD_HAVE_LIBURING
        "io_uring",
#endif
        "threads",
#ifdef IOREQD_HAVE_LIBNBD
        "nbd",
#endif
    };
    static const char *const local[] = {
#ifdef IOREQD_HAVE_LIBURING
        "io_uring",
#endif
        "threads",
    };

    g_test_init(&argc, &argv, NULL);
    /* Error paths log warnings on purpose; tests check them where it matters. */
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    for (unsigned int i = 0; i < G_N_ELEMENTS(all); i++) {
        add_for(all[i], "random-mixed", test_random_mixed);
        add_for(all[i], "many-iovecs", test_many_iovecs);
        add_for(all[i], "out-of-range", test_out_of_range);
        add_for(all[i], "flush-ordering", test_flush_ordering);
        add_for(all[i], "fua", test_fua);
        add_for(all[i], "discard-tmpfs", test_discard_tmpfs);
        add_for(all[i], "discard-tmpdir", test_discard_tmpdir);
        add_for(all[i], "readonly", test_readonly);
        add_for(all[i], "batching-overflow", test_batching_and_overflow);
        add_for(all[i], "close-in-flight", test_close_in_flight);
        add_for(all[i], "log-rate-limit", test_log_rate_limit);
    }
    for (unsigned int i = 0; i < G_N_ELEMENTS(local); i++) {
        add_for(local[i], "direct-alignment", test_direct_alignment);
        add_for(local[i], "short-read-eof", test_short_read_eof);
        add_for(local[i], "resize", test_resize);
        add_for(local[i], "io-error", test_io_error);
    }
    g_test_add_func("/blk-io/open-errors", test_open_errors);
#ifdef IOREQD_HAVE_LIBURING
    g_test_add_func("/blk-io/auto-fallback", test_auto_fallback);
#endif
#ifdef IOREQD_HAVE_LIBNBD
    g_test_add_func("/blk-io/nbd/qcow2", test_nbd_qcow2);
    g_test_add_func("/blk-io/nbd/readonly-export", test_nbd_readonly_export);
    g_test_add_func("/blk-io/nbd/server-dies", test_nbd_server_dies);
#endif
    return g_test_run();
}
