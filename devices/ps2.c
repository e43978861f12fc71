/* SPDX-License-Identifier: MIT */
#include "devices/ps2.h"

#include <glib.h>
#include <string.h>

/* Replies both devices use (IBM PS/2 technical reference). */
#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe
#define PS2_SELFTEST_OK 0xaa
#define PS2_ECHO 0xee

/* ---- queue ---- */

bool ps2_queue_pop(struct ps2_queue *q, uint8_t *byte)
{
    if (!q->count)
        return false;
    *byte = q->data[q->head];
    q->head = (q->head + 1) % PS2_QUEUE_SIZE;
    q->count--;
    return true;
}

bool ps2_queue_push(struct ps2_queue *q, const uint8_t *bytes, unsigned int n)
{
    if (n > PS2_QUEUE_SIZE - q->count)
        return false;
    for (unsigned int i = 0; i < n; i++)
        q->data[(q->head + q->count + i) % PS2_QUEUE_SIZE] = bytes[i];
    q->count += n;
    return true;
}

void ps2_queue_clear(struct ps2_queue *q)
{
    q->head = q->count = 0;
}

/* ---- keyboard ---- */

#define KBD_CMD_SET_LEDS 0xed
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_SCANCODE_SET 0xf0
#define KBD_CMD_IDENTIFY 0xf2
#define KBD_CMD_TYPEMATIC 0xf3
#define KBD_CMD_ENABLE 0xf4
#define KBD_CMD_DISABLE 0xf5
#define KBD_CMD_DEFAULTS 0xf6
#define KBD_CMD_RESEND 0xfe
#define KBD_CMD_RESET 0xff
#define KBD_ID_BYTE0 0xab
#define KBD_ID_BYTE1 0x83            /* MF2 keyboard */
#define KBD_ID_BYTE1_TRANSLATED 0x41 /* what the controller turns 0x83 into */
#define KBD_TYPEMATIC_DEFAULT 0x2b   /* 10.9 cps, 500 ms */

/* The controller's set 2 -> set 1 translation of the "current set"
 * answers 1, 2, 3. */
static const uint8_t translated_set_number[4] = { 0, 0x43, 0x41, 0x3f };

/* Set 2 make codes, indexed by the set 1 code, which for keys 1-88 is also
 * the Linux keycode (KEY_ESC 1 ... KEY_F12 88). 0: no such key. */
static const uint8_t set2_of_set1[0x59] = {
    [0x01] = 0x76, [0x02] = 0x16, [0x03] = 0x1e, [0x04] = 0x26, [0x05] = 0x25,
    [0x06] = 0x2e, [0x07] = 0x36, [0x08] = 0x3d, [0x09] = 0x3e, [0x0a] = 0x46,
    [0x0b] = 0x45, [0x0c] = 0x4e, [0x0d] = 0x55, [0x0e] = 0x66, [0x0f] = 0x0d,
    [0x10] = 0x15, [0x11] = 0x1d, [0x12] = 0x24, [0x13] = 0x2d, [0x14] = 0x2c,
    [0x15] = 0x35, [0x16] = 0x3c, [0x17] = 0x43, [0x18] = 0x44, [0x19] = 0x4d,
    [0x1a] = 0x54, [0x1b] = 0x5b, [0x1c] = 0x5a, [0x1d] = 0x14, [0x1e] = 0x1c,
    [0x1f] = 0x1b, [0x20] = 0x23, [0x21] = 0x2b, [0x22] = 0x34, [0x23] = 0x33,
    [0x24] = 0x3b, [0x25] = 0x42, [0x26] = 0x4b, [0x27] = 0x4c, [0x28] = 0x52,
    [0x29] = 0x0e, [0x2a] = 0x12, [0x2b] = 0x5d, [0x2c] = 0x1a, [0x2d] = 0x22,
    [0x2e] = 0x21, [0x2f] = 0x2a, [0x30] = 0x32, [0x31] = 0x31, [0x32] = 0x3a,
    [0x33] = 0x41, [0x34] = 0x49, [0x35] = 0x4a, [0x36] = 0x59, [0x37] = 0x7c,
    [0x38] = 0x11, [0x39] = 0x29, [0x3a] = 0x58, [0x3b] = 0x05, [0x3c] = 0x06,
    [0x3d] = 0x04, [0x3e] = 0x0c, [0x3f] = 0x03, [0x40] = 0x0b, [0x41] = 0x83,
    [0x42] = 0x0a, [0x43] = 0x01, [0x44] = 0x09, [0x45] = 0x77, [0x46] = 0x7e,
    [0x47] = 0x6c, [0x48] = 0x75, [0x49] = 0x7d, [0x4a] = 0x7b, [0x4b] = 0x6b,
    [0x4c] = 0x73, [0x4d] = 0x74, [0x4e] = 0x79, [0x4f] = 0x69, [0x50] = 0x72,
    [0x51] = 0x7a, [0x52] = 0x70, [0x53] = 0x71, [0x56] = 0x61, [0x57] = 0x78,
    [0x58] = 0x07,
};

