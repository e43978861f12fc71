/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/xs-tree.h"

#include <errno.h>
#include <string.h>

#include <stdint.h>
#include <xen/io/xs_wire.h>

static struct xs_node *node_new(const char *name, struct xs_node *parent)
{
    struct xs_node *n = g_new0(struct xs_node, 1);

    n->name = g_strdup(name);
    n->parent = parent;
    n->children = g_ptr_array_new();
    n->value = g_byte_array_new();
    n->perms = g_array_new(FALSE, FALSE, sizeof(struct xs_perm));
    return n;
}

struct xs_node *xs_node_new_root(void)
{
    struct xs_node *root = node_new("", NULL);
    struct xs_perm owner_dom0 = { 0, 'n' };

    g_array_append_val(root->perms, owner_dom0);
    return root;
}

void xs_node_free(struct xs_node *n)
{
    if (!n)
        return;
    for (unsigned int i = 0; i < n->children->len; i++)
        xs_node_free(g_ptr_array_index(n->children, i));
    g_ptr_array_free(n->children, TRUE);
    g_byte_array_free(n->value, TRUE);
    g_array_free(n->perms, TRUE);
    g_free(n->name);
    g_free(n);
}

struct xs_node *xs_node_clone(const struct xs_node *n, struct xs_node *parent)
{
    struct xs_node *c = node_new(n->name, parent);

    g_byte_array_append(c->value, n->value->data, n->value->len);
    g_array_append_vals(c->perms, n->perms->data, n->perms->len);
    c->gen = n->gen;
    for (unsigned int i = 0; i < n->children->len; i++)
        g_ptr_array_add(c->children, xs_node_clone(g_ptr_array_index(n->children, i), c));
    return c;
}

char *xs_node_path(const struct xs_node *n)
{
    GPtrArray *parts = g_ptr_array_new();

    for (; n && n->parent; n = n->parent)
        g_ptr_array_insert(parts, 0, n->name);
    if (parts->len == 0) {
        g_ptr_array_free(parts, TRUE);
        return g_strdup("/");
    }
    GString *s = g_string_new(NULL);
    for (unsigned int i = 0; i < parts->len; i++)
        g_string_append_printf(s, "/%s", (const char *)g_ptr_array_index(parts, i));
    g_ptr_array_free(parts, TRUE);
    return g_string_free(s, FALSE);
}

static struct xs_node *child_named(const struct xs_node *n, const char *name, size_t len)
{
    for (unsigned int i = 0; i < n->children->len; i++) {
        struct xs_node *c = g_ptr_array_index(n->children, i);
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    }
    return NULL;
}

struct xs_node *xs_tree_lookup(struct xs_node *root, const char *abs_path)
{
    struct xs_node *n = root;
    const char *p = abs_path + 1;

    while (n && *p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        n = child_named(n, p, len);
        p += len + (slash ? 1 : 0);
    }
    return n;
}

/* Xen's alphabet for node names. */
static bool valid_chars(const char *p)
{
    for (; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("-/_@", *p))
            return false;
    return true;
}

char *xs_path_canonical(const struct xs_actor *who, const char *path, bool allow_special)
{
    if (allow_special && path[0] == '@')
        return (strlen(path) < 64 && valid_chars(path + 1)) ? g_strdup(path) : NULL;
    if (!*path || !valid_chars(path) || strstr(path, "//") ||
        (strlen(path) > 1 && path[strlen(path) - 1] == '/'))
        return NULL;
    if (path[0] == '/')
        return strlen(path) <= XENSTORE_ABS_PATH_MAX ? g_strdup(path) : NULL;
    if (strlen(path) > XENSTORE_REL_PATH_MAX)
        return NULL;
    return g_strdup_printf("/local/domain/%u/%s", who->domid, path);
}

static char access_of(const struct xs_actor *who, const struct xs_node *n)
{
    const struct xs_perm *perms = (const struct xs_perm *)n->perms->data;

    if (who->privileged || perms[0].domid == who->domid)
        return 'b';
    for (unsigned int i = 1; i < n->perms->len; i++)
        if (perms[i].domid == who->domid)
            return perms[i].access;
    return perms[0].access;
}

bool xs_can_read(const struct xs_actor *who, const struct xs_node *n)
{
    char a = access_of(who, n);
    return a == 'r' || a == 'b';
}

bool xs_can_write(const struct xs_actor *who, const struct xs_node *n)
{
    char a = access_of(who, n);
    return a == 'w' || a == 'b';
}

int xs_tree_create(struct xs_node *root, const struct xs_actor *who, const char *abs_path,
                   uint64_t gen, struct xs_node **out, bool *created)
{
    struct xs_node *n = root;
    const char *p = abs_path + 1;
    bool checked = false;

    *created = false;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        struct xs_node *c = child_named(n, p, len);
        if (!c) {
            /* creating below n: n is the nearest existing ancestor */
            if (!checked && !xs_can_write(who, n))
                return -EACCES;
            checked = true;
            g_autofree char *name = g_strndup(p, len);
            c = node_new(name, n);
            g_array_append_vals(c->perms, n->perms->data, n->perms->len);
            if (!who->privileged)
                g_array_index(c->perms, struct xs_perm, 0).domid = who->domid;
            c->gen = gen;
            n->gen = gen;
            g_ptr_array_add(n->children, c);
            *created = true;
        }
        n = c;
        p += len + (slash ? 1 : 0);
    }
    *out = n;
    return 0;
}

void xs_node_remove(struct xs_node *n)
{
    g_assert(n->parent);
    g_ptr_array_remove(n->parent->children, n);
    xs_node_free(n);
}

bool xs_perm_parse(const char *text, struct xs_perm *perm)
{
    guint64 domid;

    if (!text[0] || !strchr("nrwb", text[0]) ||
        !g_ascii_string_to_unsigned(text + 1, 10, 0, 0xffff, &domid, NULL))
        return false;
    perm->access = text[0];
    perm->domid = (unsigned int)domid;
    return true;
}

void xs_perms_format(const GArray *perms, GByteArray *out)
{
    for (unsigned int i = 0; i < perms->len; i++) {
        const struct xs_perm *p = &g_array_index(perms, struct xs_perm, i);
        char buf[16];
        int len = g_snprintf(buf, sizeof(buf), "%c%u", p->access, p->domid);
        g_byte_array_append(out, (const guint8 *)buf, (guint)len + 1);
    }
}

unsigned int xs_tree_count(const struct xs_node *n)
{
    unsigned int count = 1;
    for (unsigned int i = 0; i < n->children->len; i++)
        count += xs_tree_count(g_ptr_array_index(n->children, i));
    return count;
}
