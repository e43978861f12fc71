/* SPDX-License-Identifier: MIT */
/*
 * The blkif ring as a frontend fills it: both request layouts, every
 * operation's form, the producer-index lies a hostile frontend can tell,
 * and the notification rules of <xen/io/ring.h>.
 */
#include <glib.h>
#include <stdlib.h>

/* ring.h leaves the barriers to its user. */
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#include <string.h>

#include "backends/blkif-ring.h"

/* The frontend's view uses Xen's own 64-bit ring types (blkif.h defines
 * them), so the decoder is checked against the header, not against itself. */

/* A 32-bit x86 frontend's structures: i386 aligns 64-bit fields to 4
 * bytes, which moves the id and everything after it. */
#pragma pack(push, 4)
struct x86_32_request {
    uint8_t operation;
    uint8_t nr_segments;
    uint16_t handle;
    uint64_t id;
    uint64_t sector_number;
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
struct x86_32_discard {
    uint8_t operation;
    uint8_t flag;
    uint16_t handle;
    uint64_t id;
    uint64_t sector_number;
    uint64_t nr_sectors;
};
struct x86_32_response {
    uint64_t id;
    uint8_t operation;
    int16_t status;
};
#pragma pack(pop)
_Static_assert(sizeof(struct x86_32_response) == 12, "x86_32 response");
_Static_assert(sizeof(struct x86_32_request) == 108, "x86_32 request");
_Static_assert(sizeof(struct blkif_request) == 112, "64-bit request");

struct fixture {
    void *mem;
    blkif_sring_t *sring;
    blkif_front_ring_t front;
    struct blkif_ring back;
};

static void setup(struct fixture *f, unsigned int pages, enum blkif_abi abi)
{
    g_assert_cmpint(posix_memalign(&f->mem, 4096, pages * 4096u), ==, 0);
    memset(f->mem, 0, pages * 4096u);
    f->sring = f->mem;
    SHARED_RING_INIT(f->sring);
    FRONT_RING_INIT(&f->front, f->sring, pages * 4096u);
    g_assert_true(blkif_ring_init(&f->back, f->mem, pages, abi));
}

static void teardown(struct fixture *f)
{
    free(f->mem);
}

static uint8_t *slot(struct fixture *f, uint32_t idx, size_t entry)
{
    return (uint8_t *)f->mem + 64 + (idx & (f->back.size - 1)) * entry;
}

static void test_ring_sizes(void)
{
    /* Same as RING_SIZE() for the 64-bit layout. */
    g_assert_cmpuint(blkif_ring_entries(1, BLKIF_ABI_64), ==, __CONST_RING_SIZE(blkif, 4096));
    g_assert_cmpuint(blkif_ring_entries(16, BLKIF_ABI_64), ==, __CONST_RING_SIZE(blkif, 16 * 4096));
    g_assert_cmpuint(blkif_ring_entries(1, BLKIF_ABI_X86_32), ==, 32);
    g_assert_cmpuint(blkif_ring_entries(2, BLKIF_ABI_X86_32), ==, 64);

    struct blkif_ring r;
    char page[4096];
    g_assert_false(blkif_ring_init(&r, page, 0, BLKIF_ABI_64));
    g_assert_false(blkif_ring_init(&r, page, 3, BLKIF_ABI_64));
    g_assert_false(blkif_ring_init(&r, page, 32, BLKIF_ABI_64));
    g_assert_false(blkif_ring_init(&r, NULL, 1, BLKIF_ABI_64));
}

static void test_protocols(void)
{
    enum blkif_abi abi;

    g_assert_true(blkif_abi_from_protocol(NULL, &abi) && abi == BLKIF_ABI_64);
    g_assert_true(blkif_abi_from_protocol("", &abi) && abi == BLKIF_ABI_64);
    g_assert_true(blkif_abi_from_protocol("x86_64-abi", &abi) && abi == BLKIF_ABI_64);
    g_assert_true(blkif_abi_from_protocol("arm-abi", &abi) && abi == BLKIF_ABI_64);
    g_assert_true(blkif_abi_from_protocol("x86_32-abi", &abi) && abi == BLKIF_ABI_X86_32);
    g_assert_false(blkif_abi_from_protocol("x86_16-abi", &abi));
    g_assert_false(blkif_abi_from_protocol("x86_32-abi ", &abi));
}

static void test_native_read_write(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_64);
    for (unsigned int i = 0; i < 3; i++) {
        struct blkif_request *r = RING_GET_REQUEST(&f.front, f.front.req_prod_pvt);
        memset(r, 0xee, sizeof(*r));
        r->operation = i == 1 ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        r->nr_segments = (uint8_t)(i + 1);
        r->handle = 51712;
        r->id = 0x1122334455667700ull + i;
        r->sector_number = 1000 + i;
        r->seg[0] = (struct blkif_request_segment){ .gref = 77, .first_sect = 1, .last_sect = 6 };
        r->seg[10] = (struct blkif_request_segment){ .gref = 99, .first_sect = 0, .last_sect = 7 };
        f.front.req_prod_pvt++;
    }
    RING_PUSH_REQUESTS(&f.front);
    uint32_t prod = blkif_ring_read_producer(&f.back);
    for (unsigned int i = 0; i < 3; i++) {
        g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
        g_assert_cmpuint(req.operation, ==, i == 1 ? BLKIF_OP_WRITE : BLKIF_OP_READ);
        g_assert_cmpuint(req.nr_segments, ==, i + 1);
        g_assert_cmpuint(req.handle, ==, 51712);
        g_assert_cmpuint(req.id, ==, 0x1122334455667700ull + i);
        g_assert_cmpuint(req.sector_number, ==, 1000 + i);
        g_assert_cmpuint(req.seg[0].gref, ==, 77);
        g_assert_cmpuint(req.seg[0].first_sect, ==, 1);
        g_assert_cmpuint(req.seg[0].last_sect, ==, 6);
        g_assert_cmpuint(req.seg[10].gref, ==, 99);
        g_assert_cmpuint(req.seg[10].last_sect, ==, 7);
    }
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_NONE);

    /* Responses land where the frontend's macros look for them. */
    blkif_ring_put_response(&f.back, 0x1122334455667701ull, BLKIF_OP_WRITE, BLKIF_RSP_EOPNOTSUPP);
    blkif_ring_push_responses(&f.back);
    g_assert_true(RING_HAS_UNCONSUMED_RESPONSES(&f.front));
    struct blkif_response *rsp = RING_GET_RESPONSE(&f.front, f.front.rsp_cons);
    g_assert_cmpuint(rsp->id, ==, 0x1122334455667701ull);
    g_assert_cmpuint(rsp->operation, ==, BLKIF_OP_WRITE);
    g_assert_cmpint(rsp->status, ==, BLKIF_RSP_EOPNOTSUPP);
    teardown(&f);
}

