/* SPDX-License-Identifier: MIT */
/*
 * The disk I/O engine's block device path (backends/blk-io.c probe and
 * discards) against a fake block device, so that what no device on a test
 * machine offers (secure discard) and what the kernel only does on some
 * hardware (EOPNOTSUPP at discard time) is covered too.
 *
 * The seam is the linker (meson: -Wl,--wrap=ioctl,--wrap=fstat64,...): a
 * regular temp file stands in for the device. fstat() on it reports a
 * block device; the block ioctls on it are answered here the way Linux
 * answers them (blk_ioctl_discard / blk_ioctl_secure_erase: EBADF without
 * write access, EOPNOTSUPP without support, then EINVAL for a range not
 * aligned to the logical block size, empty or past the end) and a discard
 * that passes punches a hole in the file, so reads show it. Every other fd
 * and ioctl goes to the real calls. Reads, writes and flushes reach the
 * file through the engine's real syscalls (io_uring or the thread pool).
 *
 * The fake has no sysfs directory (its device number is unused), so the
 * sysfs-derived values take their fallbacks; tests/integration/
 * test_qdisk_blockdev.py covers those on real loop devices.
 */
#include "config.h"

#include "backends/blk-io.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define KIB 1024u
#define MIB (1024u * 1024u)
#define FILE_SIZE (4 * MIB)
/* No such device: /sys/dev/block/4095:1048574 does not exist. */
#define FAKE_MAJOR 4095u
#define FAKE_MINOR 1048574u

/* ---- the fake block device --------------------------------------------- */

struct fake_call {
    unsigned long request;          /* BLKDISCARD or BLKSECDISCARD */
    uint64_t start, len;
    int result;                     /* 0 or -errno */
};

struct fake_bdev {
    bool active;
    dev_t st_dev;                   /* the backing file */
    ino_t st_ino;
    /* what the device answers */
    uint64_t size;                  /* BLKGETSIZE64 */
    int lbs;                        /* BLKSSZGET */
    unsigned int pbs;               /* BLKPBSZGET (0: fails with ENOTTY) */
    int ro;                         /* BLKROGET */
    int lbs_errno;                  /* BLKSSZGET fails with it (0: works) */
    int discard_errno;              /* 0: supported; else the support check's errno */
    int secdiscard_errno;
    int discard_fail;               /* supported, yet a valid range fails with it */
    int secdiscard_fail;
};

static struct fake_bdev fake;
/* the discard ioctls it was asked (struct fake_call), from engine threads */
static GMutex calls_lock;
static GArray *calls_seen;

int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);
int __real_fstat64(int fd, struct stat64 *st);
int __wrap_fstat64(int fd, struct stat64 *st);
int __real_fstat(int fd, struct stat *st);
int __wrap_fstat(int fd, struct stat *st);

static bool is_fake_file(dev_t dev, ino_t ino)
{
    return fake.active && dev == fake.st_dev && ino == fake.st_ino;
}

static bool is_fake_fd(int fd)
{
    struct stat64 st;

    return __real_fstat64(fd, &st) == 0 && is_fake_file(st.st_dev, st.st_ino);
}

static void as_blockdev(mode_t *mode, dev_t *rdev, off64_t *size)
{
    *mode = S_IFBLK | (*mode & 07777);
    *rdev = makedev(FAKE_MAJOR, FAKE_MINOR);
    *size = 0;
}

int __wrap_fstat64(int fd, struct stat64 *st)
{
    int ret = __real_fstat64(fd, st);

    if (ret == 0 && is_fake_file(st->st_dev, st->st_ino))
        as_blockdev(&st->st_mode, &st->st_rdev, &st->st_size);
    return ret;
}

int __wrap_fstat(int fd, struct stat *st)
{
    int ret = __real_fstat(fd, st);
    off64_t size = st->st_size;

    if (ret == 0 && is_fake_file(st->st_dev, st->st_ino)) {
        as_blockdev(&st->st_mode, &st->st_rdev, &size);
        st->st_size = (off_t)size;
    }
    return ret;
}

