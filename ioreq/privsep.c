/* SPDX-License-Identifier: MIT */
#include "ioreq/privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/options.h"

void privsep_clear(struct privsep *p)
{
    g_free(p->chroot_dir);
    *p = (struct privsep){ 0 };
}

static bool fail(GError **error, const char *fmt, const char *arg)
{
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, fmt, arg);
    return false;
}

bool privsep_parse_user(struct privsep *p, const char *spec, GError **error)
{
    const char *colon = strchr(spec, ':');

    if (colon) {
        g_autofree char *uid_text = g_strndup(spec, (gsize)(colon - spec));
        guint64 uid, gid;
        if (!g_ascii_string_to_unsigned(uid_text, 10, 0, UINT32_MAX - 1, &uid, NULL) ||
            !g_ascii_string_to_unsigned(colon + 1, 10, 0, UINT32_MAX - 1, &gid, NULL))
            return fail(error, "-runas: '%s' is not USER or UID:GID", spec);
        p->uid = (uid_t)uid;
        p->gid = (gid_t)gid;
    } else {
        struct passwd *pw = *spec ? getpwnam(spec) : NULL;
        if (!pw)
            return fail(error, "-runas: no user '%s'", spec);
        p->uid = pw->pw_uid;
        p->gid = pw->pw_gid;
    }
    p->change_user = true;
    return true;
}

bool privsep_parse_run_with(struct privsep *p, const char *spec, GError **error)
{
    g_autoptr(opts) o = opts_parse(spec, NULL, error);

    if (!o)
        return false;
    const char *user = opts_get_str(o, "user", NULL);
    const char *dir = opts_get_str(o, "chroot", NULL);
    if (user && !privsep_parse_user(p, user, error))
        return false;
    if (dir) {
        g_free(p->chroot_dir);
        p->chroot_dir = g_strdup(dir);
    }
    return opts_check_all_used(o, "-run-with", error);
}

static bool drop_user(const struct privsep *p, GError **error)
{
    if (setgroups(0, NULL) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot become uid %u gid %u: %s", (unsigned)p->uid, (unsigned)p->gid,
                    g_strerror(errno));
        return false;
    }
    /* Prove it is permanent: a process that can get root back has not
     * dropped anything. */
    if (p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM, "could regain root after dropping it");
        return false;
    }
    return true;
}

bool privsep_apply(const struct privsep *p, struct hv *hv, GError **error)
{
    if (p->restrict_domain) {
        int rc = hv->ops->restrict_to_domain(hv);
        if (rc < 0) {
            g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-rc),
                        "-xen-domid-restrict: restricting to domain %u failed: %s; refusing to "
                        "run unrestricted", hv->domid, g_strerror(-rc));
            return false;
        }
    }
    if (p->chroot_dir && (chroot(p->chroot_dir) < 0 || chdir("/") < 0)) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "-chroot %s: %s",
                    p->chroot_dir, g_strerror(errno));
        return false;
    }
    return !p->change_user || drop_user(p, error);
}
