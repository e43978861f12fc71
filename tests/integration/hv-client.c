/* SPDX-License-Identifier: MIT */
/*
 * hv-client: ioreqd's own hv-sim driven line by line, so integration tests
 * exercise the client side of the dirty-tracking control ops.
 * Usage: hv-client DIR DOMID, then one command per stdin line, one answer
 * per stdout line ("OK ..." or "ERR -errno"):
 *   track FIRST_PFN NR          -> OK BIT,BIT... (dirty pages by index; "-" if none)
 *   modified PFN:NR...          -> OK            (one modified_memory call)
 *   restrict                    -> OK
 *   quit
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ioreq/hv.h"

#define MAX_EXTENTS 1024

static bool parse_num(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    *out = g_ascii_strtoull(s, &end, 0);
    return s[0] && !*end && !errno;
}

static void answer(int rc)
{
    if (rc)
        printf("ERR %d\n", rc);
    else
        puts("OK");
}

static void cmd_track(struct hv *hv, char **av, int ac)
{
    uint64_t first, nr;
    if (ac != 3 || !parse_num(av[1], &first) || !parse_num(av[2], &nr) || nr > UINT32_MAX) {
        puts("ERR -22");
        return;
    }
    size_t longs = HV_DIRTY_BITMAP_LONGS(nr > HV_MAX_VRAM_PAGES ? 0 : nr) + 1;
    unsigned long *bitmap = g_new0(unsigned long, longs);
    int rc = hv->ops->track_dirty_vram(hv, first, (uint32_t)nr, bitmap);
    if (rc) {
        printf("ERR %d\n", rc);
    } else {
        GString *out = g_string_new("OK ");
        const size_t bits = 8 * sizeof(unsigned long);
        bool any = false;
        for (uint64_t i = 0; i < nr; i++)
            if (bitmap[i / bits] & (1ul << (i % bits))) {
                g_string_append_printf(out, "%s%" G_GUINT64_FORMAT, any ? "," : "", i);
                any = true;
            }
        puts(any ? out->str : "OK -");
        g_string_free(out, TRUE);
    }
    g_free(bitmap);
}

static void cmd_modified(struct hv *hv, char **av, int ac)
{
    struct hv_pfn_range r[MAX_EXTENTS];
    int n = ac - 1;
    if (n < 1 || n > MAX_EXTENTS) {
        puts("ERR -22");
        return;
    }
    for (int i = 0; i < n; i++) {
        uint64_t first, nr;
        char **p = g_strsplit(av[i + 1], ":", 2);
        bool ok = g_strv_length(p) == 2 && parse_num(p[0], &first) && parse_num(p[1], &nr) &&
                  nr <= UINT32_MAX;
        g_strfreev(p);
        if (!ok) {
            puts("ERR -22");
            return;
        }
        r[i] = (struct hv_pfn_range){ first, (uint32_t)nr };
    }
    answer(hv->ops->modified_memory(hv, r, (unsigned int)n));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hv-client DIR DOMID\n");
        return 2;
    }
    int err = 0;
    struct hv *hv = hv_sim_open((uint32_t)strtoul(argv[2], NULL, 0), argv[1], &err);
    if (!hv) {
        fprintf(stderr, "hv-client: open: %s\n", g_strerror(-err));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    puts("READY");
    char line[65536];
    while (fgets(line, sizeof(line), stdin)) {
        g_strchomp(line);
        char **av = g_strsplit_set(line, " ", -1);
        int ac = (int)g_strv_length(av);
        bool quit = ac > 0 && !strcmp(av[0], "quit");
        if (quit)
            ;
        else if (ac > 0 && !strcmp(av[0], "track"))
            cmd_track(hv, av, ac);
        else if (ac > 0 && !strcmp(av[0], "modified"))
            cmd_modified(hv, av, ac);
        else if (ac > 0 && !strcmp(av[0], "restrict"))
            answer(hv->ops->restrict_to_domain(hv));
        else
            puts("ERR -38");
        g_strfreev(av);
        if (quit)
            break;
    }
    hv_close(hv);
    return 0;
}
