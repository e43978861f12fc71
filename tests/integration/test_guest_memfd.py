# SPDX-License-Identifier: MIT
"""xensim's xen_guest_memfd: the scripted guest gets its own RAM as a memfd
(SCM_RIGHTS) with the guest-physical layout, so a test frontend touches it
at memory speed. Both views are the same bytes; the fd cannot resize RAM."""
import array
import mmap
import os
import socket
import tempfile
import unittest

from xensim import Xensim


def guest_memfd(path):
    """Ask on a fresh qtest connection; returns (reply words, fd or None)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"xen_guest_memfd\n")
    fds = array.array("i")
    data = b""
    while not data.endswith(b"\n"):
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        if not msg:
            break
        data += msg
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    s.close()
    return data.decode().split(), (fds[0] if fds else None), len(fds)


class GuestMemfdTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=1",
                                          "2,mem=1G,vcpus=1,mmio_hole=3584M"])

    def tearDown(self):
        self.sim.stop()
        self.tmp.cleanup()

    def test_layout_low_only(self):
        words, fd, nfds = guest_memfd(self.sim.path("dom1.qtest"))
        self.assertEqual(nfds, 1)
        self.assertEqual(words, ["OK", "0x4000000", "0x0+0x4000000@0x0", "hole=0xa0000-0xc0000"])
        self.assertEqual(os.fstat(fd).st_size, 64 << 20)
        os.close(fd)

    def test_layout_high_ram_at_4g(self):
        words, fd, _ = guest_memfd(self.sim.path("dom2.qtest"))
        self.assertEqual(words, ["OK", "0x40000000", "0x0+0x20000000@0x0",
                                 "0x100000000+0x20000000@0x20000000", "hole=0xa0000-0xc0000"])
        ram = mmap.mmap(fd, 1 << 30)
        os.close(fd)
        q = self.sim.qtest(2)
        # high RAM: guest address 4 GiB + 16 is memfd offset 512 MiB + 16
        ram[(512 << 20) + 16:(512 << 20) + 20] = b"\x11\x22\x33\x44"
        self.assertEqual(q.ok("readl 0x100000010"), 0x44332211)
        ram.close()

    def test_same_bytes_both_ways(self):
        words, fd, _ = guest_memfd(self.sim.path("dom1.qtest"))
        ram = mmap.mmap(fd, 64 << 20)
        os.close(fd)
        q = self.sim.qtest(1)
        q.ok("writeq 0x200000 0x1122334455667788")
        self.assertEqual(ram[0x200000:0x200008], bytes.fromhex("8877665544332211"))
        ram[0x300000:0x300004] = b"\xde\xad\xbe\xef"
        self.assertEqual(q.ok("readl 0x300000"), 0xefbeadde)
        ram.close()

    def test_bad_uses(self):
        q = self.sim.qtest(1)
        self.assertEqual(q.cmd("xen_guest_memfd 1"), "FAIL wrong number of arguments")
        # a client that never takes the fd still gets the line; the fd is dropped
        self.assertTrue(q.cmd("xen_guest_memfd").startswith("OK 0x4000000 "))
        self.assertEqual(q.ok("writel 0x1000 0x5"), None)
        # the guest owns its RAM but cannot resize it under xensim
        _, fd, _ = guest_memfd(self.sim.path("dom1.qtest"))
        with self.assertRaises(PermissionError):
            os.ftruncate(fd, 4096)
        with self.assertRaises(PermissionError):
            os.ftruncate(fd, 128 << 20)
        os.close(fd)
        self.assertEqual(q.ok("readl 0x1000"), 5)
        self.assertTrue(self.sim.alive())


if __name__ == "__main__":
    unittest.main()
