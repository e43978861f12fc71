/* SPDX-License-Identifier: MIT */
/*
 * raw: hand-crafted bad requests, one at a time on queue 0. For each it
 * prints the response status and whether the ring still works (a 4 KiB
 * read of sector 0 answered OKAY):
 *   raw: NAME status=-1 BLKIF_RSP_ERROR
 *   raw: NAME ring=ok
 * ring-overflow publishes a producer index more than a ring ahead and
 * prints the backend state it reaches (a backend should disconnect).
 */
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <xen/io/blkif.h>
#include <xen/io/xenbus.h>

#include "tests/blkfront/modes.h"

#define IND_PAGES BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST

struct raw {
    struct blkfront *bf;
    uint64_t page_gpa, ro_gpa;
    grant_ref_t page_ref, ro_ref;
    uint64_t ind_gpa[IND_PAGES];
    grant_ref_t ind_ref[IND_PAGES];
};

struct seg {
    grant_ref_t ref;
    uint8_t first, last;
};

static void put_seg(uint8_t *p, struct seg s)
{
    memset(p, 0, 8);
    blkfront_put(p, 0, s.ref, 4);
    p[4] = s.first;
    p[5] = s.last;
}

/* A read/write-layout entry claiming nseg segments (at most 11 written). */
static void direct(struct raw *r, uint8_t *e, uint8_t op, uint8_t nseg, uint64_t sector,
                   struct seg s)
{
    const struct blkfront_layout *l = r->bf->layout;
    e[0] = op;
    e[1] = nseg;
    blkfront_put(e, 2, r->bf->opt.devid, 2);
    blkfront_put(e, l->sector, sector, 8);
    for (unsigned int i = 0; i < MIN(nseg, BLKIF_MAX_SEGMENTS_PER_REQUEST); i++)
        put_seg(e + l->seg + 8 * i, s);
}

static struct seg good(struct raw *r)
{
    return (struct seg){ r->page_ref, 0, 7 };
}

static void indirect(struct raw *r, uint8_t *e, uint16_t nseg)
{
    const struct blkfront_layout *l = r->bf->layout;
    e[0] = BLKIF_OP_INDIRECT;
    e[1] = BLKIF_OP_READ;
    blkfront_put(e, l->ind_nseg, nseg, 2);
    blkfront_put(e, l->ind_sector, 0, 8);
    blkfront_put(e, l->ind_handle, r->bf->opt.devid, 2);
    unsigned int per_page = GUEST_PAGE_SIZE / 8;
    for (unsigned int i = 0; i < IND_PAGES && i * per_page < nseg; i++) {
        uint8_t *page = guest_ptr(&r->bf->g, r->ind_gpa[i], GUEST_PAGE_SIZE);
        for (unsigned int k = 0; k < per_page; k++)
            put_seg(page + 8 * k, good(r));
        blkfront_put(e, l->ind_grefs + 4 * i, r->ind_ref[i], 4);
    }
}

static void build(struct raw *r, const char *name, uint8_t *e)
{
    struct blkfront *bf = r->bf;
    uint64_t end = bf->be.sectors;
    if (!strcmp(name, "bad-op"))
        direct(r, e, 0x7f, 1, 0, good(r));
    else if (!strcmp(name, "nseg-0"))
        direct(r, e, BLKIF_OP_READ, 0, 0, good(r));
    else if (!strcmp(name, "nseg-12"))
        direct(r, e, BLKIF_OP_READ, 12, 0, good(r));
    else if (!strcmp(name, "indirect-over-max"))
        indirect(r, e, (uint16_t)MIN(MAX(bf->be.max_indirect, 11) + 1, IND_PAGES * 512));
    else if (!strcmp(name, "first-gt-last"))
        direct(r, e, BLKIF_OP_READ, 1, 0, (struct seg){ r->page_ref, 5, 2 });
    else if (!strcmp(name, "last-gt-7"))
        direct(r, e, BLKIF_OP_READ, 1, 0, (struct seg){ r->page_ref, 0, 8 });
    else if (!strcmp(name, "beyond-disk"))
        direct(r, e, BLKIF_OP_READ, 1, end > 4 ? end - 4 : 0, good(r));
    else if (!strcmp(name, "write-readonly"))
        direct(r, e, BLKIF_OP_WRITE, 1, 0, good(r));
    else if (!strcmp(name, "bad-gref"))
        direct(r, e, BLKIF_OP_READ, 1, 0, (struct seg){ bf->g.nr_grants + 100, 0, 7 });
    else if (!strcmp(name, "ro-grant-read"))
        direct(r, e, BLKIF_OP_READ, 1, 0, (struct seg){ r->ro_ref, 0, 7 });
}

