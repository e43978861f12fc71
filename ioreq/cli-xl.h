/* SPDX-License-Identifier: MIT */
/*
 * The rest of what libxl passes a qemu-xen device model (libxl_dm.c):
 * QMP monitors, -smp, -boot, -vnc, -net, -global, -S, -no-shutdown. Each is
 * either honoured, accepted because it is what ioreqd does anyway, or
 * refused with one line naming the option and what is missing.
 */
#ifndef IOREQD_CLI_XL_H
#define IOREQD_CLI_XL_H

#include <glib.h>
#include <stdbool.h>

/* Xen's limit for HVM guests (HVM_MAX_VCPUS). */
#define XL_MAX_VCPUS 128

struct xl_options {
    unsigned int smp_cpus; /* -smp N: 0 when not given */
    unsigned int smp_max;  /* maxcpus=M, N when not given */
    GPtrArray *monitor_ids; /* -mon chardev=ID,mode=control: chardev ids */
    GPtrArray *qmp_specs;   /* QMP sockets as "-chardev socket,..." specs */
    GPtrArray *globals;     /* -global DRIVER.PROP=VALUE, checked */
    char *boot_order;       /* -boot order=...: the firmware's business */
    bool start_paused;      /* -S: no emulation until QMP "cont" */
    bool no_shutdown;       /* -no-shutdown */
};

void xl_options_clear(struct xl_options *x);
bool xl_takes_argument(const char *opt);
/* Returns false when opt is not one of these; else *ok says whether the
 * value was valid (error set when not). */
bool xl_apply_option(struct xl_options *x, const char *opt, const char *arg, bool *ok,
                     GError **error);
bool xl_apply_flag(struct xl_options *x, const char *opt);
/* After the whole command line: move every chardev a -mon names from
 * chardevs to qmp_specs (QMP owns that socket), -global applied to the
 * -device specs of its driver. */
bool xl_finish(struct xl_options *x, GPtrArray *chardevs, GPtrArray *devices, GError **error);
/* -smp against the vCPU count the hypervisor reports. */
bool xl_check_smp(const struct xl_options *x, unsigned int nr_vcpus, GError **error);

#endif