static void test_native_discard_and_indirect(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_64);
    struct blkif_request_discard *d = (void *)RING_GET_REQUEST(&f.front, 0);
    *d = (struct blkif_request_discard){ .operation = BLKIF_OP_DISCARD, .flag = BLKIF_DISCARD_SECURE,
                                         .id = 5, .sector_number = 64, .nr_sectors = 4096 };
    struct blkif_request_indirect *ind = (void *)RING_GET_REQUEST(&f.front, 1);
    *ind = (struct blkif_request_indirect){ .operation = BLKIF_OP_INDIRECT, .indirect_op = BLKIF_OP_WRITE,
                                            .nr_segments = 300, .id = 6, .sector_number = 8,
                                            .handle = 768 };
    for (unsigned int i = 0; i < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; i++)
        ind->indirect_grefs[i] = 1000 + i;
    f.front.req_prod_pvt = 2;
    RING_PUSH_REQUESTS(&f.front);

    uint32_t prod = blkif_ring_read_producer(&f.back);
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    g_assert_cmpuint(req.operation, ==, BLKIF_OP_DISCARD);
    g_assert_cmpuint(req.discard_flag, ==, BLKIF_DISCARD_SECURE);
    g_assert_cmpuint(req.id, ==, 5);
    g_assert_cmpuint(req.sector_number, ==, 64);
    g_assert_cmpuint(req.nr_sectors, ==, 4096);
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    g_assert_cmpuint(req.operation, ==, BLKIF_OP_INDIRECT);
    g_assert_cmpuint(req.indirect_op, ==, BLKIF_OP_WRITE);
    g_assert_cmpuint(req.nr_segments, ==, 300);
    g_assert_cmpuint(req.id, ==, 6);
    g_assert_cmpuint(req.sector_number, ==, 8);
    g_assert_cmpuint(req.handle, ==, 768);
    g_assert_cmpuint(req.indirect_grefs[7], ==, 1007);

    /* An indirect page is 512 plain segments. */
    struct blkif_request_segment page[512] = { 0 };
    page[511] = (struct blkif_request_segment){ .gref = 4242, .first_sect = 2, .last_sect = 3 };
    struct blkif_request_segment seg;
    blkif_parse_indirect_page(page, 511, &seg);
    g_assert_cmpuint(seg.gref, ==, 4242);
    g_assert_cmpuint(seg.first_sect, ==, 2);
    g_assert_cmpuint(seg.last_sect, ==, 3);
    teardown(&f);
}

