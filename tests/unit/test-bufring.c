/* SPDX-License-Identifier: MIT */
/* The writer side of the buffered ioreq ring (contrib/xensim/bufring.c). */
#include <glib.h>
#include <string.h>

#include "contrib/xensim/bufring.h"

static buffered_iopage_t *new_page(void)
{
    return g_malloc0(4096);
}

/* What a device model does: take the slot at read_pointer and advance. */
static buf_ioreq_t take(buffered_iopage_t *p)
{
    buf_ioreq_t slot = p->buf_ioreq[p->read_pointer % IOREQ_BUFFER_SLOT_NUM];
    p->read_pointer++;
    return slot;
}

static void test_single_writes(void)
{
    buffered_iopage_t *p = new_page();
    g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0010, 1, 0x12));
    g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0020, 2, 0x3456));
    g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0030, 4, 0x789ABCDE));
    g_assert_cmpuint(p->write_pointer, ==, 3);
    g_assert_cmpuint(xsim_bufring_used(p), ==, 3);
    buf_ioreq_t s = take(p);
    g_assert_cmpuint(s.type, ==, IOREQ_TYPE_COPY);
    g_assert_cmpuint(s.dir, ==, IOREQ_WRITE);
    g_assert_cmpuint(s.size, ==, 0);
    g_assert_cmphex(s.addr, ==, 0xA0010);
    g_assert_cmphex(s.data, ==, 0x12);
    s = take(p);
    g_assert_cmpuint(s.size, ==, 1);
    g_assert_cmphex(s.data, ==, 0x3456);
    s = take(p);
    g_assert_cmpuint(s.size, ==, 2);
    g_assert_cmphex(s.data, ==, 0x789ABCDE);
    g_free(p);
}

static void test_eight_bytes_two_slots(void)
{
    buffered_iopage_t *p = new_page();
    g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xB0000, 8, 0x1122334455667788ull));
    g_assert_cmpuint(p->write_pointer, ==, 2);
    buf_ioreq_t lo = take(p), hi = take(p);
    g_assert_cmpuint(lo.size, ==, 3);
    g_assert_cmpuint(hi.size, ==, 3);
    g_assert_cmphex(lo.addr, ==, 0xB0000);
    g_assert_cmphex(hi.addr, ==, 0xB0000);
    g_assert_cmphex(lo.data, ==, 0x55667788);
    g_assert_cmphex(hi.data, ==, 0x11223344);
    g_free(p);
}

static void test_full_ring(void)
{
    buffered_iopage_t *p = new_page();
    for (unsigned int i = 0; i < IOREQ_BUFFER_SLOT_NUM; i++)
        g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, i));
    g_assert_false(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, 0));
    g_assert_cmpuint(p->write_pointer, ==, IOREQ_BUFFER_SLOT_NUM);
    take(p);
    /* one free slot: an 8-byte write needs two */
    g_assert_false(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 8, 0));
    g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, 0));
    g_assert_false(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, 0));
    g_free(p);
}

static void test_wrap_and_canonical_pointers(void)
{
    buffered_iopage_t *p = new_page();
    uint32_t expect = 0;
    /* several laps, interleaving 8-byte writes so slots straddle the wrap */
    for (unsigned int round = 0; round < 3000; round++) {
        unsigned int size = round % 3 == 0 ? 8 : 4;
        g_assert_true(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000 + round % 64, size,
                                         ((uint64_t)round << 32) | round));
        buf_ioreq_t s = take(p);
        g_assert_cmphex(s.data, ==, round);
        g_assert_cmphex(s.addr, ==, 0xA0000 + round % 64);
        if (size == 8) {
            s = take(p);
            g_assert_cmphex(s.data, ==, round);
        }
        expect++;
        /* pointers stay small: pulled back once the reader passes a lap */
        g_assert_cmpuint(p->write_pointer, <, 2 * IOREQ_BUFFER_SLOT_NUM + 2);
        g_assert_cmpuint(p->write_pointer - p->read_pointer, ==, 0);
    }
    g_assert_cmpuint(expect, ==, 3000);
    g_free(p);
}

static void test_hostile_pointers(void)
{
    buffered_iopage_t *p = new_page();
    p->read_pointer = 10; /* reader "ahead" of the writer: treated as full */
    p->write_pointer = 5;
    g_assert_false(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, 0));
    p->read_pointer = 0;
    p->write_pointer = 0xFFFFFFFF; /* huge gap: full */
    g_assert_false(xsim_bufring_write(p, IOREQ_TYPE_COPY, 0xA0000, 1, 0));
    g_free(p);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bufring/single", test_single_writes);
    g_test_add_func("/bufring/eight-bytes", test_eight_bytes_two_slots);
    g_test_add_func("/bufring/full", test_full_ring);
    g_test_add_func("/bufring/wrap", test_wrap_and_canonical_pointers);
    g_test_add_func("/bufring/hostile-pointers", test_hostile_pointers);
    return g_test_run();
}
