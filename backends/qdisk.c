/* SPDX-License-Identifier: MIT */
/*
 * qdisk: one PV disk. init() reads the toolstack's keys and opens the
 * storage; connect() maps the frontend's rings and binds its event
 * channels; every request is copied once off the ring (blkif-ring.c),
 * validated here, and run through the disk I/O engine (blk-io.h).
 *
 * Data moves one of two ways:
 * - persistent grants (when both sides agree): each page the frontend
 *   uses is mapped once and kept; the engine reads and writes straight
 *   into guest memory, except that requests of QDISK_GATHER_MIN_BYTES and
 *   more are copied (memcpy) through a huge-page bounce buffer, which the
 *   kernel sends as one segment instead of one per scattered page;
 * - otherwise, or when the pool is full: grant copy between the guest's
 *   pages and a bounce buffer, batched into one call per request.
 */
#include "backends/qdisk.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/blk-io.h"
#include "backends/blkif-ring.h"
#include "ioreq/hv.h"
#include "ioreq/log.h"

struct qdisk;
struct qdisk_queue;

struct qdisk_req {
    struct qdisk_queue *q;
    struct blkif_req req;                /* the local copy */
    struct blk_io_req io;
    struct blkif_request_segment *segs;  /* req.seg, or the indirect list */
    struct blkif_request_segment *indirect_segs;
    unsigned int nr_segs;
    uint64_t bytes;
    struct iovec *iov;                   /* one per segment (zero-copy) or one (bounce) */
    unsigned int iovcnt;
    void *bounce;                        /* NULL when zero-copy */
    struct iovec *guest_iov;             /* gathered: the mapped guest pages behind bounce */
    unsigned int guest_iovcnt;
    bool flush_after_write;              /* FLUSH_DISKCACHE carrying data */
};

struct qdisk_queue {
    struct qdisk *disk;
    unsigned int index;
    void *ring_mem;
    unsigned int ring_pages;
    struct blkif_ring ring;
    hv_port_t port;
    GSource *event_source;
    struct qdisk_req *reqs;              /* ring.size slots */
    uint32_t *free_reqs;                 /* indexes of unused slots, a stack */
    uint32_t nr_free;
    GHashTable *pgrants;                 /* gref -> struct pgrant */
    GPtrArray *bounce_cache;             /* free buffers of bounce_arena */
    uint8_t *bounce_arena;               /* QDISK_BOUNCE_CACHE buffers, huge-page backed */
    unsigned int arena_handed;           /* buffers of it given out so far */
    GPtrArray *copy_out;                 /* reads done, data still to copy to the guest */
    GPtrArray *copy_in;                  /* writes of this ring batch, data still to copy in */
    GSource *copy_out_source;            /* runs copy_out after this round of completions */
    GSource *push_source;                /* publishes responses once per loop iteration */
    GSource *resume_source;              /* takes requests again once a barrier is done */
    bool plugged;                        /* a barrier is running: take no request */
    bool closing;                        /* disconnect: completions just finish */
};

struct qdisk {
    struct xenbus_device *dev;
    struct hv *hv;
    uint32_t domid;
    /* from the toolstack */
    char *target;
    bool readonly, cdrom, removable, direct, discard_enable;
    /* storage */
    struct blk_io *io;
    uint64_t size;
    unsigned int sector_size;            /* 512 unless large sectors were agreed */
    bool discard, discard_secure;
    /* negotiated at connect */
    bool persistent;
    unsigned int nr_queues;
    struct qdisk_queue *queues;
    struct ratelimit rl;
};

static const char *dev_name(const struct qdisk *d)
{
    return d->dev->name;
}

/* ---- toolstack keys and storage ---- */

static bool parse_bool_key(struct xenbus_device *dev, const char *key, bool dflt, bool *out,
                           GError **error)
{
    g_autofree char *s = xenbus_read_backend(dev, key);
    uint64_t v;

    if (!s) {
        *out = dflt;
        return true;
    }
    if (!xenbus_parse_uint(s, 1, &v)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s='%s' is not 0 or 1", key, s);
        return false;
    }
    *out = v != 0;
    return true;
}

/* params is "<format>:<target>" as libxl writes it for qdisk; raw (and
 * libxl's legacy "aio") are served directly, NBD targets through libnbd.
 * Image formats need an NBD server in front (docs/qdisk.md). */
static char *parse_params(const char *params, GError **error)
{
    static const char *const nbd_prefixes[] = { "nbd:", "nbd://", "nbd+unix://", "nbds://" };

    if (!params || !*params) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "params is empty");
        return NULL;
    }
    for (unsigned int i = 0; i < G_N_ELEMENTS(nbd_prefixes); i++)
        if (g_str_has_prefix(params, nbd_prefixes[i]))
            return g_strdup(params);
    const char *colon = strchr(params, ':');
    if (!colon || params[0] == '/')
        return g_strdup(params);
    g_autofree char *format = g_strndup(params, (size_t)(colon - params));
    if (!strcmp(format, "raw") || !strcmp(format, "aio") || !strcmp(format, "file")) {
        if (!colon[1]) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "params '%s' names no file", params);
            return NULL;
        }
        return g_strdup(colon + 1);
    }
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSYS,
                "format '%s' is not served directly: export the image with qemu-nbd or nbdkit and "
                "use params=nbd:unix:SOCKET",
                format);
    return NULL;
}

static bool read_toolstack_keys(struct qdisk *d, GError **error)
{
    struct xenbus_device *dev = d->dev;
    g_autofree char *params = xenbus_read_backend(dev, "params");
    g_autofree char *mode = xenbus_read_backend(dev, "mode");
    g_autofree char *type = xenbus_read_backend(dev, "device-type");

    d->target = parse_params(params, error);
    if (!d->target)
        return false;
    if (!mode || (strcmp(mode, "r") != 0 && strcmp(mode, "w") != 0)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "mode '%s' is not r or w",
                    mode ? mode : "(missing)");
        return false;
    }
    d->readonly = mode[0] == 'r';
    if (type && strcmp(type, "disk") != 0 && strcmp(type, "cdrom") != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "device-type '%s' is not disk or cdrom", type);
        return false;
    }
    d->cdrom = type && !strcmp(type, "cdrom");
    if (d->cdrom)
        d->readonly = true; /* a CD is read-only whatever mode says */
    return parse_bool_key(dev, "removable", false, &d->removable, error) &&
           parse_bool_key(dev, "direct-io-safe", false, &d->direct, error) &&
           parse_bool_key(dev, "discard-enable", true, &d->discard_enable, error);
}

