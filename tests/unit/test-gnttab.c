/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for xensim's grant table (contrib/xensim/gnttab.c) on a fake
 * guest RAM buffer: entry validation, the GTF_reading/GTF_writing
 * bookkeeping, table placement, and one backend's maps and copies.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "contrib/xensim/gnttab.h"

#include <xen/grant_table.h>

#define RAM_SIZE (1u << 20)
#define TABLE_GPA 0x10000u
#define DATA_GPA 0x20000u

struct fixture {
    struct xsim_ram_layout layout;
    uint8_t *ram;
    struct xsim_gnttab gt;
};

static void setup(struct fixture *f, gconstpointer unused)
{
    memset(&f->layout, 0, sizeof(f->layout));
    f->layout.region[0] = (struct xsim_ram_region){ 0, RAM_SIZE, 0 };
    f->layout.hole_start = XSIM_X86_VGA_HOLE_START;
    f->layout.hole_end = XSIM_X86_VGA_HOLE_END;
    f->layout.total = RAM_SIZE;
    f->ram = aligned_alloc(XSIM_PAGE_SIZE, RAM_SIZE);
    g_assert_nonnull(f->ram);
    memset(f->ram, 0, RAM_SIZE);
    xsim_gnttab_init(&f->gt, &f->layout, f->ram);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA, 1), ==, 0);
}

static void teardown(struct fixture *f, gconstpointer unused)
{
    xsim_gnttab_destroy(&f->gt);
    free(f->ram);
}

static grant_entry_v1_t *entry(struct fixture *f, uint32_t ref)
{
    return (grant_entry_v1_t *)(void *)(f->ram + TABLE_GPA) + ref;
}

static void grant(struct fixture *f, uint32_t ref, uint16_t flags, uint16_t domid, uint32_t frame)
{
    *entry(f, ref) = (grant_entry_v1_t){ .flags = flags, .domid = domid, .frame = frame };
}

static void test_check_entry(void)
{
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access, 0, 0, true), ==, GNTST_okay);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access | GTF_reading | GTF_PAT, 0, 0, true),
                    ==, GNTST_okay);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access | GTF_readonly, 0, 0, false), ==,
                    GNTST_okay);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access | GTF_readonly, 0, 0, true), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_invalid, 0, 0, false), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_accept_transfer, 0, 0, false), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_transitive, 0, 0, false), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access, 1, 0, false), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access, 0xFFFF, 0, false), ==,
                    GNTST_permission_denied);
    g_assert_cmpint(xsim_grant_check_entry(GTF_permit_access, 3, 3, true), ==, GNTST_okay);

    g_assert_cmpint(xsim_grant_status_errno(GNTST_okay), ==, 0);
    g_assert_cmpint(xsim_grant_status_errno(GNTST_bad_gntref), ==, -EINVAL);
    g_assert_cmpint(xsim_grant_status_errno(GNTST_permission_denied), ==, -EACCES);
    g_assert_cmpint(xsim_grant_status_errno(GNTST_bad_page), ==, -EFAULT);
    g_assert_cmpint(xsim_grant_status_errno(GNTST_general_error), ==, -EIO);
}

static void test_setup(struct fixture *f, gconstpointer unused)
{
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA, 0), ==, -EINVAL);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA, XSIM_GRANT_MAX_FRAMES + 1), ==, -EINVAL);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA + 8, 1), ==, -EINVAL);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, UINT64_MAX & ~0xFFFull, 1), ==, -EINVAL);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, XSIM_X86_VGA_HOLE_START, 1), ==, -EFAULT);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, 0x9F000, 2), ==, -EFAULT); /* runs into it */
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, RAM_SIZE - XSIM_PAGE_SIZE, 2), ==, -EFAULT);
    /* a refused setup keeps the old table */
    uint64_t off;
    grant(f, 1, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 1, 0, false, &off), ==, GNTST_okay);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA, 2), ==, -EBUSY);
    xsim_gnttab_unpin(&f->gt, 1, false);
    g_assert_cmpint(xsim_gnttab_setup(&f->gt, TABLE_GPA, XSIM_GRANT_MAX_FRAMES), ==, 0);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 32 * 512 - 1, 0, false, &off), ==,
                    GNTST_permission_denied); /* in range now, but GTF_invalid */
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 32 * 512, 0, false, &off), ==, GNTST_bad_gntref);
}

static void test_no_table(void)
{
    struct xsim_ram_layout layout = { .total = RAM_SIZE };
    struct xsim_gnttab gt;
    uint64_t off;
    xsim_gnttab_init(&gt, &layout, NULL);
    g_assert_cmpint(xsim_gnttab_pin(&gt, 0, 0, false, &off), ==, GNTST_bad_gntref);
    xsim_gnttab_destroy(&gt);
}

