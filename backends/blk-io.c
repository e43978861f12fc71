/* SPDX-License-Identifier: MIT */
/*
 * The engine-independent half of the disk I/O module: opening and probing
 * the target, validating every request before an engine sees it, flush
 * ordering, and delivering done() from a GSource on the caller's context.
 */
#include "config.h"

#include "backends/blk-io-int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

void task_queue_push(struct task_queue *q, struct blk_io_task *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
    q->len++;
}

struct blk_io_task *task_queue_pop(struct task_queue *q)
{
    struct blk_io_task *t = q->head;

    if (!t)
        return NULL;
    q->head = t->next;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    t->next = NULL;
    return t;
}

void blk_io_log(struct blk_io *io, const char *fmt, ...)
{
    unsigned int suppressed;
    va_list ap;
    char *msg;

    if (!ratelimit_allow(&io->error_log, &suppressed))
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (suppressed)
        g_warning("%s: %s (%u similar lines suppressed)", io->log_name, msg, suppressed);
    else
        g_warning("%s: %s", io->log_name, msg);
    g_free(msg);
}

static const char *op_name(enum blk_io_op op)
{
    switch (op) {
    case BLK_IO_READ: return "read";
    case BLK_IO_WRITE: return "write";
    case BLK_IO_FLUSH: return "flush";
    case BLK_IO_DISCARD: return "discard";
    case BLK_IO_SECURE_DISCARD: return "secure discard";
    }
    return "unknown op";
}

void blk_io_task_advance(struct blk_io_task *t, uint64_t n)
{
    unsigned int i = 0;
    struct iovec *rest;

    t->transferred += n;
    while (i < t->iovcnt && n >= t->iov[i].iov_len) {
        n -= t->iov[i].iov_len;
        i++;
    }
    if (i == t->iovcnt) {
        t->iovcnt = 0;
        return;
    }
    /* Rare (short transfers only): a fresh copy keeps the caller's array
     * untouched. */
    rest = g_new(struct iovec, t->iovcnt - i);
    memcpy(rest, &t->iov[i], sizeof(*rest) * (t->iovcnt - i));
    rest[0].iov_base = (char *)rest[0].iov_base + n;
    rest[0].iov_len -= n;
    t->iovcnt -= i;
    g_free(t->iov_rest);
    t->iov_rest = rest;
    t->iov = rest;
}

/* ---- completion delivery ---------------------------------------------- */

struct blk_io_source {
    GSource base;
    struct blk_io *io;
};

static gboolean source_prepare(GSource *source, gint *timeout)
{
    struct blk_io *io = ((struct blk_io_source *)source)->io;

    *timeout = -1;
    if (io->engine->prepare)
        io->engine->prepare(io);
    return io->done.head != NULL;
}

static gboolean source_check(GSource *source)
{
    struct blk_io *io = ((struct blk_io_source *)source)->io;

    if (io->done.head)
        return TRUE;
    for (unsigned int i = 0; i < io->n_fd_tags; i++)
        if (g_source_query_unix_fd(source, io->fd_tags[i]))
            return TRUE;
    return FALSE;
}

static void free_task(struct blk_io_task *t)
{
    g_free(t->iov_rest);
    g_free(t);
}

/* done() may submit and kick: each task is unlinked before its call. */
static void deliver_done(struct blk_io *io)
{
    struct blk_io_task *t;

    while ((t = task_queue_pop(&io->done))) {
        struct blk_io_req *req = t->req;
        int result = t->result;

        free_task(t);
        io->outstanding--;
        req->done(req, result);
    }
}

static gboolean source_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    struct blk_io *io = ((struct blk_io_source *)source)->io;

    io->engine->reap(io, true);
    deliver_done(io);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs blk_io_source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
};

gpointer blk_io_watch_fd(struct blk_io *io, int fd, GIOCondition events)
{
    gpointer tag;

    g_assert(io->n_fd_tags < G_N_ELEMENTS(io->fd_tags));
    tag = g_source_add_unix_fd(io->source, fd, events);
    io->fd_tags[io->n_fd_tags++] = tag;
    return tag;
}