static bool open_storage(struct qdisk *d, GError **error)
{
    g_autofree char *log_name = g_strdup_printf("dom%u %s", d->domid, dev_name(d));
    const struct blk_io_opts opts = {
        .target = d->target,
        .readonly = d->readonly,
        .direct = d->direct,
        .engine = BLK_IO_ENGINE_AUTO,
        .log_name = log_name,
    };

    d->io = blk_io_open(&opts, xenbus_context(d->dev->bus), error);
    if (!d->io)
        return false;
    d->size = blk_io_size(d->io);
    /* Storage that cannot be written (a read-only block device or NBD
     * export) makes the disk read-only whatever mode says, so the guest
     * learns it from info instead of from failing writes. */
    d->readonly = d->readonly || blk_io_is_readonly(d->io);
    return true;
}

static unsigned int vdisk_info(const struct qdisk *d)
{
    return (d->cdrom ? VDISK_CDROM : 0) | (d->removable ? VDISK_REMOVABLE : 0) |
           (d->readonly ? VDISK_READONLY : 0);
}

static void write_geometry(struct qdisk *d)
{
    xenbus_write_backend(d->dev, "sector-size", "%u", d->sector_size);
    xenbus_write_backend(d->dev, "sectors", "%" G_GUINT64_FORMAT, d->size / d->sector_size);
}

static void write_features(struct qdisk *d)
{
    struct xenbus_device *dev = d->dev;

    d->discard = d->discard_enable && !d->readonly && blk_io_can_discard(d->io);
    d->discard_secure = d->discard && blk_io_can_secure_discard(d->io);
    xenbus_write_backend(dev, "feature-flush-cache", "1");
    xenbus_write_backend(dev, "feature-discard", "%u", d->discard);
    if (d->discard) {
        uint32_t granularity = blk_io_discard_granularity(d->io);
        xenbus_write_backend(dev, "discard-granularity", "%u", granularity ? granularity : 512);
        xenbus_write_backend(dev, "discard-alignment", "%u", blk_io_discard_alignment(d->io));
        xenbus_write_backend(dev, "discard-secure", "%u", d->discard_secure);
    }
    xenbus_write_backend(dev, "feature-persistent", "1");
    xenbus_write_backend(dev, "feature-max-indirect-segments", "%u", QDISK_MAX_INDIRECT_SEGMENTS);
    xenbus_write_backend(dev, "max-ring-page-order", "%u", BLKIF_MAX_RING_PAGE_ORDER);
    /* The same limit in the older scheme's unit (blkif.h note 3): FreeBSD
     * reads it after max-ring-page-order and lets it win. */
    xenbus_write_backend(dev, "max-ring-pages", "%u", BLKIF_MAX_RING_PAGES);
    xenbus_write_backend(dev, "multi-queue-max-queues", "%u", QDISK_MAX_QUEUES);
    xenbus_write_backend(dev, "info", "%u", vdisk_info(d));
    xenbus_write_backend(dev, "physical-sector-size", "%u", blk_io_physical_block_size(d->io));
    d->sector_size = 512;
    write_geometry(d);
}

static bool qdisk_init(struct xenbus_device *dev, GError **error)
{
    struct qdisk *d = g_new0(struct qdisk, 1);

    d->dev = dev;
    d->hv = xenbus_hv(dev->bus);
    d->domid = xenbus_domid(dev->bus);
    d->rl = (struct ratelimit)RATELIMIT_INIT;
    dev->priv = d;
    if (!read_toolstack_keys(d, error) || !open_storage(d, error)) {
        blk_io_close(d->io);
        g_free(d->target);
        g_free(d);
        dev->priv = NULL;
        return false;
    }
    write_features(d);
    log_info(d->domid, dev_name(d), "%s: %" G_GUINT64_FORMAT " bytes, %s, engine %s%s", d->target,
             d->size, d->readonly ? "read-only" : "read-write", blk_io_engine_name(d->io),
             blk_io_is_direct(d->io) ? ", O_DIRECT" : "");
    return true;
}

static void qdisk_free(struct xenbus_device *dev)
{
    struct qdisk *d = dev->priv;

    if (!d)
        return;
    blk_io_close(d->io);
    g_free(d->target);
    g_free(d);
    dev->priv = NULL;
}

/* ---- responses ---- */

/* Responses written in one main-loop iteration (a round of completions, a
 * ring batch) are published together: one index update and at most one
 * event for the frontend instead of one per request. */
static void respond(struct qdisk_queue *q, const struct blkif_req *req, int16_t status)
{
    blkif_ring_put_response(&q->ring, req->id, req->operation, status);
    g_source_set_ready_time(q->push_source, 0);
}

struct push_source {
    GSource base;
    struct qdisk_queue *q;
};

