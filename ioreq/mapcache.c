/* SPDX-License-Identifier: MIT */
#include "ioreq/mapcache.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "ioreq/log.h"

#define PAGE_SIZE (1ULL << MAPCACHE_PAGE_SHIFT)
#define BUCKET_SIZE (1ULL << MAPCACHE_BUCKET_SHIFT)
#define FRAMES_PER_BUCKET (BUCKET_SIZE / PAGE_SIZE)

/* A mapping: either a whole bucket, or one page when the bucket is only
 * partly RAM (a bucket straddling the end of RAM or the MMIO hole). */
struct mapping {
    uint64_t gpa;  /* first byte mapped */
    size_t len;    /* BUCKET_SIZE or PAGE_SIZE */
    uint8_t *host;
    unsigned int locks;
    uint64_t last_use;
};

struct mapcache {
    struct hv *hv;
    unsigned int max_buckets;
    GHashTable *buckets; /* bucket index -> mapping */
    GHashTable *pages;   /* page frame number -> mapping */
    uint64_t use_clock;
    bool log_dirty;
    struct hv_pfn_range dirty; /* written, not yet reported (nr 0: none) */
    struct ratelimit dirty_log;
};

/* Merged runs stay well inside modified_memory's 32-bit page count. */
#define MAX_DIRTY_RUN (1u << 20)

static void mapping_free(struct mapcache *mc, struct mapping *m)
{
    mc->hv->ops->unmap_frames(mc->hv, m->host, m->len / PAGE_SIZE);
    g_free(m);
}

struct mapcache *mapcache_new(struct hv *hv, unsigned int max_buckets)
{
    struct mapcache *mc = g_new0(struct mapcache, 1);

    mc->hv = hv;
    mc->max_buckets = max_buckets ? max_buckets : 1;
    mc->buckets = g_hash_table_new(g_int64_hash, g_int64_equal);
    mc->pages = g_hash_table_new(g_int64_hash, g_int64_equal);
    mc->dirty_log = (struct ratelimit)RATELIMIT_INIT;
    return mc;
}

/* Drop unlocked mappings of one table; all of them when keep_locked. */
static void drop_unlocked(struct mapcache *mc, GHashTable *table)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct mapping *m = value;
        if (m->locks)
            continue;
        g_hash_table_iter_remove(&it);
        mapping_free(mc, m);
    }
}

void mapcache_free(struct mapcache *mc)
{
    if (!mc)
        return;
    drop_unlocked(mc, mc->buckets);
    drop_unlocked(mc, mc->pages);
    g_hash_table_destroy(mc->buckets);
    g_hash_table_destroy(mc->pages);
    g_free(mc);
}

void mapcache_invalidate(struct mapcache *mc)
{
    drop_unlocked(mc, mc->buckets);
    drop_unlocked(mc, mc->pages);
}

unsigned int mapcache_nr_mapped(const struct mapcache *mc)
{
    return g_hash_table_size(mc->buckets) + g_hash_table_size(mc->pages);
}

/* Keep the number of mappings bounded: evict the least recently used
 * unlocked one. Linear, but only runs when the cache is full. */
static void evict_one(struct mapcache *mc, GHashTable *table)
{
    GHashTableIter it;
    gpointer key, value;
    gpointer victim_key = NULL;
    struct mapping *victim = NULL;

    g_hash_table_iter_init(&it, table);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        struct mapping *m = value;
        if (!m->locks && (!victim || m->last_use < victim->last_use)) {
            victim = m;
            victim_key = key;
        }
    }
    if (victim) {
        g_hash_table_remove(table, victim_key);
        mapping_free(mc, victim);
    }
}

static struct mapping *map_new(struct mapcache *mc, GHashTable *table, uint64_t gpa, size_t len)
{
    int err = 0;
    void *host;

