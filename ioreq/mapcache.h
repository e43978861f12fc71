/* SPDX-License-Identifier: MIT */
/*
 * Guest memory map cache: maps guest frames on demand in 1 MiB buckets
 * (one foreign-map call per bucket instead of one per access) and keeps a
 * bounded number of them. INVALIDATE drops every unlocked bucket, because
 * the guest memory behind it may be gone.
 */
#ifndef IOREQD_MAPCACHE_H
#define IOREQD_MAPCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ioreq/hv.h"

#define MAPCACHE_BUCKET_SHIFT 20
#define MAPCACHE_PAGE_SHIFT 12

struct mapcache;

/* max_buckets bounds the address space we hold mapped. */
struct mapcache *mapcache_new(struct hv *hv, unsigned int max_buckets);
void mapcache_free(struct mapcache *mc);

/* Copy between guest-physical memory and a buffer; any length, any
 * alignment, crossing buckets. -EFAULT if part of the range is not RAM
 * (nothing is written to the guest in that case for the failing page on). */
int mapcache_read(struct mapcache *mc, uint64_t gpa, void *buf, size_t len);
int mapcache_write(struct mapcache *mc, uint64_t gpa, const void *buf, size_t len);

/* Log-dirty (QMP xen-set-global-dirty-log, for live migration): while on,
 * the pages mapcache_write touches are reported to the hypervisor with
 * modified_memory, because its own dirty log cannot see writes made
 * through our mappings. Adjacent writes are merged; mapcache_flush_dirty
 * reports what is pending (call it when a request is done). Turning it off
 * flushes first. */
void mapcache_set_log_dirty(struct mapcache *mc, bool on);
void mapcache_flush_dirty(struct mapcache *mc);

/* Drop every mapping nobody holds locked. */
void mapcache_invalidate(struct mapcache *mc);

/* Statistics for tests and benchmarks. */
unsigned int mapcache_nr_mapped(const struct mapcache *mc);

#endif