/* Keys sent with the 0xE0 prefix: Linux keycode, set 1 and set 2 code. */
static const struct { uint16_t keycode; uint8_t set1, set2; } extended_keys[] = {
    { 96, 0x1c, 0x5a },  /* KEY_KPENTER */
    { 97, 0x1d, 0x14 },  /* KEY_RIGHTCTRL */
    { 98, 0x35, 0x4a },  /* KEY_KPSLASH */
    { 99, 0x37, 0x7c },  /* KEY_SYSRQ (print screen) */
    { 100, 0x38, 0x11 }, /* KEY_RIGHTALT */
    { 102, 0x47, 0x6c }, /* KEY_HOME */
    { 103, 0x48, 0x75 }, /* KEY_UP */
    { 104, 0x49, 0x7d }, /* KEY_PAGEUP */
    { 105, 0x4b, 0x6b }, /* KEY_LEFT */
    { 106, 0x4d, 0x74 }, /* KEY_RIGHT */
    { 107, 0x4f, 0x69 }, /* KEY_END */
    { 108, 0x50, 0x72 }, /* KEY_DOWN */
    { 109, 0x51, 0x7a }, /* KEY_PAGEDOWN */
    { 110, 0x52, 0x70 }, /* KEY_INSERT */
    { 111, 0x53, 0x71 }, /* KEY_DELETE */
    { 113, 0x20, 0x23 }, /* KEY_MUTE */
    { 114, 0x2e, 0x21 }, /* KEY_VOLUMEDOWN */
    { 115, 0x30, 0x32 }, /* KEY_VOLUMEUP */
    { 116, 0x5e, 0x37 }, /* KEY_POWER */
    { 125, 0x5b, 0x1f }, /* KEY_LEFTMETA */
    { 126, 0x5c, 0x27 }, /* KEY_RIGHTMETA */
    { 127, 0x5d, 0x2f }, /* KEY_COMPOSE (menu) */
};

#define KEY_PAUSE 119
static const uint8_t pause_set1[] = { 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5 };
static const uint8_t pause_set2[] = { 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 };

static void kbd_send(struct ps2_kbd *k, const uint8_t *bytes, unsigned int n)
{
    /* replies are few and the queue was just cleared: they always fit */
    if (ps2_queue_push(&k->q, bytes, n) && n)
        k->last_sent = bytes[n - 1];
}

static void kbd_reply(struct ps2_kbd *k, uint8_t byte)
{
    kbd_send(k, &byte, 1);
}

static void kbd_defaults(struct ps2_kbd *k)
{
    k->scancode_set = 2;
    k->typematic = KBD_TYPEMATIC_DEFAULT;
    k->pending = 0;
}

void ps2_kbd_reset(struct ps2_kbd *k)
{
    ps2_queue_clear(&k->q);
    kbd_defaults(k);
    k->leds = 0;
    k->scanning = true;
}

