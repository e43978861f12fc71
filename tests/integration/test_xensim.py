# SPDX-License-Identifier: MIT
"""xensim end to end: RAM through qtest, unclaimed I/O, isolation, hostile
control and qtest input, and a Python device model driving the ioreq slot
protocol (PIO, MMIO, PCI config via CF8/CFC, rep with pointers, buffered
VGA writes, INVALIDATE, teardown on disconnect, state-machine violations).
"""
import errno
import struct
import tempfile
import threading
import time
import unittest

from xensim import (Xensim, Control, FakeDeviceModel, REQUEST, OP_OPEN, OP_CREATE_SERVER,
                    OP_GET_SERVER_PAGES, OP_SET_SERVER_STATE, OP_MAP_RANGE, OP_UNMAP_RANGE,
                    OP_DESTROY_SERVER, OP_EVTCHN_BIND, OP_SET_ISA_IRQ, OP_SET_PCI_INTX,
                    OP_SET_PCI_LINK_ROUTE, OP_INJECT_MSI, OP_SET_SPI, OP_SHUTDOWN,
                    PROTOCOL_VERSION, RANGE_PORT, RANGE_MMIO, RANGE_PCI, TYPE_PIO, TYPE_COPY,
                    TYPE_PCI_CONFIG, TYPE_INVALIDATE, sbdf)


class SimTest(unittest.TestCase):
    DOMAINS = ["1,mem=64M,vcpus=2", "2,mem=32M,vcpus=1"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, self.DOMAINS)
        self.dms = []

    def tearDown(self):
        for dm in self.dms:
            dm.close()
        self.sim.stop()
        self.tmp.cleanup()

    def dm(self, domid=1):
        d = FakeDeviceModel(self.tmp.name, domid)
        self.dms.append(d)
        return d

    def opened(self, domid=1):
        c = self.sim.control()
        r = c.call(OP_OPEN, domid, PROTOCOL_VERSION)
        r.close_fds()
        self.assertEqual(r.status, 0)
        return c


class RamAndUnclaimed(SimTest):
    def test_ready_lines(self):
        self.assertIn("xensim: ready", self.sim.lines)
        self.assertTrue(any(l.endswith("dom1.qtest") for l in self.sim.lines))
        self.assertTrue(any(l.endswith("control") for l in self.sim.lines))

    def test_ram_read_write_memset(self):
        q = self.sim.qtest(1)
        q.ok("writel 0x1000 0xdeadbeef")
        self.assertEqual(q.ok("readl 0x1000"), 0xDEADBEEF)
        self.assertEqual(q.ok("readb 0x1001"), 0xBE)
        q.ok("writeq 0x2000 0x0123456789abcdef")
        self.assertEqual(q.ok("readq 0x2000"), 0x0123456789ABCDEF)
        q.ok("write 0x3000 4 0x01020304")
        self.assertEqual(q.cmd("read 0x3000 4"), "OK 0x01020304")
        q.ok("memset 0x4000 8 0x5a")
        self.assertEqual(q.cmd("read 0x4000 8"), "OK 0x" + "5a" * 8)
        # last bytes of RAM fine, one past is not RAM (unclaimed: all-ones)
        q.ok("writel 0x3fffffc 0x11223344")
        self.assertEqual(q.ok("readl 0x3fffffc"), 0x11223344)
        self.assertEqual(q.ok("readl 0x4000000"), 0xFFFFFFFF)

    def test_unclaimed_reads_all_ones(self):
        q = self.sim.qtest(1)
        self.assertEqual(q.ok("inb 0x80"), 0xFF)
        self.assertEqual(q.ok("inw 0x80"), 0xFFFF)
        self.assertEqual(q.ok("inl 0x80"), 0xFFFFFFFF)
        self.assertEqual(q.ok("readq 0xfe000000"), 2**64 - 1)
        q.ok("outl 0x80 0x1234")
        q.ok("writel 0xfe000000 0x1")
        # config space of an absent device
        q.ok("outl 0xcf8 0x80001800")
        self.assertEqual(q.ok("inl 0xcf8"), 0x80001800)
        self.assertEqual(q.ok("inl 0xcfc"), 0xFFFFFFFF)

    def test_domains_isolated(self):
        q1, q2 = self.sim.qtest(1), self.sim.qtest(2)
        q1.ok("writel 0x1000 0x11111111")
        q2.ok("writel 0x1000 0x22222222")
        self.assertEqual(q1.ok("readl 0x1000"), 0x11111111)
        self.assertEqual(q2.ok("readl 0x1000"), 0x22222222)
        # dom2 has 32M: 0x3000000 is RAM in dom1 only
        q1.ok("writel 0x3000000 0x5")
        self.assertEqual(q2.ok("readl 0x3000000"), 0xFFFFFFFF)
        # a server of dom1 does not see dom2's I/O
        dm = self.dm(1)
        dm.create_server(ranges=[(RANGE_PORT, 0x100, 0x1FF)])
        dm.start()
        self.assertEqual(q1.ok("inb 0x100"), 0x34)
        self.assertEqual(q2.ok("inb 0x100"), 0xFF)

    def test_clock_and_state(self):
        q = self.sim.qtest(1)
        self.assertEqual(q.cmd("clock_step 10"), "OK 10")
        self.assertEqual(q.cmd("clock_step 5"), "OK 15")
        self.assertEqual(q.cmd("xen_domain_state"), "OK running")
        self.assertEqual(q.cmd("xen_servers"), "OK 0")
        self.assertEqual(q.cmd("xen_wait_servers 1 50"), "FAIL timeout")


