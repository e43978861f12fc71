/* SPDX-License-Identifier: MIT */
/*
 * NBD engine: libnbd's asynchronous API with the connection's socket in the
 * disk's GSource, so qcow2 and other formats work through qemu-nbd or
 * nbdkit running beside ioreqd.
 *
 * A request becomes one NBD command per iovec entry (split at the server's
 * maximum), so no data is copied; it is answered when all its commands are.
 * libnbd forbids calling it from its callbacks, so a callback only counts
 * and queues; the GSource acts on the queue after notify returns.
 */
#include "config.h"

#include "backends/blk-io-int.h"

#include <dlfcn.h>
#include <errno.h>
#include <libnbd.h>
#include <string.h>

#define NBD_MAX_CHUNK (32u << 20)        /* what servers accept at least (qemu-nbd: 32 MiB) */
#define NBD_MAX_TRIM_CHUNK (1u << 30)

/* libnbd is loaded when the first NBD disk opens, not linked: with gnutls,
 * libxml2 and ICU behind it, linking it cost every ioreqd 5.6 MB of RSS and
 * tens of milliseconds of start-up, NBD disks or not (docs/performance.md). */
struct libnbd_api {
    void *dl;
    __typeof__(nbd_aio_flush) *nbd_aio_flush;
    __typeof__(nbd_aio_get_direction) *nbd_aio_get_direction;
    __typeof__(nbd_aio_get_fd) *nbd_aio_get_fd;
    __typeof__(nbd_aio_is_ready) *nbd_aio_is_ready;
    __typeof__(nbd_aio_notify_read) *nbd_aio_notify_read;
    __typeof__(nbd_aio_notify_write) *nbd_aio_notify_write;
    __typeof__(nbd_aio_pread) *nbd_aio_pread;
    __typeof__(nbd_aio_pwrite) *nbd_aio_pwrite;
    __typeof__(nbd_aio_trim) *nbd_aio_trim;
    __typeof__(nbd_can_flush) *nbd_can_flush;
    __typeof__(nbd_can_fua) *nbd_can_fua;
    __typeof__(nbd_can_trim) *nbd_can_trim;
    __typeof__(nbd_close) *nbd_close;
    __typeof__(nbd_connect_tcp) *nbd_connect_tcp;
    __typeof__(nbd_connect_unix) *nbd_connect_unix;
    __typeof__(nbd_connect_uri) *nbd_connect_uri;
    __typeof__(nbd_create) *nbd_create;
    __typeof__(nbd_get_block_size) *nbd_get_block_size;
    __typeof__(nbd_get_errno) *nbd_get_errno;
    __typeof__(nbd_get_error) *nbd_get_error;
    __typeof__(nbd_get_size) *nbd_get_size;
    __typeof__(nbd_is_read_only) *nbd_is_read_only;
    __typeof__(nbd_set_export_name) *nbd_set_export_name;
    __typeof__(nbd_shutdown) *nbd_shutdown;
    __typeof__(nbd_poll) *nbd_poll;
};

struct nbd_engine {
    struct libnbd_api lib;
    struct nbd_handle *h;
    gpointer tag;
    bool can_fua, can_flush;
    uint64_t max_chunk;
    struct task_queue batch;             /* submitted, waiting for blk_io_kick */
    struct task_queue answered;          /* every command of the task answered */
    bool dead_logged;
};

static int nbd_errno(const struct nbd_engine *ne)
{
    int err = ne->lib.nbd_get_errno();

    return err > 0 ? -err : -EIO;
}

static int command_answered(void *user_data, int *error)
{
    struct blk_io_task *t = user_data;
    struct nbd_engine *ne = t->io->engine_state;

    if (*error && t->result == 0)
        t->result = -*error;
    if (--t->pending == 0)
        task_queue_push(&ne->answered, t);
    return 1;   /* retire the command: nothing else asks for its status */
}

static bool issue_failed(struct blk_io_task *t, int64_t cookie)
{
    const struct nbd_engine *ne = t->io->engine_state;

    if (cookie >= 0) {
        t->pending++;
        return false;
    }
    if (t->result == 0)
        t->result = nbd_errno(ne);
    return true;
}

static void issue_rw(struct nbd_engine *ne, struct blk_io_task *t)
{
    const struct blk_io_req *req = t->req;
    uint32_t flags = req->op == BLK_IO_WRITE && req->fua && ne->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;
    uint64_t offset = req->offset;

    for (unsigned int i = 0; i < req->iovcnt; i++) {
        char *base = req->iov[i].iov_base;
        size_t left = req->iov[i].iov_len;

        while (left > 0) {
            size_t chunk = MIN(left, ne->max_chunk);
            nbd_completion_callback cb = { .callback = command_answered, .user_data = t };
            int64_t cookie = req->op == BLK_IO_READ
                                 ? ne->lib.nbd_aio_pread(ne->h, base, chunk, offset, cb, 0)
                                 : ne->lib.nbd_aio_pwrite(ne->h, base, chunk, offset, cb, flags);

            if (issue_failed(t, cookie))
                return;
            base += chunk;
            offset += chunk;
            left -= chunk;
        }
    }
    t->fua_flush_needed = req->op == BLK_IO_WRITE && req->fua && !ne->can_fua && ne->can_flush;
}