static void kbd_argument(struct ps2_kbd *k, uint8_t cmd, uint8_t arg, bool translate)
{
    switch (cmd) {
    case KBD_CMD_SET_LEDS:
        k->leds = arg & 0x07;
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_TYPEMATIC:
        k->typematic = arg & 0x7f;
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_SCANCODE_SET:
        if (arg > 3) {
            kbd_reply(k, PS2_RESEND);
            break;
        }
        kbd_reply(k, PS2_ACK);
        if (arg == 0)
            kbd_reply(k, translate ? translated_set_number[k->scancode_set] : k->scancode_set);
        else if (arg != 3) /* set 3 is not offered: "get" keeps answering 2 */
            k->scancode_set = arg;
        break;
    }
}

static void kbd_command(struct ps2_kbd *k, uint8_t cmd, bool translate)
{
    static const uint8_t reset_reply[] = { PS2_ACK, PS2_SELFTEST_OK };
    uint8_t id[] = { PS2_ACK, KBD_ID_BYTE0, translate ? KBD_ID_BYTE1_TRANSLATED : KBD_ID_BYTE1 };

    switch (cmd) {
    case KBD_CMD_SET_LEDS:
    case KBD_CMD_TYPEMATIC:
    case KBD_CMD_SCANCODE_SET:
        k->pending = cmd;
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_ECHO:
        kbd_reply(k, PS2_ECHO);
        break;
    case KBD_CMD_IDENTIFY:
        kbd_send(k, id, sizeof(id));
        break;
    case KBD_CMD_ENABLE:
        k->scanning = true;
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_DISABLE:
        kbd_defaults(k);
        k->scanning = false;
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_DEFAULTS:
        kbd_defaults(k);
        kbd_reply(k, PS2_ACK);
        break;
    case KBD_CMD_RESEND:
        kbd_reply(k, k->last_sent);
        break;
    case KBD_CMD_RESET:
        ps2_kbd_reset(k);
        kbd_send(k, reset_reply, sizeof(reset_reply));
        break;
    default:
        /* 0xf7-0xfd (set 3 key types) are acknowledged and have no effect;
         * anything else is not a command. */
        kbd_reply(k, cmd >= 0xf7 ? PS2_ACK : PS2_RESEND);
        break;
    }
}

void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte, bool translate)
{
    uint8_t pending = k->pending;

    /* A keyboard drops its unsent scancodes when the host talks to it, so
     * the reply is the next thing the host reads. */
    ps2_queue_clear(&k->q);
    k->pending = 0;
    /* Arguments are below 0x80; a command byte instead starts over. */
    if (pending && byte < 0x80)
        kbd_argument(k, pending, byte, translate);
    else
        kbd_command(k, byte, translate);
}

/* The bytes for one key change in the set the host sees; 0 if unknown. */
static unsigned int kbd_scancode(unsigned int keycode, bool down, bool set1, uint8_t *out)
{
    unsigned int n = 0;

    if (keycode == KEY_PAUSE) {
        if (!down)
            return 0; /* the key has no break code */
        const uint8_t *seq = set1 ? pause_set1 : pause_set2;
        n = set1 ? sizeof(pause_set1) : sizeof(pause_set2);
        memcpy(out, seq, n);
        return n;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(extended_keys); i++) {
        if (extended_keys[i].keycode != keycode)
            continue;
        out[n++] = 0xe0;
        if (set1) {
            out[n++] = extended_keys[i].set1 | (down ? 0 : 0x80);
        } else {
            if (!down)
                out[n++] = 0xf0;
            out[n++] = extended_keys[i].set2;
        }
        return n;
    }
    if (keycode >= G_N_ELEMENTS(set2_of_set1) || !set2_of_set1[keycode])
        return 0;
    if (set1) {
        out[n++] = (uint8_t)(keycode | (down ? 0 : 0x80));
    } else {
        if (!down)
            out[n++] = 0xf0;
        out[n++] = set2_of_set1[keycode];
    }
    return n;
}