static void test_x86_32_layout(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_X86_32);
    g_assert_cmpuint(f.back.size, ==, 32);
    struct x86_32_request rw = { .operation = BLKIF_OP_WRITE, .nr_segments = 2, .handle = 3,
                                 .id = 0xa5a5a5a5deadbeefull, .sector_number = 0x100000001ull };
    rw.seg[1] = (struct blkif_request_segment){ .gref = 12, .first_sect = 0, .last_sect = 7 };
    memcpy(slot(&f, 0, 108), &rw, sizeof(rw));
    struct x86_32_discard dis = { .operation = BLKIF_OP_DISCARD, .id = 9, .sector_number = 10,
                                  .nr_sectors = 11 };
    memcpy(slot(&f, 1, 108), &dis, sizeof(dis));
    f.sring->req_prod = 2;

    uint32_t prod = blkif_ring_read_producer(&f.back);
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    g_assert_cmpuint(req.id, ==, 0xa5a5a5a5deadbeefull);
    g_assert_cmpuint(req.sector_number, ==, 0x100000001ull);
    g_assert_cmpuint(req.seg[1].gref, ==, 12);
    g_assert_cmpuint(req.seg[1].last_sect, ==, 7);
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    g_assert_cmpuint(req.id, ==, 9);
    g_assert_cmpuint(req.sector_number, ==, 10);
    g_assert_cmpuint(req.nr_sectors, ==, 11);

    /* Responses share the 108-byte slots (a union with the request). */
    blkif_ring_put_response(&f.back, 0xa5a5a5a5deadbeefull, BLKIF_OP_WRITE, BLKIF_RSP_OKAY);
    blkif_ring_put_response(&f.back, 9, BLKIF_OP_DISCARD, BLKIF_RSP_ERROR);
    blkif_ring_push_responses(&f.back);
    g_assert_cmpuint(f.sring->rsp_prod, ==, 2);
    struct x86_32_response rsp;
    memcpy(&rsp, slot(&f, 1, 108), sizeof(rsp));
    g_assert_cmpuint(rsp.id, ==, 9);
    g_assert_cmpuint(rsp.operation, ==, BLKIF_OP_DISCARD);
    g_assert_cmpint(rsp.status, ==, BLKIF_RSP_ERROR);
    teardown(&f);
}