/* BLKDISCARD / BLKSECDISCARD in the order Linux checks them. */
static int fake_discard(int fd, unsigned long request, const uint64_t *range)
{
    bool secure = request == BLKSECDISCARD;
    int support = secure ? fake.secdiscard_errno : fake.discard_errno;
    int fail = secure ? fake.secdiscard_fail : fake.discard_fail;
    uint64_t start = range[0], len = range[1], lbs = (uint64_t)fake.lbs;
    int result;

    if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        result = -EBADF;
    else if (support)
        result = -support;
    else if (start % lbs || len % lbs || len == 0 || start > fake.size || len > fake.size - start)
        result = -EINVAL;
    else if (fail)
        result = -fail;
    else if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)start, (off_t)len) < 0)
        result = -errno;
    else
        result = 0;
    g_mutex_lock(&calls_lock);
    g_array_append_val(calls_seen, ((struct fake_call){ request, start, len, result }));
    g_mutex_unlock(&calls_lock);
    return result;
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    void *arg;
    int result = 0;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);
    if (!is_fake_fd(fd))
        return __real_ioctl(fd, request, arg);
    switch (request) {
    case BLKGETSIZE64:
        *(uint64_t *)arg = fake.size;
        break;
    case BLKSSZGET:
        if (fake.lbs_errno)
            result = -fake.lbs_errno;
        else
            *(int *)arg = fake.lbs;
        break;
    case BLKROGET:
        *(int *)arg = fake.ro;
        break;
    case BLKPBSZGET:
        if (fake.pbs)
            *(unsigned int *)arg = fake.pbs;
        else
            result = -ENOTTY;
        break;
    case BLKDISCARD:
    case BLKSECDISCARD:
        result = fake_discard(fd, request, arg);
        break;
    default:
        result = -ENOTTY;
        break;
    }
    if (result < 0) {
        errno = -result;
        return -1;
    }
    return 0;
}

/* ---- a disk on the fake ------------------------------------------------- */

/* The discard ioctls the fake saw since the last call; clears them. */
static GArray *take_calls(void)
{
    GArray *calls;

    g_mutex_lock(&calls_lock);
    calls = calls_seen;
    calls_seen = g_array_new(FALSE, TRUE, sizeof(struct fake_call));
    g_mutex_unlock(&calls_lock);
    return calls;
}


struct disk {
    char *dir, *path;
    uint8_t *pattern;               /* what the file holds at the start */
};

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    GRand *rng = g_rand_new_with_seed(seed);

    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)g_rand_int(rng);
    g_rand_free(rng);
}

/* A device of `size` bytes (<= FILE_SIZE) with the given logical block
 * size; discard and secure discard supported, writable. */
