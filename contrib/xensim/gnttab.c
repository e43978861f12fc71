/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/gnttab.h"

#include "contrib/xensim/dirty.h"

#include <errno.h>
#include <string.h>

#include <xen/grant_table.h>

_Static_assert(sizeof(grant_entry_v1_t) == XSIM_GRANT_ENTRY_SIZE, "grant_entry_v1_t layout");
_Static_assert(offsetof(grant_entry_v1_t, flags) == 0 && offsetof(grant_entry_v1_t, domid) == 2 &&
                   offsetof(grant_entry_v1_t, frame) == 4,
               "flags and domid share the first 32-bit word");

/* A guest flipping an entry faster than we can swap it is misbehaving;
 * after this many lost races the map or copy fails instead of spinning. */
#define PIN_MAX_RETRIES 64

struct xsim_grant_active {
    uint32_t pins;    /* mappings + copies using the entry */
    uint32_t writers; /* of which writable */
    uint64_t page_offset;
    uint64_t gpa; /* of the granted frame, read once at the first pin */
};

struct xsim_grant_mapping {
    unsigned int count;
    bool writable;
    uint32_t refs[]; /* count of them */
};

struct xsim_grant_pin {
    uint32_t ref;
    bool writable;
};

int16_t xsim_grant_check_entry(uint16_t flags, uint16_t entry_domid, uint16_t backend_domid,
                               bool writable)
{
    /* v1: only a plain permit-access grant can be mapped or copied;
     * transitive ones are v2, transfers are not ours to map */
    if ((flags & GTF_type_mask) != GTF_permit_access)
        return GNTST_permission_denied;
    if (entry_domid != backend_domid)
        return GNTST_permission_denied;
    if (writable && (flags & GTF_readonly))
        return GNTST_permission_denied;
    return GNTST_okay;
}

int xsim_grant_status_errno(int16_t gntst)
{
    switch (gntst) {
    case GNTST_okay: return 0;
    case GNTST_bad_gntref: return -EINVAL;
    case GNTST_permission_denied: return -EACCES;
    case GNTST_bad_page: return -EFAULT;
    case GNTST_bad_copy_arg: return -EINVAL;
    case GNTST_no_space: return -ENOSPC;
    default: return -EIO;
    }
}

void xsim_gnttab_init(struct xsim_gnttab *gt, const struct xsim_ram_layout *layout, uint8_t *ram)
{
    memset(gt, 0, sizeof(*gt));
    g_mutex_init(&gt->lock);
    gt->layout = layout;
    gt->ram = ram;
    gt->active = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
}

void xsim_gnttab_destroy(struct xsim_gnttab *gt)
{
    if (gt->active)
        g_hash_table_destroy(gt->active);
    gt->active = NULL;
    g_mutex_clear(&gt->lock);
}

int xsim_gnttab_setup(struct xsim_gnttab *gt, uint64_t gpa, uint64_t nr_frames)
{
    uint64_t offset;
    if (nr_frames == 0 || nr_frames > XSIM_GRANT_MAX_FRAMES || gpa % XSIM_PAGE_SIZE ||
        gpa >= XSIM_GPA_LIMIT)
        return -EINVAL;
    if (!xsim_ram_layout_find(gt->layout, gpa, nr_frames * XSIM_PAGE_SIZE, &offset))
        return -EFAULT;
    int err = 0;
    g_mutex_lock(&gt->lock);
    /* Moving the table under a mapping would leave its bits behind in the
     * old frames and let the new entries be changed while in use. */
    if (g_hash_table_size(gt->active))
        err = -EBUSY;
    else {
        gt->gpa = gpa;
        gt->nr_frames = (uint32_t)nr_frames;
        gt->table_offset = offset;
    }
    g_mutex_unlock(&gt->lock);
    return err;
}

unsigned int xsim_gnttab_active_count(struct xsim_gnttab *gt)
{
    g_mutex_lock(&gt->lock);
    unsigned int n = g_hash_table_size(gt->active);
    g_mutex_unlock(&gt->lock);
    return n;
}

static uint8_t *entry_locked(struct xsim_gnttab *gt, uint32_t ref)
{
    return gt->ram + gt->table_offset + (uint64_t)ref * XSIM_GRANT_ENTRY_SIZE;
}

/* The flags+domid word as one 32-bit value: split and joined through
 * memcpy so it holds on either endianness. */