    if (g_hash_table_size(table) >= mc->max_buckets)
        evict_one(mc, table);
    host = mc->hv->ops->map_frames(mc->hv, gpa >> MAPCACHE_PAGE_SHIFT, len / PAGE_SIZE, true, &err);
    if (!host)
        return NULL;
    struct mapping *m = g_new0(struct mapping, 1);
    m->gpa = gpa;
    m->len = len;
    m->host = host;
    g_hash_table_insert(table, &m->gpa, m);
    return m;
}

/* The mapping holding gpa: the bucket if the whole bucket is RAM, else the
 * single page. NULL if gpa is not RAM. */
static struct mapping *lookup(struct mapcache *mc, uint64_t gpa)
{
    uint64_t bucket_gpa = gpa & ~(BUCKET_SIZE - 1);
    uint64_t page_gpa = gpa & ~(PAGE_SIZE - 1);
    struct mapping *m = g_hash_table_lookup(mc->buckets, &bucket_gpa);

    if (!m)
        m = g_hash_table_lookup(mc->pages, &page_gpa);
    if (!m)
        m = map_new(mc, mc->buckets, bucket_gpa, BUCKET_SIZE);
    if (!m)
        m = map_new(mc, mc->pages, page_gpa, PAGE_SIZE);
    if (m)
        m->last_use = ++mc->use_clock;
    return m;
}

static int copy_guest(struct mapcache *mc, uint64_t gpa, void *buf, size_t len, bool to_guest)
{
    uint8_t *p = buf;

    if (gpa + len < gpa)
        return -EFAULT;
    while (len) {
        struct mapping *m = lookup(mc, gpa);
        if (!m)
            return -EFAULT;
        size_t off = gpa - m->gpa;
        size_t chunk = MIN(len, m->len - off);
        if (to_guest)
            memcpy(m->host + off, p, chunk);
        else
            memcpy(p, m->host + off, chunk);
        gpa += chunk;
        p += chunk;
        len -= chunk;
    }
    return 0;
}

int mapcache_read(struct mapcache *mc, uint64_t gpa, void *buf, size_t len)
{
    return copy_guest(mc, gpa, buf, len, false);
}

void mapcache_flush_dirty(struct mapcache *mc)
{
    if (!mc->dirty.nr)
        return;
    int rc = mc->hv->ops->modified_memory(mc->hv, &mc->dirty, 1);
    if (rc < 0)
        log_limited(&mc->dirty_log, mc->hv->domid, "mapcache",
                    "cannot report %u written pages at pfn 0x%" G_GINT64_MODIFIER "x to the "
                    "dirty log: %s", mc->dirty.nr, mc->dirty.first_pfn, g_strerror(-rc));
    mc->dirty.nr = 0;
}

/* Remember pages [first, last] as written, merged with the pending run
 * when they touch it. */
static void note_written(struct mapcache *mc, uint64_t first, uint64_t last)
{
    struct hv_pfn_range *d = &mc->dirty;
    uint64_t end = d->first_pfn + d->nr; /* exclusive */

    if (d->nr && first <= end && last + 1 >= d->first_pfn) {
        uint64_t lo = MIN(first, d->first_pfn), hi = MAX(last + 1, end);
        if (hi - lo <= MAX_DIRTY_RUN) {
            *d = (struct hv_pfn_range){ lo, (uint32_t)(hi - lo) };
            return;
        }
    }
    mapcache_flush_dirty(mc);
    *d = (struct hv_pfn_range){ first, (uint32_t)MIN(last - first + 1, MAX_DIRTY_RUN) };
}

void mapcache_set_log_dirty(struct mapcache *mc, bool on)
{
    if (!on)
        mapcache_flush_dirty(mc);
    mc->log_dirty = on;
}

int mapcache_write(struct mapcache *mc, uint64_t gpa, const void *buf, size_t len)
{
    int rc = copy_guest(mc, gpa, (void *)buf, len, true);

    if (rc == 0 && len && mc->log_dirty)
        note_written(mc, gpa >> MAPCACHE_PAGE_SHIFT, (gpa + len - 1) >> MAPCACHE_PAGE_SHIFT);
    return rc;
}
