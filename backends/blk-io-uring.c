/* SPDX-License-Identifier: MIT */
/*
 * io_uring engine: one ring per disk, whose own fd the disk's GSource polls
 * (readable while completions wait). Not a registered eventfd: io_uring
 * signals that on every completion it posts, a locked wake-up paid by the
 * kernel worker that copies the data, the bottleneck of a sequential
 * stream; the ring fd's wake-up is skipped while nobody sleeps on it.
 *
 * At most queue_depth requests are in the ring at once (SQEs prepared plus
 * requests the kernel holds), so the completion ring (twice as large) can
 * never overflow; the rest waits on an overflow list and enters as
 * completions free slots. Prepared SQEs enter the kernel on blk_io_kick, or
 * at once when a whole ring's worth is waiting.
 */
#include "config.h"

#include "backends/blk-io-int.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <unistd.h>

struct uring_engine {
    struct io_uring ring;
    unsigned int in_ring;            /* prepared or in the kernel */
    unsigned int unsubmitted;        /* prepared, not yet io_uring_submit()ted */
    struct task_queue overflow;
    struct blk_io_pool *ioctl_pool;  /* block device discards; made on first use */
};

static void uring_kick(struct blk_io *io)
{
    struct uring_engine *ue = io->engine_state;
    int ret;

    while (ue->unsubmitted > 0) {
        ret = io_uring_submit(&ue->ring);
        if (ret == -EINTR || ret == -EAGAIN)
            continue;
        if (ret < 0) {
            /* The SQEs stay in the ring; the next kick or completion retries. */
            blk_io_log(io, "io_uring_submit failed: %s", g_strerror(-ret));
            return;
        }
        ue->unsubmitted -= MIN((unsigned int)ret, ue->unsubmitted);
    }
}

static bool uring_start_ioctl_pool(struct blk_io *io, struct uring_engine *ue)
{
    GError *error = NULL;

    ue->ioctl_pool = blk_io_pool_new(io, 1, &error);
    if (!ue->ioctl_pool) {
        blk_io_log(io, "discard thread: %s", error->message);
        g_error_free(error);
        return false;
    }
    blk_io_watch_fd(io, blk_io_pool_fd(ue->ioctl_pool), G_IO_IN);
    return true;
}

/* Ops io_uring has no opcode for run on a helper thread. */
static void uring_run_on_thread(struct blk_io *io, struct blk_io_task *t)
{
    struct uring_engine *ue = io->engine_state;

    if (!ue->ioctl_pool && !uring_start_ioctl_pool(io, ue)) {
        blk_io_task_finished(io, t, -ENOMEM);
        return;
    }
    blk_io_pool_push(ue->ioctl_pool, t);
}

static void uring_prep(struct blk_io *io, struct blk_io_task *t)
{
    struct uring_engine *ue = io->engine_state;
    const struct blk_io_req *req = t->req;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ue->ring);

    /* in_ring <= the ring's size, so an SQE is always free here */
    g_assert(sqe);
    switch (req->op) {
    case BLK_IO_READ:
        io_uring_prep_readv(sqe, io->fd, t->iov, t->iovcnt, req->offset + t->transferred);
        break;
    case BLK_IO_WRITE:
        io_uring_prep_writev2(sqe, io->fd, t->iov, t->iovcnt, req->offset + t->transferred,
                              req->fua ? RWF_DSYNC : 0);
        break;
    case BLK_IO_FLUSH:
        io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
        break;
    case BLK_IO_DISCARD:
    case BLK_IO_SECURE_DISCARD:
        io_uring_prep_fallocate(sqe, io->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                req->offset, req->len);
        break;
    }
    io_uring_sqe_set_data(sqe, t);
    ue->in_ring++;
    ue->unsubmitted++;
}

