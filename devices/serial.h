/* SPDX-License-Identifier: MIT */
#ifndef IOREQD_SERIAL_H
#define IOREQD_SERIAL_H

#include <stddef.h>
#include <stdint.h>

struct serial;

/* Bytes arriving on the line (what the chardev reader delivers): into the
 * receive FIFO, or an overrun when it is full. */
void serial_receive(struct serial *s, const uint8_t *buf, size_t len);
/* How many bytes the receiver takes now (0 in loopback). */
size_t serial_can_receive(struct serial *s);
uint64_t serial_overruns(const struct serial *s);

#endif
