/* SPDX-License-Identifier: MIT */
/*
 * xs-batch: xenstore operations in ONE transaction through the real
 * libxenstore, for the test toolstack (toolstack.py), which must write a
 * device's keys and permissions atomically as libxl does. XENSTORED_PATH
 * names the socket. One operation per stdin line, fields tab-separated:
 *   write PATH VALUE
 *   write-unless PATH VALUE SKIP   write unless PATH already reads SKIP
 *   mkdir PATH
 *   rm PATH
 *   perms PATH SPEC...             SPEC as xenstore-chmod: n0 r3 w5 b7
 *   read PATH                      prints "= VALUE" or "-" (missing)
 * The transaction is retried on EAGAIN. Prints "OK" at the end, or
 * "ERR LINE: reason" and exits 1.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

static bool parse_perm(const char *spec, struct xs_permissions *p)
{
    static const char letters[] = "nrwb";
    static const unsigned int kinds[] = { XS_PERM_NONE, XS_PERM_READ, XS_PERM_WRITE,
                                          XS_PERM_READ | XS_PERM_WRITE };
    const char *at = spec[0] ? strchr(letters, spec[0]) : NULL;
    char *end;
    unsigned long id = at ? strtoul(spec + 1, &end, 10) : 0;
    if (!at || !spec[1] || *end || id > 0xFFFF)
        return false;
    p->id = (unsigned int)id;
    p->perms = kinds[at - letters];
    return true;
}

static bool set_perms(struct xs_handle *xs, xs_transaction_t t, char **f, unsigned int n)
{
    struct xs_permissions perms[16];
    if (n < 3 || n - 2 > G_N_ELEMENTS(perms)) {
        errno = EINVAL;
        return false;
    }
    for (unsigned int i = 2; i < n; i++)
        if (!parse_perm(f[i], &perms[i - 2])) {
            errno = EINVAL;
            return false;
        }
    return xs_set_permissions(xs, t, f[1], perms, n - 2);
}

static bool do_read(struct xs_handle *xs, xs_transaction_t t, const char *path, GString *out)
{
    unsigned int len;
    char *v = xs_read(xs, t, path, &len);
    if (v)
        g_string_append_printf(out, "= %.*s\n", (int)len, v);
    else if (errno == ENOENT)
        g_string_append(out, "-\n");
    free(v);
    return v || errno == ENOENT;
}

static bool write_unless(struct xs_handle *xs, xs_transaction_t t, char **f)
{
    unsigned int len;
    char *v = xs_read(xs, t, f[1], &len);
    bool skip = v && strlen(f[3]) == len && !memcmp(v, f[3], len);
    free(v);
    return skip || xs_write(xs, t, f[1], f[2], (unsigned int)strlen(f[2]));
}

/* One line's operation; false with errno on failure. */
static bool run_op(struct xs_handle *xs, xs_transaction_t t, char **f, GString *out)
{
    unsigned int n = g_strv_length(f);
    if (n == 3 && !strcmp(f[0], "write"))
        return xs_write(xs, t, f[1], f[2], (unsigned int)strlen(f[2]));
    if (n == 4 && !strcmp(f[0], "write-unless"))
        return write_unless(xs, t, f);
    if (n == 2 && !strcmp(f[0], "mkdir"))
        return xs_mkdir(xs, t, f[1]);
    if (n == 2 && !strcmp(f[0], "rm"))
        return xs_rm(xs, t, f[1]) || errno == ENOENT;
    if (!strcmp(f[0], "perms"))
        return set_perms(xs, t, f, n);
    if (n == 2 && !strcmp(f[0], "read"))
        return do_read(xs, t, f[1], out);
    errno = EINVAL;
    return false;
}

/* 0 committed, EAGAIN to retry, or the failing line's errno (*bad). */
static int attempt(struct xs_handle *xs, GPtrArray *lines, GString *out, guint *bad)
{
    xs_transaction_t t = xs_transaction_start(xs);
    if (t == XBT_NULL)
        return errno;
    g_string_truncate(out, 0);
    for (guint i = 0; i < lines->len; i++) {
        gchar **f = g_strsplit(lines->pdata[i], "\t", -1);
        bool ok = f[0] && run_op(xs, t, f, out);
        int err = errno;
        g_strfreev(f);
        if (!ok) {
            xs_transaction_end(xs, t, true);
            *bad = i;
            return err ? err : EIO;
        }
    }
    return xs_transaction_end(xs, t, false) ? 0 : errno;
}

static GPtrArray *read_lines(void)
{
    GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
    char buf[4096];
    while (fgets(buf, sizeof(buf), stdin)) {
        buf[strcspn(buf, "\n")] = '\0';
        if (buf[0])
            g_ptr_array_add(lines, g_strdup(buf));
    }
    return lines;
}

int main(void)
{
    struct xs_handle *xs = xs_open(0);
    if (!xs) {
        printf("ERR xs_open: %s\n", g_strerror(errno));
        return 1;
    }
    GPtrArray *lines = read_lines();
    GString *out = g_string_new(NULL);
    guint bad = G_MAXUINT;
    int err = EAGAIN;
    for (int i = 0; i < 100 && err == EAGAIN; i++)
        err = attempt(xs, lines, out, &bad);
    if (err)
        printf("ERR %s: %s\n", bad < lines->len ? (char *)lines->pdata[bad] : "transaction",
               g_strerror(err));
    else
        printf("%sOK\n", out->str);
    g_string_free(out, TRUE);
    g_ptr_array_free(lines, TRUE);
    xs_close(xs);
    return err ? 1 : 0;
}