static void issue_flush(struct nbd_engine *ne, struct blk_io_task *t)
{
    nbd_completion_callback cb = { .callback = command_answered, .user_data = t };

    if (ne->can_flush)
        issue_failed(t, ne->lib.nbd_aio_flush(ne->h, cb, 0));
}

static void issue_trim(struct nbd_engine *ne, struct blk_io_task *t)
{
    uint64_t offset = t->req->offset, left = t->req->len;

    while (left > 0) {
        uint64_t chunk = MIN(left, NBD_MAX_TRIM_CHUNK);
        nbd_completion_callback cb = { .callback = command_answered, .user_data = t };

        if (issue_failed(t, ne->lib.nbd_aio_trim(ne->h, chunk, offset, cb, 0)))
            return;
        offset += chunk;
        left -= chunk;
    }
}

static void issue(struct blk_io *io, struct blk_io_task *t)
{
    struct nbd_engine *ne = io->engine_state;

    switch (t->req->op) {
    case BLK_IO_READ:
    case BLK_IO_WRITE:
        issue_rw(ne, t);
        break;
    case BLK_IO_FLUSH:
        issue_flush(ne, t);
        break;
    case BLK_IO_DISCARD:
        issue_trim(ne, t);
        break;
    case BLK_IO_SECURE_DISCARD:
        t->result = -EOPNOTSUPP;        /* validate() refuses it already */
        break;
    }
    /* Nothing in flight (a flush without server support, or the first
     * command already failed): answered now. */
    if (t->pending == 0)
        task_queue_push(&ne->answered, t);
}

static void nbd_kick(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;
    struct blk_io_task *t;

    while ((t = task_queue_pop(&ne->batch)))
        issue(io, t);
}

static void nbd_submit(struct blk_io *io, struct blk_io_task *t)
{
    struct nbd_engine *ne = io->engine_state;

    task_queue_push(&ne->batch, t);
    if (ne->batch.len >= io->queue_depth)
        nbd_kick(io);
}

/* A write asked for FUA on a server without it: a flush follows. */
static void finish_answered(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;
    struct blk_io_task *t;

    while ((t = task_queue_pop(&ne->answered))) {
        if (t->result == 0 && t->fua_flush_needed) {
            t->fua_flush_needed = false;
            issue_flush(ne, t);
            if (t->pending > 0)
                continue;
        }
        blk_io_task_finished(io, t, t->result);
    }
}

static void nbd_reap(struct blk_io *io, bool from_source)
{
    struct nbd_engine *ne = io->engine_state;

    if (from_source) {
        GIOCondition revents = g_source_query_unix_fd(io->source, ne->tag);
        int ret = 0;

        if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
            ret = ne->lib.nbd_aio_notify_read(ne->h);
        if (ret == 0 && (revents & G_IO_OUT))
            ret = ne->lib.nbd_aio_notify_write(ne->h);
        if (ret < 0 && !ne->dead_logged) {
            ne->dead_logged = true;
            blk_io_log(io, "NBD connection failed: %s", ne->lib.nbd_get_error());
        }
    }
    finish_answered(io);
    nbd_kick(io);
}

static void nbd_prepare(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;
    unsigned int dir = ne->lib.nbd_aio_get_direction(ne->h);
    GIOCondition events = 0;

    if (dir & LIBNBD_AIO_DIRECTION_READ)
        events |= G_IO_IN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
        events |= G_IO_OUT;
    g_source_modify_unix_fd(io->source, ne->tag, events);
}

static bool nbd_wait(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;

    nbd_kick(io);
    if (ne->answered.head)
        return true;
    return ne->lib.nbd_poll(ne->h, -1) >= 0 || ne->answered.head;
}

static void nbd_fini(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;

    if (!ne)
        return;
    if (ne->h) {
        if (ne->lib.nbd_aio_is_ready(ne->h) == 1)
            ne->lib.nbd_shutdown(ne->h, 0);
        ne->lib.nbd_close(ne->h);
    }
    if (ne->lib.dl)
        dlclose(ne->lib.dl);
    g_free(ne);
    io->engine_state = NULL;
}

const struct blk_io_engine blk_io_nbd_engine = {
    .name = "nbd",
    .submit = nbd_submit,
    .kick = nbd_kick,
    .reap = nbd_reap,
    .wait = nbd_wait,
    .prepare = nbd_prepare,
    .fini = nbd_fini,
};

/* "nbd:unix:PATH[:exportname=NAME]", "nbd:HOST:PORT[:exportname=NAME]"
 * (QEMU's legacy syntax) or an nbd:// / nbd+unix:// URI. */
