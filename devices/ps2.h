/* SPDX-License-Identifier: MIT */
/*
 * PS/2 keyboard and mouse, the two devices behind the i8042 controller:
 * their command protocols, scancodes and movement packets. Each has a
 * bounded output queue the controller drains a byte at a time; input that
 * does not fit is dropped whole (never half a scancode or packet) and
 * counted.
 */
#ifndef IOREQD_PS2_H
#define IOREQD_PS2_H

#include <stdbool.h>
#include <stdint.h>

#define PS2_QUEUE_SIZE 256

struct ps2_queue {
    uint8_t data[PS2_QUEUE_SIZE];
    unsigned int head, count;
};

bool ps2_queue_pop(struct ps2_queue *q, uint8_t *byte);
/* Pushes all n bytes or none (false when they do not fit). */
bool ps2_queue_push(struct ps2_queue *q, const uint8_t *bytes, unsigned int n);
void ps2_queue_clear(struct ps2_queue *q);

struct ps2_kbd {
    struct ps2_queue q;
    bool scanning;
    uint8_t scancode_set; /* 1 or 2 */
    uint8_t leds;         /* bit 0 scroll, 1 num, 2 caps lock */
    uint8_t typematic;
    uint8_t pending;      /* command waiting for its argument, 0 = none */
    uint8_t last_sent;    /* for resend */
    uint64_t dropped;     /* key events that did not fit */
};

void ps2_kbd_reset(struct ps2_kbd *k);
/* A byte from the host (the guest, through the controller). translate:
 * the controller converts set 2 to set 1 (command byte bit 6). */
void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte, bool translate);
/* A key change by Linux input keycode (KEY_*). False: unknown key,
 * scanning off, or queue full. */
bool ps2_kbd_key(struct ps2_kbd *k, unsigned int keycode, bool down, bool translate);

/* Button bits of ps2_mouse_event: as Linux orders BTN_LEFT... */
#define PS2_BUTTON_LEFT 0x01
#define PS2_BUTTON_RIGHT 0x02
#define PS2_BUTTON_MIDDLE 0x04
#define PS2_BUTTON_SIDE 0x08
#define PS2_BUTTON_EXTRA 0x10

struct ps2_mouse {
    struct ps2_queue q;
    bool reporting;
    bool remote;          /* remote mode: packets only on "read data" */
    bool wrap;            /* echo mode */
    bool scale_2to1;
    uint8_t resolution;   /* 0..3: 1, 2, 4, 8 counts/mm */
    uint8_t sample_rate;
    uint8_t id;           /* 0 PS/2, 3 IntelliMouse, 4 IntelliMouse Explorer */
    uint8_t rate_history[3]; /* last sample rates, for the magic knocks */
    uint8_t pending;
    uint8_t last_sent;
    unsigned int buttons;
    unsigned int reported_buttons;
    int dx, dy, dz;       /* movement not yet reported */
    uint64_t dropped;     /* packets that did not fit */
};

void ps2_mouse_reset(struct ps2_mouse *m);
void ps2_mouse_write(struct ps2_mouse *m, uint8_t byte);
/* Relative motion: dx right, dy down (screen), dz wheel away from the user;
 * buttons PS2_BUTTON_*. */
void ps2_mouse_event(struct ps2_mouse *m, int dx, int dy, int dz, unsigned int buttons);

#endif