static void disk_create(struct disk *d, uint64_t size, int lbs)
{
    struct stat64 st;
    int fd;

    g_assert_cmpuint(size, <=, FILE_SIZE);
    memset(d, 0, sizeof(*d));
    d->dir = g_build_filename(g_get_tmp_dir(), "blk-io-bdev-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(d->dir));
    d->path = g_build_filename(d->dir, "disk.img", NULL);
    d->pattern = g_malloc(FILE_SIZE);
    fill_pattern(d->pattern, FILE_SIZE, 42);
    g_assert_true(g_file_set_contents(d->path, (const char *)d->pattern, FILE_SIZE, NULL));
    fd = open(d->path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(__real_fstat64(fd, &st), ==, 0);
    close(fd);

    fake = (struct fake_bdev){
        .active = true, .st_dev = st.st_dev, .st_ino = st.st_ino, .size = size, .lbs = lbs,
    };
    g_array_free(take_calls(), TRUE);
}

static void disk_destroy(struct disk *d)
{
    fake.active = false;
    g_unlink(d->path);
    g_rmdir(d->dir);
    g_free(d->path);
    g_free(d->dir);
    g_free(d->pattern);
}

static enum blk_io_engine_kind engine_kind(const char *engine)
{
    return strcmp(engine, "threads") == 0 ? BLK_IO_ENGINE_THREADS : BLK_IO_ENGINE_URING;
}

static struct blk_io *disk_open(struct disk *d, const char *engine, bool readonly)
{
    struct blk_io_opts opts = {
        .target = d->path, .readonly = readonly, .engine = engine_kind(engine),
        .log_name = "dom5 vbd 51712",
    };
    GError *error = NULL;
    struct blk_io *io = blk_io_open(&opts, NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(io);
    g_assert_cmpstr(blk_io_engine_name(io), ==, engine);
    return io;
}

/* The file's bytes now (what the "device" holds). */
static uint8_t *file_contents(struct disk *d)
{
    gchar *data;
    gsize len;

    g_assert_true(g_file_get_contents(d->path, &data, &len, NULL));
    g_assert_cmpuint(len, ==, FILE_SIZE);
    return (uint8_t *)data;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static void assert_no_calls(void)
{
    GArray *calls = take_calls();

    g_assert_cmpuint(calls->len, ==, 0);
    g_array_free(calls, TRUE);
}

static void assert_one_call(unsigned long request, uint64_t start, uint64_t len, int result)
{
    GArray *calls = take_calls();
    struct fake_call *c = &g_array_index(calls, struct fake_call, 0);

    g_assert_cmpuint(calls->len, ==, 1);
    g_assert_cmphex(c->request, ==, request);
    g_assert_cmpuint(c->start, ==, start);
    g_assert_cmpuint(c->len, ==, len);
    g_assert_cmpint(c->result, ==, result);
    g_array_free(calls, TRUE);
}

/* ---- requests ----------------------------------------------------------- */

struct tracked {
    struct blk_io_req req;
    struct iovec iov;
    int result;
    unsigned int calls;
    unsigned int *counter;
};

static void tracked_done(struct blk_io_req *req, int result)
{
    struct tracked *t = req->opaque;

    t->calls++;
    t->result = result;
    ++*t->counter;
}

static void tracked_init(struct tracked *t, unsigned int *counter, enum blk_io_op op,
                         uint64_t offset, void *buf, uint64_t len)
{
    memset(t, 0, sizeof(*t));
    t->counter = counter;
    t->req = (struct blk_io_req){ .op = op, .offset = offset, .done = tracked_done, .opaque = t };
    if (op == BLK_IO_READ || op == BLK_IO_WRITE) {
        t->iov = (struct iovec){ buf, (size_t)len };
        t->req.iov = &t->iov;
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

static void wait_count(unsigned int *counter, unsigned int target)
{
    guint timeout = g_timeout_add_seconds(20, test_timed_out, NULL);

    while (*counter < target)
        g_main_context_iteration(NULL, TRUE);
    g_source_remove(timeout);
}

static int do_io(struct blk_io *io, enum blk_io_op op, uint64_t offset, void *buf, uint64_t len)
{
    unsigned int counter = 0;
    struct tracked t;

    tracked_init(&t, &counter, op, offset, buf, len);
    blk_io_submit(io, &t.req);
    blk_io_kick(io);
    wait_count(&counter, 1);
    g_assert_cmpuint(t.calls, ==, 1);
    return t.result;
}

static int discard(struct blk_io *io, uint64_t offset, uint64_t len)
{
    return do_io(io, BLK_IO_DISCARD, offset, NULL, len);
}

static int secure_discard(struct blk_io *io, uint64_t offset, uint64_t len)
{
    return do_io(io, BLK_IO_SECURE_DISCARD, offset, NULL, len);
}

/* ---- tests --------------------------------------------------------------- */

/* What the device says about itself is what the disk reports: size from
 * BLKGETSIZE64 (not the file behind it), block size from BLKSSZGET. */
static void test_geometry(gconstpointer engine)
{
    static const struct { int lbs, lbs_errno; unsigned int pbs, want, want_pbs; } cases[] = {
        { 512, 0, 0, 512, 512 }, { 4096, 0, 4096, 4096, 4096 }, { 2048, 0, 0, 4096, 4096 },
        { 4096, ENOTTY, 0, 512, 512 },
        { 512, 0, 4096, 512, 4096 },         /* 512e */
        { 512, 0, 65536, 512, 65536 },
        /* nonsense from the device: the logical size stands */
        { 512, 0, 3000, 512, 512 }, { 512, 0, 256, 512, 512 }, { 512, 0, 1u << 20, 512, 512 },
        { 4096, 0, 512, 4096, 4096 },
    };
    uint8_t *buf = g_malloc(8 * KIB);

    for (unsigned int i = 0; i < G_N_ELEMENTS(cases); i++) {
        struct disk d;
        struct blk_io *io;
        uint64_t new_size = 0;

        disk_create(&d, 3 * MIB, cases[i].lbs);
        fake.lbs_errno = cases[i].lbs_errno;
        fake.pbs = cases[i].pbs;
        io = disk_open(&d, engine, false);
        g_assert_cmpuint(blk_io_size(io), ==, 3 * MIB);
        g_assert_cmpuint(blk_io_logical_block_size(io), ==, cases[i].want);
        g_assert_cmpuint(blk_io_physical_block_size(io), ==, cases[i].want_pbs);
        g_assert_false(blk_io_is_readonly(io));
        /* no sysfs for the fake: a write-back cache is assumed */
        g_assert_true(blk_io_has_volatile_cache(io));
        g_assert_cmpint(do_io(io, BLK_IO_READ, 3 * MIB - 4 * KIB, buf, 4 * KIB), ==, 0);
        g_assert_cmpmem(buf, 4 * KIB, d.pattern + 3 * MIB - 4 * KIB, 4 * KIB);
        g_assert_cmpint(do_io(io, BLK_IO_READ, 3 * MIB - 4 * KIB, buf, 8 * KIB), ==, -EIO);
        /* the device grows: the new size comes from the device again */
        g_assert_false(blk_io_refresh_size(io, &new_size));
        fake.size = 4 * MIB;
        g_assert_true(blk_io_refresh_size(io, &new_size));
        g_assert_cmpuint(new_size, ==, 4 * MIB);
        g_assert_cmpint(do_io(io, BLK_IO_READ, 3 * MIB - 4 * KIB, buf, 8 * KIB), ==, 0);
        blk_io_close(io);
        disk_destroy(&d);
    }
    g_free(buf);
}

/* Support is told by an unaligned range: EINVAL means the ioctl exists
 * and only the range was wrong; anything else means no. The probe never
 * discards anything. */
static void test_probe(gconstpointer engine)
{
    static const struct { int discard_errno, secdiscard_errno; bool discard, secure; } cases[] = {
        { 0, 0, true, true },
        { 0, EOPNOTSUPP, true, false },
        { EOPNOTSUPP, EOPNOTSUPP, false, false },
        { EOPNOTSUPP, 0, false, true },   /* qdisk offers secure only with discard */
        { ENOTTY, ENOTTY, false, false },
        { EPERM, EIO, false, false },
        { 0, EPERM, true, false },
    };

    for (unsigned int i = 0; i < G_N_ELEMENTS(cases); i++) {
        struct disk d;
        struct blk_io *io;
        uint8_t *now;
        GArray *calls;
        bool saw_discard = false, saw_secure = false;

        disk_create(&d, 2 * MIB, 512);
        fake.discard_errno = cases[i].discard_errno;
        fake.secdiscard_errno = cases[i].secdiscard_errno;
        io = disk_open(&d, engine, false);
        g_assert_cmpint(blk_io_can_discard(io), ==, cases[i].discard);
        g_assert_cmpint(blk_io_can_secure_discard(io), ==, cases[i].secure);
        /* no sysfs: the granularity falls back to the block size */
        g_assert_cmpuint(blk_io_discard_granularity(io), ==, cases[i].discard ? 512 : 0);
        g_assert_cmpuint(blk_io_discard_alignment(io), ==, 0);
        calls = take_calls();
        for (unsigned int c = 0; c < calls->len; c++) {
            struct fake_call *call = &g_array_index(calls, struct fake_call, c);

            g_assert_cmpint(call->result, !=, 0);   /* nothing was discarded */
            saw_discard |= call->request == BLKDISCARD;
            saw_secure |= call->request == BLKSECDISCARD;
        }
        g_assert_true(saw_discard && saw_secure);
        g_array_free(calls, TRUE);
        now = file_contents(&d);
        g_assert_cmpmem(now, FILE_SIZE, d.pattern, FILE_SIZE);
        g_free(now);
        blk_io_close(io);
        disk_destroy(&d);
    }
}

/* Opened read-only: no discard ioctl at all, not even a probe. A device
 * that is read-only (BLKROGET) though opened read-write is served
 * read-only: every mutating request is refused before reaching it. */
static void test_readonly(gconstpointer engine)
{
    uint8_t buf[4096];

    for (int mode = 0; mode < 2; mode++) {
        struct disk d;
        struct blk_io *io;
        uint8_t *now;

        disk_create(&d, 2 * MIB, 512);
        fake.ro = mode == 1;
        io = disk_open(&d, engine, mode == 0);
        g_assert_true(blk_io_is_readonly(io));
        g_assert_false(blk_io_can_discard(io));
        g_assert_false(blk_io_can_secure_discard(io));
        g_assert_cmpuint(blk_io_discard_granularity(io), ==, 0);
        memset(buf, 0x5a, sizeof(buf));
        g_assert_cmpint(do_io(io, BLK_IO_WRITE, 0, buf, sizeof(buf)), ==, -EROFS);
        g_assert_cmpint(discard(io, 0, 4096), ==, -EROFS);
        g_assert_cmpint(secure_discard(io, 0, 4096), ==, -EROFS);
        g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf)), ==, 0);
        g_assert_cmpmem(buf, sizeof(buf), d.pattern, sizeof(buf));
        g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0), ==, 0);
        assert_no_calls();
        now = file_contents(&d);
        g_assert_cmpmem(now, FILE_SIZE, d.pattern, FILE_SIZE);
        g_free(now);
        blk_io_close(io);
        disk_destroy(&d);
    }
}

/* A secure discard is BLKSECDISCARD and a plain one BLKDISCARD, each with
 * the exact byte range; the range reads back as zeroes, the rest as it
 * was. */
static void test_discard_ioctls(gconstpointer engine)
{
    struct disk d;
    struct blk_io *io;
    uint8_t *buf = g_malloc(FILE_SIZE);

    disk_create(&d, FILE_SIZE, 512);
    io = disk_open(&d, engine, false);
    g_assert_true(blk_io_can_discard(io));
    g_assert_true(blk_io_can_secure_discard(io));
    take_calls();                                   /* the probes */

    g_assert_cmpint(secure_discard(io, 64 * KIB, 128 * KIB), ==, 0);
    assert_one_call(BLKSECDISCARD, 64 * KIB, 128 * KIB, 0);
    g_assert_cmpint(discard(io, 1536, 2560), ==, 0);
    assert_one_call(BLKDISCARD, 1536, 2560, 0);
    g_assert_cmpint(secure_discard(io, FILE_SIZE - 512, 512), ==, 0);   /* the last sector */
    assert_one_call(BLKSECDISCARD, FILE_SIZE - 512, 512, 0);
    g_assert_cmpint(discard(io, 0, FILE_SIZE), ==, 0);                  /* the whole disk */
    assert_one_call(BLKDISCARD, 0, FILE_SIZE, 0);
    blk_io_close(io);
    disk_destroy(&d);

    /* The data: read back through the engine, after a fresh device. */
    disk_create(&d, FILE_SIZE, 512);
    io = disk_open(&d, engine, false);
    take_calls();
    g_assert_cmpint(secure_discard(io, 64 * KIB, 128 * KIB), ==, 0);
    g_assert_cmpint(discard(io, 1536, 2560), ==, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, FILE_SIZE), ==, 0);
    g_assert_cmpmem(buf, 1536, d.pattern, 1536);
    g_assert_true(all_zero(buf + 1536, 2560));
    g_assert_cmpmem(buf + 4096, 60 * KIB, d.pattern + 4096, 60 * KIB);
    g_assert_true(all_zero(buf + 64 * KIB, 128 * KIB));
    g_assert_cmpmem(buf + 192 * KIB, FILE_SIZE - 192 * KIB, d.pattern + 192 * KIB,
                    FILE_SIZE - 192 * KIB);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(buf);
}

