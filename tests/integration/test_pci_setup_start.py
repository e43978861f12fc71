# SPDX-License-Identifier: MIT
"""xensim's `--domain ...,pci-setup=on`: hvmloader's PCI stage runs by
itself, once, just before the guest's first access, after the toolstack
(here: the test) started every device model — as Xen runs hvmloader when
the domain is unpaused. Also the expansion ROM BAR as hvmloader places it:
in the hole, memory decoding on, the ROM's own enable bit left off.

- two ioreqd processes; nothing is placed until the guest's first access;
  then every BAR and the ROM are placed, and the stage ran exactly once
  even with a second guest connection racing the first;
- devices that do not fit crash the domain with the stage's message;
- pci-setup= takes on/off, x86 only."""
import os
import threading
import unittest

from ioreqd_proc import DomainTestCase
from xensim import Xensim

CF8, CFC = 0xCF8, 0xCFC
MIB = 1 << 20


class PciSetupStartTest(DomainTestCase):
    def cfg(self, dev, reg, q=None):
        return (q or self.q).cfg_read(dev, reg)

    def mmio_ranges(self):
        reply = self.q.cmd("xen_servers")
        return [f for entry in reply.split()[2:] for f in entry.split(",")
                if f.startswith("mmio=") and f != "mmio="]

    def test_runs_once_before_the_first_guest_access(self):
        rom = os.path.join(self.tmp.name, "opt.rom")
        with open(rom, "wb") as f:
            f.write(bytes([0x55, 0xAA]) + bytes(5000))  # 8 KiB ROM BAR
        self.start("1,mem=64M,vcpus=2,pci-setup=on", [
            ["-machine", "xenfv", "-device", f"pci-testdev,addr=4,romfile={rom}"],
            ["-device", "pci-testdev,addr=5"]])
        # inspecting the simulation is not the guest running: nothing placed yet
        self.assertEqual(self.mmio_ranges(), [])
        self.assertNotIn("PCI set-up:", self.sim.stderr())
        # the guest's first accesses, from two vCPUs at once (one reads RAM:
        # the CF8 latch is the domain's, two vCPUs must not share it)
        q2 = self.sim.qtest(1)
        self.assertEqual(q2.cmd("vcpu 1"), "OK")
        results = {}
        t = threading.Thread(target=lambda: results.update(q2=q2.cmd("readl 0x1000")))
        t.start()
        bar0 = self.cfg(4, 0x10)
        t.join(timeout=60)
        self.assertEqual(results["q2"], "OK 0x0000000000000000")
        self.assertEqual(self.sim.stderr().count("PCI set-up:"), 1, self.sim.stderr())
        self.assertIn("domain 1: PCI set-up: 6 functions, 4 BARs in the hole (1 ROMs), "
                      "0 above 4 GiB, 3 I/O, 2 interrupt lines", self.sim.stderr())
        # largest first from 0xf0000000: platform 16 MiB, the 8 KiB ROM, then 4 KiB BARs
        self.assertEqual(self.cfg(2, 0x14), 0xF0000008)
        self.assertEqual(self.cfg(4, 0x30), 0xF1000000)           # placed, not enabled
        self.assertEqual(bar0, 0xF1002000)
        self.assertEqual(self.cfg(5, 0x10), 0xF1003000)
        self.assertEqual(self.cfg(4, 0x04) & 0x7, 0x7)
        # the ROM reads once the guest enables it, as the BIOS does to copy it
        self.q.cfg_write(4, 0x30, 0xF1000001)
        self.assertEqual(self.q.ok("readw 0xf1000000"), 0xAA55)
        # later accesses do not run it again; xen_pci_setup still does on request
        self.assertEqual(self.cfg(5, 0x10), 0xF1003000)
        self.assertEqual(self.sim.stderr().count("PCI set-up:"), 1)
        self.assertEqual(self.q.cmd("xen_pci_setup"), "OK")
        self.assertEqual(self.sim.stderr().count("PCI set-up:"), 2)

    def test_devices_that_do_not_fit_crash_the_domain(self):
        slots = range(3, 27)
        groups = [slots[i:i + 12] for i in (0, 12)]
        self.start("1,mem=64M,vcpus=1,pci-setup=on",
                   [[a for s in g for a in ("-device", f"pci-testdev,addr={s:x},bar0-size=128M")]
                    for g in groups])
        reply = self.q.cmd(f"outl {CF8:#x} 0x80000000")
        self.assertTrue(reply.startswith("FAIL"), reply)
        self.assertEqual(self.q.cmd("xen_domain_state"), "OK crashed")
        self.assertIn("domain crashed: PCI set-up failed: PCI BARs need 3200 MiB of MMIO hole, "
                      "the hole is 256 MiB: set mmio_hole=3200 (or more)", self.sim.stderr())

    def test_option_values(self):
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=1,pci-setup=off"])
        self.q = self.sim.qtest(1)
        self.q.ok("outl 0xcf8 0x80000000")
        self.assertNotIn("PCI set-up", self.sim.stderr())
        self.sim.stop()
        self.sim = None
        for bad in ("pci-setup=yes", "pci-setup=", "pci-setup=on,arch=arm"):
            with self.assertRaises(RuntimeError, msg=bad) as cm:
                Xensim(self.tmp.name, [f"1,mem=64M,vcpus=1,{bad}"], timeout=10)
            self.assertIn("pci-setup", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