static void test_hostile_producer(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_64);
    uint32_t size = f.back.size;

    /* A whole ring of requests is fine... */
    f.sring->req_prod = size;
    uint32_t prod = blkif_ring_read_producer(&f.back);
    for (uint32_t i = 0; i < size; i++)
        g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_NONE);
    /* ...one more while none is answered is a lie. */
    f.sring->req_prod = size + 1;
    g_assert_cmpint(blkif_ring_take(&f.back, blkif_ring_read_producer(&f.back), &req), ==,
                    BLKIF_TAKE_CORRUPT);
    /* After one answer, one more fits. */
    blkif_ring_put_response(&f.back, 1, 0, 0);
    blkif_ring_push_responses(&f.back);
    g_assert_cmpint(blkif_ring_take(&f.back, blkif_ring_read_producer(&f.back), &req), ==, BLKIF_TAKE_OK);
    /* Far ahead, behind us, or wrapped: corrupt, never a read off the ring. */
    f.sring->req_prod = 0x80000000u;
    g_assert_cmpint(blkif_ring_take(&f.back, blkif_ring_read_producer(&f.back), &req), ==,
                    BLKIF_TAKE_CORRUPT);
    f.sring->req_prod = 3;
    g_assert_cmpint(blkif_ring_take(&f.back, blkif_ring_read_producer(&f.back), &req), ==,
                    BLKIF_TAKE_CORRUPT);
    teardown(&f);
}

static void test_index_wraparound(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_64);
    /* A frontend may start anywhere; the indexes are free-running. */
    f.sring->rsp_prod = 0xfffffffeu;
    g_assert_true(blkif_ring_init(&f.back, f.mem, 1, BLKIF_ABI_64));
    f.sring->req_prod = 0xfffffffeu + 4;
    uint32_t prod = blkif_ring_read_producer(&f.back);
    for (unsigned int i = 0; i < 4; i++) {
        g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
        blkif_ring_put_response(&f.back, i, 0, 0);
    }
    g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_NONE);
    blkif_ring_push_responses(&f.back);
    g_assert_cmpuint(f.sring->rsp_prod, ==, 2);
    teardown(&f);
}

static void test_notification_rules(void)
{
    struct fixture f;
    struct blkif_req req;

    setup(&f, 1, BLKIF_ABI_64);
    /* SHARED_RING_INIT asks for an event at the first response. */
    f.sring->req_prod = 3;
    uint32_t prod = blkif_ring_read_producer(&f.back);
    for (unsigned int i = 0; i < 3; i++)
        g_assert_cmpint(blkif_ring_take(&f.back, prod, &req), ==, BLKIF_TAKE_OK);
    blkif_ring_put_response(&f.back, 0, 0, 0);
    g_assert_true(blkif_ring_push_responses(&f.back));
    /* The frontend has not consumed or moved rsp_event: no new event. */
    blkif_ring_put_response(&f.back, 1, 0, 0);
    g_assert_false(blkif_ring_push_responses(&f.back));
    /* It asks for the next one. */
    f.sring->rsp_event = 3;
    blkif_ring_put_response(&f.back, 2, 0, 0);
    g_assert_true(blkif_ring_push_responses(&f.back));

    /* Going idle: req_event is set to the next request... */
    g_assert_false(blkif_ring_final_check(&f.back));
    g_assert_cmpuint(f.sring->req_event, ==, 4);
    /* ...and a request that slipped in is seen. */
    f.sring->req_prod = 4;
    g_assert_true(blkif_ring_final_check(&f.back));
    teardown(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/blkif/ring-sizes", test_ring_sizes);
    g_test_add_func("/blkif/protocols", test_protocols);
    g_test_add_func("/blkif/native-read-write", test_native_read_write);
    g_test_add_func("/blkif/native-discard-indirect", test_native_discard_and_indirect);
    g_test_add_func("/blkif/x86_32-layout", test_x86_32_layout);
    g_test_add_func("/blkif/hostile-producer", test_hostile_producer);
    g_test_add_func("/blkif/index-wraparound", test_index_wraparound);
    g_test_add_func("/blkif/notification-rules", test_notification_rules);
    return g_test_run();
}
