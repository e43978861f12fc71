/* SPDX-License-Identifier: MIT */
/*
 * qdisk: the PV block backend (blkif) on the xenbus core and the disk I/O
 * engine. What it advertises and how it treats each request is described
 * in docs/qdisk.md.
 */
#ifndef BACKENDS_QDISK_H
#define BACKENDS_QDISK_H

#include "backends/xenbus.h"

/* Limits we advertise (and enforce). */
#define QDISK_MAX_QUEUES 4u
#define QDISK_MAX_INDIRECT_SEGMENTS 256u
/* Persistently mapped grants per queue: 32 requests of 1 MiB with their
 * indirect pages (32 x (256 + 16)). Beyond it, or when the hypervisor has
 * no room for more mappings, requests fall back to grant copy. */
#define QDISK_MAX_PERSISTENT_GRANTS 8704u
/* Bounce buffers (one request's worth, 1 MiB) kept per queue for reuse:
 * allocating them per request cost a page fault per page. */
#define QDISK_BOUNCE_CACHE 32u
/* Persistent-grant requests from this size up are gathered into a bounce
 * buffer: 1 MiB sequential reads 0.76 -> 1.06 and writes 0.85 -> 1.38 of
 * fio (docs/performance.md). Not tuned between 4 KiB and 1 MiB: smaller
 * requests have few segments to lose and stay zero-copy. */
#define QDISK_GATHER_MIN_BYTES (64u << 10)

extern const struct xenbus_device_ops qdisk_ops;

#endif