static const char *const cases[] = {
    "bad-op", "nseg-0", "nseg-12", "indirect-over-max", "first-gt-last", "last-gt-7",
    "beyond-disk", "write-readonly", "bad-gref", "ro-grant-read", "ring-overflow",
};

static bool known_case(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        if (!strcmp(cases[i], name))
            return true;
    return false;
}

static bool wait_one(struct blkfront *bf, const char *name, struct blkfront_done *d)
{
    char *err = NULL;
    int n = blkfront_complete(bf, d, 1, bf->opt.io_timeout_ms, &err);
    if (n == 1)
        return true;
    printf("raw: %s no-response %s\n", name, err ? err : "");
    g_free(err);
    return false;
}

static bool ring_works(struct raw *r, const char *name)
{
    struct blkfront_io io = { .op = BLKIF_OP_READ, .nr_sectors = 8, .queue = 0 };
    struct blkfront_done d;
    bool ok = blkfront_submit(r->bf, &io) == 0 && blkfront_kick(r->bf) &&
              wait_one(r->bf, name, &d) && d.status == BLKIF_RSP_OKAY;
    printf("raw: %s ring=%s\n", name, ok ? "ok" : "broken");
    return ok;
}

static bool run_case(struct raw *r, const char *name)
{
    unsigned int slot;
    uint8_t *e = blkfront_raw_entry(r->bf, 0, &slot);
    if (!e) {
        printf("raw: %s no free slot\n", name);
        return false;
    }
    build(r, name, e);
    blkfront_put(e, e[0] == BLKIF_OP_INDIRECT ? r->bf->layout->ind_id : r->bf->layout->id, slot,
                 8);
    blkfront_raw_commit(r->bf, 0, slot, e[0], 0);
    struct blkfront_done d;
    if (!blkfront_kick(r->bf) || !wait_one(r->bf, name, &d))
        return false;
    printf("raw: %s status=%d %s\n", name, d.status, blkfront_status_name(d.status));
    fflush(stdout);
    return ring_works(r, name);
}

static bool accept_closing(unsigned int s)
{
    return s >= XenbusStateClosing;
}

static void ring_overflow(struct raw *r)
{
    struct blkfront_queue *q = &r->bf->q[0];
    blkfront_raw_publish(r->bf, 0, q->rsp_cons + q->nr_ents + 1);
    unsigned int s;
    xenbus_wait_state(&r->bf->xb, r->bf->be_dir, accept_closing, r->bf->opt.io_timeout_ms, &s);
    printf("raw: ring-overflow backend-state=%u %s\n", s, xenbus_state_name(s));
}

static bool raw_init(struct raw *r, struct blkfront *bf)
{
    char *err = NULL;
    r->bf = bf;
    bool ok = blkfront_alloc_page(bf, &r->page_gpa, &r->page_ref, &err) &&
              blkfront_alloc_page(bf, &r->ro_gpa, &r->ro_ref, &err);
    for (unsigned int i = 0; ok && i < IND_PAGES; i++)
        ok = blkfront_alloc_page(bf, &r->ind_gpa[i], &r->ind_ref[i], &err);
    if (!ok) {
        printf("raw: %s\n", err);
        g_free(err);
        return false;
    }
    guest_grant(&bf->g, r->page_ref, 0, r->page_gpa, false);
    guest_grant(&bf->g, r->ro_ref, 0, r->ro_gpa, true);
    for (unsigned int i = 0; i < IND_PAGES; i++)
        guest_grant(&bf->g, r->ind_ref[i], 0, r->ind_gpa[i], true);
    return true;
}

static bool selected(const struct mode_opts *m, const char *name)
{
    if (!m->raw_cases)
        return true;
    gchar **list = g_strsplit(m->raw_cases, ",", -1);
    bool found = g_strv_contains((const gchar *const *)list, name);
    g_strfreev(list);
    return found;
}

int mode_raw(struct blkfront *bf, const struct mode_opts *m)
{
    struct raw r;
    if (!raw_init(&r, bf))
        return 1;
    if (m->raw_cases) {
        gchar **list = g_strsplit(m->raw_cases, ",", -1);
        for (gchar **c = list; *c; c++)
            if (!known_case(*c)) {
                printf("raw: unknown case %s\n", *c);
                g_strfreev(list);
                return 1;
            }
        g_strfreev(list);
    }
    for (size_t i = 0; i + 1 < G_N_ELEMENTS(cases); i++)
        if (selected(m, cases[i]) && !run_case(&r, cases[i]))
            return 1;
    if (selected(m, "ring-overflow"))
        ring_overflow(&r);
    return 0;
}