static int nbd_connect_target(struct nbd_engine *ne, const char *target)
{
    struct nbd_handle *h = ne->h;
    g_autofree char *spec = NULL;
    char *export, *colon;

    if (!g_str_has_prefix(target, "nbd:") || g_str_has_prefix(target, "nbd://"))
        return ne->lib.nbd_connect_uri(h, target);
    spec = g_strdup(target + strlen("nbd:"));
    export = strstr(spec, ":exportname=");
    if (export) {
        *export = '\0';
        if (ne->lib.nbd_set_export_name(h, export + strlen(":exportname=")) < 0)
            return -1;
    }
    if (g_str_has_prefix(spec, "unix:"))
        return ne->lib.nbd_connect_unix(h, spec + strlen("unix:"));
    colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return -2;                    /* malformed: no libnbd error to show */
    *colon = '\0';
    return ne->lib.nbd_connect_tcp(h, spec, colon + 1);
}

static void nbd_probe(struct blk_io *io, struct nbd_engine *ne)
{
    int64_t min_block = ne->lib.nbd_get_block_size(ne->h, LIBNBD_SIZE_MINIMUM);
    int64_t preferred = ne->lib.nbd_get_block_size(ne->h, LIBNBD_SIZE_PREFERRED);
    int64_t max_block = ne->lib.nbd_get_block_size(ne->h, LIBNBD_SIZE_MAXIMUM);

    io->size = (uint64_t)MAX(ne->lib.nbd_get_size(ne->h), 0);
    io->readonly = io->readonly || ne->lib.nbd_is_read_only(ne->h) == 1;
    io->direct = false;               /* the server decides about caching */
    io->logical_block_size = min_block > 512 ? 4096 : 512;
    ne->can_flush = ne->lib.nbd_can_flush(ne->h) == 1;
    ne->can_fua = ne->lib.nbd_can_fua(ne->h) == 1;
    io->volatile_cache = ne->can_flush;
    io->can_discard = !io->readonly && ne->lib.nbd_can_trim(ne->h) == 1;
    io->discard_granularity = preferred > 0 && preferred <= UINT32_MAX
                                  ? (uint32_t)preferred : io->logical_block_size;
    ne->max_chunk = max_block > 0 ? MIN((uint64_t)max_block, NBD_MAX_CHUNK) : NBD_MAX_CHUNK;
}

static bool libnbd_load(struct libnbd_api *lib, GError **error)
{
    const char *missing = NULL;

    lib->dl = dlopen("libnbd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib->dl) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "NBD disks need libnbd.so.0 (Debian: libnbd0): %s", dlerror());
        return false;
    }
#define LOAD(fn)                                                  \
    if (!missing && !(lib->fn = (__typeof__(lib->fn))dlsym(lib->dl, #fn))) \
        missing = #fn;
        LOAD(nbd_aio_flush)
        LOAD(nbd_aio_get_direction)
        LOAD(nbd_aio_get_fd)
        LOAD(nbd_aio_is_ready)
        LOAD(nbd_aio_notify_read)
        LOAD(nbd_aio_notify_write)
        LOAD(nbd_aio_pread)
        LOAD(nbd_aio_pwrite)
        LOAD(nbd_aio_trim)
        LOAD(nbd_can_flush)
        LOAD(nbd_can_fua)
        LOAD(nbd_can_trim)
        LOAD(nbd_close)
        LOAD(nbd_connect_tcp)
        LOAD(nbd_connect_unix)
        LOAD(nbd_connect_uri)
        LOAD(nbd_create)
        LOAD(nbd_get_block_size)
        LOAD(nbd_get_errno)
        LOAD(nbd_get_error)
        LOAD(nbd_get_size)
        LOAD(nbd_is_read_only)
        LOAD(nbd_set_export_name)
        LOAD(nbd_shutdown)
        LOAD(nbd_poll)
#undef LOAD
    if (missing) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "libnbd.so.0 lacks %s", missing);
        return false;
    }
    return true;
}

bool blk_io_nbd_open(struct blk_io *io, GError **error)
{
    struct nbd_engine *ne = g_new0(struct nbd_engine, 1);
    int ret = -1;

    io->engine = &blk_io_nbd_engine;
    io->engine_state = ne;
    if (!libnbd_load(&ne->lib, error))
        return false;                 /* blk_io_open calls fini */
    ne->h = ne->lib.nbd_create();
    if (ne->h)
        ret = nbd_connect_target(ne, io->target);
    if (ret < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: cannot connect to %s: %s",
                    io->log_name, io->target,
                    ret == -2 ? "expected nbd:unix:PATH or nbd:HOST:PORT"
                    : ne->lib.nbd_get_error() ? ne->lib.nbd_get_error() : "unknown error");
        return false;                 /* blk_io_open calls fini */
    }
    nbd_probe(io, ne);
    ne->tag = blk_io_watch_fd(io, ne->lib.nbd_aio_get_fd(ne->h), G_IO_IN);
    return true;
}