/* Many discards in one batch (the thread pool runs them in parallel):
 * each reaches the device once, with its own range. */
static void test_discard_batch(gconstpointer engine)
{
    enum { N = 48 };
    struct tracked t[N];
    unsigned int counter = 0;
    bool seen[N] = { false };
    struct disk d;
    struct blk_io *io;
    GArray *calls;

    disk_create(&d, FILE_SIZE, 4096);
    io = disk_open(&d, engine, false);
    take_calls();
    for (unsigned int i = 0; i < N; i++) {
        tracked_init(&t[i], &counter, i % 2 ? BLK_IO_SECURE_DISCARD : BLK_IO_DISCARD,
                     (uint64_t)i * 64 * KIB, NULL, (i % 4 + 1) * 4 * KIB);
        blk_io_submit(io, &t[i].req);
    }
    blk_io_kick(io);
    wait_count(&counter, N);
    calls = take_calls();
    g_assert_cmpuint(calls->len, ==, N);
    for (unsigned int c = 0; c < N; c++) {
        struct fake_call *call = &g_array_index(calls, struct fake_call, c);
        unsigned int i = (unsigned int)(call->start / (64 * KIB));

        g_assert_cmpuint(i, <, N);
        g_assert_false(seen[i]);
        seen[i] = true;
        g_assert_cmphex(call->request, ==, i % 2 ? BLKSECDISCARD : BLKDISCARD);
        g_assert_cmpuint(call->start, ==, (uint64_t)i * 64 * KIB);
        g_assert_cmpuint(call->len, ==, (i % 4 + 1) * 4 * KIB);
        g_assert_cmpint(t[i].result, ==, 0);
        g_assert_cmpuint(t[i].calls, ==, 1);
    }
    g_array_free(calls, TRUE);
    blk_io_close(io);
    disk_destroy(&d);
}

