/* SPDX-License-Identifier: MIT */
/*
 * What runs in an x86 guest before its own code: hvmloader's PCI stage
 * (firmware/pci-setup.h), through real config cycles routed to the device
 * models exactly as the guest's own would be.
 *
 * It runs on request (qtest `xen_pci_setup`) or, for a domain created with
 * `pci-setup=on`, by itself once, just before the guest's first access
 * (port I/O, MMIO or RAM). That is where Xen runs hvmloader: the toolstack
 * starts every device model and only then unpauses the domain, so the
 * first guest instruction finds all their servers enabled. A stage that
 * fails crashes the domain with its message, as a guest whose firmware
 * cannot set up PCI does not boot.
 */
#ifndef XENSIM_GUEST_START_H
#define XENSIM_GUEST_START_H

#include <glib.h>
#include <stdbool.h>

#include "contrib/xensim/domain.h"

/* The PCI stage now, issued as vCPU `vcpu`; logs one line either way.
 * false: *error says why (devices do not fit, the domain crashed...). */
bool xsim_pci_setup_run(struct xsim_domain *d, unsigned int vcpu, GError **error);

/* Call before every guest access. With pci-setup=on, the first caller runs
 * the stage (as its vCPU) and every other caller waits for it; later calls
 * return at once. */
void xsim_guest_start(struct xsim_domain *d, unsigned int vcpu);

#endif
