/* SPDX-License-Identifier: MIT */
/*
 * Interrupt state a device model drives, with no I/O: ISA IRQ lines, PCI
 * INTx pins routed through the PIIX3 PCI links to ISA IRQs (link =
 * (device + pin) & 3, as Xen's hvm_pci_intx_assert), MSI injection counts
 * and ARM SPI levels. The caller holds the domain lock and turns level
 * changes into qtest `IRQ raise/lower` lines.
 */
#ifndef XENSIM_IRQ_H
#define XENSIM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#define XSIM_ISA_IRQS 16
#define XSIM_PCI_LINKS 4
#define XSIM_PCI_DEVICES 32
#define XSIM_SPI_FIRST 32
#define XSIM_SPI_LIMIT 1020 /* GIC: INTIDs 1020.. are special */

struct xsim_irq_state {
    bool isa_line[XSIM_ISA_IRQS];          /* set by SET_ISA_IRQ */
    uint8_t intx_pins[XSIM_PCI_DEVICES];   /* bit n = INTx pin n asserted */
    uint8_t link_route[XSIM_PCI_LINKS];    /* ISA IRQ, 0 = disabled */
    uint64_t msi_count;
    uint64_t last_msi_addr;
    uint32_t last_msi_data;
    uint32_t spi_level[XSIM_SPI_LIMIT / 32 + 1];
};

/* Effective ISA IRQ levels (bit n = IRQ n high): its own line or any
 * asserted PCI link routed to it. */
uint16_t xsim_irq_isa_levels(const struct xsim_irq_state *st);

/* Each returns 0 or -EINVAL for an out-of-range argument (state unchanged). */
int xsim_irq_set_isa(struct xsim_irq_state *st, uint64_t irq, uint64_t level);
int xsim_irq_set_intx(struct xsim_irq_state *st, uint64_t sbdf, uint64_t pin, uint64_t level);
int xsim_irq_set_link_route(struct xsim_irq_state *st, uint64_t link, uint64_t isa_irq);
int xsim_irq_inject_msi(struct xsim_irq_state *st, uint64_t addr, uint64_t data);
int xsim_irq_set_spi(struct xsim_irq_state *st, uint64_t irq, uint64_t level);
bool xsim_irq_spi_level(const struct xsim_irq_state *st, uint32_t irq);

#endif