class QtestGarbage(SimTest):
    def test_garbage_answered_fail(self):
        q = self.sim.qtest(1)
        for line in ["bogus", "readl", "readl 0x1000 5", "readl zz", "readl 0x", "outb 0x10000 1",
                     "outb 0x80 0x100", "read 0x1000 0", "read 0x1000 99999999", "write 0x0 2 0x123",
                     "write 0x0 1 0x1234", "write 0x0 1 zz", "memset 0 4 0x100", "vcpu 2",
                     "readq 0xffffffffffffffff", "read 0xfffffffffffffff0 32",
                     "xen_rep_pio in 0x60 3 1 0x1000 0", "xen_rep_pio sideways 0x60 1 1 0 0",
                     "xen_rep_mmio read 0xfe000000 4 2 0xf0000000 0",
                     "xen_rep_mmio_fill 0xfe000000 2 1 0x10000 0", "xen_wait_servers 9 1",
                     "xen_evtchn_send 999", "a b c d e f g h i j k", "readl -1",
                     "readl 18446744073709551616", ""]:
            r = q.cmd(line)
            self.assertTrue(r.startswith("FAIL"), f"{line!r} -> {r!r}")
        q.send_raw(b"readl \x00 0x10\n")
        self.assertTrue(q.reply().startswith("FAIL"))
        q.send_raw(b"x" * 10000 + b"\n")
        self.assertEqual(q.reply(), "FAIL line too long")
        self.assertEqual(q.cmd("readl 0x1000"), "OK 0x0000000000000000")
        self.assertTrue(self.sim.alive())

    def test_several_connections(self):
        qs = [self.sim.qtest(1) for _ in range(4)]
        for i, q in enumerate(qs):
            q.ok(f"writel {0x1000 + 4 * i:#x} {i + 1}")
        for i, q in enumerate(reversed(qs)):
            self.assertEqual(q.ok(f"readl {0x1000 + 4 * i:#x}"), i + 1)


class ControlBadInput(SimTest):
    def test_bad_datagrams(self):
        c = self.sim.control()
        for data in [b"", b"x", REQUEST.pack(OP_OPEN, 0, 1, 1, 0, 0) + b"!",
                     REQUEST.pack(OP_OPEN, 0, 1, 1, 0, 0)[:-1]]:
            r = c.send_raw(data)
            self.assertEqual(r.status, -errno.EINVAL, data)
        self.assertEqual(c.status(OP_OPEN, 1, 1, reserved=5), -errno.EINVAL)
        self.assertEqual(c.status(99), -errno.EOPNOTSUPP)
        self.assertEqual(c.status(0), -errno.EOPNOTSUPP)
        self.assertEqual(c.status(OP_CREATE_SERVER, 0), -errno.ENOTCONN)
        self.assertEqual(c.status(OP_OPEN, 77, 1), -errno.ESRCH)
        self.assertEqual(c.status(OP_OPEN, 1, 99), -errno.EPROTO)
        r = c.call(OP_OPEN, 1, PROTOCOL_VERSION)
        self.assertEqual((r.status, len(r.fds), r.val[0], r.val[1]), (0, 1, 2, 0))
        self.assertEqual(r.ram[0], (0, 64 << 20, 0))
        r.close_fds()
        self.assertEqual(c.status(OP_OPEN, 1, 1), -errno.EALREADY)
        self.assertEqual(c.status(OP_CREATE_SERVER, 2), -errno.EINVAL)
        self.assertEqual(c.status(OP_GET_SERVER_PAGES, 3), -errno.ENOENT)
        self.assertEqual(c.status(OP_GET_SERVER_PAGES, 2**63), -errno.EINVAL)
        self.assertEqual(c.status(OP_EVTCHN_BIND, 12345), -errno.ENOENT)
        self.assertTrue(self.sim.alive())

    def test_servers_ranges_and_ownership(self):
        a, b = self.opened(), self.opened()
        ids = []
        for _ in range(8):
            r = a.call(OP_CREATE_SERVER, 1)
            r.close_fds()
            self.assertEqual(r.status, 0)
            ids.append(r.val[0])
        self.assertEqual(ids, list(range(8)))
        self.assertEqual(b.status(OP_CREATE_SERVER, 0), -errno.ENOSPC)
        # foreign ids
        for op, args in [(OP_SET_SERVER_STATE, (3, 1)), (OP_MAP_RANGE, (3, 0, 1, 2)),
                         (OP_DESTROY_SERVER, (3,)), (OP_GET_SERVER_PAGES, (3,))]:
            self.assertEqual(b.status(op, *args), -errno.EPERM)
        # lowest free id is reused
        self.assertEqual(a.status(OP_DESTROY_SERVER, 5), 0)
        r = b.call(OP_CREATE_SERVER, 0)
        self.assertEqual((r.status, r.val[0]), (0, 5))
        # ranges
        self.assertEqual(a.status(OP_MAP_RANGE, 0, RANGE_PORT, 0x10, 0x1F), 0)
        self.assertEqual(a.status(OP_MAP_RANGE, 0, RANGE_PORT, 0x1F, 0x20), -errno.EEXIST)
        self.assertEqual(a.status(OP_MAP_RANGE, 0, RANGE_MMIO, 0x1F, 0x20), 0)  # other type
        self.assertEqual(a.status(OP_MAP_RANGE, 1, RANGE_PORT, 0x10, 0x1F), 0)  # other server
        self.assertEqual(a.status(OP_MAP_RANGE, 0, 3, 0, 1), -errno.EINVAL)
        self.assertEqual(a.status(OP_MAP_RANGE, 0, RANGE_PORT, 5, 4), -errno.EINVAL)
        self.assertEqual(a.status(OP_MAP_RANGE, 0, RANGE_PORT, 0, 0x10000), -errno.EINVAL)
        self.assertEqual(a.status(OP_UNMAP_RANGE, 0, RANGE_PORT, 0x10, 0x1E), -errno.ENOENT)
        self.assertEqual(a.status(OP_UNMAP_RANGE, 0, RANGE_PORT, 0x10, 0x1F), 0)
        for i in range(256):
            self.assertEqual(a.status(OP_MAP_RANGE, 2, RANGE_PCI, i, i), 0)
        self.assertEqual(a.status(OP_MAP_RANGE, 2, RANGE_PCI, 1000, 1000), -errno.ENOSPC)
        self.assertEqual(a.status(OP_SET_SERVER_STATE, 0, 2), -errno.EINVAL)
        # interrupts validated
        self.assertEqual(a.status(OP_SET_ISA_IRQ, 16, 1), -errno.EINVAL)
        self.assertEqual(a.status(OP_SET_PCI_INTX, sbdf(0, 3), 4, 1), -errno.EINVAL)
        self.assertEqual(a.status(OP_SET_PCI_INTX, sbdf(1, 3), 0, 1), -errno.EINVAL)
        self.assertEqual(a.status(OP_SET_PCI_LINK_ROUTE, 4, 5), -errno.EINVAL)
        self.assertEqual(a.status(OP_INJECT_MSI, 0x1000, 0), -errno.EINVAL)
        self.assertEqual(a.status(OP_INJECT_MSI, 0xFEE00000, 0x41), 0)
        self.assertEqual(a.status(OP_SET_SPI, 40, 1), -errno.EOPNOTSUPP)
        self.assertEqual(a.status(OP_SHUTDOWN, 99), -errno.EINVAL)
        # closing a destroys its servers only
        a.close()
        q = self.sim.qtest(1)
        deadline = time.monotonic() + 5
        while not q.cmd("xen_servers").startswith("OK 1 ") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(q.cmd("xen_servers").startswith("OK 1 5,off,nobuf"))

    def test_irq_lines_and_shutdown(self):
        c = self.opened()
        q = self.sim.qtest(1)
        q.ok("irq_intercept_in ioapic")
        self.assertEqual(c.status(OP_SET_ISA_IRQ, 4, 1), 0)
        self.assertEqual(q.event(), "IRQ raise 4")
        self.assertEqual(c.status(OP_SET_ISA_IRQ, 4, 1), 0)  # no change, no line
        self.assertEqual(c.status(OP_SET_ISA_IRQ, 4, 0), 0)
        self.assertEqual(q.event(), "IRQ lower 4")
        # INTx of 00:03.0 pin A -> link (3 + 0) & 3 = 3 -> routed to IRQ 11
        self.assertEqual(c.status(OP_SET_PCI_INTX, sbdf(0, 3), 0, 1), 0)
        self.assertEqual(q.event(0.2), None)  # link not routed yet
        self.assertEqual(c.status(OP_SET_PCI_LINK_ROUTE, 3, 11), 0)
        self.assertEqual(q.event(), "IRQ raise 11")
        self.assertEqual(c.status(OP_SET_PCI_INTX, sbdf(0, 3), 0, 0), 0)
        self.assertEqual(q.event(), "IRQ lower 11")
        self.assertEqual(c.status(OP_SHUTDOWN, 1), 0)
        self.assertEqual(q.cmd("xen_domain_state"), "OK shutdown:reboot")
        self.assertEqual(q.cmd("readl 0x1000"), "FAIL domain shutdown")


class WithDeviceModel(SimTest):
    def test_pio_mmio_and_wait_servers(self):
        q = self.sim.qtest(1)
        dm = self.dm()
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", q.cmd("xen_wait_servers 1 5000")))
        t.start()
        sid = dm.create_server(ranges=[(RANGE_PORT, 0x100, 0x107), (RANGE_MMIO, 0xE0000000, 0xE0000FFF)])
        dm.start()
        t.join()
        self.assertEqual(result["r"], "OK")
        self.assertTrue(q.cmd("xen_servers").startswith(f"OK 1 {sid},on,nobuf,port=0x100-0x107"))
        q.ok("outl 0x104 0xcafe")
        self.assertEqual(q.ok("inl 0x104"), 0xCAFE)
        q.ok("writeq 0xe0000010 0x0123456789abcdef")
        self.assertEqual(q.ok("readq 0xe0000010"), 0x0123456789ABCDEF)
        self.assertEqual(q.ok("readb 0xe0000010"), 0xEF)  # masked to the size
        self.assertEqual(q.ok("inw 0x107"), 0xFFFF)  # straddles the end of the range
        last = dm.requests[-1]
        self.assertEqual((last["type"], last["addr"], last["size"], last["dir"]),
                         (TYPE_COPY, 0xE0000010, 1, 1))
        # vCPU 1 uses its own slot
        q.ok("vcpu 1")
        self.assertEqual(q.ok("inl 0x104"), 0xCAFE)
        self.assertEqual(dm.requests[-1]["vcpu"], 1)
        # read/write/memset on non-RAM split into aligned accesses
        q.ok("write 0xe0000101 3 0xaabbcc")
        sizes = [(r["addr"], r["size"]) for r in dm.requests[-2:]]
        self.assertEqual(sizes, [(0xE0000101, 1), (0xE0000102, 2)])
        # disabled: nothing routed
        self.assertEqual(dm.ctl.status(OP_SET_SERVER_STATE, sid, 0), 0)
        self.assertEqual(q.ok("inl 0x104"), 0xFFFFFFFF)

    def test_precedence_highest_id_wins(self):
        q = self.sim.qtest(1)
        low, high = self.dm(), self.dm()
        low.create_server(ranges=[(RANGE_PORT, 0x100, 0x1FF)])
        high.create_server(ranges=[(RANGE_PORT, 0x180, 0x18F)])
        low.handler = lambda r: 0x10
        high.handler = lambda r: 0x20
        low.start(), high.start()
        self.assertEqual(q.ok("inb 0x180"), 0x20)
        self.assertEqual(q.ok("inb 0x17F"), 0x10)
        self.assertEqual(q.ok("inw 0x18F"), 0x10)  # only low contains all of it

    def test_pci_config_via_cf8(self):
        q = self.sim.qtest(1)
        dm = self.dm()
        dm.create_server(ranges=[(RANGE_PCI, sbdf(0, 3), sbdf(0, 3))])
        dm.start()
        dm.registers[(TYPE_PCI_CONFIG, (sbdf(0, 3) << 32) | 0)] = 0x12345678
        q.ok("outl 0xcf8 0x80001800")
        self.assertEqual(q.ok("inl 0xcfc"), 0x12345678)
        q.ok("outl 0xcf8 0x80001810")
        q.ok("outw 0xcfe 0xbeef")
        r = dm.requests[-1]
        self.assertEqual((r["type"], r["addr"], r["size"], r["data"]),
                         (TYPE_PCI_CONFIG, (sbdf(0, 3) << 32) | 0x12, 2, 0xBEEF))
        q.ok("outl 0xcf8 0x80002000")  # 00:04.0: nobody
        self.assertEqual(q.ok("inl 0xcfc"), 0xFFFFFFFF)
        q.ok("outl 0xcf8 0x00001800")  # enable bit clear: plain port I/O
        self.assertEqual(q.ok("inl 0xcfc"), 0xFFFFFFFF)
        self.assertEqual(len([r for r in dm.requests if r["type"] == TYPE_PCI_CONFIG]), 2)

    def test_rep_with_pointers(self):
        q = self.sim.qtest(1)
        dm = self.dm()
        dm.create_server(ranges=[(RANGE_PORT, 0x60, 0x60), (RANGE_MMIO, 0xE0000000, 0xE000FFFF)])
        dm.start()
        q.ok("xen_rep_pio in 0x60 1 16 0x5000 0")
        self.assertEqual(q.cmd("read 0x5000 16"), "OK 0x" + "a5" * 16)
        r = dm.requests[-1]
        self.assertEqual((r["type"], r["count"], r["data"], r["data_is_ptr"], r["dir"]),
                         (TYPE_PIO, 16, 0x5000, 1, 1))
        q.ok("write 0x6000 4 0x01020304")
        q.ok("xen_rep_pio out 0x60 1 2 0x6000 0")
        self.assertEqual(dm.written[-2:], [(TYPE_PIO, 0x60, 1, b"\x01"), (TYPE_PIO, 0x60, 1, b"\x02")])
        self.assertEqual(q.ok("xen_rep_pio out 0x60 2 1 0x6000 0"), None)  # 0x60-0x61: unclaimed
        # rep MMIO cut at page boundaries on both sides
        n = len(dm.requests)
        q.ok("xen_rep_mmio read 0xe0000ff8 4 4 0x7000 0")
        chunks = [(r["addr"], r["count"], r["data"]) for r in dm.requests[n:]]
        self.assertEqual(chunks, [(0xE0000FF8, 2, 0x7000), (0xE0001000, 2, 0x7008)])
        n = len(dm.requests)
        q.ok("xen_rep_mmio write 0xe0000010 4 4 0x8ffc 0")  # RAM side crosses at 0x9000
        self.assertEqual([(r["addr"], r["count"], r["data"]) for r in dm.requests[n:]],
                         [(0xE0000010, 1, 0x8FFC), (0xE0000014, 3, 0x9000)])
        n = len(dm.requests)
        q.ok("xen_rep_mmio read 0xe0001004 4 4 0x7010 1")  # downwards: 0xe0000ff8..0xe0001007
        self.assertEqual([(r["addr"], r["count"], r["df"]) for r in dm.requests[n:]],
                         [(0xE0001004, 2, 1), (0xE0000FFC, 2, 1)])
        n = len(dm.requests)
        q.ok("xen_rep_mmio_fill 0xe0000000 4 8 0x11223344 0")
        r = dm.requests[n]
        self.assertEqual((r["count"], r["data"], r["data_is_ptr"], r["dir"]), (8, 0x11223344, 0, 0))
        # span partly outside the server's range: unclaimed, RAM gets all-ones
        q.ok("xen_rep_mmio read 0xe000fffc 4 2 0x7100 0")
        self.assertEqual(q.cmd("read 0x7100 8"), "OK 0x" + "a5" * 4 + "ff" * 4)

    def test_buffered_vga_writes_and_invalidate(self):
        q = self.sim.qtest(1)
        dm = self.dm()
        sid = dm.create_server(buffered=True, ranges=[(RANGE_MMIO, 0xA0000, 0xBFFFF)])
        dm.start()
        q.ok("writeb 0xa0000 0x12")
        q.ok("writeq 0xa0010 0x1122334455667788")
        self.assertEqual(dm.buffered_entries(sid),
                         [(TYPE_COPY, 0, 1, 0xA0000, 0x12), (TYPE_COPY, 0, 8, 0xA0010, 0x55667788),
                          (TYPE_COPY, 0, 8, 0xA0010, 0x11223344)])
        self.assertEqual(q.ok("readb 0xa0000"), 0x34)  # reads are synchronous
        n = len(dm.requests)
        q.ok("xen_invalidate")
        self.assertEqual(dm.requests[n]["type"], TYPE_INVALIDATE)

    def test_killed_dm_completes_pending_read(self):
        q = self.sim.qtest(1)
        dm = self.dm()
        dm.create_server(ranges=[(RANGE_PORT, 0x100, 0x100)])
        dm.start()
        dm.hold.set()  # never answer
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", q.cmd("inb 0x100")))
        t.start()
        deadline = time.monotonic() + 5
        while not dm.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(dm.requests)
        self.dms.remove(dm)
        dm.close()  # like kill -9: the socket goes away
        t.join(10)
        self.assertEqual(result.get("r"), "OK 0x00ff")
        self.assertEqual(q.cmd("xen_domain_state"), "OK running")
        self.assertEqual(q.cmd("xen_servers"), "OK 0")
        q.ok("writel 0x1000 7")
        self.assertEqual(q.ok("readl 0x1000"), 7)

    def test_bad_state_crashes_guest_not_xensim(self):
        q1, q2 = self.sim.qtest(1), self.sim.qtest(2)
        dm = self.dm()
        dm.create_server(ranges=[(RANGE_PORT, 0x100, 0x100)])
        dm.misbehave = "backwards"
        dm.start()
        self.assertEqual(q1.cmd("inb 0x100"), "FAIL domain crashed")
        self.assertEqual(q1.cmd("xen_domain_state"), "OK crashed")
        self.assertEqual(q1.cmd("readl 0x1000"), "FAIL domain crashed")
        self.assertEqual(q2.cmd("xen_domain_state"), "OK running")
        q2.ok("writel 0x1000 1")
        self.assertTrue(self.sim.alive())

    def test_frontend_event_channel(self):
        q = self.sim.qtest(1)
        c = self.opened()
        port = q.ok("xen_evtchn_alloc_unbound 0")
        r = c.call(OP_EVTCHN_BIND, port)
        self.assertEqual((r.status, len(r.fds)), (0, 2))
        self.assertEqual(c.status(OP_EVTCHN_BIND, port), -errno.EBUSY)
        to_dm, to_guest = r.fds
        q.ok(f"xen_evtchn_send {port}")
        self.assertEqual(struct.unpack("<Q", __import__("os").read(to_dm, 8))[0], 1)
        __import__("os").write(to_guest, struct.pack("<Q", 1))
        self.assertEqual(q.event(), f"EVTCHN {port}")
        r.close_fds()


class ArmDomain(unittest.TestCase):
    def test_arm_layout_and_spi(self):
        with tempfile.TemporaryDirectory() as tmp:
            sim = Xensim(tmp, ["3,mem=128M,vcpus=1,arch=arm"])
            try:
                c = sim.control()
                r = c.call(OP_OPEN, 3, PROTOCOL_VERSION)
                r.close_fds()
                self.assertEqual((r.status, r.val[1], r.ram[0]), (0, 1, (0x40000000, 128 << 20, 0)))
                self.assertEqual(c.status(OP_CREATE_SERVER, 1), -errno.EINVAL)
                self.assertEqual(c.status(OP_SET_SPI, 31, 1), -errno.EINVAL)
                self.assertEqual(c.status(OP_SET_SPI, 40, 1), 0)
                self.assertEqual(c.status(OP_SET_ISA_IRQ, 1, 1), -errno.EOPNOTSUPP)
                q = sim.qtest(3)
                q.ok("writel 0x40000000 0x5")
                self.assertEqual(q.ok("readl 0x40000000"), 5)
                self.assertTrue(q.cmd("inb 0x80").startswith("FAIL"))
            finally:
                sim.stop()

    def test_bad_command_lines(self):
        with tempfile.TemporaryDirectory() as tmp:
            for spec in ["0,mem=64M", "1,mem=0", "1,mem=64Q", "1,mem=64M,vcpus=0",
                         "1,mem=64M,vcpus=129", "1,mem=64M,arch=mips", "x"]:
                with self.assertRaises(RuntimeError, msg=spec):
                    Xensim(tmp, [spec])

    def test_high_memory_layout(self):
        with tempfile.TemporaryDirectory() as tmp:
            sim = Xensim(tmp, ["1,mem=5G,vcpus=1"])
            try:
                c = sim.control()
                r = c.call(OP_OPEN, 1, PROTOCOL_VERSION)
                r.close_fds()
                self.assertEqual(r.ram, [(0, 0xF0000000, 0), (1 << 32, (5 << 30) - 0xF0000000,
                                                             0xF0000000)])
                q = sim.qtest(1)
                q.ok("writel 0x100000000 0x77")
                self.assertEqual(q.ok("readl 0x100000000"), 0x77)
                self.assertEqual(q.ok("readl 0xf0000000"), 0xFFFFFFFF)
            finally:
                sim.stop()


if __name__ == "__main__":
    unittest.main()