static gboolean push_responses(GSource *source, GSourceFunc cb, gpointer data)
{
    struct qdisk_queue *q = ((struct push_source *)source)->q;

    g_source_set_ready_time(source, -1);
    if (blkif_ring_push_responses(&q->ring))
        q->disk->hv->ops->evtchn_notify(q->disk->hv, q->port);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs push_source_funcs = {
    .dispatch = push_responses,
};

static bool drain_ring(struct qdisk_queue *q);

static gboolean resume_ring(GSource *source, GSourceFunc cb, gpointer data)
{
    g_source_set_ready_time(source, -1);
    drain_ring(((struct push_source *)source)->q);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs resume_source_funcs = {
    .dispatch = resume_ring,
};

/* The largest request: every segment a full page. Pages of a cached
 * buffer that small requests never touch cost no memory. */
#define BOUNCE_SIZE ((size_t)QDISK_MAX_INDIRECT_SEGMENTS * BLKIF_PAGE_SIZE)

/* Bounce buffers are carved from one arena per queue, 2 MiB aligned and
 * marked for transparent huge pages, so each buffer is physically
 * contiguous: the kernel then sends a 1 MiB request as one segment, where
 * 256 scattered pages (granted pages are scattered) exceed a device's
 * segment limit (254 on virtio-blk), are split in two and cannot merge
 * with their neighbours. Address space only until a buffer is used. */
#define ARENA_ALIGN ((size_t)2 << 20)
#define ARENA_SIZE ((size_t)QDISK_BOUNCE_CACHE * BOUNCE_SIZE)

/* ARENA_SIZE at a 2 MiB boundary: mapped with room to align, then the
 * slack on either side is given back. */
static uint8_t *arena_map(void)
{
    uint8_t *p = mmap(NULL, ARENA_SIZE + ARENA_ALIGN, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *arena = (uint8_t *)(((uintptr_t)p + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1));
    if (arena > p)
        munmap(p, (size_t)(arena - p));
    munmap(arena + ARENA_SIZE, (size_t)(p + ARENA_ALIGN - arena));
    /* Without THP the buffers still work, as ordinary pages. */
    (void)madvise(arena, ARENA_SIZE, MADV_HUGEPAGE);
    return arena;
}

static uint8_t *arena_take(struct qdisk_queue *q)
{
    if (!q->bounce_arena && !(q->bounce_arena = arena_map()))
        return NULL;
    if (q->arena_handed == QDISK_BOUNCE_CACHE)
        return NULL;
    return q->bounce_arena + (size_t)q->arena_handed++ * BOUNCE_SIZE;
}

static bool in_arena(const struct qdisk_queue *q, const void *buf)
{
    return q->bounce_arena && (const uint8_t *)buf >= q->bounce_arena &&
           (const uint8_t *)buf < q->bounce_arena + ARENA_SIZE;
}

static void arena_free(struct qdisk_queue *q)
{
    if (q->bounce_arena)
        munmap(q->bounce_arena, ARENA_SIZE);
    q->bounce_arena = NULL;
    q->arena_handed = 0;
}

static void bounce_put(struct qdisk_queue *q, void *buf)
{
    if (in_arena(q, buf))
        g_ptr_array_add(q->bounce_cache, buf);
    else
        free(buf);
}

/* From the arena; beyond it (more large requests in flight than the
 * arena holds) an ordinary buffer, freed after its request. */
static void *bounce_get(struct qdisk_queue *q)
{
    void *buf = NULL;

    if (q->bounce_cache->len)
        return g_ptr_array_steal_index_fast(q->bounce_cache, q->bounce_cache->len - 1);
    if ((buf = arena_take(q)))
        return buf;
    return posix_memalign(&buf, BLKIF_PAGE_SIZE, BOUNCE_SIZE) == 0 ? buf : NULL;
}

static void release_req(struct qdisk_req *r)
{
    bounce_put(r->q, r->bounce);
    g_free(r->indirect_segs);
    g_free(r->iov);
    g_free(r->guest_iov);
    r->guest_iov = NULL;
    r->bounce = NULL;
    r->indirect_segs = NULL;
    r->iov = NULL;
    r->q->free_reqs[r->q->nr_free++] = (uint32_t)(r - r->q->reqs);
}

static void finish(struct qdisk_req *r, int16_t status)
{
    struct qdisk_queue *q = r->q;
    bool barrier = r->req.operation == BLKIF_OP_WRITE_BARRIER;

    if (!q->closing)
        respond(q, &r->req, status);
    release_req(r);
    if (barrier) {
        /* The requests behind it wait on the ring; take them in the next
         * loop iteration (not from inside a completion). */
        q->plugged = false;
        if (!q->closing)
            g_source_set_ready_time(q->resume_source, 0);
    }
}

static void reject(struct qdisk_queue *q, const struct blkif_req *req, int16_t status, const char *why)
{
    log_limited(&q->disk->rl, q->disk->domid, dev_name(q->disk), "request id %" G_GUINT64_FORMAT
                " (op %u) refused: %s", req->id, req->operation, why);
    respond(q, req, status);
}

/* ---- data movement ---- */

static unsigned int sectors_per_page(const struct qdisk *d)
{
    return BLKIF_PAGE_SIZE / d->sector_size;
}

/* Appends the copy segments between the request's pages and its bounce
 * buffer to segs. */
static void add_copy_segments(struct qdisk_req *r, bool to_guest, GArray *segs)
{
    struct qdisk *d = r->q->disk;
    uint8_t *local = r->bounce;

    for (unsigned int i = 0; i < r->nr_segs; i++) {
        const struct blkif_request_segment *s = &r->segs[i];
        unsigned int len = (unsigned int)(s->last_sect - s->first_sect + 1) * d->sector_size;
        struct hv_grant_copy_seg seg = {
            .ref = s->gref,
            .offset = (uint16_t)(s->first_sect * d->sector_size),
            .len = (uint16_t)len,
            .to_guest = to_guest,
            .local = local,
        };
        g_array_append_val(segs, seg);
        local += len;
    }
}

static bool segments_copied(struct qdisk_req *r, const struct hv_grant_copy_seg *segs)
{
    struct qdisk *d = r->q->disk;

    for (unsigned int i = 0; i < r->nr_segs; i++)
        if (segs[i].status != GNTST_okay) {
            log_limited(&d->rl, d->domid, dev_name(d), "grant %u: copy failed (status %d)",
                        segs[i].ref, segs[i].status);
            return false;
        }
    return true;
}

/* The grant itself is bad (as opposed to the hypervisor being out of
 * room for another mapping, which grant copy can still serve). */
static bool grant_refused(int err)
{
    return err == -EINVAL || err == -EACCES || err == -EFAULT || err == -EPERM || err == -ENOENT;
}

struct pgrant {
    void *page;
    bool writable;
};

/* The page of gref, mapped once and kept: writable for data pages (the
 * frontend promised writable grants for reuse, blkif.h note 8), read-only
 * for indirect pages (which we only read, and which frontends may grant
 * read-only). NULL when it cannot be (pool full, no room, the grant
 * refused, or kept read-only where writable is needed): the caller then
 * uses grant copy, which checks exactly the access the request needs. */
static void *persistent_page(struct qdisk_queue *q, uint32_t gref, bool writable)
{
    struct qdisk *d = q->disk;
    struct pgrant *pg = g_hash_table_lookup(q->pgrants, GUINT_TO_POINTER(gref));
    int err = 0;

    if (pg)
        return pg->writable || !writable ? pg->page : NULL;
    if (g_hash_table_size(q->pgrants) >= QDISK_MAX_PERSISTENT_GRANTS)
        return NULL;
    void *page = d->hv->ops->grant_map(d->hv, &gref, 1, writable, &err);
    if (!page) {
        if (!grant_refused(err))
            log_limited(&d->rl, d->domid, dev_name(d), "grant %u: no room to keep it mapped (%s); "
                        "copying instead", gref, g_strerror(-err));
        return NULL;
    }
    pg = g_new(struct pgrant, 1);
    *pg = (struct pgrant){ .page = page, .writable = writable };
    g_hash_table_insert(q->pgrants, GUINT_TO_POINTER(gref), pg);
    return page;
}

/* Points the iovec straight at persistently mapped guest pages. false
 * when some page is not (see persistent_page) or not aligned for O_DIRECT:
 * the caller then bounces through grant copy. */
static bool map_zero_copy(struct qdisk_req *r)
{
    struct qdisk_queue *q = r->q;
    struct qdisk *d = q->disk;
    unsigned int align = blk_io_min_io_alignment(d->io);
    unsigned int lbs = blk_io_logical_block_size(d->io);

    if (!d->persistent)
        return false;
    unsigned int n = 0;
    r->iov = g_new(struct iovec, r->nr_segs);
    for (unsigned int i = 0; i < r->nr_segs; i++) {
        const struct blkif_request_segment *s = &r->segs[i];
        uint8_t *page = persistent_page(q, s->gref, true);
        size_t off = (size_t)s->first_sect * d->sector_size;
        size_t len = (size_t)(s->last_sect - s->first_sect + 1) * d->sector_size;
        if (!page || ((uintptr_t)(page + off) % align) || (len % (blk_io_is_direct(d->io) ? lbs : 1))) {
            g_free(r->iov);
            r->iov = NULL;
            return false;
        }
        /* Pages the hypervisor placed side by side make one iovec: each
         * iovec of an O_DIRECT request is a separate page-pinning call. */
        struct iovec *last = n ? &r->iov[n - 1] : NULL;
        if (last && (uint8_t *)last->iov_base + last->iov_len == page + off)
            last->iov_len += len;
        else
            r->iov[n++] = (struct iovec){ .iov_base = page + off, .iov_len = len };
    }
    r->iovcnt = n;
    return true;
}

static bool setup_bounce(struct qdisk_req *r)
{
    if (r->bytes > BOUNCE_SIZE || !(r->bounce = bounce_get(r->q)))
        return false;
    r->iov = g_new(struct iovec, 1);
    r->iov[0] = (struct iovec){ .iov_base = r->bounce, .iov_len = r->bytes };
    r->iovcnt = 1;
    return true;
}

/* A large request on persistent pages goes through a bounce buffer (by
 * memcpy: the pages are mapped already) rather than straight to the
 * kernel: see ARENA_SIZE for why contiguity matters at this size. */
static bool gather_into_bounce(struct qdisk_req *r, bool write)
{
    struct iovec *guest = r->iov;
    unsigned int n = r->iovcnt;

    if (!setup_bounce(r))
        return false; /* stays zero-copy */
    r->guest_iov = guest;
    r->guest_iovcnt = n;
    if (write) {
        uint8_t *to = r->bounce;
        for (unsigned int i = 0; i < n; i++) {
            memcpy(to, guest[i].iov_base, guest[i].iov_len);
            to += guest[i].iov_len;
        }
    }
    return true;
}

static void scatter_from_bounce(struct qdisk_req *r)
{
    const uint8_t *from = r->bounce;

    for (unsigned int i = 0; i < r->guest_iovcnt; i++) {
        memcpy(r->guest_iov[i].iov_base, from, r->guest_iov[i].iov_len);
        from += r->guest_iov[i].iov_len;
    }
}

/* ---- request life ---- */

static void on_io_done(struct blk_io_req *io, int result);

static void submit_io(struct qdisk_req *r, enum blk_io_op op)
{
    struct qdisk *d = r->q->disk;

    r->io = (struct blk_io_req){
        .op = op,
        .offset = r->req.sector_number * d->sector_size,
        .iov = r->iov,
        .iovcnt = r->iovcnt,
        .done = on_io_done,
        .opaque = r,
    };
    if (op == BLK_IO_DISCARD || op == BLK_IO_SECURE_DISCARD) {
        r->io.len = r->req.nr_sectors * d->sector_size;
        r->io.iov = NULL;
        r->io.iovcnt = 0;
    } else if (op == BLK_IO_FLUSH) {
        r->io.offset = 0;
        r->io.iov = NULL;
        r->io.iovcnt = 0;
    }
    blk_io_submit(d->io, &r->io);
}

static int16_t status_of(int result)
{
    if (result == 0)
        return BLKIF_RSP_OKAY;
    return result == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
}

/* Copies every finished read's data to the guest in one grant copy call
 * (one hypervisor round trip instead of one per request), then answers. */
static gboolean flush_copy_out(gpointer data)
{
    struct qdisk_queue *q = data;
    struct qdisk *d = q->disk;
    g_autoptr(GArray) segs = g_array_new(FALSE, TRUE, sizeof(struct hv_grant_copy_seg));
    g_autoptr(GPtrArray) reqs = q->copy_out;

    q->copy_out = g_ptr_array_new();
    g_source_unref(q->copy_out_source);
    q->copy_out_source = NULL;
    for (unsigned int i = 0; i < reqs->len; i++)
        add_copy_segments(g_ptr_array_index(reqs, i), true, segs);
    bool called = d->hv->ops->grant_copy(d->hv, (struct hv_grant_copy_seg *)(void *)segs->data,
                                         segs->len) == 0;
    unsigned int at = 0;
    for (unsigned int i = 0; i < reqs->len; i++) {
        struct qdisk_req *r = g_ptr_array_index(reqs, i);
        bool ok = called && segments_copied(r, &g_array_index(segs, struct hv_grant_copy_seg, at));
        at += r->nr_segs;
        finish(r, ok ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
    }
    return G_SOURCE_REMOVE;
}

static void queue_copy_out(struct qdisk_req *r)
{
    struct qdisk_queue *q = r->q;

    g_ptr_array_add(q->copy_out, r);
    if (!q->copy_out_source) {
        /* Same priority as the completions: it runs in the next loop
         * iteration, after every completion ready now. */
        q->copy_out_source = g_idle_source_new();
        g_source_set_priority(q->copy_out_source, G_PRIORITY_DEFAULT);
        g_source_set_callback(q->copy_out_source, flush_copy_out, q, NULL);
        g_source_attach(q->copy_out_source, xenbus_context(q->disk->dev->bus));
    }
}

/* A disconnect: reads waiting for their copy end without an answer. */
static void drop_copy_out(struct qdisk_queue *q)
{
    if (q->copy_out_source) {
        g_source_destroy(q->copy_out_source);
        g_source_unref(q->copy_out_source);
        q->copy_out_source = NULL;
    }
    for (unsigned int i = 0; q->copy_out && i < q->copy_out->len; i++)
        finish(g_ptr_array_index(q->copy_out, i), BLKIF_RSP_ERROR);
    if (q->copy_out)
        g_ptr_array_free(q->copy_out, TRUE);
    q->copy_out = NULL;
}

static void on_io_done(struct blk_io_req *io, int result)
{
    struct qdisk_req *r = io->opaque;
    struct qdisk *d = r->q->disk;

    if (result < 0)
        log_limited(&d->rl, d->domid, dev_name(d), "I/O error at sector %" G_GUINT64_FORMAT ": %s",
                    r->req.sector_number, g_strerror(-result));
    if (r->q->closing) {
        finish(r, BLKIF_RSP_ERROR);
        return;
    }
    if (result == 0 && io->op == BLK_IO_WRITE && r->flush_after_write) {
        /* FLUSH_DISKCACHE with data: stable before we answer. */
        r->flush_after_write = false;
        submit_io(r, BLK_IO_FLUSH);
        blk_io_kick(d->io);
        return;
    }
    if (result == 0 && io->op == BLK_IO_READ && r->guest_iov) {
        scatter_from_bounce(r);
        finish(r, BLKIF_RSP_OKAY);
        return;
    }
    if (result == 0 && io->op == BLK_IO_READ && r->bounce) {
        queue_copy_out(r);
        return;
    }
    finish(r, status_of(result));
}

/* [sector, sector + count) lies inside the disk, without overflowing. */
static bool inside_disk(const struct qdisk *d, uint64_t sector, uint64_t count)
{
    uint64_t disk_sectors = d->size / d->sector_size;

    return sector <= disk_sectors && count <= disk_sectors - sector;
}

/* Checks every segment and the sector range; fills bytes. */
static const char *check_segments(struct qdisk_req *r)
{
    struct qdisk *d = r->q->disk;
    uint64_t sectors = 0;

    for (unsigned int i = 0; i < r->nr_segs; i++) {
        const struct blkif_request_segment *s = &r->segs[i];
        if (s->first_sect > s->last_sect || s->last_sect >= sectors_per_page(d))
            return "segment sectors out of the page";
        sectors += (uint64_t)(s->last_sect - s->first_sect + 1);
    }
    if (!inside_disk(d, r->req.sector_number, sectors))
        return "sectors beyond the end of the disk";
    r->bytes = sectors * d->sector_size;
    return NULL;
}

/* Copies the indirect pages once (from their persistent mapping when both
 * sides agreed on persistent grants, by grant copy otherwise: one
 * hypervisor round trip per request saved), then reads the segments from
 * the copy, never from the page the frontend can still write. */
static const char *fetch_indirect(struct qdisk_req *r)
{
    struct qdisk *d = r->q->disk;
    unsigned int n = r->req.nr_segments;
    unsigned int pages = (n + BLKIF_SEGS_PER_INDIRECT_PAGE - 1) / BLKIF_SEGS_PER_INDIRECT_PAGE;
    struct hv_grant_copy_seg copies[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    unsigned int nr_copies = 0;
    g_autofree uint8_t *buf = NULL;

    if (n == 0 || n > QDISK_MAX_INDIRECT_SEGMENTS)
        return "indirect segment count out of range";
    if (r->req.indirect_op != BLKIF_OP_READ && r->req.indirect_op != BLKIF_OP_WRITE)
        return "indirect operation is not read or write";
    buf = g_malloc((size_t)pages * BLKIF_PAGE_SIZE);
    for (unsigned int i = 0; i < pages; i++) {
        uint8_t *local = buf + (size_t)i * BLKIF_PAGE_SIZE;
        const void *mapped =
            d->persistent ? persistent_page(r->q, r->req.indirect_grefs[i], false) : NULL;
        if (mapped) {
            memcpy(local, mapped, BLKIF_PAGE_SIZE);
            continue;
        }
        copies[nr_copies++] = (struct hv_grant_copy_seg){
            .ref = r->req.indirect_grefs[i], .len = BLKIF_PAGE_SIZE, .local = local,
        };
    }
    if (nr_copies && d->hv->ops->grant_copy(d->hv, copies, nr_copies) < 0)
        return "indirect pages could not be copied";
    for (unsigned int i = 0; i < nr_copies; i++)
        if (copies[i].status != GNTST_okay)
            return "an indirect page's grant was refused";
    r->indirect_segs = g_new(struct blkif_request_segment, n);
    for (unsigned int i = 0; i < n; i++)
        blkif_parse_indirect_page(buf + (size_t)(i / BLKIF_SEGS_PER_INDIRECT_PAGE) * BLKIF_PAGE_SIZE, i,
                                  &r->indirect_segs[i]);
    r->segs = r->indirect_segs;
    r->nr_segs = n;
    return NULL;
}

/* Copies the data of every write taken off the ring in this batch in one
 * grant copy call, then submits them (in ring order). */
static void flush_copy_in(struct qdisk_queue *q)
{
    struct qdisk *d = q->disk;
    g_autoptr(GArray) segs = NULL;

    if (!q->copy_in->len)
        return;
    segs = g_array_new(FALSE, TRUE, sizeof(struct hv_grant_copy_seg));
    for (unsigned int i = 0; i < q->copy_in->len; i++)
        add_copy_segments(g_ptr_array_index(q->copy_in, i), false, segs);
    bool called = d->hv->ops->grant_copy(d->hv, (struct hv_grant_copy_seg *)(void *)segs->data,
                                         segs->len) == 0;
    unsigned int at = 0;
    for (unsigned int i = 0; i < q->copy_in->len; i++) {
        struct qdisk_req *r = g_ptr_array_index(q->copy_in, i);
        bool ok = called && segments_copied(r, &g_array_index(segs, struct hv_grant_copy_seg, at));
        at += r->nr_segs;
        if (ok)
            submit_io(r, BLK_IO_WRITE);
        else
            finish(r, BLKIF_RSP_ERROR);
    }
    g_ptr_array_set_size(q->copy_in, 0);
}

/* Read or write (direct, indirect or a flush with data). NULL or why not. */
static const char *start_rw(struct qdisk_req *r, bool write)
{
    struct qdisk *d = r->q->disk;
    const char *why = check_segments(r);

    if (why)
        return why;
    if (write && d->readonly)
        return "write to a read-only disk";
    if (map_zero_copy(r)) {
        if (r->bytes >= QDISK_GATHER_MIN_BYTES)
            gather_into_bounce(r, write);
    } else {
        if (!setup_bounce(r))
            return "out of memory";
        if (write) {
            /* Copied in with the rest of this ring batch (flush_copy_in). */
            g_ptr_array_add(r->q->copy_in, r);
            return NULL;
        }
    }
    submit_io(r, write ? BLK_IO_WRITE : BLK_IO_READ);
    return NULL;
}

static const char *start_discard(struct qdisk_req *r, int16_t *status)
{
    struct qdisk *d = r->q->disk;

    if (!d->discard) {
        *status = BLKIF_RSP_EOPNOTSUPP;
        return "discard was not offered";
    }
    if (!inside_disk(d, r->req.sector_number, r->req.nr_sectors))
        return "discard beyond the end of the disk";
    if (r->req.nr_sectors == 0) {
        finish(r, BLKIF_RSP_OKAY);
        return NULL;
    }
    /* BLKIF_DISCARD_SECURE is ignored unless discard-secure was offered. */
    bool secure = (r->req.discard_flag & BLKIF_DISCARD_SECURE) && d->discard_secure;
    submit_io(r, secure ? BLK_IO_SECURE_DISCARD : BLK_IO_DISCARD);
    return NULL;
}

/* Starts one request; NULL or the reason it was refused (*status says
 * which error). */
static const char *start_request(struct qdisk_req *r, int16_t *status)
{
    *status = BLKIF_RSP_ERROR;
    switch (r->req.operation) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
        if (r->req.nr_segments == 0 || r->req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
            return "segment count out of range";
        r->segs = r->req.seg;
        r->nr_segs = r->req.nr_segments;
        return start_rw(r, r->req.operation == BLKIF_OP_WRITE);
    case BLKIF_OP_INDIRECT: {
        const char *why = fetch_indirect(r);
        return why ? why : start_rw(r, r->req.indirect_op == BLKIF_OP_WRITE);
    }
    case BLKIF_OP_FLUSH_DISKCACHE:
        if (r->req.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
            return "segment count out of range";
        if (r->req.nr_segments == 0) {
            flush_copy_in(r->q); /* the writes before it go first */
            submit_io(r, BLK_IO_FLUSH);
            return NULL;
        }
        r->segs = r->req.seg;
        r->nr_segs = r->req.nr_segments;
        r->flush_after_write = true;
        return start_rw(r, true);
    case BLKIF_OP_DISCARD:
        flush_copy_in(r->q);
        return start_discard(r, status);
    case BLKIF_OP_WRITE_BARRIER:
        /* Not offered (feature-barrier), yet Windows' crash-dump and
         * hibernation driver sends an empty barrier for every SYNCHRONIZE
         * CACHE whatever we advertise: served as a flush of everything
         * written before it, and nothing behind it on this ring starts
         * before it is done. A barrier carrying data is refused. */
        if (r->req.nr_segments != 0) {
            *status = BLKIF_RSP_EOPNOTSUPP;
            return "write barrier with data (feature-barrier is not offered)";
        }
        flush_copy_in(r->q);
        r->q->plugged = true;
        submit_io(r, BLK_IO_FLUSH);
        return NULL;
    default:
        *status = BLKIF_RSP_EOPNOTSUPP;
        return "unsupported operation";
    }
}

/* Requests handed to the kernel together. A frontend refills its ring in
 * waves (a full ring after a round of responses); submitting the whole
 * wave in one call holds the first request until the last is prepared and
 * keeps the storage idle meanwhile, so the waves never overlap. Batches of
 * 4 took 4 KiB random reads at queue depth 32 from 0.78 to 0.91-0.94 of
 * fio (docs/performance.md); 1 and 2 were no better, 16 gave 0.81. */
#define QDISK_SUBMIT_BATCH 4

/* blkif_ring_take never lets more than a ring of requests be unanswered,
 * so a slot is always free when a request was taken; NULL is defence. */
static struct qdisk_req *free_slot(struct qdisk_queue *q)
{
    return q->nr_free ? &q->reqs[q->free_reqs[--q->nr_free]] : NULL;
}

/* Takes everything the frontend posted. false: the ring is corrupt and
 * the device was closed. */
static bool drain_ring(struct qdisk_queue *q)
{
    struct qdisk *d = q->disk;
    unsigned int taken = 0;

    do {
        uint32_t producer = blkif_ring_read_producer(&q->ring);
        struct qdisk_req *r;
        /* A running barrier holds everything behind it on the ring. */
        while (!q->plugged) {
            struct blkif_req req;
            enum blkif_take took = blkif_ring_take(&q->ring, producer, &req);
            if (took == BLKIF_TAKE_CORRUPT) {
                flush_copy_in(q);
                xenbus_device_fail(d->dev, "the frontend corrupted the ring (producer index out of range)");
                return false;
            }
            if (took == BLKIF_TAKE_NONE || !(r = free_slot(q)))
                break;
            *r = (struct qdisk_req){ .q = q, .req = req };
            int16_t status;
            const char *why = start_request(r, &status);
            if (why) {
                reject(q, &r->req, status, why);
                release_req(r);
            }
            if (++taken % QDISK_SUBMIT_BATCH == 0) {
                flush_copy_in(q);
                blk_io_kick(d->io);
            }
        }
        flush_copy_in(q);
        blk_io_kick(d->io);
    } while (!q->plugged && blkif_ring_final_check(&q->ring));
    return true;
}

static gboolean on_queue_event(gint fd, GIOCondition cond, gpointer data)
{
    struct qdisk_queue *q = data;
    struct hv *hv = q->disk->hv;
    hv_port_t port = hv->ops->evtchn_pending(hv, fd);

    if (port >= 0)
        hv->ops->evtchn_unmask(hv, port);
    drain_ring(q);
    return G_SOURCE_CONTINUE;
}

/* ---- connect / disconnect ---- */

static char *queue_key(const struct qdisk *d, unsigned int index, const char *key)
{
    return d->nr_queues > 1 ? g_strdup_printf("queue-%u/%s", index, key) : g_strdup(key);
}

static bool read_ring_refs(struct qdisk *d, unsigned int index, unsigned int pages, uint32_t *refs,
                           GError **error)
{
    for (unsigned int i = 0; i < pages; i++) {
        g_autofree char *name = pages == 1 ? g_strdup("ring-ref") : g_strdup_printf("ring-ref%u", i);
        g_autofree char *key = queue_key(d, index, name);
        uint64_t v;
        if (!xenbus_read_frontend_uint(d->dev, key, UINT32_MAX, &v)) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "frontend key %s is missing or bad",
                        key);
            return false;
        }
        refs[i] = (uint32_t)v;
    }
    return true;
}

static void pgrant_unmap(gpointer key, gpointer value, gpointer data)
{
    struct hv *hv = data;
    const struct pgrant *pg = value;

    hv->ops->grant_unmap(hv, pg->page, 1);
}

static void queue_close(struct qdisk_queue *q)
{
    struct hv *hv = q->disk->hv;

    if (q->event_source) {
        g_source_destroy(q->event_source);
        g_source_unref(q->event_source);
        q->event_source = NULL;
    }
    if (q->push_source) {
        g_source_destroy(q->push_source);
        g_source_unref(q->push_source);
        q->push_source = NULL;
    }
    if (q->resume_source) {
        g_source_destroy(q->resume_source);
        g_source_unref(q->resume_source);
        q->resume_source = NULL;
    }
    q->plugged = false;
    if (q->port >= 0)
        hv->ops->evtchn_unbind(hv, q->port);
    q->port = -1;
    if (q->pgrants) {
        g_hash_table_foreach(q->pgrants, pgrant_unmap, hv);
        g_hash_table_destroy(q->pgrants);
        q->pgrants = NULL;
    }
    if (q->copy_in) {
        g_ptr_array_free(q->copy_in, TRUE);
        q->copy_in = NULL;
    }
    if (q->bounce_cache) {
        g_ptr_array_free(q->bounce_cache, TRUE);
        q->bounce_cache = NULL;
    }
    arena_free(q);
    if (q->ring_mem)
        hv->ops->grant_unmap(hv, q->ring_mem, q->ring_pages);
    q->ring_mem = NULL;
    g_free(q->reqs);
    q->reqs = NULL;
    g_free(q->free_reqs);
    q->free_reqs = NULL;
}

static bool queue_open(struct qdisk *d, struct qdisk_queue *q, unsigned int pages, enum blkif_abi abi,
                       GError **error)
{
    struct hv *hv = d->hv;
    uint32_t refs[BLKIF_MAX_RING_PAGES];
    g_autofree char *evtchn_key = queue_key(d, q->index, "event-channel");
    uint64_t remote_port;
    int err = 0;

    if (!read_ring_refs(d, q->index, pages, refs, error))
        return false;
    if (!xenbus_read_frontend_uint(d->dev, evtchn_key, UINT32_MAX, &remote_port)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "frontend key %s is missing or bad",
                    evtchn_key);
        return false;
    }
    q->ring_mem = hv->ops->grant_map(hv, refs, pages, true, &err);
    if (!q->ring_mem) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "queue %u: cannot map the ring: %s", q->index,
                    g_strerror(-err));
        return false;
    }
    q->ring_pages = pages;
    blkif_ring_init(&q->ring, q->ring_mem, pages, abi);
    err = hv->ops->evtchn_bind(hv, (uint32_t)remote_port, &q->port);
    if (err < 0) {
        q->port = -1;
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "queue %u: cannot bind event channel %u: %s",
                    q->index, (unsigned int)remote_port, g_strerror(-err));
        return false;
    }
    q->reqs = g_new0(struct qdisk_req, q->ring.size);
    q->free_reqs = g_new(uint32_t, q->ring.size);
    for (uint32_t i = 0; i < q->ring.size; i++)
        q->free_reqs[i] = q->ring.size - 1 - i;
    q->nr_free = q->ring.size;
    q->pgrants = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    q->bounce_cache = g_ptr_array_sized_new(QDISK_BOUNCE_CACHE);
    q->copy_out = g_ptr_array_new();
    q->copy_in = g_ptr_array_new();
    q->push_source = g_source_new(&push_source_funcs, sizeof(struct push_source));
    ((struct push_source *)q->push_source)->q = q;
    g_source_attach(q->push_source, xenbus_context(d->dev->bus));
    q->resume_source = g_source_new(&resume_source_funcs, sizeof(struct push_source));
    ((struct push_source *)q->resume_source)->q = q;
    g_source_attach(q->resume_source, xenbus_context(d->dev->bus));
    q->event_source = g_unix_fd_source_new(hv->ops->evtchn_fd(hv, q->port), G_IO_IN);
    g_source_set_callback(q->event_source, G_SOURCE_FUNC(on_queue_event), q, NULL);
    g_source_attach(q->event_source, xenbus_context(d->dev->bus));
    return true;
}

