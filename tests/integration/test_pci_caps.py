# SPDX-License-Identifier: MIT
"""PCI capabilities and interrupts through a real ioreqd under xensim, as a
guest driver sees them: walk the capability list with CF8/CFC config
cycles, program an MSI-X vector through the table in BAR2 and fire it with
pci-testdev's trigger register (xensim's `xen_msi_last` shows what was
injected), masking and pending bits, hostile table accesses, MSI, INTx
through the PIIX3 link routing with the command register's disable bit,
and the expansion ROM BAR serving a file."""
import os
import tempfile
import unittest

from ioreqd_proc import Ioreqd, run_ioreqd
from xensim import Xensim

SLOT = 4
BAR0 = 0xE0000000
BAR2 = 0xE0010000
ROM = 0xE0100000
TRIGGER = BAR0 + 0xFFC
MSI_CAP = 0x40
MSIX_CAP = 0x58
PBA = BAR2 + 0x1000


class PciCapsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.rom_path = os.path.join(self.tmp.name, "test.rom")
        self.rom = bytes([0x55, 0xAA, 0x08]) + bytes(range(256)) * 12  # 3075 bytes -> 4 KiB
        with open(self.rom_path, "wb") as f:
            f.write(self.rom)
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=1"])
        self.dm = Ioreqd(self.tmp.name, 1, [
            "-machine", "xenfv,max-ram-below-4g=3G",
            "-device", f"pci-testdev,addr={SLOT:x},intx=on,msi=on,msix-vectors=8,"
                       f"romfile={self.rom_path}"], name="caps")
        self.q = self.sim.qtest(1)
        self.assertEqual(self.q.cmd("xen_wait_servers 1 20000"), "OK")

    def tearDown(self):
        self.dm.stop()
        self.sim.stop()
        self.tmp.cleanup()

    def cfg_read(self, reg, size=4, dev=SLOT):
        return self.q.cfg_read(dev, reg, size)

    def cfg_write(self, reg, value, size=4, dev=SLOT):
        self.q.cfg_write(dev, reg, value, size)

    def msi_last(self):
        reply = self.q.cmd("xen_msi_last")
        self.assertTrue(reply.startswith("OK "), reply)
        count, addr, data = (int(x, 0) for x in reply.split()[1:])
        return count, addr, data

    def place_bars(self):
        self.cfg_write(0x10, BAR0)
        self.cfg_write(0x18, BAR2)
        self.cfg_write(0x04, 0x0002, size=2)  # memory decoding

    def test_capability_walk(self):
        self.assertTrue(self.cfg_read(0x06, 2) & 0x10)  # capability list present
        found = []
        pos = self.cfg_read(0x34, 1)
        while pos and len(found) < 16:
            found.append((pos, self.cfg_read(pos, 1)))
            pos = self.cfg_read(pos + 1, 1)
        self.assertEqual(found, [(MSI_CAP, 0x05), (MSIX_CAP, 0x11)])
        # MSI: 64-bit, per-vector mask, 4 vectors capable; MSI-X: 8 vectors in BAR2
        self.assertEqual(self.cfg_read(MSI_CAP + 2, 2), 0x0184)
        self.assertEqual(self.cfg_read(MSIX_CAP + 2, 2), 7)
        self.assertEqual(self.cfg_read(MSIX_CAP + 4), 2)           # table at BAR2+0
        self.assertEqual(self.cfg_read(MSIX_CAP + 8), 0x1000 | 2)  # PBA at BAR2+4K
        self.assertEqual(self.cfg_read(0x3D, 1), 1)                # INTA

    def test_msix_program_fire_mask_pending(self):
        self.place_bars()
        vec = 3
        entry = BAR2 + vec * 16
        self.q.ok(f"writeq {entry:#x} 0xfee00000")
        self.q.ok(f"writel {entry + 8:#x} 0x4033")
        self.assertEqual(self.q.ok(f"readl {entry + 12:#x}"), 1)  # masked from reset
        self.q.ok(f"writel {entry + 12:#x} 0")
        self.cfg_write(MSIX_CAP + 2, 0x8000, size=2)               # enable
        before = self.msi_last()[0]
        self.q.ok(f"writel {TRIGGER:#x} {0x100 + vec:#x}")
        self.assertEqual(self.msi_last(), (before + 1, 0xFEE00000, 0x4033))
        # masked: pending in the PBA, delivered on unmask
        self.q.ok(f"writel {entry + 12:#x} 1")
        self.q.ok(f"writel {TRIGGER:#x} {0x100 + vec:#x}")
        self.assertEqual(self.msi_last()[0], before + 1)
        self.assertEqual(self.q.ok(f"readq {PBA:#x}"), 1 << vec)
        self.q.ok(f"writel {entry + 12:#x} 0")
        self.assertEqual(self.msi_last(), (before + 2, 0xFEE00000, 0x4033))
        self.assertEqual(self.q.ok(f"readq {PBA:#x}"), 0)
        # function mask: pending until it is dropped
        self.cfg_write(MSIX_CAP + 2, 0xC000, size=2)
        self.q.ok(f"writel {TRIGGER:#x} {0x100 + vec:#x}")
        self.assertEqual(self.msi_last()[0], before + 2)
        self.cfg_write(MSIX_CAP + 2, 0x8000, size=2)
        self.assertEqual(self.msi_last()[0], before + 3)
        # hostile accesses: odd sizes, unaligned, beyond the table, PBA writes
        self.assertEqual(self.q.ok(f"readb {entry:#x}"), 0xFF)
        self.assertEqual(self.q.ok(f"readw {entry + 8:#x}"), 0xFFFF)
        self.assertEqual(self.q.ok(f"readl {entry + 2:#x}"), 0xFFFFFFFF)
        self.q.ok(f"writeb {entry + 8:#x} 0x99")
        self.q.ok(f"writel {entry + 9:#x} 0x99")
        self.q.ok(f"writel {BAR2 + 8 * 16:#x} 0x99")   # past the last entry
        self.assertEqual(self.q.ok(f"readl {BAR2 + 8 * 16:#x}"), 0)
        self.q.ok(f"writeq {PBA:#x} 0xff")
        self.assertEqual(self.q.ok(f"readq {PBA:#x}"), 0)
        self.assertEqual(self.q.ok(f"readl {entry + 8:#x}"), 0x4033)
        self.q.ok(f"writel {TRIGGER:#x} {0x100 + 99:#x}")  # no such vector: dropped
        self.assertEqual(self.msi_last()[0], before + 3)
        self.assertIsNone(self.dm.proc.poll())

    def test_msi(self):
        self.place_bars()
        self.cfg_write(MSI_CAP + 4, 0xFEE01000)
        self.cfg_write(MSI_CAP + 8, 0)
        self.cfg_write(MSI_CAP + 0xC, 0x4050, size=2)
        self.cfg_write(MSI_CAP + 2, 0x0021, size=2)  # enable, 4 vectors
        before = self.msi_last()[0]
        self.q.ok(f"writel {TRIGGER:#x} 0x102")
        self.assertEqual(self.msi_last(), (before + 1, 0xFEE01000, 0x4052))
        self.cfg_write(MSI_CAP + 0x10, 0x2)           # mask vector 1
        self.q.ok(f"writel {TRIGGER:#x} 0x101")
        self.assertEqual(self.msi_last()[0], before + 1)
        self.assertEqual(self.cfg_read(MSI_CAP + 0x14), 0x2)  # pending
        self.cfg_write(MSI_CAP + 0x10, 0)
        self.assertEqual(self.msi_last(), (before + 2, 0xFEE01000, 0x4051))

    def test_intx_through_link_routing(self):
        self.place_bars()
        # slot 4 INTA is link (4 + 0) & 3 = PIRQA: route it to IRQ 10
        self.cfg_write(0x60, 10, size=1, dev=1)
        self.assertEqual(self.q.cmd("irq_intercept_in ioapic"), "OK")
        self.q.ok(f"writel {TRIGGER:#x} 1")
        self.assertEqual(self.q.event(timeout=10), "IRQ raise 10")
        self.assertTrue(self.cfg_read(0x06, 2) & 0x08)  # interrupt status
        self.cfg_write(0x04, 0x0402, size=2)            # INTx disable
        self.assertEqual(self.q.event(timeout=10), "IRQ lower 10")
        self.assertTrue(self.cfg_read(0x06, 2) & 0x08)  # still pending in the device
        self.cfg_write(0x04, 0x0002, size=2)
        self.assertEqual(self.q.event(timeout=10), "IRQ raise 10")
        self.q.ok(f"writel {TRIGGER:#x} 0")
        self.assertEqual(self.q.event(timeout=10), "IRQ lower 10")
        self.assertFalse(self.cfg_read(0x06, 2) & 0x08)

    def test_rom_bar(self):
        self.cfg_write(0x30, 0xFFFFFFFF)
        self.assertEqual(self.cfg_read(0x30), 0xFFFFF001)  # 4 KiB
        self.cfg_write(0x30, ROM)                           # enable bit off
        self.cfg_write(0x04, 0x0002, size=2)
        self.assertEqual(self.q.ok(f"readw {ROM:#x}"), 0xFFFF)  # not decoded
        self.cfg_write(0x30, ROM | 1)
        self.assertEqual(self.q.ok(f"readw {ROM:#x}"), 0xAA55)
        self.assertEqual(self.q.ok(f"readl {ROM + 100:#x}"),
                         int.from_bytes(self.rom[100:104], "little"))
        self.q.ok(f"writel {ROM:#x} 0")                      # read-only
        self.assertEqual(self.q.ok(f"readw {ROM:#x}"), 0xAA55)
        self.assertEqual(self.q.ok(f"readl {ROM + 4092:#x}"), 0)  # padding
        self.cfg_write(0x04, 0, size=2)
        self.assertEqual(self.q.ok(f"readw {ROM:#x}"), 0xFFFF)


class RomfileErrorTest(unittest.TestCase):
    def test_missing_and_oversized_romfile(self):
        with tempfile.TemporaryDirectory() as tmp:
            huge = os.path.join(tmp, "huge.rom")
            with open(huge, "wb") as f:
                f.truncate((16 << 20) + 1)
            for path in (os.path.join(tmp, "missing.rom"), huge):
                status, err = run_ioreqd(["-xen-domid", "1", "-accel", f"xensim,dir={tmp}",
                                         "-nodefaults", "-display", "none",
                                         "-device", f"pci-testdev,romfile={path}"])
                self.assertNotEqual(status, 0)
                lines = [l for l in err.splitlines() if path in l]
                self.assertEqual(len(lines), 1, err)
            status, err = run_ioreqd(["-xen-domid", "1", "-accel", f"xensim,dir={tmp}",
                                     "-nodefaults", "-display", "none",
                                     "-device", "pci-testdev,msix-vectors=2049"])
            self.assertNotEqual(status, 0)
            self.assertIn("msix-vectors=2049", err)


if __name__ == "__main__":
    unittest.main()