/* The probe said yes, the discard itself says no (kernels before 5.19
 * for secure discard, or a device that changed): the error reaches
 * done(), the data stays, later requests still work. */
static void test_discard_fails(gconstpointer engine)
{
    static const int errs[] = { EOPNOTSUPP, EIO };
    uint8_t buf[8192];

    for (unsigned int i = 0; i < G_N_ELEMENTS(errs); i++) {
        struct disk d;
        struct blk_io *io;
        uint8_t *now;

        disk_create(&d, 2 * MIB, 512);
        fake.discard_fail = fake.secdiscard_fail = errs[i];
        io = disk_open(&d, engine, false);
        g_assert_true(blk_io_can_discard(io));
        g_assert_true(blk_io_can_secure_discard(io));
        take_calls();
        g_assert_cmpint(secure_discard(io, 8192, 8192), ==, -errs[i]);
        assert_one_call(BLKSECDISCARD, 8192, 8192, -errs[i]);
        g_assert_cmpint(discard(io, 0, 8192), ==, -errs[i]);
        assert_one_call(BLKDISCARD, 0, 8192, -errs[i]);
        g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, sizeof(buf)), ==, 0);
        g_assert_cmpmem(buf, sizeof(buf), d.pattern, sizeof(buf));
        g_assert_cmpint(do_io(io, BLK_IO_FLUSH, 0, NULL, 0), ==, 0);
        now = file_contents(&d);
        g_assert_cmpmem(now, FILE_SIZE, d.pattern, FILE_SIZE);
        g_free(now);
        blk_io_close(io);
        disk_destroy(&d);
    }
}

