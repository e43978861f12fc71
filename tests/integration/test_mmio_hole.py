# SPDX-License-Identifier: MIT
"""The MMIO hole and xensim's PCI set-up stage (firmware/pci-setup.c, the
qtest extension `xen_pci_setup`), end to end: every config cycle goes from
xensim's guest side through ioreq routing to real ioreqd processes.

- The xenfv board plus a pci-testdev: BARs placed in the default hole,
  decoding and bus mastering on, interrupt lines from the PIIX3 routing,
  and tests/lspci.py printing exactly that.
- A passthrough-style guest: 24 pci-testdev functions with 128 MiB BARs
  spread over three ioreqd processes. With Xen's default 256 MiB hole the
  stage fails with one message naming the hole needed; with
  mmio_hole=3584M every BAR lands inside the hole, distinct and aligned,
  and each device's scratch register answers at its placed BAR0.
"""
import os
import subprocess
import sys
import unittest

from ioreqd_proc import DomainTestCase, run_ioreqd
from xensim import Xensim

MIB = 1 << 20
LSPCI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lspci.py")
SLOTS = list(range(3, 3 + 24))  # 00:03.0 .. 00:1a.0


class MmioHoleTest(DomainTestCase):
    def ok(self, line):
        reply = self.q.cmd(line)
        self.assertTrue(reply.startswith("OK"), f"{line} -> {reply}")
        parts = reply.split()
        return int(parts[1], 16) if len(parts) > 1 else None

    def cfg(self, dev, reg, size=4):
        return self.q.cfg_read(dev, reg, size)

    def lspci(self):
        p = subprocess.run([sys.executable, LSPCI, self.sim.path("dom1.qtest")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_xenfv_board_in_default_hole(self):
        self.start("1,mem=64M,vcpus=1", [["-machine", "xenfv", "-device", "pci-testdev,addr=4"]])
        self.assertEqual(self.q.cmd("xen_pci_setup"), "OK")
        # largest first from the start of the 256 MiB hole: platform BAR1
        # (16 MiB), then the testdev's 4 KiB; I/O from 0xC000
        self.assertEqual(self.cfg(2, 0x14), 0xF0000008)
        self.assertEqual(self.cfg(4, 0x10), 0xF1000000)
        self.assertEqual(self.cfg(2, 0x10), 0xC001)
        self.assertEqual(self.cfg(4, 0x14), 0xC101)
        self.assertEqual(self.cfg(4, 0x04, 2) & 7, 7)   # I/O, memory, bus master
        # PIIX3 links got hvmloader's defaults, lines follow (dev + pin - 1) & 3
        self.assertEqual(self.cfg(1, 0x60), 0x050B0A05)
        self.assertEqual(self.cfg(2, 0x3C, 1), 11)      # 00:02 pin A -> link C
        # the scratch registers now answer at the placed addresses
        self.ok("writel 0xf1000010 0x12345678")
        self.assertEqual(self.ok("readl 0xf1000010"), 0x12345678)
        self.ok("outb 0xc105 0x5a")
        self.assertEqual(self.ok("inb 0xc105"), 0x5A)
        listing = self.lspci()
        self.assertIn("00:00.0 0600: 8086:1237 (rev 02)\n", listing)
        self.assertIn("00:02.0 ff80: 5853:0001 (rev 01)\n"
                      "\tInterrupt: pin A routed to IRQ 11\n"
                      "\tBAR0: I/O ports at c000 [size=256]\n"
                      "\tBAR1: Memory at f0000000 (32-bit, prefetchable) [size=16M]\n", listing)
        self.assertIn("00:04.0 ff00: 1b36:0005 (rev 00)\n"
                      "\tBAR0: Memory at f1000000 (32-bit, non-prefetchable) [size=4K]\n"
                      "\tBAR1: I/O ports at c100 [size=256]\n", listing)
        # lspci's sizing left everything as it was
        self.assertEqual(self.cfg(4, 0x10), 0xF1000000)
        self.assertEqual(self.ok("readl 0xf1000010"), 0x12345678)

    def many_devices(self, domain):
        groups = [SLOTS[i:i + 8] for i in range(0, 24, 8)]
        args = []
        for group in groups:
            a = []
            for slot in group:
                a += ["-device", f"pci-testdev,addr={slot:x},bar0-size=128M"]
            args.append(a)
        self.start(domain, args)

    def test_24_devices_do_not_fit_the_default_hole(self):
        self.many_devices("1,mem=64M,vcpus=1")
        want = ("FAIL PCI BARs need 3200 MiB of MMIO hole, the hole is 256 MiB: "
                "set mmio_hole=3200 (or more)")
        self.assertEqual(self.q.cmd("xen_pci_setup"), want)
        self.assertIn(want[len("FAIL "):], self.sim.stderr())
        # nothing was programmed or enabled
        for slot in SLOTS:
            self.assertEqual(self.cfg(slot, 0x04, 2) & 3, 0)

    def test_24_devices_fit_a_larger_hole(self):
        self.many_devices("1,mem=64M,vcpus=1,mmio_hole=3584M")
        self.assertEqual(self.q.cmd("xen_pci_setup"), "OK")
        hole_start, hole_end = (1 << 32) - 3584 * MIB, 0xFC000000
        placed = []
        for slot in SLOTS:
            self.assertEqual(self.cfg(slot, 0x00), 0x00051B36)
            bar0 = self.cfg(slot, 0x10) & ~0xF
            self.assertEqual(bar0 % (128 * MIB), 0, f"slot {slot}: {bar0:#x}")
            self.assertGreaterEqual(bar0, hole_start)
            self.assertLessEqual(bar0 + 128 * MIB, hole_end)
            self.assertEqual(self.cfg(slot, 0x04, 2) & 7, 7)
            placed.append(bar0)
        self.assertEqual(len(set(placed)), 24)
        for slot, bar0 in zip(SLOTS, placed):
            value = 0xA5000000 | slot
            self.ok(f"writel {bar0 + 8:#x} {value:#x}")
        for slot, bar0 in zip(SLOTS, placed):
            self.assertEqual(self.ok(f"readl {bar0 + 8:#x}"), 0xA5000000 | slot)
            self.assertEqual(self.ok(f"readl {bar0 + 128 * MIB - 4:#x}"), 0)  # past the scratch
        listing = self.lspci()
        self.assertEqual(listing.count("ff00: 1b36:0005 (rev 00)"), 24)
        self.assertEqual(listing.count("(32-bit, non-prefetchable) [size=128M]"), 24)

    def test_domain_hole_options(self):
        # max-ram-below-4g=512M is mmio_hole=3584M: of 1 GiB, 512 MiB stay low
        self.sim = Xensim(self.tmp.name, ["1,mem=1G,vcpus=1,max-ram-below-4g=512M"])
        self.q = self.sim.qtest(1)
        self.ok("writel 0x1ffffffc 0x11223344")
        self.assertEqual(self.ok("readl 0x1ffffffc"), 0x11223344)
        self.ok("writel 0x11ffffffc 0x55667788")          # the last word of high RAM
        self.assertEqual(self.ok("readl 0x11ffffffc"), 0x55667788)
        self.ok("writel 0x20000000 0x1")                  # the hole: nobody decodes it
        self.assertEqual(self.ok("readl 0x20000000"), 0xFFFFFFFF)
        self.sim.stop()
        self.sim = None
        for bad in ("mmio_hole=128M", "mmio_hole=3841M", "mmio_hole=4G",
                    "max-ram-below-4g=4G", "max-ram-below-4g=100M", "mmio_hole=junk"):
            with self.assertRaises(RuntimeError, msg=bad) as cm:
                Xensim(self.tmp.name, [f"1,mem=64M,vcpus=1,{bad}"], timeout=10)
            self.assertIn("mmio_hole", str(cm.exception))

    def test_bar0_size_is_validated(self):
        for bad in ("3M", "2K", "4G", "0", "junk"):
            status, text = run_ioreqd(["-xen-domid", "1", "-accel", "xensim,dir=/nonexistent",
                                       "-nodefaults", "-device", f"pci-testdev,bar0-size={bad}"])
            self.assertEqual(status, 1, text)
            self.assertIn("bar0-size", text)


if __name__ == "__main__":
    unittest.main()