void blk_io_unwatch_fd(struct blk_io *io, gpointer tag)
{
    for (unsigned int i = 0; i < io->n_fd_tags; i++) {
        if (io->fd_tags[i] != tag)
            continue;
        g_source_remove_unix_fd(io->source, tag);
        io->fd_tags[i] = io->fd_tags[--io->n_fd_tags];
        return;
    }
}

/* ---- flush ordering ---------------------------------------------------- */

static void mutating_link(struct blk_io *io, struct blk_io_task *t)
{
    t->mutating = true;
    t->seq = io->next_seq++;
    t->m_next = NULL;
    t->m_prev = io->mutating_tail;
    if (io->mutating_tail)
        io->mutating_tail->m_next = t;
    else
        io->mutating_head = t;
    io->mutating_tail = t;
}

static void mutating_unlink(struct blk_io *io, struct blk_io_task *t)
{
    if (t->m_prev)
        t->m_prev->m_next = t->m_next;
    else
        io->mutating_head = t->m_next;
    if (t->m_next)
        t->m_next->m_prev = t->m_prev;
    else
        io->mutating_tail = t->m_prev;
    t->m_prev = t->m_next = NULL;
    t->mutating = false;
}

/* A flush may go once no mutating request older than it is in flight. */
static bool flush_may_go(struct blk_io *io, const struct blk_io_task *flush)
{
    return !io->mutating_head || io->mutating_head->seq >= flush->seq;
}

static void release_held_flushes(struct blk_io *io)
{
    while (io->held_flushes.head && flush_may_go(io, io->held_flushes.head))
        io->engine->submit(io, task_queue_pop(&io->held_flushes));
}

void blk_io_task_finished(struct blk_io *io, struct blk_io_task *t, int result)
{
    if (result < 0)
        blk_io_log(io, "%s of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT " failed: %s",
                   op_name(t->req->op),
                   t->req->op == BLK_IO_READ || t->req->op == BLK_IO_WRITE ? t->total : t->req->len,
                   t->req->offset, g_strerror(-result));
    t->result = result;
    if (t->mutating) {
        mutating_unlink(io, t);
        release_held_flushes(io);
    }
    task_queue_push(&io->done, t);
}

/* ---- validation and submission ----------------------------------------- */

static bool range_inside(struct blk_io *io, uint64_t offset, uint64_t len)
{
    return offset <= io->size && len <= io->size - offset;
}

/* What a discard on a block device asks of the kernel, which refuses
 * (EINVAL) a range not aligned to the logical block size. A plain discard
 * is a hint (blkif.h: the region "may be discarded"), so it shrinks to the
 * whole blocks inside it (*len 0: nothing left to do); a secure discard
 * must render all of its range unrecoverable, so it has to be aligned.
 * false: refused with -EINVAL. */
static bool blockdev_discard_range(const struct blk_io *io, const struct blk_io_req *req,
                                   uint64_t *start, uint64_t *len)
{
    uint64_t lbs = io->logical_block_size;
    uint64_t end = req->offset + req->len;   /* range_inside: no overflow */

    if (req->op == BLK_IO_SECURE_DISCARD) {
        *start = req->offset;
        *len = req->len;
        return req->offset % lbs == 0 && req->len % lbs == 0;
    }
    *start = (req->offset + lbs - 1) / lbs * lbs;
    end = end / lbs * lbs;
    *len = end > *start ? end - *start : 0;
    return true;
}

static int validate_rw(struct blk_io *io, struct blk_io_task *t)
{
    const struct blk_io_req *req = t->req;
    uint64_t total = 0;

    if (!req->iov || req->iovcnt == 0 || req->iovcnt > BLK_IO_MAX_IOV)
        return -EINVAL;
    for (unsigned int i = 0; i < req->iovcnt; i++) {
        size_t len = req->iov[i].iov_len;

        if (len > INT64_MAX - total)
            return -EINVAL;
        if (io->direct &&
            ((uintptr_t)req->iov[i].iov_base % io->mem_align || len % io->logical_block_size))
            return -EINVAL;
        total += len;
    }
    if (io->direct && req->offset % io->logical_block_size)
        return -EINVAL;
    if (!range_inside(io, req->offset, total))
        return -EIO;
    t->total = total;
    t->iov = req->iov;
    t->iovcnt = req->iovcnt;
    return 0;
}