/* Ranges that must never reach the device, and what unaligned ranges
 * become. */
static void test_edge_ranges(gconstpointer engine)
{
    const uint64_t size = 2 * MIB;
    struct disk d;
    struct blk_io *io;
    uint8_t *buf = g_malloc(16 * KIB);

    /* 512-byte blocks */
    disk_create(&d, size, 512);
    io = disk_open(&d, engine, false);
    take_calls();
    g_assert_cmpint(discard(io, 4096, 0), ==, 0);                  /* empty: nothing to do */
    g_assert_cmpint(secure_discard(io, 4096, 0), ==, 0);
    g_assert_cmpint(discard(io, size, 0), ==, 0);
    assert_no_calls();
    g_assert_cmpint(discard(io, size, 512), ==, -EIO);             /* past the end */
    g_assert_cmpint(secure_discard(io, size - 512, 1024), ==, -EIO);
    g_assert_cmpint(discard(io, size + 512, 0), ==, -EIO);
    g_assert_cmpint(discard(io, UINT64_MAX - 511, 1024), ==, -EIO); /* wraps around */
    g_assert_cmpint(secure_discard(io, 512, UINT64_MAX), ==, -EIO);
    g_assert_cmpint(discard(io, 0, UINT64_MAX), ==, -EIO);
    assert_no_calls();
    g_assert_cmpint(secure_discard(io, 100, 512), ==, -EINVAL);    /* unaligned secure */
    g_assert_cmpint(secure_discard(io, 512, 100), ==, -EINVAL);
    assert_no_calls();
    /* a plain discard is a hint: it shrinks to the whole blocks inside */
    g_assert_cmpint(discard(io, 100, 512), ==, 0);
    assert_no_calls();
    g_assert_cmpint(discard(io, 100, 2000), ==, 0);
    assert_one_call(BLKDISCARD, 512, 1536, 0);
    blk_io_close(io);
    disk_destroy(&d);

    /* 4 KiB blocks: what a 512-byte-sector frontend asks must be aligned
     * to 4 KiB before the kernel accepts it */
    disk_create(&d, size, 4096);
    io = disk_open(&d, engine, false);
    g_assert_cmpuint(blk_io_logical_block_size(io), ==, 4096);
    take_calls();
    g_assert_cmpint(discard(io, 512, 7680), ==, 0);
    assert_one_call(BLKDISCARD, 4096, 4096, 0);
    g_assert_cmpint(discard(io, 512, 1024), ==, 0);                /* inside one block */
    g_assert_cmpint(discard(io, 12288 + 512, 3584), ==, 0);
    assert_no_calls();
    g_assert_cmpint(secure_discard(io, 512, 4096), ==, -EINVAL);
    g_assert_cmpint(secure_discard(io, 4096, 512), ==, -EINVAL);
    assert_no_calls();
    g_assert_cmpint(secure_discard(io, 8192, 4096), ==, 0);
    assert_one_call(BLKSECDISCARD, 8192, 4096, 0);
    g_assert_cmpint(do_io(io, BLK_IO_READ, 0, buf, 16 * KIB), ==, 0);
    g_assert_cmpmem(buf, 4096, d.pattern, 4096);                   /* partly asked: kept */
    g_assert_true(all_zero(buf + 4096, 8192));
    g_assert_cmpmem(buf + 12288, 4096, d.pattern + 12288, 4096);
    blk_io_close(io);
    disk_destroy(&d);

    /* secure discard where the device has none: refused, not passed on */
    disk_create(&d, size, 512);
    fake.secdiscard_errno = EOPNOTSUPP;
    io = disk_open(&d, engine, false);
    take_calls();
    g_assert_cmpint(secure_discard(io, 0, 4096), ==, -EOPNOTSUPP);
    assert_no_calls();
    g_assert_cmpint(discard(io, 0, 4096), ==, 0);
    assert_one_call(BLKDISCARD, 0, 4096, 0);
    blk_io_close(io);
    disk_destroy(&d);
    g_free(buf);
}