/* The ring's size: `ring-page-order` (Citrix's scheme, Linux, Windows)
 * and/or the deprecated `num-ring-pages` (Red Hat's and Amazon's scheme;
 * FreeBSD writes both for a multi-page ring). Either alone is accepted;
 * both must agree. */
static bool read_ring_pages(struct qdisk *d, unsigned int *pages, GError **error)
{
    uint64_t order = 0, n = 0;
    g_autofree char *order_s = xenbus_read_frontend(d->dev, "ring-page-order");
    g_autofree char *pages_s = xenbus_read_frontend(d->dev, "num-ring-pages");

    if (order_s && !xenbus_parse_uint(order_s, BLKIF_MAX_RING_PAGE_ORDER, &order)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "ring-page-order '%s' is above %u",
                    order_s, BLKIF_MAX_RING_PAGE_ORDER);
        return false;
    }
    *pages = 1u << order;
    if (!pages_s)
        return true;
    if (!xenbus_parse_uint(pages_s, BLKIF_MAX_RING_PAGES, &n) || n == 0 || (n & (n - 1)) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "num-ring-pages '%s' is not a power of two in 1..%u", pages_s, BLKIF_MAX_RING_PAGES);
        return false;
    }
    if (order_s && n != *pages) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "num-ring-pages '%s' disagrees with ring-page-order '%s'", pages_s, order_s);
        return false;
    }
    *pages = (unsigned int)n;
    return true;
}

