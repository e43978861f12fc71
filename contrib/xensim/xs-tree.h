/* SPDX-License-Identifier: MIT */
/*
 * The xenstore tree: nodes with values and permissions, Xen's permission
 * rules, path validation. No I/O: the wire protocol is in xenstore.c.
 */
#ifndef XENSIM_XS_TREE_H
#define XENSIM_XS_TREE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* One permission entry: the first of a node's list names its owner and the
 * access everyone else gets by default; later entries grant a domain more. */
struct xs_perm {
    unsigned int domid;
    char access; /* 'n' none, 'r' read, 'w' write, 'b' both */
};

struct xs_node {
    char *name;
    struct xs_node *parent;
    GPtrArray *children; /* struct xs_node, in creation order */
    GByteArray *value;
    GArray *perms;       /* struct xs_perm, at least one */
    uint64_t gen;        /* store generation of its last change */
};

/* Who asks: dom0's socket is privileged, a guest's is not. */
struct xs_actor {
    unsigned int domid;
    bool privileged;
};

struct xs_node *xs_node_new_root(void);
void xs_node_free(struct xs_node *n);
struct xs_node *xs_node_clone(const struct xs_node *n, struct xs_node *parent);

/* Absolute path of a node (g_free). */
char *xs_node_path(const struct xs_node *n);
struct xs_node *xs_tree_lookup(struct xs_node *root, const char *abs_path);

/* Make a path absolute for an actor (relative paths live under
 * /local/domain/ID) and check it: characters, length, no empty component.
 * NULL if invalid. Watch paths may also be "@special". */
char *xs_path_canonical(const struct xs_actor *who, const char *path, bool allow_special);

bool xs_can_read(const struct xs_actor *who, const struct xs_node *n);
bool xs_can_write(const struct xs_actor *who, const struct xs_node *n);

/* Create path and any missing ancestors; new nodes inherit their parent's
 * permissions, owned by the creating domain when it is not privileged.
 * Returns the node; *created tells whether it is new. errno-style codes:
 * -EACCES when the nearest existing ancestor is not writable. */
int xs_tree_create(struct xs_node *root, const struct xs_actor *who, const char *abs_path,
                   uint64_t gen, struct xs_node **out, bool *created);
void xs_node_remove(struct xs_node *n);

/* "n0", "r1"... parsing and formatting */
bool xs_perm_parse(const char *text, struct xs_perm *perm);
void xs_perms_format(const GArray *perms, GByteArray *out); /* NUL after each */

unsigned int xs_tree_count(const struct xs_node *n);

#endif