static void uring_submit(struct blk_io *io, struct blk_io_task *t)
{
    struct uring_engine *ue = io->engine_state;
    enum blk_io_op op = t->req->op;

    if ((op == BLK_IO_DISCARD || op == BLK_IO_SECURE_DISCARD) && io->is_blockdev) {
        uring_run_on_thread(io, t);
        return;
    }
    if (op == BLK_IO_SECURE_DISCARD) {     /* files: validate() refuses it already */
        blk_io_task_finished(io, t, -EOPNOTSUPP);
        return;
    }
    if (ue->in_ring >= io->queue_depth) {
        task_queue_push(&ue->overflow, t);
        return;
    }
    uring_prep(io, t);
    if (ue->unsubmitted >= io->queue_depth)
        uring_kick(io);
}

static int rw_result(struct blk_io_task *t, int res)
{
    if (res == -EINTR || res == -EAGAIN)
        return 1;                    /* resubmit as is */
    if (res < 0)
        return res;
    if (res == 0)
        return -EIO;                 /* EOF inside the disk: the file shrank */
    blk_io_task_advance(t, (uint64_t)res);
    return t->transferred < t->total;   /* 1: short, resubmit the rest */
}

static void uring_complete(struct blk_io *io, struct blk_io_task *t, int res)
{
    enum blk_io_op op = t->req->op;

    if (op == BLK_IO_READ || op == BLK_IO_WRITE) {
        int ret = rw_result(t, res);

        if (ret == 1) {
            uring_prep(io, t);
            return;
        }
        res = ret;
    } else if (op != BLK_IO_FLUSH && res == -ENOSYS) {
        res = -EOPNOTSUPP;          /* a file system that cannot punch holes */
    }
    blk_io_task_finished(io, t, res > 0 ? 0 : res);
}

static void uring_refill(struct blk_io *io)
{
    struct uring_engine *ue = io->engine_state;

    while (ue->in_ring < io->queue_depth && ue->overflow.head)
        uring_submit(io, task_queue_pop(&ue->overflow));
}

static void uring_reap(struct blk_io *io, bool from_source)
{
    struct uring_engine *ue = io->engine_state;
    struct io_uring_cqe *cqe;

    if (ue->ioctl_pool)
        blk_io_pool_reap(ue->ioctl_pool);
    while (io_uring_peek_cqe(&ue->ring, &cqe) == 0) {
        struct blk_io_task *t = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&ue->ring, cqe);
        ue->in_ring--;
        uring_complete(io, t, res);
    }
    uring_refill(io);
    uring_kick(io);
}

static bool uring_wait(struct blk_io *io)
{
    struct uring_engine *ue = io->engine_state;
    struct pollfd pfd[2] = {
        { .fd = ue->ring.ring_fd, .events = POLLIN },
        { .fd = ue->ioctl_pool ? blk_io_pool_fd(ue->ioctl_pool) : -1, .events = POLLIN },
    };

    uring_refill(io);
    uring_kick(io);
    while (poll(pfd, 2, -1) < 0 && errno == EINTR)
        ;
    return true;
}

static void uring_fini(struct blk_io *io)
{
    struct uring_engine *ue = io->engine_state;

    if (!ue)
        return;
    blk_io_pool_free(ue->ioctl_pool);
    io_uring_queue_exit(&ue->ring);
    g_free(ue);
    io->engine_state = NULL;
}

const struct blk_io_engine blk_io_uring_engine = {
    .name = "io_uring",
    .submit = uring_submit,
    .kick = uring_kick,
    .reap = uring_reap,
    .wait = uring_wait,
    .fini = uring_fini,
};

bool blk_io_uring_start(struct blk_io *io, GError **error)
{
    struct uring_engine *ue = g_new0(struct uring_engine, 1);
    int ret;

    ret = io_uring_queue_init(io->queue_depth, &ue->ring, 0);
    if (ret < 0)
        goto fail;
    io->engine = &blk_io_uring_engine;
    io->engine_state = ue;
    blk_io_watch_fd(io, ue->ring.ring_fd, G_IO_IN);
    return true;

fail:
    g_free(ue);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-ret), "%s: io_uring: %s",
                io->log_name, g_strerror(-ret));
    return false;
}
