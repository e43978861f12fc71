/* SPDX-License-Identifier: MIT */
/*
 * Thread-pool engine: blocking preadv/pwritev2/fdatasync/fallocate/ioctl
 * in a private GThreadPool; finished tasks go back on a locked queue and an
 * eventfd wakes the main loop. Used when io_uring is unavailable (seccomp,
 * old kernels) and by the io_uring engine for the block device discard
 * ioctls io_uring cannot issue.
 */
#include "config.h"

#include "backends/blk-io-int.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BLK_IO_MAX_THREADS 16u

struct blk_io_pool {
    struct blk_io *io;
    GThreadPool *pool;
    int efd;
    GMutex lock;
    struct task_queue finished;          /* guarded by lock */
};

static void pool_worker(gpointer data, gpointer user_data)
{
    struct blk_io_task *t = data;
    struct blk_io_pool *pool = user_data;
    uint64_t one = 1;

    t->result = blk_io_run_sync(pool->io, t);
    g_mutex_lock(&pool->lock);
    task_queue_push(&pool->finished, t);
    g_mutex_unlock(&pool->lock);
    /* Can only fail when the counter would overflow, which the reader's
     * drain makes impossible. */
    if (write(pool->efd, &one, sizeof(one)) < 0)
        g_warning("%s: eventfd write failed: %s", pool->io->log_name, g_strerror(errno));
}

struct blk_io_pool *blk_io_pool_new(struct blk_io *io, unsigned int threads, GError **error)
{
    struct blk_io_pool *pool = g_new0(struct blk_io_pool, 1);

    pool->io = io;
    pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pool->efd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: eventfd: %s",
                    io->log_name, g_strerror(errno));
        g_free(pool);
        return NULL;
    }
    g_mutex_init(&pool->lock);
    pool->pool = g_thread_pool_new(pool_worker, pool, (gint)threads, TRUE, error);
    if (!pool->pool) {
        close(pool->efd);
        g_mutex_clear(&pool->lock);
        g_free(pool);
        return NULL;
    }
    return pool;
}

void blk_io_pool_push(struct blk_io_pool *pool, struct blk_io_task *t)
{
    GError *error = NULL;

    if (!g_thread_pool_push(pool->pool, t, &error)) {
        /* The task is queued anyway; glib only failed to add a thread. */
        blk_io_log(pool->io, "thread pool: %s", error->message);
        g_error_free(error);
    }
}

void blk_io_pool_reap(struct blk_io_pool *pool)
{
    struct task_queue batch;
    struct blk_io_task *t;
    uint64_t count;

    if (read(pool->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        blk_io_log(pool->io, "eventfd read failed: %s", g_strerror(errno));
    g_mutex_lock(&pool->lock);
    batch = pool->finished;
    pool->finished = (struct task_queue){ 0 };
    g_mutex_unlock(&pool->lock);
    while ((t = task_queue_pop(&batch)))
        blk_io_task_finished(pool->io, t, t->result);
}

int blk_io_pool_fd(struct blk_io_pool *pool)
{
    return pool->efd;
}

/* Waits for the workers (every pushed task has finished afterwards). */
void blk_io_pool_free(struct blk_io_pool *pool)
{
    if (!pool)
        return;
    g_thread_pool_free(pool->pool, FALSE, TRUE);
    blk_io_pool_reap(pool);
    close(pool->efd);
    g_mutex_clear(&pool->lock);
    g_free(pool);
}

/* ---- the engine: a pool plus the batch held until blk_io_kick ---------- */

struct threads_engine {
    struct blk_io_pool *pool;
    struct task_queue batch;
};

static void threads_kick(struct blk_io *io)
{
    struct threads_engine *te = io->engine_state;
    struct blk_io_task *t;

    while ((t = task_queue_pop(&te->batch)))
        blk_io_pool_push(te->pool, t);
}

static void threads_submit(struct blk_io *io, struct blk_io_task *t)
{
    struct threads_engine *te = io->engine_state;

    task_queue_push(&te->batch, t);
    if (te->batch.len >= io->queue_depth)
        threads_kick(io);
}

static void threads_reap(struct blk_io *io, bool from_source)
{
    struct threads_engine *te = io->engine_state;

    blk_io_pool_reap(te->pool);
    /* flushes released by finished writes joined the batch */
    threads_kick(io);
}

static bool threads_wait(struct blk_io *io)
{
    struct threads_engine *te = io->engine_state;
    struct pollfd pfd = { .fd = blk_io_pool_fd(te->pool), .events = POLLIN };

    threads_kick(io);
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
        ;
    return true;
}

static void threads_fini(struct blk_io *io)
{
    struct threads_engine *te = io->engine_state;

    if (!te)
        return;
    blk_io_pool_free(te->pool);
    g_free(te);
    io->engine_state = NULL;
}

const struct blk_io_engine blk_io_threads_engine = {
    .name = "threads",
    .submit = threads_submit,
    .kick = threads_kick,
    .reap = threads_reap,
    .wait = threads_wait,
    .fini = threads_fini,
};

bool blk_io_threads_start(struct blk_io *io, GError **error)
{
    struct threads_engine *te = g_new0(struct threads_engine, 1);

    te->pool = blk_io_pool_new(io, MIN(io->queue_depth, BLK_IO_MAX_THREADS), error);
    if (!te->pool) {
        g_free(te);
        return false;
    }
    io->engine = &blk_io_threads_engine;
    io->engine_state = te;
    blk_io_watch_fd(io, blk_io_pool_fd(te->pool), G_IO_IN);
    return true;
}