/* The seam itself: other fds are untouched (a guard against a fake that
 * would make every test above vacuous or a real device misbehave). */
static void test_fake_is_scoped(void)
{
    struct disk d;
    struct stat st;
    int fd, lbs = 0;
    uint64_t range[2] = { 1, 0 };

    disk_create(&d, 2 * MIB, 4096);
    fd = open(d.path, O_RDWR | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_true(S_ISBLK(st.st_mode));
    g_assert_cmpint(ioctl(fd, BLKSSZGET, &lbs), ==, 0);
    g_assert_cmpint(lbs, ==, 4096);
    close(fd);
    fake.active = false;
    fd = open(d.path, O_RDWR | O_CLOEXEC);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_assert_cmpint(ioctl(fd, BLKDISCARD, range), ==, -1);          /* the real kernel */
    g_assert_cmpint(errno, ==, ENOTTY);
    close(fd);
    assert_no_calls();
    disk_destroy(&d);
}

static void add_for(const char *engine, const char *name, GTestDataFunc fn)
{
    char *path = g_strdup_printf("/blk-io-blockdev/%s/%s", engine, name);

    g_test_add_data_func(path, engine, fn);
    g_free(path);
}

int main(int argc, char **argv)
{
    /* the engines that serve block devices (NBD never sees one) */
    static const char *const engines[] = {
#ifdef IOREQD_HAVE_LIBURING
        "io_uring",
#endif
        "threads",
    };

    g_test_init(&argc, &argv, NULL);
    /* refused requests log warnings on purpose */
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    calls_seen = g_array_new(FALSE, TRUE, sizeof(struct fake_call));
    g_test_add_func("/blk-io-blockdev/fake-is-scoped", test_fake_is_scoped);
    for (unsigned int i = 0; i < G_N_ELEMENTS(engines); i++) {
        add_for(engines[i], "geometry", test_geometry);
        add_for(engines[i], "probe", test_probe);
        add_for(engines[i], "readonly", test_readonly);
        add_for(engines[i], "discard-ioctls", test_discard_ioctls);
        add_for(engines[i], "discard-batch", test_discard_batch);
        add_for(engines[i], "discard-fails", test_discard_fails);
        add_for(engines[i], "edge-ranges", test_edge_ranges);
    }
    return g_test_run();
}
