# SPDX-License-Identifier: MIT
"""xensim's xen_evtchn_fds: a test frontend playing the guest takes its
port's two eventfds (SCM_RIGHTS: send, then receive) and signals and waits
on them itself, as a real guest's event channel is a hypercall and an
upcall rather than a text line relayed by xensim's qtest thread. Checked:
both directions, Xen's semantics (an event sent before the backend binds
is kept, backend notifications coalesce), no more EVTCHN lines for the
port, every refusal, and that xensim closes all it opened."""
import array
import os
import select
import socket
import struct
import tempfile
import time
import unittest

from xensim import Xensim, OP_OPEN, OP_EVTCHN_BIND, PROTOCOL_VERSION


def eventfd_write(fd, n=1):
    os.write(fd, struct.pack("<Q", n))


def eventfd_read(fd):
    """The counter (and clear it), or 0 if it was not signalled."""
    try:
        return struct.unpack("<Q", os.read(fd, 8))[0]
    except BlockingIOError:
        return 0


class Guest:
    """A raw qtest connection that keeps the fds a reply carries and sets
    asynchronous EVTCHN lines aside."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.settimeout(10)
        self.buf = b""
        self.async_lines = []

    def cmd(self, line):
        """(reply line, [fds])"""
        self.sock.sendall(line.encode() + b"\n")
        fds = array.array("i")
        while True:
            while b"\n" in self.buf:
                text, self.buf = self.buf.split(b"\n", 1)
                text = text.decode()
                if not text.startswith("EVTCHN "):
                    return text, list(fds)
                self.async_lines.append(text)
            msg, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(8 * fds.itemsize))
            if not msg:
                raise ConnectionError("qtest connection closed")
            self.buf += msg
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])

    def alloc(self):
        r, _ = self.cmd("xen_evtchn_alloc_unbound 0")
        self.assert_ok(r)
        return int(r.split()[1])

    def fds(self, port):
        r, fds = self.cmd(f"xen_evtchn_fds {port}")
        if r != "OK" or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise AssertionError(f"xen_evtchn_fds {port} -> {r!r} with {len(fds)} fds")
        os.set_blocking(fds[0], False)
        os.set_blocking(fds[1], False)
        return fds

    @staticmethod
    def assert_ok(r):
        if not r.startswith("OK"):
            raise AssertionError(r)

    def close(self):
        self.sock.close()


class EvtchnFdsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=1"])
        self.to_close = []  # our fds
        self.guests = []

    def tearDown(self):
        for fd in self.to_close:
            os.close(fd)
        for g in self.guests:
            g.close()
        self.sim.stop()
        self.tmp.cleanup()

    def guest(self):
        g = Guest(self.sim.path("dom1.qtest"))
        self.guests.append(g)
        return g

    def backend(self):
        c = self.sim.control()
        r = c.call(OP_OPEN, 1, PROTOCOL_VERSION)
        r.close_fds()
        self.assertEqual(r.status, 0)
        return c

    def bind(self, c, port):
        """The backend's (to_dm, to_guest) for port."""
        r = c.call(OP_EVTCHN_BIND, port)
        self.assertEqual((r.status, len(r.fds)), (0, 2))
        for fd in r.fds:
            os.set_blocking(fd, False)
        self.to_close.extend(r.fds)
        return r.fds

    def xensim_fds(self):
        return len(os.listdir(f"/proc/{self.sim.proc.pid}/fd"))

    def test_both_directions(self):
        g = self.guest()
        port = g.alloc()
        send, recv = g.fds(port)
        self.to_close += [send, recv]
        # Xen keeps an event sent while the port is still unbound pending
        eventfd_write(send)
        to_dm, to_guest = self.bind(self.backend(), port)
        self.assertEqual(eventfd_read(to_dm), 1)
        # the text send still works and reaches the same backend eventfd
        self.assertEqual(g.cmd(f"xen_evtchn_send {port}")[0], "OK")
        self.assertEqual(eventfd_read(to_dm), 1)
        # backend -> guest: two notifications before the guest looks are one
        # wake-up (Xen's pending bit), on the guest's fd only
        eventfd_write(to_guest)
        eventfd_write(to_guest)
        self.assertEqual(select.select([recv], [], [], 5)[0], [recv])
        self.assertGreaterEqual(eventfd_read(recv), 1)
        self.assertEqual(eventfd_read(recv), 0)
        time.sleep(0.2)  # an EVTCHN line, were one relayed, would be here by now
        self.assertEqual(g.cmd("endianness")[0], "OK little")
        self.assertEqual(g.async_lines, [])

    def test_text_ports_still_relayed(self):
        g = self.guest()
        direct, text = g.alloc(), g.alloc()
        self.to_close += g.fds(direct)
        c = self.backend()
        _, direct_to_guest = self.bind(c, direct)
        _, text_to_guest = self.bind(c, text)
        eventfd_write(direct_to_guest)
        eventfd_write(text_to_guest)
        deadline = time.monotonic() + 5
        while not g.async_lines and time.monotonic() < deadline:
            g.cmd("endianness")
        self.assertEqual(g.async_lines, [f"EVTCHN {text}"])

    def test_refusals(self):
        g, other = self.guest(), self.guest()
        port = g.alloc()
        theirs = other.alloc()
        closed = g.alloc()
        self.assertEqual(g.cmd(f"xen_evtchn_close {closed}")[0], "OK")
        cases = [
            (f"xen_evtchn_fds {theirs}", "FAIL port not allocated by this connection"),
            ("xen_evtchn_fds 999", "FAIL no such port"),
            (f"xen_evtchn_fds {closed}", "FAIL no such port"),
            ("xen_evtchn_fds", "FAIL wrong number of arguments"),
            (f"xen_evtchn_fds {port} 1", "FAIL wrong number of arguments"),
            ("xen_evtchn_fds x", "FAIL bad argument"),
            ("xen_evtchn_fds -1", "FAIL bad argument"),
            ("xen_evtchn_fds 0x", "FAIL bad argument"),
            ("xen_evtchn_fds 99999999999999999999999", "FAIL bad argument"),
            ("xen_evtchn_fds 4097", "FAIL bad argument"),
        ]
        for line, want in cases:
            r, fds = g.cmd(line)
            self.assertEqual((r, fds), (want, []), line)
        self.to_close += g.fds(port)
        self.assertEqual(g.cmd(f"xen_evtchn_fds {port}"), ("FAIL fds already given", []))
        # the refused owner still has its port, the other connection too
        self.assertEqual(g.cmd(f"xen_evtchn_send {port}")[0], "OK")
        self.to_close += other.fds(theirs)
        self.assertTrue(self.sim.alive())

    def test_closing_releases_everything(self):
        # a first guest and backend settle whatever xensim opens once
        self.guest().cmd("endianness")
        self.backend().close()
        time.sleep(0.2)
        baseline = self.xensim_fds()
        g = Guest(self.sim.path("dom1.qtest"))
        ports = [g.alloc() for _ in range(3)]
        mine = []
        for port in ports[:2]:
            mine += g.fds(port)
        c = self.backend()
        self.bind(c, ports[0])
        self.bind(c, ports[2])
        self.assertGreaterEqual(self.xensim_fds(), baseline + 2 + 3 * 2)  # sockets, eventfds
        self.assertEqual(g.cmd(f"xen_evtchn_close {ports[1]}")[0], "OK")
        self.assertEqual(g.cmd(f"xen_evtchn_fds {ports[1]}")[0], "FAIL no such port")
        g.close()
        c.close()
        for fd in mine:
            os.close(fd)
        deadline = time.monotonic() + 10
        while self.xensim_fds() != baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.xensim_fds(), baseline)
        # the port numbers are free again
        g2 = self.guest()
        self.assertEqual(sorted(g2.alloc() for _ in range(3)), sorted(ports))


if __name__ == "__main__":
    unittest.main()
