/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/irq.h"

#include <errno.h>

static unsigned int pci_link(unsigned int device, unsigned int pin)
{
    return (device + pin) & 3;
}

uint16_t xsim_irq_isa_levels(const struct xsim_irq_state *st)
{
    uint16_t levels = 0;
    for (unsigned int irq = 0; irq < XSIM_ISA_IRQS; irq++) {
        if (st->isa_line[irq])
            levels |= 1u << irq;
    }
    for (unsigned int dev = 0; dev < XSIM_PCI_DEVICES; dev++) {
        for (unsigned int pin = 0; pin < 4; pin++) {
            if (!(st->intx_pins[dev] & (1u << pin)))
                continue;
            uint8_t isa = st->link_route[pci_link(dev, pin)];
            if (isa)
                levels |= 1u << isa;
        }
    }
    return levels;
}

int xsim_irq_set_isa(struct xsim_irq_state *st, uint64_t irq, uint64_t level)
{
    if (irq >= XSIM_ISA_IRQS || level > 1)
        return -EINVAL;
    st->isa_line[irq] = level;
    return 0;
}

int xsim_irq_set_intx(struct xsim_irq_state *st, uint64_t sbdf, uint64_t pin, uint64_t level)
{
    /* only segment 0, bus 0 has INTx routing in an HVM guest */
    if (sbdf > 0xFFFFFFFFu || (sbdf >> 8) != 0 || pin > 3 || level > 1)
        return -EINVAL;
    unsigned int dev = (sbdf >> 3) & 0x1f;
    if (level)
        st->intx_pins[dev] |= 1u << pin;
    else
        st->intx_pins[dev] &= ~(1u << pin);
    return 0;
}

int xsim_irq_set_link_route(struct xsim_irq_state *st, uint64_t link, uint64_t isa_irq)
{
    if (link >= XSIM_PCI_LINKS || isa_irq >= XSIM_ISA_IRQS)
        return -EINVAL;
    st->link_route[link] = (uint8_t)isa_irq;
    return 0;
}

int xsim_irq_inject_msi(struct xsim_irq_state *st, uint64_t addr, uint64_t data)
{
    /* x86 MSIs are writes to the local APIC window 0xFEExxxxx */
    if ((addr >> 20) != 0xFEE || data > 0xFFFFFFFFu)
        return -EINVAL;
    st->msi_count++;
    st->last_msi_addr = addr;
    st->last_msi_data = (uint32_t)data;
    return 0;
}

int xsim_irq_set_spi(struct xsim_irq_state *st, uint64_t irq, uint64_t level)
{
    if (irq < XSIM_SPI_FIRST || irq >= XSIM_SPI_LIMIT || level > 1)
        return -EINVAL;
    if (level)
        st->spi_level[irq / 32] |= 1u << (irq % 32);
    else
        st->spi_level[irq / 32] &= ~(1u << (irq % 32));
    return 0;
}

bool xsim_irq_spi_level(const struct xsim_irq_state *st, uint32_t irq)
{
    return irq < XSIM_SPI_LIMIT && (st->spi_level[irq / 32] >> (irq % 32)) & 1;
}
