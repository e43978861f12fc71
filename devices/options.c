/* SPDX-License-Identifier: MIT */
#include "devices/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct opt {
    char *key;
    char *value;
    bool used;
};

struct opts {
    GPtrArray *items; /* struct opt */
};

static void opt_free(gpointer p)
{
    struct opt *o = p;
    g_free(o->key);
    g_free(o->value);
    g_free(o);
}

/* Split at single commas; ",," stands for a literal comma (QEMU's rule, so
 * paths with commas can be given). */
static GPtrArray *split_elements(const char *text)
{
    GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);

    for (const char *p = text; *p; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',') {
            g_ptr_array_add(parts, g_string_free(cur, FALSE));
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    g_ptr_array_add(parts, g_string_free(cur, FALSE));
    return parts;
}

struct opts *opts_parse(const char *text, const char *implied_key, GError **error)
{
    struct opts *o = g_new0(struct opts, 1);
    g_autoptr(GPtrArray) parts = split_elements(text);

    o->items = g_ptr_array_new_with_free_func(opt_free);
    for (unsigned int i = 0; i < parts->len; i++) {
        const char *el = g_ptr_array_index(parts, i);
        const char *eq = strchr(el, '=');
        struct opt *item = g_new0(struct opt, 1);

        if (i == 0 && implied_key && !eq) {
            item->key = g_strdup(implied_key);
            item->value = g_strdup(el);
        } else if (eq && eq != el) {
            item->key = g_strndup(el, (gsize)(eq - el));
            item->value = g_strdup(eq + 1);
        } else if (*el && !eq) {
            item->key = g_strdup(el); /* bare flag: "server" means server=on */
            item->value = g_strdup("on");
        } else {
            opt_free(item);
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "malformed option element '%s' in '%s'", el, text);
            opts_free(o);
            return NULL;
        }
        if (opts_has(o, item->key)) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "option '%s' given twice in '%s'", item->key, text);
            opt_free(item);
            opts_free(o);
            return NULL;
        }
        g_ptr_array_add(o->items, item);
    }
    return o;
}

void opts_free(struct opts *o)
{
    if (!o)
        return;
    g_ptr_array_free(o->items, TRUE);
    g_free(o);
}

static struct opt *find(struct opts *o, const char *key)
{
    for (unsigned int i = 0; i < o->items->len; i++) {
        struct opt *item = g_ptr_array_index(o->items, i);
        if (strcmp(item->key, key) == 0)
            return item;
    }
    return NULL;
}

bool opts_has(struct opts *o, const char *key)
{
    return find(o, key) != NULL;
}

const char *opts_get_str(struct opts *o, const char *key, const char *fallback)
{
    struct opt *item = find(o, key);

    if (!item)
        return fallback;
    item->used = true;
    return item->value;
}

/* Accepts decimal, 0x hex and a K/M/G/T suffix (powers of 1024). */
bool opts_get_u64(struct opts *o, const char *key, uint64_t fallback, uint64_t *out,
                  GError **error)
{
    const char *s = opts_get_str(o, key, NULL);
    char *end;

    if (!s) {
        *out = fallback;
        return true;
    }
    errno = 0;
    uint64_t v = g_ascii_strtoull(s, &end, 0);
    unsigned int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (errno || end == s || *end || *s == '-' || (shift && v > (UINT64_MAX >> shift))) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "property '%s': '%s' is not a number", key, s);
        return false;
    }
    *out = v << shift;
    return true;
}

bool opts_get_bool(struct opts *o, const char *key, bool fallback, bool *out, GError **error)
{
    const char *s = opts_get_str(o, key, NULL);

    if (!s)
        *out = fallback;
    else if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true"))
        *out = true;
    else if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false"))
        *out = false;
    else {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "property '%s': '%s' is not on/off", key, s);
        return false;
    }
    return true;
}

bool opts_check_all_used(struct opts *o, const char *what, GError **error)
{
    for (unsigned int i = 0; i < o->items->len; i++) {
        struct opt *item = g_ptr_array_index(o->items, i);
        if (!item->used) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                        "%s has no property '%s'", what, item->key);
            return false;
        }
    }
    return true;
}