static bool read_connect_keys(struct qdisk *d, unsigned int *pages, enum blkif_abi *abi, GError **error)
{
    uint64_t queues = 1, v;
    g_autofree char *protocol = xenbus_read_frontend(d->dev, "protocol");
    g_autofree char *queues_s = xenbus_read_frontend(d->dev, "multi-queue-num-queues");

    if (!read_ring_pages(d, pages, error))
        return false;
    if (queues_s && (!xenbus_parse_uint(queues_s, QDISK_MAX_QUEUES, &queues) || queues == 0)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "multi-queue-num-queues '%s' is not 1..%u", queues_s, QDISK_MAX_QUEUES);
        return false;
    }
    if (!blkif_abi_from_protocol(protocol, abi)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "unknown protocol '%s'", protocol);
        return false;
    }
    d->nr_queues = (unsigned int)queues;
    d->persistent = xenbus_read_frontend_uint(d->dev, "feature-persistent", 1, &v) && v == 1;
    /* Large sectors only for a frontend that says it copes (blkif.h). */
    unsigned int lbs = blk_io_logical_block_size(d->io);
    d->sector_size = xenbus_read_frontend_uint(d->dev, "feature-large-sector-size", 1, &v) && v == 1 &&
                             lbs > 512 ? lbs : 512;
    return true;
}

