/* SPDX-License-Identifier: MIT */
/*
 * QEMU-style option strings: "name,key=val,key2=val2". Values are typed on
 * access; every key must be consumed, so a misspelt property is an error
 * that names it instead of being silently ignored.
 */
#ifndef IOREQD_OPTIONS_H
#define IOREQD_OPTIONS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct opts;
typedef struct opts opts; /* for g_autoptr */

/* The first element is the implied key (e.g. the device or backend name)
 * unless it contains '='. ",," escapes a comma. */
struct opts *opts_parse(const char *text, const char *implied_key, GError **error);
void opts_free(struct opts *o);

const char *opts_get_str(struct opts *o, const char *key, const char *fallback);
bool opts_get_u64(struct opts *o, const char *key, uint64_t fallback, uint64_t *out,
                  GError **error);
bool opts_get_bool(struct opts *o, const char *key, bool fallback, bool *out, GError **error);
bool opts_has(struct opts *o, const char *key);

/* Fails naming the first key nobody asked for. `what` is e.g.
 * "device 'isa-debugcon'". */
bool opts_check_all_used(struct opts *o, const char *what, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(opts, opts_free)

#endif
