/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/log.h"

#include <stdarg.h>
#include <stdio.h>

#define LINES_PER_SECOND 20

void xsim_ratelimit_init(struct xsim_ratelimit *rl)
{
    g_mutex_init(&rl->lock);
    rl->window_start_us = 0;
    rl->in_window = 0;
    rl->suppressed = 0;
}

void xsim_ratelimit_clear(struct xsim_ratelimit *rl)
{
    g_mutex_clear(&rl->lock);
}

static void vlog(const char *fmt, va_list ap)
{
    /* one fprintf per line so lines from threads do not interleave */
    char *msg = g_strdup_vprintf(fmt, ap);
    fprintf(stderr, "xensim: %s\n", msg);
    g_free(msg);
}

void xsim_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void xsim_log_limited(struct xsim_ratelimit *rl, const char *fmt, ...)
{
    gint64 now = g_get_monotonic_time();
    unsigned int suppressed = 0;
    bool emit;

    g_mutex_lock(&rl->lock);
    if (now - rl->window_start_us >= G_USEC_PER_SEC) {
        suppressed = rl->suppressed;
        rl->window_start_us = now;
        rl->in_window = 0;
        rl->suppressed = 0;
    }
    emit = rl->in_window < LINES_PER_SECOND;
    if (emit)
        rl->in_window++;
    else
        rl->suppressed++;
    g_mutex_unlock(&rl->lock);

    if (suppressed)
        xsim_log("(%u client-triggered messages suppressed)", suppressed);
    if (emit) {
        va_list ap;
        va_start(ap, fmt);
        vlog(fmt, ap);
        va_end(ap);
    }
}
