/* SPDX-License-Identifier: MIT */
/*
 * Disk I/O engine for the block backends: raw images and block devices
 * through io_uring (or a thread pool when io_uring is unavailable), other
 * formats through an NBD server (libnbd).
 *
 * Threading: every function is called from the thread that runs `ctx`
 * (the main loop); done() callbacks run there too, from a GSource, never
 * from inside blk_io_submit(). No global state: everything hangs off the
 * struct blk_io.
 *
 * Guarantees:
 * - A request is done() exactly once with 0 or -errno; a READ or WRITE
 *   reports 0 only when every byte was transferred (short transfers are
 *   resubmitted for the rest; a read or write reaching past the disk's
 *   size, or hitting EOF, is -EIO).
 * - FLUSH: fdatasync. It is issued only after every mutating request
 *   (WRITE, DISCARD, SECURE_DISCARD) submitted before it has completed
 *   (drain semantics, stronger than blkif's "covers completed writes"), so
 *   when a FLUSH reports 0, everything written before it was submitted is
 *   stable. Requests submitted after a FLUSH are not held back by it.
 * - fua WRITE: stable before done() (RWF_DSYNC; NBD: FUA flag, or a flush
 *   after the write when the server has no FUA).
 * - Read-only disks refuse WRITE/DISCARD/SECURE_DISCARD with -EROFS.
 * - O_DIRECT (opts.direct): every iov_base must be aligned to
 *   blk_io_min_io_alignment(), every iov_len and the offset to
 *   blk_io_logical_block_size(); anything else is -EINVAL.
 * - Unsupported operation (discard where can_discard is false, secure
 *   discard on a file): -EOPNOTSUPP. Malformed request (bad op, iovcnt 0 or
 *   > BLK_IO_MAX_IOV, NULL iov): -EINVAL.
 * - I/O errors never abort; each is logged (one line, rate-limited, prefixed
 *   with opts.log_name) and reported through done().
 */
#ifndef IOREQD_BLK_IO_H
#define IOREQD_BLK_IO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define BLK_IO_MAX_IOV 1024u
#define BLK_IO_DEFAULT_QUEUE_DEPTH 64u
#define BLK_IO_MAX_QUEUE_DEPTH 4096u

enum blk_io_op { BLK_IO_READ, BLK_IO_WRITE, BLK_IO_FLUSH, BLK_IO_DISCARD, BLK_IO_SECURE_DISCARD };

struct blk_io_req {                  /* owned by the caller until done() runs */
    enum blk_io_op op;
    uint64_t offset;                 /* bytes */
    uint64_t len;                    /* DISCARD/SECURE_DISCARD only; READ/WRITE use the iovec */
    const struct iovec *iov;         /* READ/WRITE; the array must stay valid until done() */
    unsigned int iovcnt;             /* 1..BLK_IO_MAX_IOV */
    bool fua;                        /* WRITE: stable before done() (RWF_DSYNC semantics) */
    /* 0 or -errno; called exactly once, from the main loop, never from
     * inside blk_io_submit. It may submit and kick new requests; it must not
     * call blk_io_close(). */
    void (*done)(struct blk_io_req *req, int result);
    void *opaque;
};

enum blk_io_engine_kind { BLK_IO_ENGINE_AUTO, BLK_IO_ENGINE_URING, BLK_IO_ENGINE_THREADS };

struct blk_io_opts {
    /* a file path, a block device, "nbd:unix:PATH[:exportname=NAME]" or an
     * nbd:// / nbd+unix:// URI */
    const char *target;
    bool readonly;
    bool direct;                     /* O_DIRECT; falls back to buffered if refused */
    enum blk_io_engine_kind engine;  /* ignored for NBD targets */
    unsigned int queue_depth;        /* 0: BLK_IO_DEFAULT_QUEUE_DEPTH; capped at MAX */
    const char *log_name;            /* e.g. "dom3 vbd 51712"; NULL: the target */
};

struct blk_io;

/* NULL with *error set when the target cannot be opened or is neither a
 * regular file, a block device nor an NBD export. */
struct blk_io *blk_io_open(const struct blk_io_opts *opts, GMainContext *ctx, GError **error);
/* Submits what is queued, waits for every request in flight; their done()
 * runs before this returns. NULL is ignored. */
void blk_io_close(struct blk_io *io);

uint64_t blk_io_size(struct blk_io *io);              /* bytes */
/* Re-reads the size (resize); true when it changed, *new_size gets it. */
bool blk_io_refresh_size(struct blk_io *io, uint64_t *new_size);
unsigned int blk_io_logical_block_size(struct blk_io *io); /* 512 or 4096 */
/* A power of two >= the logical block size (a block device's BLKPBSZGET). */
unsigned int blk_io_physical_block_size(struct blk_io *io);
unsigned int blk_io_min_io_alignment(struct blk_io *io);   /* iov_base alignment; 1 unless O_DIRECT */
bool blk_io_is_readonly(struct blk_io *io);
bool blk_io_is_direct(struct blk_io *io);                  /* false after a fallback to buffered */
bool blk_io_can_discard(struct blk_io *io);
bool blk_io_can_secure_discard(struct blk_io *io);
uint32_t blk_io_discard_granularity(struct blk_io *io);    /* bytes; 0 when no discard */
uint32_t blk_io_discard_alignment(struct blk_io *io);      /* bytes */
bool blk_io_has_volatile_cache(struct blk_io *io);         /* FLUSH is meaningful */
const char *blk_io_engine_name(struct blk_io *io);         /* "io_uring", "threads", "nbd" */
unsigned int blk_io_queue_depth(struct blk_io *io);

/* Queues the request; it may enter the kernel at once when a batch is full,
 * otherwise at the next blk_io_kick(). Never calls done() itself. */
void blk_io_submit(struct blk_io *io, struct blk_io_req *req);
/* Submits everything queued (one syscall for io_uring). */
void blk_io_kick(struct blk_io *io);

#endif
