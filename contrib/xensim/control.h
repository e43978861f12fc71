/* SPDX-License-Identifier: MIT */
/*
 * The control socket (protocol.h): device models' requests, served on the
 * main loop. Each connection binds to one domain at OPEN and owns the
 * servers and event channel bindings it makes; closing it destroys them.
 */
#ifndef XENSIM_CONTROL_H
#define XENSIM_CONTROL_H

#include <glib.h>

#include "contrib/xensim/log.h"

struct xsim_control;

/* domains: struct xsim_domain * by domid lookup; borrowed, outlives us. */
struct xsim_control *xsim_control_new(const char *path, GPtrArray *domains,
                                      struct xsim_ratelimit *rl, GError **error);
/* Closes every connection (destroying their servers) and the socket. */
void xsim_control_free(struct xsim_control *ctl);

/* A listening unix socket of the given type at path (replacing a stale one). */
int xsim_listen_unix(const char *path, int type, GError **error);

#endif