/* 0: hand to the engine; 1: finished already (nothing to do); -errno. */
static int validate(struct blk_io *io, struct blk_io_task *t)
{
    const struct blk_io_req *req = t->req;
    int ret;

    if (io->closing)
        return -ESHUTDOWN;
    switch (req->op) {
    case BLK_IO_READ:
        ret = validate_rw(io, t);
        return ret < 0 ? ret : t->total == 0;
    case BLK_IO_WRITE:
        if (io->readonly)
            return -EROFS;
        ret = validate_rw(io, t);
        return ret < 0 ? ret : t->total == 0;
    case BLK_IO_FLUSH:
        return 0;
    case BLK_IO_DISCARD:
    case BLK_IO_SECURE_DISCARD:
        if (io->readonly)
            return -EROFS;
        if (req->op == BLK_IO_DISCARD ? !io->can_discard : !io->can_secure_discard)
            return -EOPNOTSUPP;
        if (!range_inside(io, req->offset, req->len))
            return -EIO;
        if (io->is_blockdev) {
            uint64_t start, len;

            if (!blockdev_discard_range(io, req, &start, &len))
                return -EINVAL;
            return len == 0;
        }
        return req->len == 0;
    }
    return -EINVAL;
}

void blk_io_submit(struct blk_io *io, struct blk_io_req *req)
{
    struct blk_io_task *t;
    int ret;

    g_return_if_fail(io && req && req->done);
    t = g_new0(struct blk_io_task, 1);
    t->req = req;
    t->io = io;
    io->outstanding++;
    ret = validate(io, t);
    if (ret != 0) {
        /* Refused or trivially done: reported from the GSource, never
         * from inside submit. */
        if (ret < 0)
            blk_io_log(io, "%s at %" G_GUINT64_FORMAT " refused: %s", op_name(req->op),
                       req->offset, g_strerror(-ret));
        t->result = ret < 0 ? ret : 0;
        task_queue_push(&io->done, t);
        g_main_context_wakeup(io->ctx);
        return;
    }
    if (req->op == BLK_IO_FLUSH) {
        t->seq = io->next_seq;
        if (!flush_may_go(io, t) || io->held_flushes.head) {
            task_queue_push(&io->held_flushes, t);
            return;
        }
    } else if (req->op != BLK_IO_READ) {
        mutating_link(io, t);
    }
    io->engine->submit(io, t);
}

void blk_io_kick(struct blk_io *io)
{
    g_return_if_fail(io);
    io->engine->kick(io);
}

/* ---- open and probing -------------------------------------------------- */

static bool is_nbd_target(const char *target)
{
    return g_str_has_prefix(target, "nbd:") || g_str_has_prefix(target, "nbd+");
}

static unsigned int block_size_class(unsigned int bytes)
{
    return bytes <= 512 ? 512 : 4096;
}

/* The device's own sysfs directory; a partition's queue/ attributes are
 * its disk's (the directory above it). */
static char *sysfs_path(dev_t dev, const char *attr)
{
    char *partition = g_strdup_printf("/sys/dev/block/%u:%u/partition", major(dev), minor(dev));
    bool is_partition = g_str_has_prefix(attr, "queue/") && g_file_test(partition, G_FILE_TEST_EXISTS);
    char *path = g_strdup_printf("/sys/dev/block/%u:%u/%s%s", major(dev), minor(dev),
                                 is_partition ? "../" : "", attr);

    g_free(partition);
    return path;
}

static uint64_t read_sysfs_u64(dev_t dev, const char *attr)
{
    char *path = sysfs_path(dev, attr);
    char *text = NULL;
    uint64_t value = 0;

    if (g_file_get_contents(path, &text, NULL, NULL))
        value = g_ascii_strtoull(text, NULL, 10);
    g_free(text);
    g_free(path);
    return value;
}

