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
    __typeof__(nbd_aio_is_dead) *nbd_aio_is_dead;
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
    GIOCondition events;                 /* what tag is polled for now */
    GHashTable *live_cmds;               /* struct nbd_cmd * libnbd has not answered */
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

/* One NBD command of a task, held by two owners: libnbd (until it calls
 * command_free, which it may do inside the issuing call, even for a
 * command it accepted, when the connection is already dead) and us (until
 * the command is answered, aborted or refused). A dead connection orphans
 * it: its task is answered without it, so a late callback touches nothing. */
struct nbd_cmd {
    struct nbd_engine *ne;
    struct blk_io_task *t;
    unsigned int refs;
    bool orphaned;
};

static void command_unref(struct nbd_cmd *cmd)
{
    if (--cmd->refs == 0)
        g_free(cmd);
}

static int command_answered(void *user_data, int *error)
{
    struct nbd_cmd *cmd = user_data;
    struct blk_io_task *t = cmd->t;
    struct nbd_engine *ne = cmd->ne;

    if (cmd->orphaned)
        return 1;
    cmd->orphaned = true;
    if (*error && t->result == 0)
        t->result = -*error;
    if (--t->pending == 0)
        task_queue_push(&ne->answered, t);
    if (g_hash_table_remove(ne->live_cmds, cmd))
        command_unref(cmd); /* ours; libnbd's goes with command_free */
    return 1;   /* retire the command: nothing else asks for its status */
}

static void command_free(void *user_data)
{
    command_unref(user_data);
}

static nbd_completion_callback command_callback(struct nbd_engine *ne, struct blk_io_task *t,
                                                struct nbd_cmd **out)
{
    struct nbd_cmd *cmd = g_new0(struct nbd_cmd, 1);

    cmd->ne = ne;
    cmd->t = t;
    cmd->refs = 2;
    *out = cmd;
    return (nbd_completion_callback){ .callback = command_answered, .user_data = cmd,
                                      .free = command_free };
}

/* The connection died: libnbd will not answer what is in flight (it only
 * frees the callbacks when the handle closes), so answer it here. */
static void abort_in_flight(struct nbd_engine *ne)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, ne->live_cmds);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        struct nbd_cmd *cmd = key;
        struct blk_io_task *t = cmd->t;
        bool answered = cmd->orphaned || t->pending == 0;
        cmd->orphaned = true;
        if (!answered) {
            if (t->result == 0)
                t->result = -ENOTCONN;
            t->pending = 0;
            task_queue_push(&ne->answered, t);
        }
        g_hash_table_iter_remove(&it);
        command_unref(cmd);
    }
}

/* After the call that issued cmd (counted in t->pending beforehand: libnbd
 * may answer a command inside that very call). A refused command is
 * libnbd's to free and ours is dropped at once; so is one answered
 * already. */
static bool issue_failed(struct blk_io_task *t, struct nbd_cmd *cmd, int64_t cookie)
{
    const struct nbd_engine *ne = t->io->engine_state;

    if (cmd->orphaned) {
        /* Answered inside the call: when the connection dies while the
         * command is being sent, libnbd calls the completion callback and
         * then returns a cookie that is not to be trusted (seen: garbage). */
        command_unref(cmd);
        return t->result != 0;
    }
    if (cookie >= 0) {
        g_hash_table_add(ne->live_cmds, cmd);
        return false;
    }
    t->pending--;
    cmd->orphaned = true;
    command_unref(cmd);
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
            struct nbd_cmd *cmd;
            nbd_completion_callback cb = command_callback(ne, t, &cmd);
            t->pending++;
            int64_t cookie = req->op == BLK_IO_READ
                                 ? ne->lib.nbd_aio_pread(ne->h, base, chunk, offset, cb, 0)
                                 : ne->lib.nbd_aio_pwrite(ne->h, base, chunk, offset, cb, flags);

            if (issue_failed(t, cmd, cookie))
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
    struct nbd_cmd *cmd;

    if (ne->can_flush) {
        nbd_completion_callback cb = command_callback(ne, t, &cmd);
        t->pending++;
        issue_failed(t, cmd, ne->lib.nbd_aio_flush(ne->h, cb, 0));
    }
}

static void issue_trim(struct nbd_engine *ne, struct blk_io_task *t)
{
    uint64_t offset = t->req->offset, left = t->req->len;

    while (left > 0) {
        uint64_t chunk = MIN(left, NBD_MAX_TRIM_CHUNK);
        struct nbd_cmd *cmd;
        nbd_completion_callback cb = command_callback(ne, t, &cmd);

        t->pending++;
        if (issue_failed(t, cmd, ne->lib.nbd_aio_trim(ne->h, chunk, offset, cb, 0)))
            return;
        offset += chunk;
        left -= chunk;
    }
}