static void test_pin_flags(struct fixture *f, gconstpointer unused)
{
    uint64_t off = 0;
    grant(f, 5, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE + 2);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 5, 0, false, &off), ==, GNTST_okay);
    g_assert_cmphex(off, ==, DATA_GPA + 2 * XSIM_PAGE_SIZE);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access | GTF_reading);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 5, 0, true, &off), ==, GNTST_okay);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access | GTF_reading | GTF_writing);
    /* the frame is kept from the first pin: a guest changing it meanwhile
     * does not move the page under the backend */
    entry(f, 5)->frame = 0;
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 5, 0, false, &off), ==, GNTST_okay);
    g_assert_cmphex(off, ==, DATA_GPA + 2 * XSIM_PAGE_SIZE);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 1);
    xsim_gnttab_unpin(&f->gt, 5, true);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access | GTF_reading);
    xsim_gnttab_unpin(&f->gt, 5, false);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access | GTF_reading);
    xsim_gnttab_unpin(&f->gt, 5, false);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 0);
    /* unpinning what is not pinned changes nothing */
    xsim_gnttab_unpin(&f->gt, 5, true);
    xsim_gnttab_unpin(&f->gt, 400, false);
    g_assert_cmphex(entry(f, 5)->flags, ==, GTF_permit_access);
    /* other bits of the entry survive the set and the clear */
    grant(f, 6, GTF_permit_access | GTF_PCD, 0, DATA_GPA / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 6, 0, true, &off), ==, GNTST_okay);
    g_assert_cmphex(entry(f, 6)->domid, ==, 0);
    xsim_gnttab_unpin(&f->gt, 6, true);
    g_assert_cmphex(entry(f, 6)->flags, ==, GTF_permit_access | GTF_PCD);
}

static void test_pin_refusals(struct fixture *f, gconstpointer unused)
{
    uint64_t off;
    grant(f, 1, GTF_permit_access | GTF_readonly, 0, DATA_GPA / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 1, 0, true, &off), ==, GNTST_permission_denied);
    grant(f, 2, GTF_permit_access, 4, DATA_GPA / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 2, 0, false, &off), ==, GNTST_permission_denied);
    grant(f, 3, GTF_permit_access, 0, XSIM_X86_VGA_HOLE_START / XSIM_PAGE_SIZE + 1);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 3, 0, true, &off), ==, GNTST_bad_page);
    grant(f, 4, GTF_permit_access, 0, RAM_SIZE / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 4, 0, false, &off), ==, GNTST_bad_page);
    grant(f, 5, GTF_permit_access, 0, UINT32_MAX);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 5, 0, false, &off), ==, GNTST_bad_page);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 512, 0, false, &off), ==, GNTST_bad_gntref);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, UINT32_MAX, 0, false, &off), ==, GNTST_bad_gntref);
    for (uint32_t ref = 1; ref <= 5; ref++)
        g_assert_cmphex(entry(f, ref)->flags & (GTF_reading | GTF_writing), ==, 0);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 0);
    /* an entry revoked while pinned refuses new users, keeps the old one */
    grant(f, 6, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE);
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 6, 0, false, &off), ==, GNTST_okay);
    entry(f, 6)->domid = 9;
    g_assert_cmpint(xsim_gnttab_pin(&f->gt, 6, 0, false, &off), ==, GNTST_permission_denied);
    xsim_gnttab_unpin(&f->gt, 6, false);
    g_assert_cmphex(entry(f, 6)->flags, ==, GTF_permit_access);
}

static void test_user_map(struct fixture *f, gconstpointer unused)
{
    struct xsim_grant_user u;
    uint64_t offsets[3];
    uint32_t handle = 0, bad_index;
    int16_t bad_status;
    const uint32_t refs[3] = { 1, 2, 3 };
    xsim_grant_user_init(&u, &f->gt, 0);
    for (uint32_t r = 1; r <= 3; r++)
        grant(f, r, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE + r);
    grant(f, 3, GTF_permit_access | GTF_readonly, 0, DATA_GPA / XSIM_PAGE_SIZE + 3);

    /* all or nothing: ref 3 is read-only, so 1 and 2 are given back */
    g_assert_cmpint(xsim_grant_map(&u, refs, 3, true, offsets, &handle, &bad_index, &bad_status),
                    ==, -EACCES);
    g_assert_cmpuint(bad_index, ==, 2);
    g_assert_cmpint(bad_status, ==, GNTST_permission_denied);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 0);

    g_assert_cmpint(xsim_grant_map(&u, refs, 3, false, offsets, &handle, &bad_index, &bad_status),
                    ==, 0);
    g_assert_cmpuint(handle, !=, 0);
    g_assert_cmphex(offsets[2], ==, DATA_GPA + 3 * XSIM_PAGE_SIZE);
    uint32_t second;
    g_assert_cmpint(xsim_grant_map(&u, refs, 1, false, offsets, &second, &bad_index, &bad_status),
                    ==, 0);
    g_assert_cmpuint(second, !=, handle);
    g_assert_cmpint(xsim_grant_unmap(&u, handle), ==, 0);
    g_assert_cmpint(xsim_grant_unmap(&u, handle), ==, -ENOENT);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access | GTF_reading);
    g_assert_cmphex(entry(f, 2)->flags, ==, GTF_permit_access);

    g_assert_cmpint(xsim_grant_map(&u, refs, 0, false, offsets, &handle, &bad_index, &bad_status),
                    ==, -EINVAL);
    g_assert_cmpint(xsim_grant_map(&u, refs, XSIM_GRANT_MAX_REFS + 1, false, offsets, &handle,
                                   &bad_index, &bad_status),
                    ==, -EINVAL);
    /* the backend going away gives everything back */
    xsim_grant_user_release(&u);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 0);
    xsim_grant_user_release(&u); /* twice is harmless */
}

