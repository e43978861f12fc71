/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor's (writer's) side of a buffered ioreq ring, with no I/O:
 * the device model reads slots from read_pointer up to write_pointer and
 * advances read_pointer; we append and advance write_pointer. Both pointers
 * count up freely and are pulled back by a multiple of the slot count
 * together (one 64-bit compare-and-swap over both) so they never overflow,
 * which is Xen's "atomic" buffered-ioreq mode.
 */
#ifndef XENSIM_BUFRING_H
#define XENSIM_BUFRING_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

/* Append a write of size bytes (1, 2, 4 or 8) of data at addr (< 1 MiB) of
 * the given ioreq type. An 8-byte write takes two slots: low half, then high
 * half. Returns false, writing nothing, when the ring has no room (or the
 * device model left the pointers inconsistent): the caller then sends a
 * synchronous request instead. */
bool xsim_bufring_write(buffered_iopage_t *page, uint8_t type, uint32_t addr, unsigned int size,
                        uint64_t data);

/* Slots in use as the writer sees them (write_pointer - read_pointer). */
uint32_t xsim_bufring_used(const buffered_iopage_t *page);

#endif
