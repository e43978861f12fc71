/* SPDX-License-Identifier: MIT */
/*
 * One line per event, naming the domain and the device. Paths a guest can
 * trigger go through a ratelimit so a hostile guest cannot flood the log
 * (or the disk behind it).
 */
#ifndef IOREQD_LOG_H
#define IOREQD_LOG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define log_info(domid, dev, fmt, ...) \
    g_message("dom%u %s: " fmt, (unsigned)(domid), (dev), ##__VA_ARGS__)
#define log_warn(domid, dev, fmt, ...) \
    g_warning("dom%u %s: " fmt, (unsigned)(domid), (dev), ##__VA_ARGS__)

/* At most `burst` lines per `interval_us`; the next allowed line reports how
 * many were suppressed in between. */
struct ratelimit {
    int64_t interval_us;
    unsigned int burst;
    int64_t window_start;
    unsigned int printed;
    unsigned int suppressed;
};

#define RATELIMIT_INIT { .interval_us = G_USEC_PER_SEC, .burst = 10 }

/* True when a line may be printed now; *suppressed gets the count dropped
 * since the last printed line. */
bool ratelimit_allow(struct ratelimit *rl, unsigned int *suppressed);

#define log_limited(rl, domid, dev, fmt, ...)                                          \
    do {                                                                               \
        unsigned int suppressed_;                                                      \
        if (ratelimit_allow((rl), &suppressed_)) {                                     \
            if (suppressed_)                                                           \
                g_warning("dom%u %s: " fmt " (%u similar lines suppressed)",           \
                          (unsigned)(domid), (dev), ##__VA_ARGS__, suppressed_);       \
            else                                                                       \
                g_warning("dom%u %s: " fmt, (unsigned)(domid), (dev), ##__VA_ARGS__); \
        }                                                                              \
    } while (0)

#endif