static bool sysfs_write_cache(dev_t dev)
{
    char *path = sysfs_path(dev, "queue/write_cache");
    char *text = NULL;
    bool write_back = true;   /* unknown: assume a cache, flushes stay on */

    if (g_file_get_contents(path, &text, NULL, NULL))
        write_back = !g_str_has_prefix(text, "write through");
    g_free(text);
    g_free(path);
    return write_back;
}

/* The discard ioctls check support before arguments: an unaligned range
 * tells support (EINVAL) from none (EOPNOTSUPP) without touching data.
 * Any other answer (EPERM from a read-only device, ENOTTY, even success)
 * counts as no support. Kernels before 5.19 checked secure erase support
 * only after the range, so there every device that can discard seemed to
 * support BLKSECDISCARD; such a device answers EOPNOTSUPP at discard time. */
static bool blockdev_ioctl_supported(int fd, unsigned long request)
{
    uint64_t range[2] = { 1, 0 };

    return ioctl(fd, request, range) < 0 && errno == EINVAL;
}

static void probe_blockdev(struct blk_io *io, const struct stat *st)
{
    int lbs = 512, ro = 0;
    unsigned int pbs = 0;
    uint64_t size = 0;

    io->is_blockdev = true;
    if (ioctl(io->fd, BLKGETSIZE64, &size) == 0)
        io->size = size;
    if (ioctl(io->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
        io->logical_block_size = block_size_class((unsigned int)lbs);
    /* 512e disks: 512-byte sectors on 4 KiB blocks. The guest aligns its
     * writes to the physical size when told (blkif physical-sector-size). */
    if (ioctl(io->fd, BLKPBSZGET, &pbs) == 0 && pbs >= 512 && pbs <= 64 * 1024 &&
        (pbs & (pbs - 1)) == 0)
        io->physical_block_size = pbs;
    /* A read-only device opens read-write and fails each write with EPERM
     * (older kernels even let BLKDISCARD through): serve it read-only. */
    if (!io->readonly && ioctl(io->fd, BLKROGET, &ro) == 0 && ro) {
        g_message("%s: %s is a read-only device, serving it read-only", io->log_name, io->target);
        io->readonly = true;
    }
    io->volatile_cache = sysfs_write_cache(st->st_rdev);
    if (!io->readonly) {
        io->can_discard = blockdev_ioctl_supported(io->fd, BLKDISCARD);
        io->can_secure_discard = blockdev_ioctl_supported(io->fd, BLKSECDISCARD);
    }
    if (io->can_discard) {
        uint64_t gran = read_sysfs_u64(st->st_rdev, "queue/discard_granularity");

        io->discard_granularity = gran && gran <= UINT32_MAX ? (uint32_t)gran : io->logical_block_size;
        io->discard_alignment = (uint32_t)MIN(read_sysfs_u64(st->st_rdev, "discard_alignment"),
                                              UINT32_MAX);
    }
}

/* Punching a hole past EOF changes nothing but tells whether the file
 * system can punch holes at all. */
static void probe_file(struct blk_io *io, const struct stat *st)
{
    io->size = (uint64_t)st->st_size;
    io->volatile_cache = true;    /* the page cache and the disk below */
    if (!io->readonly &&
        fallocate(io->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st->st_size, 4096) == 0) {
        io->can_discard = true;
        io->discard_granularity = st->st_blksize > 0 ? (uint32_t)st->st_blksize : 4096;
    }
}

/* O_DIRECT alignment from statx (Linux 6.1+); block devices fall back to
 * their logical block size. */
static void probe_direct_alignment(struct blk_io *io)
{
    struct statx stx;

    io->mem_align = io->logical_block_size;
    if (statx(io->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
        io->logical_block_size = MAX(io->logical_block_size,
                                     block_size_class(stx.stx_dio_offset_align));
        io->mem_align = MAX(stx.stx_dio_mem_align, 1u);
    }
}

static int open_target_fd(struct blk_io *io, GError **error)
{
    int flags = (io->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    int fd = -1;

    if (io->direct) {
        fd = open(io->target, flags | O_DIRECT);
        if (fd < 0 && errno == EINVAL) {
            g_message("%s: %s refuses O_DIRECT, using buffered I/O", io->log_name, io->target);
            io->direct = false;
        }
    }
    if (fd < 0 && !io->direct)
        fd = open(io->target, flags);
    if (fd < 0)
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: cannot open %s: %s",
                    io->log_name, io->target, g_strerror(errno));
    return fd;
}

static bool open_local(struct blk_io *io, const struct blk_io_opts *opts, GError **error)
{
    struct stat st;

    io->fd = open_target_fd(io, error);
    if (io->fd < 0)
        return false;
    if (fstat(io->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: %s is neither a regular file nor a block device", io->log_name, io->target);
        return false;
    }
    if (S_ISBLK(st.st_mode))
        probe_blockdev(io, &st);
    else
        probe_file(io, &st);
    if (io->direct)
        probe_direct_alignment(io);

    switch (opts->engine) {
    case BLK_IO_ENGINE_THREADS:
        return blk_io_threads_start(io, error);
    case BLK_IO_ENGINE_URING:
#ifdef IOREQD_HAVE_LIBURING
        return blk_io_uring_start(io, error);
#else
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                    "%s: built without liburing", io->log_name);
        return false;
#endif
    case BLK_IO_ENGINE_AUTO:
        break;
    }
#ifdef IOREQD_HAVE_LIBURING
    {
        GError *uring_error = NULL;

        if (blk_io_uring_start(io, &uring_error))
            return true;
        g_message("%s: io_uring unavailable (%s), using the thread pool", io->log_name,
                  uring_error->message);
        g_error_free(uring_error);
    }
#endif
    return blk_io_threads_start(io, error);
}

struct blk_io *blk_io_open(const struct blk_io_opts *opts, GMainContext *ctx, GError **error)
{
    struct blk_io *io;
    bool ok;

    g_return_val_if_fail(opts && opts->target, NULL);
    io = g_new0(struct blk_io, 1);
    io->target = g_strdup(opts->target);
    io->log_name = g_strdup(opts->log_name ? opts->log_name : opts->target);
    io->ctx = g_main_context_ref(ctx ? ctx : g_main_context_default());
    io->fd = -1;
    io->readonly = opts->readonly;
    io->direct = opts->direct;
    io->queue_depth = opts->queue_depth ? MIN(opts->queue_depth, BLK_IO_MAX_QUEUE_DEPTH)
                                        : BLK_IO_DEFAULT_QUEUE_DEPTH;
    io->logical_block_size = 512;
    io->mem_align = 1;
    io->error_log = (struct ratelimit)RATELIMIT_INIT;
    io->source = g_source_new(&blk_io_source_funcs, sizeof(struct blk_io_source));
    ((struct blk_io_source *)io->source)->io = io;
    g_source_set_name(io->source, "blk-io");

    if (is_nbd_target(opts->target)) {
#ifdef IOREQD_HAVE_LIBNBD
        ok = blk_io_nbd_open(io, error);
#else
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                    "%s: %s needs NBD support: rebuild with libnbd (libnbd-dev)",
                    io->log_name, opts->target);
        ok = false;
#endif
    } else {
        ok = open_local(io, opts, error);
    }
    if (!ok) {
        if (io->engine && io->engine->fini)
            io->engine->fini(io);
        if (io->fd >= 0)
            close(io->fd);
        g_source_unref(io->source);
        g_main_context_unref(io->ctx);
        g_free(io->target);
        g_free(io->log_name);
        g_free(io);
        return NULL;
    }
    g_source_attach(io->source, io->ctx);
    return io;
}

void blk_io_close(struct blk_io *io)
{
    if (!io)
        return;
    io->engine->kick(io);
    io->closing = true;
    while (io->outstanding > 0) {
        if (!io->done.head) {
            if (!io->engine->wait(io)) {
                blk_io_log(io, "%zu requests can no longer finish", io->outstanding);
                break;
            }
            io->engine->reap(io, false);
        }
        deliver_done(io);
    }
    io->engine->fini(io);
    if (io->fd >= 0)
        close(io->fd);
    g_source_destroy(io->source);
    g_source_unref(io->source);
    g_main_context_unref(io->ctx);
    g_free(io->target);
    g_free(io->log_name);
    g_free(io);
}

/* ---- properties -------------------------------------------------------- */

uint64_t blk_io_size(struct blk_io *io) { return io->size; }
unsigned int blk_io_logical_block_size(struct blk_io *io) { return io->logical_block_size; }
unsigned int blk_io_physical_block_size(struct blk_io *io)
{
    return MAX(io->physical_block_size, io->logical_block_size);
}
unsigned int blk_io_min_io_alignment(struct blk_io *io) { return io->direct ? io->mem_align : 1; }
bool blk_io_is_readonly(struct blk_io *io) { return io->readonly; }
bool blk_io_is_direct(struct blk_io *io) { return io->direct; }
bool blk_io_can_discard(struct blk_io *io) { return io->can_discard; }
bool blk_io_can_secure_discard(struct blk_io *io) { return io->can_secure_discard; }
uint32_t blk_io_discard_granularity(struct blk_io *io) { return io->can_discard ? io->discard_granularity : 0; }
uint32_t blk_io_discard_alignment(struct blk_io *io) { return io->discard_alignment; }
bool blk_io_has_volatile_cache(struct blk_io *io) { return io->volatile_cache; }
const char *blk_io_engine_name(struct blk_io *io) { return io->engine->name; }
unsigned int blk_io_queue_depth(struct blk_io *io) { return io->queue_depth; }

bool blk_io_refresh_size(struct blk_io *io, uint64_t *new_size)
{
    uint64_t size = io->size;
    struct stat st;

    if (io->fd < 0)
        return false;    /* NBD: the export's size is fixed per connection */
    if (io->is_blockdev) {
        if (ioctl(io->fd, BLKGETSIZE64, &size) < 0)
            return false;
    } else {
        if (fstat(io->fd, &st) < 0)
            return false;
        size = (uint64_t)st.st_size;
    }
    if (size == io->size)
        return false;
    io->size = size;
    if (new_size)
        *new_size = size;
    return true;
}

/* ---- blocking execution (thread pool workers) -------------------------- */

static int run_sync_rw(struct blk_io *io, struct blk_io_task *t)
{
    const struct blk_io_req *req = t->req;

    while (t->transferred < t->total) {
        off_t offset = (off_t)(req->offset + t->transferred);
        int iovcnt = (int)t->iovcnt;
        ssize_t n = req->op == BLK_IO_READ
                        ? preadv(io->fd, t->iov, iovcnt, offset)
                        : pwritev2(io->fd, t->iov, iovcnt, offset, req->fua ? RWF_DSYNC : 0);

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;     /* EOF inside the disk: the file shrank under us */
        blk_io_task_advance(t, (uint64_t)n);
    }
    return 0;
}

/* Block devices: the discard ioctls, on the range validate() accepted
 * (fallocate's PUNCH_HOLE on a block device is a write-zeroes, which is
 * not a discard and fails on devices without write-zeroes support). */
static int run_sync_discard(struct blk_io *io, const struct blk_io_req *req)
{
    uint64_t range[2];

    if (io->is_blockdev) {
        if (!blockdev_discard_range(io, req, &range[0], &range[1]))
            return -EINVAL;
        if (range[1] == 0)
            return 0;
        return ioctl(io->fd, req->op == BLK_IO_DISCARD ? BLKDISCARD : BLKSECDISCARD, range) < 0
                   ? -errno : 0;
    }
    if (req->op == BLK_IO_SECURE_DISCARD)
        return -EOPNOTSUPP;
    if (fallocate(io->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)req->offset,
                  (off_t)req->len) < 0)
        return errno == ENOSYS ? -EOPNOTSUPP : -errno;
    return 0;
}

int blk_io_run_sync(struct blk_io *io, struct blk_io_task *t)
{
    switch (t->req->op) {
    case BLK_IO_READ:
    case BLK_IO_WRITE:
        return run_sync_rw(io, t);
    case BLK_IO_FLUSH:
        return fdatasync(io->fd) < 0 ? -errno : 0;
    case BLK_IO_DISCARD:
    case BLK_IO_SECURE_DISCARD:
        return run_sync_discard(io, t->req);
    }
    return -EINVAL;
}