static void qdisk_disconnect(struct xenbus_device *dev)
{
    struct qdisk *d = dev->priv;

    if (!d->queues)
        return;
    for (unsigned int i = 0; i < d->nr_queues; i++)
        d->queues[i].closing = true;
    /* The engine finishes what is in flight before the pages it reads
     * into go away; completions only release their slots now. */
    blk_io_close(d->io);
    d->io = NULL;
    for (unsigned int i = 0; i < d->nr_queues; i++) {
        drop_copy_out(&d->queues[i]);
        queue_close(&d->queues[i]);
    }
    g_free(d->queues);
    d->queues = NULL;
    log_info(d->domid, dev_name(d), "disconnected");
}

static bool qdisk_connect(struct xenbus_device *dev, GError **error)
{
    struct qdisk *d = dev->priv;
    unsigned int pages;
    enum blkif_abi abi;

    if (!d->io && !open_storage(d, error))
        return false;
    if (!read_connect_keys(d, &pages, &abi, error))
        return false;
    d->queues = g_new0(struct qdisk_queue, d->nr_queues);
    for (unsigned int i = 0; i < d->nr_queues; i++)
        d->queues[i] = (struct qdisk_queue){ .disk = d, .index = i, .port = -1 };
    for (unsigned int i = 0; i < d->nr_queues; i++)
        if (!queue_open(d, &d->queues[i], pages, abi, error)) {
            qdisk_disconnect(dev);
            return false;
        }
    write_geometry(d);
    log_info(d->domid, dev_name(d), "connected: %u queue(s) of %u ring page(s), %s ABI, %s grants, "
             "%u-byte sectors",
             d->nr_queues, pages, abi == BLKIF_ABI_X86_32 ? "x86_32" : "64-bit",
             d->persistent ? "persistent" : "copied", d->sector_size);
    /* Requests posted before we were listening. */
    for (unsigned int i = 0; i < d->nr_queues; i++)
        drain_ring(&d->queues[i]);
    return true;
}

/* The toolstack touched our directory: the image may have grown. */
static void qdisk_backend_changed(struct xenbus_device *dev)
{
    struct qdisk *d = dev->priv;
    uint64_t size;

    if (!d->io || !blk_io_refresh_size(d->io, &size))
        return;
    log_info(d->domid, dev_name(d), "resized: %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " bytes",
             d->size, size);
    d->size = size;
    write_geometry(d);
    xenbus_reannounce_state(dev);
}

const struct xenbus_device_ops qdisk_ops = {
    .type = "qdisk",
    .frontend_type = "vbd",
    .init = qdisk_init,
    .connect = qdisk_connect,
    .disconnect = qdisk_disconnect,
    .backend_changed = qdisk_backend_changed,
    .free = qdisk_free,
};