bool ps2_kbd_key(struct ps2_kbd *k, unsigned int keycode, bool down, bool translate)
{
    uint8_t bytes[8];
    /* Translation turns set 2 into set 1; set 1 itself passes unchanged. */
    bool set1 = k->scancode_set == 1 || translate;
    unsigned int n = kbd_scancode(keycode, down, set1, bytes);

    if (!n || !k->scanning)
        return false;
    if (!ps2_queue_push(&k->q, bytes, n)) {
        k->dropped++;
        return false;
    }
    k->last_sent = bytes[n - 1];
    return true;
}

/* ---- mouse ---- */

#define MOUSE_CMD_SCALE_1TO1 0xe6
#define MOUSE_CMD_SCALE_2TO1 0xe7
#define MOUSE_CMD_RESOLUTION 0xe8
#define MOUSE_CMD_STATUS 0xe9
#define MOUSE_CMD_STREAM 0xea
#define MOUSE_CMD_READ_DATA 0xeb
#define MOUSE_CMD_RESET_WRAP 0xec
#define MOUSE_CMD_WRAP 0xee
#define MOUSE_CMD_REMOTE 0xf0
#define MOUSE_CMD_IDENTIFY 0xf2
#define MOUSE_CMD_SAMPLE_RATE 0xf3
#define MOUSE_CMD_ENABLE 0xf4
#define MOUSE_CMD_DISABLE 0xf5
#define MOUSE_CMD_DEFAULTS 0xf6
#define MOUSE_CMD_RESEND 0xfe
#define MOUSE_CMD_RESET 0xff

#define MOUSE_ID_PS2 0x00
#define MOUSE_ID_INTELLIMOUSE 0x03
#define MOUSE_ID_EXPLORER 0x04
#define MOUSE_DEFAULT_RATE 100
#define MOUSE_DEFAULT_RESOLUTION 2
/* Packets one event may produce; bigger jumps are cut here. */
#define MOUSE_MAX_PACKETS_PER_EVENT 8
/* Unreported motion is kept within this bound (remote mode, no reader). */
#define MOUSE_MAX_PENDING_MOTION 4096

static void mouse_send(struct ps2_mouse *m, const uint8_t *bytes, unsigned int n)
{
    if (ps2_queue_push(&m->q, bytes, n) && n)
        m->last_sent = bytes[n - 1];
}

static void mouse_reply(struct ps2_mouse *m, uint8_t byte)
{
    mouse_send(m, &byte, 1);
}

static void mouse_defaults(struct ps2_mouse *m)
{
    m->reporting = false;
    m->remote = false;
    m->scale_2to1 = false;
    m->resolution = MOUSE_DEFAULT_RESOLUTION;
    m->sample_rate = MOUSE_DEFAULT_RATE;
    m->pending = 0;
    m->dx = m->dy = m->dz = 0;
}

void ps2_mouse_reset(struct ps2_mouse *m)
{
    ps2_queue_clear(&m->q);
    mouse_defaults(m);
    m->wrap = false;
    m->id = MOUSE_ID_PS2;
    memset(m->rate_history, 0, sizeof(m->rate_history));
}

/* IntelliMouse knocks: rates 200, 100, 80 turn on the wheel (id 3); then
 * 200, 200, 80 the five-button Explorer (id 4). */
static void mouse_note_rate(struct ps2_mouse *m, uint8_t rate)
{
    m->rate_history[0] = m->rate_history[1];
    m->rate_history[1] = m->rate_history[2];
    m->rate_history[2] = rate;
    if (m->rate_history[0] == 200 && m->rate_history[1] == 100 && m->rate_history[2] == 80)
        m->id = MOUSE_ID_INTELLIMOUSE;
    else if (m->id == MOUSE_ID_INTELLIMOUSE && m->rate_history[0] == 200 &&
             m->rate_history[1] == 200 && m->rate_history[2] == 80)
        m->id = MOUSE_ID_EXPLORER;
}

