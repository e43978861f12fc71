/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the engines of blk-io.c: the per-request task, the
 * engine vtable and the helpers the engines call back into.
 */
#ifndef IOREQD_BLK_IO_INT_H
#define IOREQD_BLK_IO_INT_H

#include "backends/blk-io.h"
#include "ioreq/log.h"

#include <sys/types.h>

/* One request in flight inside the module (the caller's req stays
 * untouched). */
struct blk_io_task {
    struct blk_io_req *req;
    struct blk_io *io;
    struct blk_io_task *next;             /* link in one task_queue at a time */
    struct blk_io_task *m_prev, *m_next;  /* in-flight mutating requests, oldest first */
    uint64_t seq;                         /* mutating: submission order; FLUSH: barrier */
    uint64_t total;                       /* READ/WRITE: bytes in the iovec */
    uint64_t transferred;
    const struct iovec *iov;              /* what remains: the caller's array or iov_rest */
    unsigned int iovcnt;
    struct iovec *iov_rest;               /* owned; made after a short transfer */
    int result;
    bool mutating;
    unsigned int pending;                 /* NBD: sub-commands not yet answered */
    bool fua_flush_needed;                /* NBD without FUA: flush after the write */
};

struct task_queue {
    struct blk_io_task *head, *tail;
    size_t len;
};

void task_queue_push(struct task_queue *q, struct blk_io_task *t);
struct blk_io_task *task_queue_pop(struct task_queue *q);

struct blk_io_engine {
    const char *name;
    /* Submission order is kept per call; may hit the kernel when a batch fills. */
    void (*submit)(struct blk_io *io, struct blk_io_task *t);
    void (*kick)(struct blk_io *io);
    /* Collects finished requests without blocking; from_source: the GSource
     * polled this engine's fds (NBD acts on revents only then). */
    void (*reap)(struct blk_io *io, bool from_source);
    /* Blocks until some request may have finished (blk_io_close). False
     * when nothing can finish any more (a dead NBD connection). */
    bool (*wait)(struct blk_io *io);
    void (*prepare)(struct blk_io *io);   /* optional: before each poll */
    void (*fini)(struct blk_io *io);
};

struct blk_io {
    char *target;
    char *log_name;
    GMainContext *ctx;
    GSource *source;
    gpointer fd_tags[4];                  /* fds the GSource polls */
    unsigned int n_fd_tags;
    const struct blk_io_engine *engine;
    void *engine_state;

    int fd;                               /* files and block devices; -1 for NBD */
    bool is_blockdev;
    bool readonly, direct;
    uint64_t size;
    unsigned int logical_block_size, mem_align, queue_depth;
    unsigned int physical_block_size;   /* 0: the logical block size */
    bool can_discard, can_secure_discard, volatile_cache;
    uint32_t discard_granularity, discard_alignment;

    uint64_t next_seq;
    struct blk_io_task *mutating_head, *mutating_tail;  /* in flight, oldest first */
    struct task_queue held_flushes;       /* waiting for older mutating requests */
    struct task_queue done;               /* finished, done() not yet called */
    size_t outstanding;                   /* submitted, done() not yet called */
    bool closing;
    struct ratelimit error_log;
};

/* An engine finished t (all retries done) with 0 or -errno. */
void blk_io_task_finished(struct blk_io *io, struct blk_io_task *t, int result);
/* Records a transfer of n bytes (short transfers: makes iov_rest). */
void blk_io_task_advance(struct blk_io_task *t, uint64_t n);
/* Rate-limited one-line warning naming the disk. */
void blk_io_log(struct blk_io *io, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Runs t to completion with blocking syscalls (thread pool workers). */
int blk_io_run_sync(struct blk_io *io, struct blk_io_task *t);
/* Adds an fd to the disk's GSource; returns its tag. */
gpointer blk_io_watch_fd(struct blk_io *io, int fd, GIOCondition events);
/* Stops polling an fd (the NBD socket libnbd closed). */
void blk_io_unwatch_fd(struct blk_io *io, gpointer tag);

/* Engines. *_start returns false with *error set. */
bool blk_io_threads_start(struct blk_io *io, GError **error);
extern const struct blk_io_engine blk_io_threads_engine;

/* A standalone pool other engines use for what they cannot do
 * asynchronously (io_uring: block device discard ioctls). */
struct blk_io_pool;
struct blk_io_pool *blk_io_pool_new(struct blk_io *io, unsigned int threads, GError **error);
void blk_io_pool_push(struct blk_io_pool *pool, struct blk_io_task *t);
void blk_io_pool_reap(struct blk_io_pool *pool);
int blk_io_pool_fd(struct blk_io_pool *pool);
void blk_io_pool_free(struct blk_io_pool *pool);

#ifdef IOREQD_HAVE_LIBURING
bool blk_io_uring_start(struct blk_io *io, GError **error);
extern const struct blk_io_engine blk_io_uring_engine;
#endif
#ifdef IOREQD_HAVE_LIBNBD
bool blk_io_nbd_open(struct blk_io *io, GError **error);
extern const struct blk_io_engine blk_io_nbd_engine;
#endif

#endif
