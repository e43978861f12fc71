/* SPDX-License-Identifier: MIT */
#include "ioreq/log.h"

bool ratelimit_allow(struct ratelimit *rl, unsigned int *suppressed)
{
    int64_t now = g_get_monotonic_time();

    *suppressed = 0;
    if (now - rl->window_start >= rl->interval_us) {
        rl->window_start = now;
        rl->printed = 0;
    }
    if (rl->printed >= rl->burst) {
        rl->suppressed++;
        return false;
    }
    rl->printed++;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
}
