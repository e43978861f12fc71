/* SPDX-License-Identifier: MIT */
#include "ioreq/mapcache.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

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
};

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

int mapcache_write(struct mapcache *mc, uint64_t gpa, const void *buf, size_t len)
{
    return copy_guest(mc, gpa, (void *)buf, len, true);
}
