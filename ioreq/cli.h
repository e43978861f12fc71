/* SPDX-License-Identifier: MIT */
/*
 * The command line, in QEMU's syntax for what libxl passes, so ioreqd can
 * stand in for QEMU through device_model_override.
 */
#ifndef IOREQD_CLI_H
#define IOREQD_CLI_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "ioreq/cli-xl.h"
#include "ioreq/privsep.h"

enum accel_kind { ACCEL_XEN, ACCEL_XENSIM };

struct config {
    bool have_domid;
    uint32_t domid;
    enum accel_kind accel;
    char *sim_dir;
    char *name;
    char *machine;      /* -machine spec, or NULL */
    GPtrArray *devices; /* -device specs */
    GPtrArray *chardevs;
    GPtrArray *serials; /* -serial specs, COM1 first */
    bool nodefaults;
    unsigned int ioreq_poll_us; /* -ioreq-poll-us: spin after an event, 0 = never */
    /* -m: guest RAM in bytes (0 = not given: ask the hypervisor); maxmem
     * and slots are accepted and checked, there is no memory hotplug. */
    uint64_t ram_size;
    uint64_t ram_maxmem;
    unsigned int ram_slots;
    struct xl_options xl; /* -smp, -boot, -vnc, -mon, -qmp... (cli-xl.h) */
    struct privsep privsep;
    bool show_help, show_version;
};

void config_init(struct config *c);
void config_clear(struct config *c);
/* Fills c; on error, the message names the offending option or value. */
bool cli_parse(struct config *c, int argc, char **argv, GError **error);
void cli_print_help(const char *prog);

#endif
