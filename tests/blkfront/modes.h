/* SPDX-License-Identifier: MIT */
/* What the blkfront CLI does once connected. Each returns an exit status
 * (0 fine, 1 a failure it printed). */
#ifndef BLKFRONT_MODES_H
#define BLKFRONT_MODES_H

#include "tests/blkfront/blkfront.h"

struct mode_opts {
    uint64_t ops;            /* verify/disappear: requests to issue */
    uint64_t seed;
    uint32_t max_sectors;    /* per read/write */
    uint64_t span_sectors;   /* verify: the part of the disk used (0: all, max 1 GiB) */
    bool discard_zeroes;     /* verify: discarded sectors read back as zero */
    double bench_seconds;    /* per bench workload */
    const char *bench_loads; /* comma-separated, NULL: all */
    uint64_t bench_windows;  /* timed runs per workload; > 1: each waits for a line on stdin */
    const char *raw_cases;   /* comma-separated, NULL: all */
};

int mode_verify(struct blkfront *bf, const struct mode_opts *m);
int mode_bench(struct blkfront *bf, const struct mode_opts *m);
bool bench_loads_valid(const char *names);
int mode_raw(struct blkfront *bf, const struct mode_opts *m);
/* Never returns: exits with requests in flight, telling no one. */
void mode_disappear(struct blkfront *bf, const struct mode_opts *m) __attribute__((noreturn));

#endif
