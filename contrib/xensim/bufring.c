/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/bufring.h"

#include <stddef.h>
#include <string.h>

_Static_assert(sizeof(buf_ioreq_t) == 8, "buf_ioreq_t is 8 bytes");
_Static_assert(offsetof(buffered_iopage_t, buf_ioreq) == 8, "two 32-bit pointers first");

/* read_pointer is the low half of the first 64-bit word (little-endian). */
static uint64_t *pointer_pair(buffered_iopage_t *page)
{
    return (uint64_t *)(void *)page;
}

static unsigned int size_code(unsigned int size)
{
    switch (size) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    default: return 3;
    }
}

uint32_t xsim_bufring_used(const buffered_iopage_t *page)
{
    uint32_t rp = __atomic_load_n(&page->read_pointer, __ATOMIC_ACQUIRE);
    uint32_t wp = __atomic_load_n(&page->write_pointer, __ATOMIC_ACQUIRE);
    return wp - rp;
}

static void store_slot(buffered_iopage_t *page, uint32_t index, const buf_ioreq_t *slot)
{
    memcpy(&page->buf_ioreq[index % IOREQ_BUFFER_SLOT_NUM], slot, sizeof(*slot));
}

/* Pull both pointers back by whole laps once the reader has passed one, so
 * they stay small; the CAS fails harmlessly if the reader moved meanwhile. */
static void canonicalize(buffered_iopage_t *page)
{
    uint64_t *pair = pointer_pair(page);
    for (unsigned int tries = 0; tries < IOREQ_BUFFER_SLOT_NUM; tries++) {
        uint64_t old = __atomic_load_n(pair, __ATOMIC_ACQUIRE);
        uint32_t rp = (uint32_t)old, wp = (uint32_t)(old >> 32);
        if (rp < IOREQ_BUFFER_SLOT_NUM)
            return;
        uint32_t laps = rp / IOREQ_BUFFER_SLOT_NUM * IOREQ_BUFFER_SLOT_NUM;
        uint64_t new = ((uint64_t)(wp - laps) << 32) | (rp - laps);
        if (__atomic_compare_exchange_n(pair, &old, new, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return;
    }
}

bool xsim_bufring_write(buffered_iopage_t *page, uint8_t type, uint32_t addr, unsigned int size,
                        uint64_t data)
{
    unsigned int slots = size == 8 ? 2 : 1;
    uint32_t rp = __atomic_load_n(&page->read_pointer, __ATOMIC_ACQUIRE);
    uint32_t wp = __atomic_load_n(&page->write_pointer, __ATOMIC_ACQUIRE);
    /* unsigned difference: a reader ahead of the writer reads as "full" */
    if (wp - rp > IOREQ_BUFFER_SLOT_NUM - slots)
        return false;

    buf_ioreq_t slot;
    memset(&slot, 0, sizeof(slot));
    slot.type = type;
    slot.dir = IOREQ_WRITE;
    slot.size = size_code(size) & 3;
    slot.addr = addr & 0xFFFFF;
    slot.data = (uint32_t)data;
    store_slot(page, wp, &slot);
    if (slots == 2) {
        slot.data = (uint32_t)(data >> 32);
        store_slot(page, wp + 1, &slot);
    }
    /* slots visible before the pointer that publishes them */
    __atomic_store_n(&page->write_pointer, wp + slots, __ATOMIC_RELEASE);
    canonicalize(page);
    return true;
}