static bool valid_sample_rate(uint8_t rate)
{
    static const uint8_t rates[] = { 10, 20, 40, 60, 80, 100, 200 };

    for (size_t i = 0; i < G_N_ELEMENTS(rates); i++)
        if (rates[i] == rate)
            return true;
    return false;
}

static void mouse_argument(struct ps2_mouse *m, uint8_t cmd, uint8_t arg)
{
    if (cmd == MOUSE_CMD_SAMPLE_RATE && valid_sample_rate(arg)) {
        m->sample_rate = arg;
        mouse_note_rate(m, arg);
        mouse_reply(m, PS2_ACK);
    } else if (cmd == MOUSE_CMD_RESOLUTION && arg <= 3) {
        m->resolution = arg;
        mouse_reply(m, PS2_ACK);
    } else {
        mouse_reply(m, PS2_RESEND);
    }
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Stream-mode 2:1 scaling (PS/2 reference): small moves are damped, big
 * ones doubled. */
static int scale_2to1(int d)
{
    static const int small[] = { 0, 1, 1, 3, 6, 9 };
    int mag = d < 0 ? -d : d;
    int scaled = mag < (int)G_N_ELEMENTS(small) ? small[mag] : 2 * mag;

    return d < 0 ? -scaled : scaled;
}

/* One movement packet from the pending motion; false if it did not fit. */
static bool mouse_packet(struct ps2_mouse *m, bool stream)
{
    int dx = clamp_int(m->dx, -256, 255), dy = clamp_int(m->dy, -256, 255);
    int dz = clamp_int(m->dz, m->id == MOUSE_ID_EXPLORER ? -8 : -127,
                       m->id == MOUSE_ID_EXPLORER ? 7 : 127);
    int sx = stream && m->scale_2to1 ? clamp_int(scale_2to1(dx), -256, 255) : dx;
    int sy = stream && m->scale_2to1 ? clamp_int(scale_2to1(dy), -256, 255) : dy;
    uint8_t p[4];
    unsigned int n = m->id == MOUSE_ID_PS2 ? 3 : 4;

    p[0] = 0x08 | (m->buttons & PS2_BUTTON_LEFT ? 0x01 : 0) |
           (m->buttons & PS2_BUTTON_RIGHT ? 0x02 : 0) |
           (m->buttons & PS2_BUTTON_MIDDLE ? 0x04 : 0) | (sx < 0 ? 0x10 : 0) |
           (sy < 0 ? 0x20 : 0);
    p[1] = (uint8_t)(sx & 0xff);
    p[2] = (uint8_t)(sy & 0xff);
    p[3] = (uint8_t)(dz & 0xff);
    if (m->id == MOUSE_ID_EXPLORER)
        p[3] = (uint8_t)((dz & 0x0f) | (m->buttons & PS2_BUTTON_SIDE ? 0x10 : 0) |
                         (m->buttons & PS2_BUTTON_EXTRA ? 0x20 : 0));
    if (!ps2_queue_push(&m->q, p, n))
        return false;
    m->last_sent = p[n - 1];
    m->dx -= dx;
    m->dy -= dy;
    m->dz = m->id == MOUSE_ID_PS2 ? 0 : m->dz - dz;
    m->reported_buttons = m->buttons;
    return true;
}

static bool mouse_has_news(const struct ps2_mouse *m)
{
    return m->dx || m->dy || m->dz || m->buttons != m->reported_buttons;
}

static void mouse_status(struct ps2_mouse *m)
{
    uint8_t s[4] = { PS2_ACK, 0, m->resolution, m->sample_rate };

    s[1] = (m->remote ? 0x40 : 0) | (m->reporting ? 0x20 : 0) | (m->scale_2to1 ? 0x10 : 0) |
           (m->buttons & PS2_BUTTON_LEFT ? 0x04 : 0) |
           (m->buttons & PS2_BUTTON_MIDDLE ? 0x02 : 0) |
           (m->buttons & PS2_BUTTON_RIGHT ? 0x01 : 0);
    mouse_send(m, s, sizeof(s));
}

static void mouse_command(struct ps2_mouse *m, uint8_t cmd)
{
    static const uint8_t reset_reply[] = { PS2_ACK, PS2_SELFTEST_OK, MOUSE_ID_PS2 };

    switch (cmd) {
    case MOUSE_CMD_SAMPLE_RATE:
    case MOUSE_CMD_RESOLUTION:
        m->pending = cmd;
        break;
    case MOUSE_CMD_SCALE_1TO1:
    case MOUSE_CMD_SCALE_2TO1:
        m->scale_2to1 = cmd == MOUSE_CMD_SCALE_2TO1;
        break;
    case MOUSE_CMD_STATUS:
        mouse_status(m);
        return;
    case MOUSE_CMD_STREAM:
    case MOUSE_CMD_REMOTE:
        m->remote = cmd == MOUSE_CMD_REMOTE;
        break;
    case MOUSE_CMD_READ_DATA:
        mouse_reply(m, PS2_ACK);
        mouse_packet(m, false);
        return;
    case MOUSE_CMD_RESET_WRAP:
    case MOUSE_CMD_WRAP:
        m->wrap = cmd == MOUSE_CMD_WRAP;
        break;
    case MOUSE_CMD_IDENTIFY: {
        uint8_t id[] = { PS2_ACK, m->id };
        mouse_send(m, id, sizeof(id));
        return;
    }
    case MOUSE_CMD_ENABLE:
    case MOUSE_CMD_DISABLE:
        m->reporting = cmd == MOUSE_CMD_ENABLE;
        m->dx = m->dy = m->dz = 0; /* motion from before does not count */
        break;
    case MOUSE_CMD_DEFAULTS:
        mouse_defaults(m);
        break;
    case MOUSE_CMD_RESEND:
        mouse_reply(m, m->last_sent);
        return;
    case MOUSE_CMD_RESET:
        ps2_mouse_reset(m);
        mouse_send(m, reset_reply, sizeof(reset_reply));
        return;
    default:
        mouse_reply(m, PS2_RESEND);
        return;
    }
    mouse_reply(m, PS2_ACK);
}

void ps2_mouse_write(struct ps2_mouse *m, uint8_t byte)
{
    uint8_t pending = m->pending;

    ps2_queue_clear(&m->q);
    m->pending = 0;
    /* In wrap mode the mouse echoes everything but "leave wrap" and reset. */
    if (m->wrap && byte != MOUSE_CMD_RESET_WRAP && byte != MOUSE_CMD_RESET) {
        mouse_reply(m, byte);
        return;
    }
    if (pending)
        mouse_argument(m, pending, byte);
    else
        mouse_command(m, byte);
}

void ps2_mouse_event(struct ps2_mouse *m, int dx, int dy, int dz, unsigned int buttons)
{
    const int limit = MOUSE_MAX_PENDING_MOTION;

    /* PS/2 y grows upwards and its wheel counts towards the user. */
    m->dx = clamp_int(m->dx + clamp_int(dx, -limit, limit), -limit, limit);
    m->dy = clamp_int(m->dy - clamp_int(dy, -limit, limit), -limit, limit);
    if (m->id != MOUSE_ID_PS2) /* no wheel until the guest knocks for it */
        m->dz = clamp_int(m->dz - clamp_int(dz, -limit, limit), -limit, limit);
    m->buttons = buttons & 0x1f;
    if (m->remote || !m->reporting || m->wrap)
        return;
    for (unsigned int i = 0; i < MOUSE_MAX_PACKETS_PER_EVENT && mouse_has_news(m); i++) {
        if (!mouse_packet(m, true)) {
            /* the guest is not reading: forget the motion, keep buttons */
            m->dropped++;
            m->dx = m->dy = m->dz = 0;
            return;
        }
    }
}
