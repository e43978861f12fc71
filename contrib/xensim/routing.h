/* SPDX-License-Identifier: MIT */
/*
 * ioreq routing, as Xen does it, with no I/O: the per-domain table of up to
 * 8 servers with their port/MMIO/PCI ranges, the choice of server for an
 * access, CF8/CFC decoding and the page cuts of rep MMIO. Pure functions so
 * they are unit-tested directly (tests/unit/test-routing.c); the caller
 * holds whatever lock protects the table.
 */
#ifndef XENSIM_ROUTING_H
#define XENSIM_ROUTING_H

#include <stdbool.h>
#include <stdint.h>

#include "contrib/xensim/protocol.h"
#include "ioreq/hv.h"

#define XSIM_RANGE_TYPES 3

struct xsim_range {
    uint64_t start, end; /* inclusive */
};

struct xsim_range_set {
    unsigned int count;
    struct xsim_range range[XSIM_MAX_RANGES];
};

struct xsim_route_server {
    bool present;
    bool enabled;
    struct xsim_range_set set[XSIM_RANGE_TYPES];
};

struct xsim_routing {
    struct xsim_route_server server[XSIM_MAX_SERVERS];
};

/* Lowest free server id, or -ENOSPC. Marks it present and disabled. */
int xsim_routing_add_server(struct xsim_routing *rt);
void xsim_routing_remove_server(struct xsim_routing *rt, unsigned int id);
bool xsim_routing_has_server(const struct xsim_routing *rt, unsigned int id);
void xsim_routing_set_enabled(struct xsim_routing *rt, unsigned int id, bool enabled);
unsigned int xsim_routing_enabled_count(const struct xsim_routing *rt);

/* The largest value a range of this type may name (ports 16 bits, SBDFs 32). */
uint64_t xsim_range_type_limit(enum hv_range_type type);

/* 0, -EINVAL (bad type, start > end, past the type's limit), -EEXIST
 * (overlaps a range of the same server and type), -ENOSPC (256 already),
 * -ENOENT (no such server). */
int xsim_routing_map(struct xsim_routing *rt, unsigned int id, unsigned int type, uint64_t start,
                     uint64_t end);
/* 0, -EINVAL, -ENOENT unless exactly [start, end] is mapped. */
int xsim_routing_unmap(struct xsim_routing *rt, unsigned int id, unsigned int type,
                       uint64_t start, uint64_t end);

/* The server that gets the access [first, last] of this type: the first
 * enabled one from id 7 down to 0 with a range containing all of it, or -1. */
int xsim_route(const struct xsim_routing *rt, enum hv_range_type type, uint64_t first,
               uint64_t last);

/* CF8/CFC: when a port access of size bytes at port is a PCI config access
 * under the latched cf8 value, true with the SBDF to route by and the ioreq
 * addr ((sbdf << 32) | register). */
#define XSIM_PCI_CF8 0xCF8u
#define XSIM_PCI_CFC 0xCFCu
#define XSIM_CF8_ENABLE 0x80000000u
bool xsim_cf8_decode(uint32_t cf8, uint32_t port, unsigned int size, uint32_t *sbdf,
                     uint64_t *ioreq_addr);

/* The span [*first, *last] touched by count elements of size bytes starting
 * at addr, going down when df. false if it wraps around 64 bits. */
bool xsim_rep_span(uint64_t addr, unsigned int size, uint64_t count, bool df, uint64_t *first,
                   uint64_t *last);

/* How many of count elements (>= 1) one ioreq may carry so that it stays
 * within one page at addr and, when has_ptr, within one page at ptr too.
 * Always at least 1 (one element crossing a page goes alone). */
uint32_t xsim_rep_chunk(uint64_t addr, bool has_ptr, uint64_t ptr, unsigned int size,
                        uint32_t count, bool df);

/* Xen buffers only single, non-pointer writes to the VGA window. */
#define XSIM_VGA_START 0xA0000u
#define XSIM_VGA_END 0xBFFFFu
bool xsim_access_bufferable(uint64_t addr, unsigned int size, uint32_t count, bool data_is_ptr,
                            bool is_read);

#endif
