/* SPDX-License-Identifier: MIT */
/*
 * Input into the i8042's keyboard and PS/2 mouse, for the VNC server and
 * any other input source. Events are queued in what the guest reads
 * (scancodes, mouse packets); when the guest does not keep up they are
 * dropped whole and counted.
 */
#ifndef IOREQD_I8042_H
#define IOREQD_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/ps2.h"

struct i8042;

/* keycode: Linux input KEY_* (evdev) code. False when the key is unknown,
 * the keyboard does not scan, or the event was dropped. */
bool i8042_key_event(struct i8042 *k, unsigned int keycode, bool down);
/* dx right, dy down, dz wheel away from the user; buttons PS2_BUTTON_*. */
void i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned int buttons);
/* Key events and mouse packets dropped because the queue was full. */
uint64_t i8042_keys_dropped(const struct i8042 *k);
uint64_t i8042_mouse_dropped(const struct i8042 *k);

#endif
