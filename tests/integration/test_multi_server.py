# SPDX-License-Identifier: MIT
"""One guest served by three ioreqd processes, end to end through xensim.

Each process registers different devices; the scripted guest's accesses
must reach the right one, PCI config for devices in two processes works,
two domains stay isolated, and kill -9 of one process leaves the others
serving while its ranges read all-ones.
"""
import os
import signal
import socket
import tempfile
import threading
import time
import tty
import unittest

from ioreqd_proc import Ioreqd, run_ioreqd, stop_all
from xensim import Xensim




class Guest:
    """Thin helpers over one qtest connection."""

    def __init__(self, qtest):
        self.q = qtest

    def ok(self, line):
        reply = self.q.cmd(line)
        if not reply.startswith("OK"):
            raise AssertionError(f"{line!r} -> {reply!r}")
        parts = reply.split()
        return int(parts[1], 0) if len(parts) > 1 else None

    def cfg_read(self, dev, reg, size=4, fn=0):
        return self.q.cfg_read(dev, reg, size, fn)

    def cfg_write(self, dev, reg, value, size=4, fn=0):
        self.q.cfg_write(dev, reg, value, size, fn)


class MultiServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=2", "2,mem=32M,vcpus=1"])
        self.procs = []

    def tearDown(self):
        try:
            stop_all(self.procs, skip_exited=True)
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def start(self, domid, args, name):
        p = Ioreqd(self.tmp.name, domid, args, name=name)
        self.procs.append(p)
        return p

    def start_three(self):
        """dom1: A = debugcon 0xe9; B = pci-testdev 03.0 + debugcon 0x402;
        C = pci-testdev 04.0."""
        a = self.start(1, ["-chardev", f"file,id=con,path={self.path('a.log')}",
                           "-device", "isa-debugcon,chardev=con"], "A")
        b = self.start(1, ["-chardev", f"file,id=con,path={self.path('b.log')}",
                           "-device", "isa-debugcon,iobase=0x402,chardev=con",
                           "-device", "pci-testdev,addr=3"], "B")
        c = self.start(1, ["-device", "pci-testdev,addr=4,id=testdev-c"], "C")
        g = Guest(self.sim.qtest(1))
        g.ok("xen_wait_servers 3 20000")
        return a, b, c, g

    def read_file(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def test_accesses_reach_the_right_process(self):
        a, b, c, g = self.start_three()
        for ch in b"hi":
            g.ok(f"outb 0xe9 {ch:#x}")
        g.ok("outb 0x402 0x21")
        self.assertEqual(g.ok("inb 0xe9"), 0xE9)  # debugcon readback
        self.assertEqual(self.read_file("a.log"), b"hi")
        self.assertEqual(self.read_file("b.log"), b"!")
        # unclaimed: all-ones, dropped
        self.assertEqual(g.ok("inb 0x403"), 0xFF)
        self.assertEqual(g.ok("inw 0xe9"), 0xFFFF)  # straddles 0xe9-0xea: nobody's whole range

    def test_pci_config_in_two_processes(self):
        a, b, c, g = self.start_three()
        self.assertEqual(g.cfg_read(3, 0), 0x00051B36)
        self.assertEqual(g.cfg_read(4, 0), 0x00051B36)
        self.assertEqual(g.cfg_read(5, 0), 0xFFFFFFFF)  # nobody's slot
        self.assertEqual(g.cfg_read(3, 0, fn=1), 0xFFFFFFFF)
        self.assertEqual(g.cfg_read(3, 2, size=2), 0x0005)
        # program BAR0 of each (MMIO scratch) and BAR1 (ports), enable decoding
        g.cfg_write(3, 0x10, 0xE0000000)
        g.cfg_write(4, 0x10, 0xE0001000)
        g.cfg_write(3, 0x14, 0xC000)
        g.cfg_write(4, 0x14, 0xC100)
        for dev in (3, 4):
            g.cfg_write(dev, 0x04, 0x3, size=2)
        self.assertEqual(g.cfg_read(3, 0x10), 0xE0000000)
        g.ok("writel 0xe0000010 0x11111111")
        g.ok("writel 0xe0001010 0x22222222")
        g.ok("outl 0xc004 0x33333333")
        self.assertEqual(g.ok("readl 0xe0000010"), 0x11111111)
        self.assertEqual(g.ok("readl 0xe0001010"), 0x22222222)
        self.assertEqual(g.ok("inl 0xc004"), 0x33333333)
        self.assertEqual(g.ok("inl 0xc104"), 0)
        # 8-byte MMIO accesses
        g.ok("writeq 0xe0000020 0x0123456789abcdef")
        self.assertEqual(g.ok("readq 0xe0000020"), 0x0123456789ABCDEF)
        # moving a BAR moves the range: old address unclaimed, new one served
        g.cfg_write(3, 0x10, 0xE0100000)
        self.assertEqual(g.ok("readl 0xe0000010"), 0xFFFFFFFF)
        self.assertEqual(g.ok("readl 0xe0100010"), 0x11111111)
        # turning decoding off unmaps
        g.cfg_write(4, 0x04, 0x0, size=2)
        self.assertEqual(g.ok("readl 0xe0001010"), 0xFFFFFFFF)
        # BAR sizing through real config cycles
        g.cfg_write(3, 0x10, 0xFFFFFFFF)
        self.assertEqual(g.cfg_read(3, 0x10), 0xFFFFF000)
        g.cfg_write(3, 0x14, 0xFFFFFFFF)
        self.assertEqual(g.cfg_read(3, 0x14), 0xFFFFFF01)

    def test_rep_through_ram(self):
        a, b, c, g = self.start_three()
        g.cfg_write(4, 0x10, 0xE0002000)
        g.cfg_write(4, 0x04, 0x2, size=2)
        pattern = bytes(range(64))
        g.ok(f"write 0x10000 64 0x{pattern.hex()}")
        # rep movsd RAM -> MMIO upwards, then back downwards into other RAM
        g.ok("xen_rep_mmio write 0xe0002000 4 16 0x10000 0")
        self.assertEqual(g.ok("readl 0xe0002004"), int.from_bytes(pattern[4:8], "little"))
        g.ok("xen_rep_mmio read 0xe000203c 4 16 0x2103c 1")
        reply = g.q.cmd("read 0x21000 64")
        self.assertEqual(reply, "OK 0x" + pattern.hex())
        # rep outs to a port (fixed) then ins back
        g.cfg_write(4, 0x14, 0xC200)
        g.cfg_write(4, 0x04, 0x3, size=2)
        g.ok("xen_rep_pio out 0xc208 2 8 0x10000 0")
        self.assertEqual(g.ok("inw 0xc208"), int.from_bytes(pattern[14:16], "little"))
        g.ok("xen_rep_mmio_fill 0xe0002100 2 8 0xbeef 0")
        self.assertEqual(g.ok("readl 0xe000210c"), 0xBEEFBEEF)

    def test_two_domains_isolated(self):
        a, b, c, g1 = self.start_three()
        d2 = self.start(2, ["-chardev", f"file,id=con,path={self.path('d2.log')}",
                            "-device", "isa-debugcon,chardev=con",
                            "-device", "pci-testdev,addr=3"], "D2")
        g2 = Guest(self.sim.qtest(2))
        g2.ok("xen_wait_servers 1 20000")
        g1.ok("outb 0xe9 0x31")
        g2.ok("outb 0xe9 0x32")
        self.assertEqual(self.read_file("a.log"), b"1")
        self.assertEqual(self.read_file("d2.log"), b"2")
        # the same slot in both domains is two different devices
        g1.cfg_write(3, 0x14, 0xC000)
        g1.cfg_write(3, 0x04, 0x1, size=2)
        g2.cfg_write(3, 0x14, 0xC000)
        g2.cfg_write(3, 0x04, 0x1, size=2)
        g1.ok("outl 0xc000 0x1")
        g2.ok("outl 0xc000 0x2")
        self.assertEqual(g1.ok("inl 0xc000"), 1)
        self.assertEqual(g2.ok("inl 0xc000"), 2)
        # dom2 has no device at 04.0; dom1 does
        self.assertEqual(g2.cfg_read(4, 0), 0xFFFFFFFF)
        self.assertEqual(g1.cfg_read(4, 0), 0x00051B36)
        # RAM is separate too
        g1.ok("writel 0x1000 0xaaaa")
        self.assertEqual(g2.ok("readl 0x1000"), 0)

    def test_kill9_leaves_others_serving(self):
        a, b, c, g = self.start_three()
        g.cfg_write(4, 0x14, 0xC100)
        g.cfg_write(4, 0x04, 0x1, size=2)
        g.ok("outl 0xc100 0x5")
        # stop C, then let a vCPU wait on it, then kill it mid-request
        os.kill(c.pid, signal.SIGSTOP)
        g2 = Guest(self.sim.qtest(1))
        g2.ok("vcpu 1")
        result = {}

        def blocked_read():
            result["reply"] = g2.q.cmd("inl 0xc100")

        t = threading.Thread(target=blocked_read)
        t.start()
        time.sleep(0.5)
        self.assertTrue(t.is_alive(), "the read should be waiting on the stopped process")
        c.kill9()
        t.join(20)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["reply"], "OK 0xffffffff")
        # its ranges are gone: all-ones from now on
        self.assertEqual(g.ok("inl 0xc100"), 0xFFFFFFFF)
        self.assertEqual(g.cfg_read(4, 0), 0xFFFFFFFF)
        # the others carry on
        self.assertEqual(g.cfg_read(3, 0), 0x00051B36)
        g.ok("outb 0xe9 0x41")
        g.ok("outb 0x402 0x42")
        self.assertEqual(self.read_file("a.log"), b"A")
        self.assertEqual(self.read_file("b.log"), b"B")
        self.assertEqual(g.ok("xen_wait_servers 2 1000"), None)
        self.assertEqual(g.q.cmd("xen_domain_state"), "OK running")

    def test_sigterm_unregisters(self):
        a, b, c, g = self.start_three()
        self.assertEqual(g.cfg_read(4, 0), 0x00051B36)
        c.stop()
        self.assertEqual(g.cfg_read(4, 0), 0xFFFFFFFF)
        self.assertTrue(g.q.cmd("xen_servers").startswith("OK 2"))

    def test_ninth_server_refused(self):
        g = Guest(self.sim.qtest(2))
        for i in range(8):
            self.start(2, ["-device", f"pci-testdev,addr={i + 1:x}"], f"S{i}")
        g.ok("xen_wait_servers 8 30000")
        status, err = run_ioreqd(["-xen-domid", "2", "-accel", f"xensim,dir={self.tmp.name}",
                                  "-device", "pci-testdev,addr=1f"])
        self.assertEqual(status, 1)
        self.assertIn("No space left on device", err)
        self.assertEqual(g.cfg_read(0x1F, 0), 0xFFFFFFFF)
        self.assertEqual(g.cfg_read(8, 0), 0x00051B36)

    def test_chardev_socket_and_pty(self):
        sock_path = self.path("con.sock")
        p = self.start(1, ["-chardev", f"socket,id=s,path={sock_path},server=on,wait=off",
                           "-device", "isa-debugcon,chardev=s",
                           "-chardev", "pty,id=p", "-device", "isa-debugcon,iobase=0x402,chardev=p"],
                       "chardevs")
        g = Guest(self.sim.qtest(1))
        g.ok("xen_wait_servers 1 20000")
        g.ok("outb 0xe9 0x30")  # nobody listening yet: dropped, never blocks the guest
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.time() + 10
        while True:
            try:
                client.connect(sock_path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        client.settimeout(10)
        time.sleep(0.2)  # let ioreqd's main loop accept the connection
        for ch in b"ok":
            g.ok(f"outb 0xe9 {ch:#x}")
        got = b""
        while len(got) < 2:
            got += client.recv(16)
        self.assertEqual(got, b"ok")
        client.close()
        g.ok("outb 0xe9 0x31")  # the reader went away: still no stall
        # the pty: QEMU's announcement line names it; read what the guest wrote
        deadline = time.time() + 10
        while "redirected to" not in p.stderr() and time.time() < deadline:
            time.sleep(0.05)
        pts = p.stderr().split("redirected to ")[1].split()[0]
        fd = os.open(pts, os.O_RDONLY | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            g.ok("outb 0x402 0x50")
            self.assertEqual(os.read(fd, 1), b"P")
        finally:
            os.close(fd)

    def test_exits_when_the_hypervisor_goes(self):
        a, b, c, g = self.start_three()
        self.sim.stop()
        for p in (a, b, c):
            self.assertEqual(p.wait_exit(timeout=10), 1)
            self.assertIn("hypervisor connection was lost", p.stderr())
        self.sim = Xensim(self.tmp.name, ["1,mem=16M,vcpus=1"])  # for tearDown

    def test_option_errors(self):
        base = ["-xen-domid", "1", "-accel", f"xensim,dir={self.tmp.name}"]
        for args, needle in [
            (["-frobnicate"], "'-frobnicate'"),
            (["-device", "no-such-device"], "'no-such-device'"),
            (["-device", "pci-testdev,colour=red"], "'colour'"),
            (["-device", "pci-testdev,addr=40"], "'40'"),
            (["-device", "isa-debugcon,chardev=missing"], "'missing'"),
            (["-chardev", "file,id=x"], "path="),
            (["-machine", "q35"], "'q35'"),
        ]:
            status, err = run_ioreqd(base + args)
            self.assertEqual(status, 1, args)
            self.assertIn(needle, err, args)
            self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_same_port_two_servers_higher_id_wins(self):
        a, b, c, g = self.start_three()  # A holds server id 0
        e = self.start(1, ["-chardev", f"file,id=con,path={self.path('e.log')}",
                           "-device", "isa-debugcon,chardev=con"], "E")
        g.ok("xen_wait_servers 4 20000")
        g.ok("outb 0xe9 0x45")
        self.assertEqual(self.read_file("e.log"), b"E")
        self.assertEqual(self.read_file("a.log"), b"")
        e.stop()
        g.ok("outb 0xe9 0x61")
        self.assertEqual(self.read_file("a.log"), b"a")


if __name__ == "__main__":
    unittest.main()