static uint32_t header_word(uint16_t flags, uint16_t domid)
{
    uint16_t half[2] = { flags, domid };
    uint32_t word;
    memcpy(&word, half, sizeof(word));
    return word;
}

static void header_split(uint32_t word, uint16_t *flags, uint16_t *domid)
{
    uint16_t half[2];
    memcpy(half, &word, sizeof(half));
    *flags = half[0];
    *domid = half[1];
}

static void clear_bits(uint8_t *entry, uint16_t bits)
{
    __atomic_fetch_and((uint16_t *)(void *)entry, (uint16_t)~bits, __ATOMIC_SEQ_CST);
}

int16_t xsim_gnttab_pin(struct xsim_gnttab *gt, uint32_t ref, uint16_t backend_domid,
                        bool writable, uint64_t *page_offset)
{
    int16_t rc = GNTST_okay;
    g_mutex_lock(&gt->lock);
    if ((uint64_t)ref >= (uint64_t)gt->nr_frames * XSIM_GRANT_ENTRIES_PER_FRAME) {
        rc = GNTST_bad_gntref;
        goto out;
    }
    uint8_t *entry = entry_locked(gt, ref);
    uint32_t *header = (uint32_t *)(void *)entry;
    uint16_t want = GTF_reading | (writable ? GTF_writing : 0);
    unsigned int tries = 0;
    for (;; tries++) {
        if (tries == PIN_MAX_RETRIES) {
            rc = GNTST_general_error;
            goto out;
        }
        uint32_t old = __atomic_load_n(header, __ATOMIC_SEQ_CST);
        uint16_t flags, domid;
        header_split(old, &flags, &domid);
        rc = xsim_grant_check_entry(flags, domid, backend_domid, writable);
        if (rc != GNTST_okay)
            goto out;
        if ((flags & want) == want)
            break;
        if (__atomic_compare_exchange_n(header, &old, header_word(flags | want, domid), false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            break;
    }

    struct xsim_grant_active *act = g_hash_table_lookup(gt->active, GUINT_TO_POINTER(ref));
    if (!act) {
        /* first user: the frame is read now, once, and kept while pinned */
        uint32_t frame = __atomic_load_n((uint32_t *)(void *)(entry + 4), __ATOMIC_SEQ_CST);
        uint64_t offset;
        if (!xsim_ram_layout_find(gt->layout, (uint64_t)frame * XSIM_PAGE_SIZE, XSIM_PAGE_SIZE,
                                  &offset)) {
            clear_bits(entry, GTF_reading | GTF_writing);
            rc = GNTST_bad_page;
            goto out;
        }
        act = g_new0(struct xsim_grant_active, 1);
        act->page_offset = offset;
        act->gpa = (uint64_t)frame * XSIM_PAGE_SIZE;
        g_hash_table_insert(gt->active, GUINT_TO_POINTER(ref), act);
    }
    act->pins++;
    if (writable)
        act->writers++;
    *page_offset = act->page_offset;
out:
    g_mutex_unlock(&gt->lock);
    return rc;
}

void xsim_gnttab_unpin(struct xsim_gnttab *gt, uint32_t ref, bool writable)
{
    g_mutex_lock(&gt->lock);
    struct xsim_grant_active *act = g_hash_table_lookup(gt->active, GUINT_TO_POINTER(ref));
    if (act && act->pins && (!writable || act->writers)) {
        uint16_t bits = 0;
        act->pins--;
        if (writable) {
            act->writers--;
            if (gt->dirty)
                xsim_dirty_mark(gt->dirty, act->gpa, XSIM_PAGE_SIZE);
        }
        if (act->writers == 0)
            bits |= GTF_writing;
        if (act->pins == 0)
            bits |= GTF_reading;
        clear_bits(entry_locked(gt, ref), bits);
        if (act->pins == 0)
            g_hash_table_remove(gt->active, GUINT_TO_POINTER(ref));
    }
    g_mutex_unlock(&gt->lock);
}

/* ---- one backend's pins -------------------------------------------------- */

static void mapping_release(struct xsim_grant_user *u, struct xsim_grant_mapping *m)
{
    for (unsigned int i = 0; i < m->count; i++)
        xsim_gnttab_unpin(u->gt, m->refs[i], m->writable);
    u->mapped_pages -= m->count;
    g_free(m);
}

void xsim_grant_user_init(struct xsim_grant_user *u, struct xsim_gnttab *gt, uint16_t domid)
{
    memset(u, 0, sizeof(*u));
    u->gt = gt;
    u->domid = domid;
    u->maps = g_hash_table_new(g_direct_hash, g_direct_equal);
    u->next_handle = 1;
    u->copy_pins = g_array_new(FALSE, FALSE, sizeof(struct xsim_grant_pin));
}

void xsim_grant_user_release(struct xsim_grant_user *u)
{
    if (!u->maps)
        return;
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, u->maps);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        mapping_release(u, value);
        g_hash_table_iter_remove(&it);
    }
    xsim_grant_copy_done(u);
    g_hash_table_destroy(u->maps);
    g_array_free(u->copy_pins, TRUE);
    u->maps = NULL;
    u->copy_pins = NULL;
}

