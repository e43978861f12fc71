/* SPDX-License-Identifier: MIT */
#include "devices/pci/capability.h"

#define REG_STATUS 0x06
#define STATUS_CAP_LIST 0x10
#define REG_CAP_PTR 0x34
#define CAP_AREA_START 0x40
/* (256 - 64) / 4: more entries than that means the list loops. */
#define CAP_MAX_ENTRIES 48

uint8_t pci_add_capability(struct pci_device *d, uint8_t id, uint8_t size)
{
    unsigned int start = d->cap_next_free ? d->cap_next_free : CAP_AREA_START;

    if (size < 2 || start + size > PCI_CONFIG_SIZE)
        return 0;
    /* Link at the tail so the list reads in the order devices add them. */
    uint8_t *link = &d->config[REG_CAP_PTR];
    for (unsigned int n = 0; *link && n < CAP_MAX_ENTRIES; n++)
        link = &d->config[*link + 1];
    *link = (uint8_t)start;
    d->config[start] = id;
    d->config[start + 1] = 0;
    d->config[REG_STATUS] |= STATUS_CAP_LIST;
    unsigned int next = (start + size + 3) & ~3u;
    /* 0xff when full: any later add fails the bounds check above (a plain
     * 256 would wrap to 0 and start over at 0x40). */
    d->cap_next_free = next >= PCI_CONFIG_SIZE ? 0xff : (uint8_t)next;
    return (uint8_t)start;
}

uint8_t pci_find_capability(const struct pci_device *d, uint8_t id)
{
    if (!(d->config[REG_STATUS] & STATUS_CAP_LIST))
        return 0;
    uint8_t pos = d->config[REG_CAP_PTR] & ~3u;
    for (unsigned int n = 0; pos >= CAP_AREA_START && n < CAP_MAX_ENTRIES; n++) {
        if (d->config[pos] == id)
            return pos;
        pos = d->config[pos + 1] & ~3u;
    }
    return 0;
}
