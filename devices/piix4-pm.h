/* SPDX-License-Identifier: MIT */
#ifndef IOREQD_PIIX4_PM_H
#define IOREQD_PIIX4_PM_H

#include <stdbool.h>
#include <stdint.h>

struct piix4_pm;

/* Slots the guest has asked to eject through 0xae08 (bit n = slot n),
 * for the device that will actually remove them. */
uint32_t piix4_pm_ejected_slots(const struct piix4_pm *pm);
/* A device appeared in (inserted) or is to leave `slot`: set its PCIU or
 * PCID bit and raise the hotplug GPE, so the guest's _E01 notifies. */
void piix4_pm_slot_event(struct piix4_pm *pm, unsigned int slot, bool inserted);

#endif
