/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/bench.h"

#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples (pct in 1..100). */
static uint64_t percentile(const uint32_t *sorted, uint32_t n, unsigned int pct)
{
    uint64_t rank = ((uint64_t)n * pct + 99) / 100;
    return sorted[rank ? rank - 1 : 0];
}

static int one_access(struct xsim_domain *d, unsigned int vcpu, enum xsim_bench_access access,
                      uint64_t addr, unsigned int size, uint32_t i)
{
    uint64_t value = i;

    if (access == XSIM_BENCH_PIO_READ)
        return xsim_guest_pio(d, vcpu, (uint32_t)addr, size, true, &value);
    /* a changing value, so no layer could ever skip a write as redundant */
    value &= size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
    return xsim_guest_mem(d, vcpu, addr, size, false, &value);
}

int xsim_bench_run(struct xsim_domain *d, unsigned int vcpu, enum xsim_bench_access access,
                   uint64_t addr, unsigned int size, uint32_t n, struct xsim_bench_result *out)
{
    /* 32 bits of nanoseconds per sample: 4 s, far beyond any round trip,
     * and half the memory of 64-bit samples for 10 million of them. */
    uint32_t *samples = g_try_new(uint32_t, n ? n : 1);
    int rc = XSIM_IO_OK;

    if (!samples || n == 0 || n > XSIM_BENCH_MAX_ITERATIONS) {
        g_free(samples);
        return XSIM_IO_BADARG;
    }
    uint64_t start = now_ns(), before = start;
    for (uint32_t i = 0; i < n; i++) {
        rc = one_access(d, vcpu, access, addr, size, i);
        uint64_t after = now_ns();
        if (rc != XSIM_IO_OK)
            break;
        uint64_t took = after - before;
        samples[i] = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
        before = after;
    }
    if (rc == XSIM_IO_OK) {
        out->total_ns = before - start;
        out->mean_ns = out->total_ns / n;
        qsort(samples, n, sizeof(*samples), compare_u32);
        out->median_ns = percentile(samples, n, 50);
        out->p99_ns = percentile(samples, n, 99);
    }
    g_free(samples);
    return rc;
}
