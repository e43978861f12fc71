/* SPDX-License-Identifier: MIT */
/*
 * xensim's logging: one line to stderr per event. Paths a client can
 * trigger at will go through a rate limit so a hostile client cannot flood
 * the log.
 */
#ifndef XENSIM_LOG_H
#define XENSIM_LOG_H

#include <glib.h>
#include <stdbool.h>

struct xsim_ratelimit {
    GMutex lock;
    gint64 window_start_us;
    unsigned int in_window;
    unsigned int suppressed;
};

void xsim_ratelimit_init(struct xsim_ratelimit *rl);
void xsim_ratelimit_clear(struct xsim_ratelimit *rl);

void xsim_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Logs unless more than a few lines went out this second. */
void xsim_log_limited(struct xsim_ratelimit *rl, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif
