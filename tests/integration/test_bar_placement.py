# SPDX-License-Identifier: MIT
"""A guest programming BARs where they must not decode, through real CF8/CFC
config cycles under xensim: over low RAM, over high RAM (above 4 GiB), over
the VGA window 0xA0000-0xBFFFF, straddling the end of the hole's PCI window
(0xFC000000), over another BAR of the same ioreqd and of another ioreqd,
and an expansion ROM over RAM. Each time the register keeps the value (as
hardware does), the range is not registered with the hypervisor (xensim's
`xen_servers`), ioreqd says so in one line, and moving the BAR to a legal
address makes it decode again. BARs of two processes that overlap are both
registered: the hypervisor routes to the higher server id, as Xen does.

The domain has 5 GiB: low RAM ends at 0xF0000000 (default hole), high RAM is
[4 GiB, 0x150000000). Process A gets -m 5120 as libxl passes it; process B
gets no -m and learns the size from the hypervisor (xensim)."""
import os
import tempfile
import unittest

from ioreqd_proc import Ioreqd, run_ioreqd, stop_all
from xensim import Xensim

DEV64 = 4     # process A: 64-bit 4 KiB BAR0, ROM
DEV_B = 5     # process B: 32-bit 4 KiB BAR0
DEV_BIG = 6   # process A: 64-bit 128 MiB BAR0
DEV32 = 7     # process A: 32-bit 4 KiB BAR0
LEGAL = 0xF1000000
MIB = 1 << 20


class BarPlacementTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        rom = os.path.join(self.tmp.name, "opt.rom")
        with open(rom, "wb") as f:
            f.write(bytes([0x55, 0xAA]) + bytes(2046))
        self.sim = Xensim(self.tmp.name, ["1,mem=5G,vcpus=1"])
        self.a = Ioreqd(self.tmp.name, 1, [
            "-machine", "xenfv", "-m", "5120",
            "-device", f"pci-testdev,addr={DEV64:x},bar0-mem64=on,romfile={rom},id=t64",
            "-device", f"pci-testdev,addr={DEV_BIG:x},bar0-mem64=on,bar0-size=128M,id=tbig",
            "-device", f"pci-testdev,addr={DEV32:x},id=t32"], name="dmA")
        self.q = self.sim.qtest(1)
        self.assertEqual(self.q.cmd("xen_wait_servers 1 20000"), "OK")
        self.b = Ioreqd(self.tmp.name, 1, ["-device", f"pci-testdev,addr={DEV_B:x},id=tB"],
                        name="dmB")
        self.assertEqual(self.q.cmd("xen_wait_servers 2 20000"), "OK")
        for dev in (DEV64, DEV_BIG, DEV32, DEV_B):
            self.cfg_write(dev, 0x04, 0x0002, 2)  # memory decoding on, BARs still unplaced

    def tearDown(self):
        try:
            stop_all((self.b, self.a))
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    # ------------------------------------------------------------ helpers

    def cfg_write(self, dev, reg, value, size=4):
        self.q.cfg_write(dev, reg, value, size)

    def cfg_read(self, dev, reg):
        return self.q.cfg_read(dev, reg)

    def set_bar0(self, dev, addr, mem64=True):
        self.cfg_write(dev, 0x10, addr & 0xFFFFFFFF)
        if mem64:
            self.cfg_write(dev, 0x14, addr >> 32)

    def servers(self):
        """{server id: [(start, end), ...] MMIO ranges} from xen_servers."""
        reply = self.q.cmd("xen_servers")
        self.assertTrue(reply.startswith("OK "), reply)
        out = {}
        for entry in reply.split()[2:]:
            fields = entry.split(",")
            mmio = next(f for f in fields if f.startswith("mmio="))[5:]
            out[int(fields[0])] = [tuple(int(x, 16) for x in r.split("-"))
                                   for r in mmio.split("+") if r]
        return out

    def registered(self, start, size):
        return [sid for sid, ranges in self.servers().items()
                if (start, start + size - 1) in ranges]

    def mmio_overlapping(self, start, size):
        last = start + size - 1
        return [r for ranges in self.servers().values() for r in ranges
                if r[0] <= last and start <= r[1]]

    def count(self, proc, needle):
        return proc.stderr().count(needle)

    def assert_refused(self, proc, dev, addr, size, why, mem64=True, already_there=()):
        self.set_bar0(dev, addr, mem64)
        # the register keeps what the guest wrote
        self.assertEqual(self.cfg_read(dev, 0x10) & ~0xF, addr & 0xFFFFFFF0)
        self.assertEqual(self.mmio_overlapping(addr, size), list(already_there))
        line = f"BAR0 at {addr:#x} (size {size:#x}) overlaps {why}: not decoded until moved"
        self.assertEqual(self.count(proc, line), 1, proc.stderr())
        # writing the same place again, or touching the command register, says nothing new
        self.set_bar0(dev, addr, mem64)
        self.cfg_write(dev, 0x04, 0x0002, 2)
        self.assertEqual(self.count(proc, line), 1, proc.stderr())

    def assert_works_at(self, dev, addr, size, mem64=True, value=0x5A5A0000):
        self.set_bar0(dev, addr, mem64)
        self.assertEqual(len(self.registered(addr, size)), 1)
        self.q.ok(f"writel {addr + 8:#x} {value | dev:#x}")
        self.assertEqual(self.q.ok(f"readl {addr + 8:#x}"), value | dev)

    # -------------------------------------------------------------- tests

    def test_bar_over_low_ram_vga_and_high_ram_then_moved_back(self):
        self.assert_works_at(DEV64, LEGAL, 0x1000)
        self.assert_refused(self.a, DEV64, 0x100000, 0x1000, "low RAM")
        # RAM stays RAM for the guest
        self.q.ok("writel 0x100008 0x600d")
        self.assertEqual(self.q.ok("readl 0x100008"), 0x600D)
        self.assert_works_at(DEV64, LEGAL, 0x1000, value=0x11110000)
        self.assertEqual(self.count(self.a, f"t64: BAR0 decoded at {LEGAL:#x} again"), 1)

        self.assert_refused(self.a, DEV64, 0xA0000, 0x1000, "the VGA window 0xa0000-0xbffff")
        self.q.ok("writel 0xa0008 0x1234")
        self.assertEqual(self.q.ok("readl 0xa0008"), 0xFFFFFFFF)  # nobody decodes it
        self.assert_works_at(DEV64, LEGAL, 0x1000, value=0x22220000)

        self.assert_refused(self.a, DEV64, 0x140000000, 0x1000, "high RAM")
        self.q.ok("writel 0x140000008 0x600d")
        self.assertEqual(self.q.ok("readl 0x140000008"), 0x600D)
        # right after high RAM is where 64-bit BARs go
        self.assert_works_at(DEV64, 0x150000000, 0x1000, value=0x33330000)
        self.assert_works_at(DEV64, LEGAL, 0x1000, value=0x44440000)

    def test_bar_straddling_the_hole_end(self):
        # 128 MiB at 0xF8000000 runs over 0xFC000000 into Xen's reserved top
        self.assert_refused(self.a, DEV_BIG, 0xF8000000, 128 * MIB,
                            "the reserved range 0xfc000000-0xffffffff past the hole's PCI window")
        self.assert_refused(self.a, DEV32, 0xFEC00000, 0x1000,
                            "the reserved range 0xfc000000-0xffffffff past the hole's PCI window",
                            mem64=False)
        self.assert_works_at(DEV_BIG, 0xF0000000, 128 * MIB)
        self.assert_works_at(DEV32, 0xFBFFF000, 0x1000, mem64=False)  # the window's last page

    def test_bar_over_another_bar_of_this_process(self):
        self.assert_works_at(DEV64, LEGAL, 0x1000, value=0x64640000)
        self.assert_refused(self.a, DEV32, LEGAL, 0x1000, "another range this process decodes",
                            mem64=False, already_there=[(LEGAL, LEGAL + 0xFFF)])
        self.assertEqual(self.q.ok(f"readl {LEGAL + 8:#x}"), 0x64640000 | DEV64)  # still DEV64
        # DEV64 moves away: DEV32 takes the place without another write of its own
        self.set_bar0(DEV64, 0xF2000000)
        self.assertEqual(self.count(self.a, f"t32: BAR0 decoded at {LEGAL:#x} again"), 1)
        self.q.ok(f"writel {LEGAL + 8:#x} 0x32320000")
        self.assertEqual(self.q.ok(f"readl {LEGAL + 8:#x}"), 0x32320000)
        self.assertEqual(self.q.ok("readl 0xf2000008"), 0x64640000 | DEV64)

    def test_bars_of_two_processes_overlapping(self):
        self.assert_works_at(DEV64, 0xF2000000, 0x1000, value=0xAAAA0000)
        self.assert_works_at(DEV_B, 0xF3000000, 0x1000, mem64=False, value=0xBBBB0000)
        self.set_bar0(DEV_B, 0xF2000000, mem64=False)
        # each process registers its own: the hypervisor cannot tell them apart
        a_id, b_id = self.server_of(DEV64 << 3), self.server_of(DEV_B << 3)
        self.assertEqual(sorted(self.registered(0xF2000000, 0x1000)), sorted([a_id, b_id]))
        want = (0xBBBB0000 | DEV_B) if b_id > a_id else (0xAAAA0000 | DEV64)
        self.assertEqual(self.q.ok("readl 0xf2000008"), want)  # the highest server id wins
        # B moves away: A's device answers there again
        self.assert_works_at(DEV_B, 0xF3000000, 0x1000, mem64=False, value=0xBBBB0000)
        self.assertEqual(self.q.ok("readl 0xf2000008"), 0xAAAA0000 | DEV64)
        self.assertNotIn("overlaps", self.b.stderr())

    def server_of(self, sbdf):
        """The id of the server that registered PCI function sbdf."""
        reply = self.q.cmd("xen_servers")
        for entry in reply.split()[2:]:
            fields = entry.split(",")
            pci = next(f for f in fields if f.startswith("pci="))[4:]
            for r in filter(None, pci.split("+")):
                start, end = (int(x, 16) for x in r.split("-"))
                if start <= sbdf <= end:
                    return int(fields[0])
        self.fail(f"no server has {sbdf:#x}: {reply}")

    def test_rom_over_ram_then_moved(self):
        self.cfg_write(DEV64, 0x30, 0x000C0000 | 1)  # option-ROM space is RAM under Xen
        self.assertEqual(self.cfg_read(DEV64, 0x30), 0x000C0001)
        self.assertEqual(self.mmio_overlapping(0xC0000, 0x800), [])
        line = "t64: ROM at 0xc0000 (size 0x800) overlaps low RAM: not decoded until moved"
        self.assertEqual(self.count(self.a, line), 1, self.a.stderr())
        self.cfg_write(DEV64, 0x30, 0xF4000000 | 1)
        self.assertEqual(self.q.ok("readw 0xf4000000"), 0xAA55)
        self.assertEqual(self.count(self.a, "t64: ROM decoded at 0xf4000000 again"), 1)

    def test_vga_window_decoded_only_as_a_legacy_range(self):
        # a VGA-like device claims the window itself (vga-window=on), BARs never
        vga = Ioreqd(self.tmp.name, 1, ["-device", "pci-testdev,addr=8,vga-window=on"],
                     name="dmVGA")
        try:
            self.assertEqual(self.q.cmd("xen_wait_servers 3 20000"), "OK")
            self.assertEqual(len(self.registered(0xA0000, 0x20000)), 1)
            self.q.ok("writel 0xa0008 0x7654321")
            self.assertEqual(self.q.ok("readl 0xa0008"), 0x7654321)
            # a BAR over it is still refused, and the window keeps working
            self.assert_refused(self.a, DEV64, 0xA0000, 0x1000, "the VGA window 0xa0000-0xbffff",
                                already_there=[(0xA0000, 0xBFFFF)])
            self.assertEqual(self.q.ok("readl 0xa0008"), 0x7654321)
        finally:
            vga.stop()

    def test_m_is_authoritative(self):
        # -m disagreeing with the hypervisor: -m wins (libxl's value), and says so
        c = Ioreqd(self.tmp.name, 1, ["-m", "64", "-device", "pci-testdev,addr=9,id=tC"],
                   name="dmC")
        try:
            self.assertEqual(self.q.cmd("xen_wait_servers 3 20000"), "OK")
            self.assertIn("-m says 64 MiB, the hypervisor 5120 MiB", c.stderr())
            # 0xe0000000 is not RAM for a 64 MiB guest
            self.cfg_write(9, 0x04, 0x0002, 2)
            self.assert_works_at(9, 0xE0000000, 0x1000, mem64=False)
        finally:
            c.stop()

    def test_hostile_m_values(self):
        for bad in ("0", "junk", "1.5G", "17T", "99999999999999999999", "4095K",
                    "1G,maxmem=512M", "1G,slots=999", "1G,bogus=1"):
            status, text = run_ioreqd(["-xen-domid", "1", "-accel", "xensim,dir=/nonexistent",
                                       "-m", bad])
            self.assertEqual(status, 1, text)
            lines = text.strip().splitlines()
            self.assertEqual(len(lines), 1, text)
            self.assertTrue(lines[0].startswith("ioreqd: -m"), text)

    def test_ram_size_from_the_hypervisor_without_m(self):
        # B has no -m: xensim's 5 GiB is used, so it knows high RAM too
        self.assertNotIn("guest RAM size unknown", self.b.stderr())
        self.assert_refused(self.b, DEV_B, 0xE0000000, 0x1000, "low RAM", mem64=False)
        self.assertNotIn("everything below the MMIO hole", self.b.stderr())
        self.assert_works_at(DEV_B, 0xF0000000, 0x1000, mem64=False)


if __name__ == "__main__":
    unittest.main()
