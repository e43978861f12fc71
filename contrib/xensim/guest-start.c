/* SPDX-License-Identifier: MIT */
#include "contrib/xensim/guest-start.h"

#include "contrib/xensim/log.h"
#include "firmware/pci-setup.h"

struct stage_io {
    struct xsim_domain *d;
    unsigned int vcpu;
};

/* One port access of the stage, as the guest's vCPU would make it. */
static bool stage_pio(void *opaque, uint16_t port, unsigned int size, bool is_read,
                      uint32_t *value, const char **why)
{
    const struct stage_io *s = opaque;
    uint64_t v = *value;
    int rc = xsim_guest_pio(s->d, s->vcpu, port, size, is_read, &v);

    if (rc != XSIM_IO_OK) {
        *why = rc == XSIM_IO_CRASHED    ? "domain crashed"
               : rc == XSIM_IO_SHUTDOWN ? "domain shutdown"
               : rc == XSIM_IO_STOPPED  ? "xensim stopping"
                                        : "bad port access";
        return false;
    }
    if (is_read)
        *value = (uint32_t)v;
    return true;
}

bool xsim_pci_setup_run(struct xsim_domain *d, unsigned int vcpu, GError **error)
{
    struct stage_io s = { .d = d, .vcpu = vcpu };
    const struct pci_setup_io io = { .pio = stage_pio, .opaque = &s };
    struct pci_setup_report report;
    struct memmap map;

    if (d->arch != HV_ARCH_X86) {
        g_set_error(error, g_quark_from_static_string("xsim-guest-start"), 0,
                    "x86 only (ARM guests have no hvmloader)");
        return false;
    }
    if (!memmap_compute(d->mem, d->layout.mmio_hole, &map, error) ||
        !pci_setup_run(&io, &map, &report, error)) {
        xsim_log("domain %u: PCI set-up failed: %s", d->domid, (*error)->message);
        return false;
    }
    xsim_log("domain %u: PCI set-up: %u functions, %u BARs in the hole (%u ROMs), "
             "%u above 4 GiB, %u I/O, %u interrupt lines",
             d->domid, report.functions, report.bars_low, report.roms, report.bars_high,
             report.bars_io, report.irq_lines);
    return true;
}

void xsim_guest_start(struct xsim_domain *d, unsigned int vcpu)
{
    if (!d->pci_setup_at_start)
        return;
    g_mutex_lock(&d->lock);
    while (d->start_state == XSIM_START_RUNNING && !g_atomic_int_get(d->stopping))
        g_cond_wait(&d->changed, &d->lock);
    bool ours = d->start_state == XSIM_START_PENDING;
    if (ours)
        d->start_state = XSIM_START_RUNNING;
    g_mutex_unlock(&d->lock);
    if (!ours)
        return;

    GError *error = NULL;
    bool ok = xsim_pci_setup_run(d, vcpu, &error);
    g_mutex_lock(&d->lock);
    d->start_state = XSIM_START_DONE;
    g_cond_broadcast(&d->changed);
    g_mutex_unlock(&d->lock);
    if (!ok) {
        char *why = g_strdup_printf("PCI set-up failed: %s", error->message);
        xsim_domain_crash(d, why);
        g_free(why);
        g_error_free(error);
    }
}
