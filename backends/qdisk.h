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
/* Persistently mapped grants per queue; beyond it requests fall back to
 * grant copy (Linux's blkback uses the same default). */
#define QDISK_MAX_PERSISTENT_GRANTS 1056u

extern const struct xenbus_device_ops qdisk_ops;

#endif
