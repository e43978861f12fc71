/* SPDX-License-Identifier: MIT */
/*
 * grant-client: a backend that uses grants through ioreqd's own hv-sim, so
 * test_grants.py exercises the real client side of the control protocol.
 * Usage: grant-client DIR DOMID, then one command per stdin line, one
 * answer per stdout line ("OK ..." or "ERR -errno"):
 *   map rw|ro REF...           -> OK ID       (a local id of the mapping)
 *   read ID OFFSET LEN         -> OK HEX      (from the mapping)
 *   write ID OFFSET HEX        -> OK          (into it; rw only, else it faults)
 *   unmap ID                   -> OK
 *   copy SEG...                -> OK RESULT... one grant_copy call, where
 *        SEG is f:REF:OFF:LEN (from the guest) or t:REF:OFF:HEX (to it);
 *        RESULT is STATUS for t and STATUS:HEX for f (HEX only if okay)
 *   quit
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreq/hv.h"

#define MAX_MAPPINGS 4096

struct mapping {
    uint8_t *addr;
    unsigned int count;
};

struct client {
    struct hv *hv;
    struct mapping map[MAX_MAPPINGS];
};

static bool parse_num(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    return s[0] && !*end && !errno;
}

static char *to_hex(const uint8_t *p, size_t n)
{
    char *s = g_malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[n * 2] = 0;
    return s;
}

static uint8_t *from_hex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2)
        return NULL;
    uint8_t *p = g_malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = g_ascii_xdigit_value(s[2 * i]), lo = g_ascii_xdigit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            g_free(p);
            return NULL;
        }
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return p;
}

static void cmd_map(struct client *c, char **argv, int argc)
{
    if (argc < 3) {
        puts("ERR -22");
        return;
    }
    unsigned int count = (unsigned int)argc - 2;
    uint32_t *refs = g_new(uint32_t, count);
    for (unsigned int i = 0; i < count; i++) {
        uint64_t v;
        if (!parse_num(argv[2 + i], &v) || v > UINT32_MAX) {
            g_free(refs);
            puts("ERR -22");
            return;
        }
        refs[i] = (uint32_t)v;
    }
    unsigned int id = 0;
    while (id < MAX_MAPPINGS && c->map[id].addr)
        id++;
    int err = 0;
    void *p = id < MAX_MAPPINGS ? c->hv->ops->grant_map(c->hv, refs, count,
                                                         strcmp(argv[1], "rw") == 0, &err)
                                : NULL;
    g_free(refs);
    if (!p) {
        printf("ERR %d\n", id < MAX_MAPPINGS ? err : -ENOSPC);
        return;
    }
    c->map[id] = (struct mapping){ p, count };
    printf("OK %u\n", id);
}

static struct mapping *lookup(struct client *c, const char *s)
{
    uint64_t id;
    if (!parse_num(s, &id) || id >= MAX_MAPPINGS || !c->map[id].addr)
        return NULL;
    return &c->map[id];
}

static void cmd_read_write(struct client *c, char **argv, int argc)
{
    struct mapping *m = argc == 4 ? lookup(c, argv[1]) : NULL;
    uint64_t off, len;
    if (!m || !parse_num(argv[2], &off) || off > (uint64_t)m->count * 4096) {
        puts("ERR -22");
        return;
    }
    if (argv[0][0] == 'r') {
        if (!parse_num(argv[3], &len) || len > (uint64_t)m->count * 4096 - off) {
            puts("ERR -22");
            return;
        }
        char *hex = to_hex(m->addr + off, len);
        printf("OK %s\n", hex);
        g_free(hex);
        return;
    }
    size_t n;
    uint8_t *data = from_hex(argv[3], &n);
    if (!data || n > (uint64_t)m->count * 4096 - off) {
        g_free(data);
        puts("ERR -22");
        return;
    }
    memcpy(m->addr + off, data, n);
    g_free(data);
    puts("OK");
}

static void cmd_unmap(struct client *c, char **argv, int argc)
{
    struct mapping *m = argc == 2 ? lookup(c, argv[1]) : NULL;
    if (!m) {
        puts("ERR -22");
        return;
    }
    int rc = c->hv->ops->grant_unmap(c->hv, m->addr, m->count);
    m->addr = NULL;
    printf(rc ? "ERR %d\n" : "OK\n", rc);
}

static void cmd_copy(struct client *c, char **argv, int argc)
{
    unsigned int count = argc > 1 ? (unsigned int)argc - 1 : 0;
    struct hv_grant_copy_seg *segs = g_new0(struct hv_grant_copy_seg, count ? count : 1);
    bool ok = count > 0;
    for (unsigned int i = 0; ok && i < count; i++) {
        char **f = g_strsplit(argv[1 + i], ":", 4);
        uint64_t ref = 0, off = 0, len = 0;
        ok = g_strv_length(f) == 4 && (f[0][0] == 'f' || f[0][0] == 't') &&
             parse_num(f[1], &ref) && ref <= UINT32_MAX && parse_num(f[2], &off) &&
             off <= UINT16_MAX;
        if (ok && f[0][0] == 't') {
            size_t n;
            segs[i].local = from_hex(f[3], &n);
            len = n;
            segs[i].to_guest = true;
            ok = segs[i].local != NULL;
        } else if (ok) {
            ok = parse_num(f[3], &len) && len <= UINT16_MAX;
            segs[i].local = ok ? g_malloc0(len + 1) : NULL;
        }
        segs[i].ref = (uint32_t)ref;
        segs[i].offset = (uint16_t)off;
        segs[i].len = (uint16_t)len;
        segs[i].status = 99;
        g_strfreev(f);
    }
    int rc = ok ? c->hv->ops->grant_copy(c->hv, segs, count) : -EINVAL;
    if (rc) {
        printf("ERR %d\n", rc);
    } else {
        GString *out = g_string_new("OK");
        for (unsigned int i = 0; i < count; i++) {
            g_string_append_printf(out, " %d", segs[i].status);
            if (!segs[i].to_guest && segs[i].status == 0) {
                char *hex = to_hex(segs[i].local, segs[i].len);
                g_string_append_printf(out, ":%s", hex);
                g_free(hex);
            }
        }
        puts(out->str);
        g_string_free(out, TRUE);
    }
    for (unsigned int i = 0; i < count; i++)
        g_free(segs[i].local);
    g_free(segs);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: grant-client DIR DOMID\n");
        return 2;
    }
    int err = 0;
    struct client *c = g_new0(struct client, 1);
    c->hv = hv_sim_open((uint32_t)strtoul(argv[2], NULL, 0), argv[1], &err);
    if (!c->hv) {
        fprintf(stderr, "grant-client: open: %s\n", g_strerror(-err));
        g_free(c);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    puts("READY");
    char line[65536];
    while (fgets(line, sizeof(line), stdin)) {
        g_strchomp(line);
        char **av = g_strsplit_set(line, " ", -1);
        int ac = (int)g_strv_length(av);
        if (ac == 0 || !av[0][0])
            puts("ERR -22");
        else if (strcmp(av[0], "quit") == 0) {
            g_strfreev(av);
            break;
        } else if (strcmp(av[0], "map") == 0)
            cmd_map(c, av, ac);
        else if (strcmp(av[0], "read") == 0 || strcmp(av[0], "write") == 0)
            cmd_read_write(c, av, ac);
        else if (strcmp(av[0], "unmap") == 0)
            cmd_unmap(c, av, ac);
        else if (strcmp(av[0], "copy") == 0)
            cmd_copy(c, av, ac);
        else
            puts("ERR -38");
        g_strfreev(av);
    }
    hv_close(c->hv);
    g_free(c);
    return 0;
}