/* Issues a task's commands holding one count of its own, so commands
 * answered while later ones are still being issued cannot finish the task
 * early; answered here when nothing is left in flight (all answered, none
 * needed, or the first one refused). */
static void issue_guarded(struct nbd_engine *ne, struct blk_io_task *t,
                          void (*issue_commands)(struct nbd_engine *ne, struct blk_io_task *t))
{
    t->pending++;
    issue_commands(ne, t);
    if (--t->pending == 0)
        task_queue_push(&ne->answered, t);
}

static void issue(struct blk_io *io, struct blk_io_task *t)
{
    struct nbd_engine *ne = io->engine_state;

    switch (t->req->op) {
    case BLK_IO_READ:
    case BLK_IO_WRITE:
        issue_guarded(ne, t, issue_rw);
        break;
    case BLK_IO_FLUSH:
        issue_guarded(ne, t, issue_flush);
        break;
    case BLK_IO_DISCARD:
        issue_guarded(ne, t, issue_trim);
        break;
    case BLK_IO_SECURE_DISCARD:
        t->result = -EOPNOTSUPP;        /* validate() refuses it already */
        task_queue_push(&ne->answered, t);
        break;
    }
}

static void finish_answered(struct blk_io *io);

static void nbd_kick(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;
    struct blk_io_task *t;

    while ((t = task_queue_pop(&ne->batch)))
        issue(io, t);
    /* Commands refused at once (a connection already dead) are answered
     * now: no socket event would ever come for them, and the GSource
     * only wakes for finished tasks or the socket. */
    finish_answered(io);
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
            /* Comes back through this queue once the flush is answered. */
            t->fua_flush_needed = false;
            issue_guarded(ne, t, issue_flush);
            continue;
        }
        blk_io_task_finished(io, t, t->result);
    }
}

static void nbd_reap(struct blk_io *io, bool from_source)
{
    struct nbd_engine *ne = io->engine_state;

    if (from_source && ne->tag) {
        GIOCondition revents = g_source_query_unix_fd(io->source, ne->tag);
        int ret = 0;

        if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
            ret = ne->lib.nbd_aio_notify_read(ne->h);
        if (ret == 0 && (revents & G_IO_OUT))
            ret = ne->lib.nbd_aio_notify_write(ne->h);
        if (ret < 0 && !ne->dead_logged) {
            ne->dead_logged = true;
            blk_io_log(io, "NBD connection failed: %s", ne->lib.nbd_get_error());
        }
    }
    if (ne->tag && ne->lib.nbd_aio_is_dead(ne->h) == 1) {
        /* libnbd closed the socket: stop polling it (its number may be
         * reused) and answer everything in flight. */
        blk_io_unwatch_fd(io, ne->tag);
        ne->tag = NULL;
        abort_in_flight(ne);
    }
    finish_answered(io);
    nbd_kick(io);
}

static void nbd_prepare(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;
    unsigned int dir;
    GIOCondition events = 0;

    if (!ne->tag)
        return;
    dir = ne->lib.nbd_aio_get_direction(ne->h);

    if (dir & LIBNBD_AIO_DIRECTION_READ)
        events |= G_IO_IN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
        events |= G_IO_OUT;
    /* Only on a change: modifying a source wakes its context, and doing it
     * from every prepare made the main loop spin while an NBD disk exists. */
    if (events != ne->events) {
        g_source_modify_unix_fd(io->source, ne->tag, events);
        ne->events = events;
    }
}

static bool nbd_wait(struct blk_io *io)
{
    struct nbd_engine *ne = io->engine_state;

    nbd_kick(io);
    if (ne->answered.head)
        return true;
    if (ne->lib.nbd_aio_is_dead(ne->h) == 1) {
        abort_in_flight(ne);
        return ne->answered.head != NULL;
    }
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
        ne->lib.nbd_close(ne->h);  /* frees every command's callback */
    }
    g_hash_table_destroy(ne->live_cmds);
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

    /* NODELETE: libnbd keeps per-thread error state; unloading it when the
     * last NBD disk closes and loading it again for the next one left that
     * state dangling (seen with MALLOC_PERTURB_). Loaded once, it stays. */
    lib->dl = dlopen("libnbd.so.0", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
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
        LOAD(nbd_aio_is_dead)
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

    ne->live_cmds = g_hash_table_new(g_direct_hash, g_direct_equal);
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
    ne->events = G_IO_IN;
    return true;
}