static void test_user_map_limit(struct fixture *f, gconstpointer unused)
{
    struct xsim_grant_user u;
    uint32_t *refs = g_new0(uint32_t, XSIM_GRANT_MAX_REFS);
    uint64_t *offsets = g_new(uint64_t, XSIM_GRANT_MAX_REFS);
    uint32_t handle, bad_index;
    int16_t bad_status;
    int rc = 0;
    unsigned int maps = 0;
    xsim_grant_user_init(&u, &f->gt, 0);
    grant(f, 0, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE);
    while ((rc = xsim_grant_map(&u, refs, XSIM_GRANT_MAX_REFS, false, offsets, &handle,
                                &bad_index, &bad_status)) == 0)
        maps++;
    g_assert_cmpint(rc, ==, -ENOSPC);
    g_assert_cmpuint(maps, ==, XSIM_GRANT_MAX_MAPPED / XSIM_GRANT_MAX_REFS);
    xsim_grant_user_release(&u);
    g_assert_cmphex(entry(f, 0)->flags, ==, GTF_permit_access);
    g_free(refs);
    g_free(offsets);
}

static void test_user_copy(struct fixture *f, gconstpointer unused)
{
    struct xsim_grant_user u;
    struct xsim_grant_copy_result res[6];
    const struct xsim_grant_copy_seg segs[6] = {
        { .ref = 1, .offset = 8, .len = 16, .flags = XSIM_GRANT_COPY_TO_GUEST },
        { .ref = 2, .offset = 0, .len = 4096 },
        { .ref = 2, .offset = 1, .len = 4096 },                    /* crosses */
        { .ref = 2, .offset = 0, .len = 4, .flags = 2 },           /* unknown flag */
        { .ref = 2, .offset = 0, .len = 4, .reserved = 1 },
        { .ref = 2, .offset = 0, .len = 4, .flags = XSIM_GRANT_COPY_TO_GUEST }, /* read-only */
    };
    xsim_grant_user_init(&u, &f->gt, 0);
    grant(f, 1, GTF_permit_access, 0, DATA_GPA / XSIM_PAGE_SIZE + 1);
    grant(f, 2, GTF_permit_access | GTF_readonly, 0, DATA_GPA / XSIM_PAGE_SIZE + 2);
    xsim_grant_copy(&u, segs, 6, res);
    g_assert_cmpint(res[0].status, ==, GNTST_okay);
    g_assert_cmphex(res[0].offset, ==, DATA_GPA + XSIM_PAGE_SIZE + 8);
    g_assert_cmpint(res[1].status, ==, GNTST_okay);
    g_assert_cmpint(res[2].status, ==, GNTST_bad_copy_arg);
    g_assert_cmpint(res[3].status, ==, GNTST_bad_copy_arg);
    g_assert_cmpint(res[4].status, ==, GNTST_bad_copy_arg);
    g_assert_cmpint(res[5].status, ==, GNTST_permission_denied);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access | GTF_reading | GTF_writing);
    g_assert_cmphex(entry(f, 2)->flags, ==, GTF_permit_access | GTF_readonly | GTF_reading);
    xsim_grant_copy_done(&u);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access);
    g_assert_cmphex(entry(f, 2)->flags, ==, GTF_permit_access | GTF_readonly);
    /* an unfinished copy is ended by the next one and by release */
    xsim_grant_copy(&u, segs, 1, res);
    xsim_grant_copy(&u, segs + 1, 1, res);
    g_assert_cmphex(entry(f, 1)->flags, ==, GTF_permit_access);
    xsim_grant_user_release(&u);
    g_assert_cmphex(entry(f, 2)->flags, ==, GTF_permit_access | GTF_readonly);
    g_assert_cmpuint(xsim_gnttab_active_count(&f->gt), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/gnttab/check-entry", test_check_entry);
    g_test_add_func("/gnttab/no-table", test_no_table);
#define ADD(path, fn) g_test_add(path, struct fixture, NULL, setup, fn, teardown)
    ADD("/gnttab/setup", test_setup);
    ADD("/gnttab/pin-flags", test_pin_flags);
    ADD("/gnttab/pin-refusals", test_pin_refusals);
    ADD("/gnttab/user-map", test_user_map);
    ADD("/gnttab/user-map-limit", test_user_map_limit);
    ADD("/gnttab/user-copy", test_user_copy);
    return g_test_run();
}
