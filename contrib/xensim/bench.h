/* SPDX-License-Identifier: MIT */
/*
 * Benchmark extensions of the scripted guest: time N back-to-back guest
 * accesses inside xensim, so the text socket's cost stays out of the
 * figure and only the ioreq round trip (or the buffered ring) is measured.
 */
#ifndef XENSIM_BENCH_H
#define XENSIM_BENCH_H

#include <stdint.h>

#include "contrib/xensim/domain.h"

/* Upper bound on N: the per-access latencies are kept to sort them. */
#define XSIM_BENCH_MAX_ITERATIONS 10000000u

enum xsim_bench_access {
    XSIM_BENCH_PIO_READ,   /* in PORT, SIZE */
    XSIM_BENCH_MMIO_WRITE, /* single write of SIZE at ADDR (buffered in the VGA window) */
};

struct xsim_bench_result {
    uint64_t median_ns, p99_ns, mean_ns, total_ns;
};

/* Issue n accesses from vcpu and time each; stops at the first one that
 * fails and returns its XSIM_IO_* code. */
int xsim_bench_run(struct xsim_domain *d, unsigned int vcpu, enum xsim_bench_access access,
                   uint64_t addr, unsigned int size, uint32_t n, struct xsim_bench_result *out);

#endif
