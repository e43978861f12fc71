/* SPDX-License-Identifier: MIT */
/*
 * Grant table v1 of one domain, living in the guest's own RAM as on Xen:
 * the guest places its frames (xen_gnttab_setup) and writes
 * grant_entry_v1_t entries with plain stores, concurrently with us. So an
 * entry is never trusted: its flags+domid word is read once, checked, and
 * the GTF_reading/GTF_writing bits are set with a compare-and-swap on that
 * same word, so the check and the set see one value. The frame is read
 * after the bits are set (the guest must not change it while they are).
 *
 * Per-ref pins (`active`) count how many mappings and copies use an entry:
 * the bits are cleared when the last user of each kind goes, like Xen's
 * active entries. A backend (control connection) holds its pins in a
 * struct xsim_grant_user, released whole when it disconnects.
 *
 * Locking: `lock` guards the table position and `active`; it is a leaf
 * lock (never held while taking another).
 */
#ifndef XENSIM_GNTTAB_H
#define XENSIM_GNTTAB_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "contrib/xensim/layout.h"
#include "contrib/xensim/protocol.h"

#define XSIM_GRANT_ENTRY_SIZE 8u /* grant_entry_v1_t */
#define XSIM_GRANT_ENTRIES_PER_FRAME (XSIM_PAGE_SIZE / XSIM_GRANT_ENTRY_SIZE)

struct xsim_gnttab {
    GMutex lock;
    const struct xsim_ram_layout *layout;
    uint8_t *ram;          /* the RAM memfd mapped: layout offsets index it */
    uint64_t gpa;          /* where the guest put the table */
    uint32_t nr_frames;    /* 0: no table yet (every ref is bad) */
    uint64_t table_offset; /* its offset in ram */
    GHashTable *active;    /* ref -> struct xsim_grant_active */
    /* Pages written through a writable pin (a mapping, a copy toward the
     * guest) are marked dirty here when it ends, as Xen marks them. */
    struct xsim_dirty *dirty;
};

/* Entry validation, pure: the flags and domid the entry held when read
 * once, the backend's domid and the access wanted. GNTST_okay or the
 * GNTST_* code Xen gives for the same refusal. */
int16_t xsim_grant_check_entry(uint16_t flags, uint16_t entry_domid, uint16_t backend_domid,
                               bool writable);
/* The hv.h errno for a GNTST_* code (all-or-nothing map failures). */
int xsim_grant_status_errno(int16_t gntst);

void xsim_gnttab_init(struct xsim_gnttab *gt, const struct xsim_ram_layout *layout,
                      uint8_t *ram);
void xsim_gnttab_destroy(struct xsim_gnttab *gt);
/* Place the table at gpa (page aligned, RAM, nr_frames 1..XSIM_GRANT_MAX_FRAMES).
 * 0, -EINVAL (bad arguments), -EFAULT (not RAM), -EBUSY (entries in use). */
int xsim_gnttab_setup(struct xsim_gnttab *gt, uint64_t gpa, uint64_t nr_frames);
/* Entries currently pinned (in use by some backend). */
unsigned int xsim_gnttab_active_count(struct xsim_gnttab *gt);

/* Pin ref for backend_domid: check, set the bits, and give the memfd offset
 * of the granted page. GNTST_okay or the refusal (nothing held then). */
int16_t xsim_gnttab_pin(struct xsim_gnttab *gt, uint32_t ref, uint16_t backend_domid,
                        bool writable, uint64_t *page_offset);
/* Drop one pin taken with the same writable. */
void xsim_gnttab_unpin(struct xsim_gnttab *gt, uint32_t ref, bool writable);

/* ---- one backend's pins -------------------------------------------------- */

struct xsim_grant_user {
    struct xsim_gnttab *gt;
    uint16_t domid;
    GHashTable *maps;     /* handle -> struct xsim_grant_mapping */
    uint32_t next_handle;
    uint64_t mapped_pages;
    GArray *copy_pins;    /* struct xsim_grant_pin: the last GRANT_COPY's */
};

void xsim_grant_user_init(struct xsim_grant_user *u, struct xsim_gnttab *gt, uint16_t domid);
/* Release every mapping and copy pin (the connection went away). */
void xsim_grant_user_release(struct xsim_grant_user *u);

/* All or nothing. On failure *bad_index / *bad_status name the refused ref
 * (status GNTST_okay for limit errors). */
int xsim_grant_map(struct xsim_grant_user *u, const uint32_t *refs, unsigned int count,
                   bool writable, uint64_t *offsets, uint32_t *handle, uint32_t *bad_index,
                   int16_t *bad_status);
int xsim_grant_unmap(struct xsim_grant_user *u, uint32_t handle);
/* Validate and pin every segment (ending the previous copy first). */
void xsim_grant_copy(struct xsim_grant_user *u, const struct xsim_grant_copy_seg *segs,
                     unsigned int count, struct xsim_grant_copy_result *results);
void xsim_grant_copy_done(struct xsim_grant_user *u);

#endif