static uint32_t take_handle(struct xsim_grant_user *u)
{
    /* at most XSIM_GRANT_MAX_HANDLES are live, so a free one is near */
    while (u->next_handle == 0 ||
           g_hash_table_contains(u->maps, GUINT_TO_POINTER(u->next_handle)))
        u->next_handle++;
    return u->next_handle++;
}

int xsim_grant_map(struct xsim_grant_user *u, const uint32_t *refs, unsigned int count,
                   bool writable, uint64_t *offsets, uint32_t *handle, uint32_t *bad_index,
                   int16_t *bad_status)
{
    *bad_index = 0;
    *bad_status = GNTST_okay;
    if (count == 0 || count > XSIM_GRANT_MAX_REFS)
        return -EINVAL;
    if (g_hash_table_size(u->maps) >= XSIM_GRANT_MAX_HANDLES ||
        u->mapped_pages + count > XSIM_GRANT_MAX_MAPPED)
        return -ENOSPC;
    struct xsim_grant_mapping *m =
        g_malloc(sizeof(*m) + (size_t)count * sizeof(m->refs[0]));
    m->count = 0;
    m->writable = writable;
    for (unsigned int i = 0; i < count; i++) {
        int16_t st = xsim_gnttab_pin(u->gt, refs[i], u->domid, writable, &offsets[i]);
        if (st != GNTST_okay) {
            *bad_index = i;
            *bad_status = st;
            for (unsigned int j = 0; j < m->count; j++)
                xsim_gnttab_unpin(u->gt, m->refs[j], writable);
            g_free(m);
            return xsim_grant_status_errno(st);
        }
        m->refs[m->count++] = refs[i];
    }
    *handle = take_handle(u);
    u->mapped_pages += count;
    g_hash_table_insert(u->maps, GUINT_TO_POINTER(*handle), m);
    return 0;
}

int xsim_grant_unmap(struct xsim_grant_user *u, uint32_t handle)
{
    struct xsim_grant_mapping *m = g_hash_table_lookup(u->maps, GUINT_TO_POINTER(handle));
    if (!m)
        return -ENOENT;
    g_hash_table_remove(u->maps, GUINT_TO_POINTER(handle));
    mapping_release(u, m);
    return 0;
}

void xsim_grant_copy(struct xsim_grant_user *u, const struct xsim_grant_copy_seg *segs,
                     unsigned int count, struct xsim_grant_copy_result *results)
{
    xsim_grant_copy_done(u);
    for (unsigned int i = 0; i < count; i++) {
        const struct xsim_grant_copy_seg *seg = &segs[i];
        struct xsim_grant_copy_result *r = &results[i];
        bool to_guest = seg->flags & XSIM_GRANT_COPY_TO_GUEST;
        uint64_t page;
        memset(r, 0, sizeof(*r));
        if ((seg->flags & ~XSIM_GRANT_COPY_TO_GUEST) || seg->reserved ||
            (uint32_t)seg->offset + seg->len > XSIM_PAGE_SIZE) {
            r->status = GNTST_bad_copy_arg;
            continue;
        }
        r->status = xsim_gnttab_pin(u->gt, seg->ref, u->domid, to_guest, &page);
        if (r->status != GNTST_okay)
            continue;
        r->offset = page + seg->offset;
        struct xsim_grant_pin pin = { .ref = seg->ref, .writable = to_guest };
        g_array_append_val(u->copy_pins, pin);
    }
}

void xsim_grant_copy_done(struct xsim_grant_user *u)
{
    for (guint i = 0; i < u->copy_pins->len; i++) {
        const struct xsim_grant_pin *pin = &g_array_index(u->copy_pins, struct xsim_grant_pin, i);
        xsim_gnttab_unpin(u->gt, pin->ref, pin->writable);
    }
    g_array_set_size(u->copy_pins, 0);
}
