/* SPDX-License-Identifier: MIT */
#ifndef IOREQD_XEN_PLATFORM_H
#define IOREQD_XEN_PLATFORM_H

#include <stdint.h>

/* Unplug bits of the hvm-emulated-unplug protocol (Xen's
 * docs/misc/hvm-emulated-unplug.pandoc). */
#define XEN_UNPLUG_ALL_IDE_DISKS (1u << 0)
#define XEN_UNPLUG_ALL_NICS (1u << 1)
#define XEN_UNPLUG_AUX_IDE_DISKS (1u << 2)
#define XEN_UNPLUG_ALL_NVME_DISKS (1u << 3)

struct xen_platform;

/* Every unplug bit the guest has set so far: emulated disk and NIC
 * devices consult it to disappear. */
uint32_t xen_platform_unplugged(const struct xen_platform *p);
uint16_t xen_platform_product(const struct xen_platform *p);
uint32_t xen_platform_build(const struct xen_platform *p);

#endif
