/* SPDX-License-Identifier: MIT */
/*
 * The scripted guest: DIR/domN.qtest speaks QEMU's qtest line protocol plus
 * xen_* extensions (see qtest.c for the list). Every connection runs in its
 * own thread because an access may wait for a device model.
 */
#ifndef XENSIM_QTEST_H
#define XENSIM_QTEST_H

#include <glib.h>

#include "contrib/xensim/domain.h"
#include "contrib/xensim/log.h"

/* The connection threads of all domains, so shutdown can end and await them. */
struct xsim_qtest_threads {
    GMutex lock;
    GCond cond;
    GPtrArray *conns;
    unsigned int live;
    const gint *stopping;
};

void xsim_qtest_threads_init(struct xsim_qtest_threads *t, const gint *stopping);
/* Hang up every connection and wait for their threads to finish. */
void xsim_qtest_threads_stop(struct xsim_qtest_threads *t);
void xsim_qtest_threads_clear(struct xsim_qtest_threads *t);

struct xsim_qtest;
struct xsim_qtest *xsim_qtest_new(struct xsim_domain *d, const char *path,
                                  struct xsim_qtest_threads *threads, struct xsim_ratelimit *rl,
                                  GError **error);
void xsim_qtest_free(struct xsim_qtest *q);

#endif
