/* SPDX-License-Identifier: MIT */
/*
 * Deprivileging, as libxl's dm_restrict expects: once every privileged
 * set-up is done, restrict the hypervisor handles to the guest's domain,
 * enter the chroot and become an unprivileged user with no supplementary
 * groups. A device model that a guest compromises then holds nothing but
 * that one guest.
 */
#ifndef IOREQD_PRIVSEP_H
#define IOREQD_PRIVSEP_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ioreq/hv.h"

struct privsep {
    bool restrict_domain; /* -xen-domid-restrict */
    bool change_user;     /* -runas / -run-with user= */
    uid_t uid;
    gid_t gid;
    char *chroot_dir;     /* -chroot / -run-with chroot= */
};

void privsep_clear(struct privsep *p);
/* "USER" (looked up now, so a typo fails early) or "UID:GID". */
bool privsep_parse_user(struct privsep *p, const char *spec, GError **error);
/* QEMU's "-run-with user=U,chroot=D". */
bool privsep_parse_run_with(struct privsep *p, const char *spec, GError **error);
/* Do it all, in the only safe order; false (and nothing half-done that
 * leaves us privileged and running) on any failure. */
bool privsep_apply(const struct privsep *p, struct hv *hv, GError **error);

#endif
