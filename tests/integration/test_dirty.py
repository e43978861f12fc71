# SPDX-License-Identifier: MIT
"""Dirty tracking end to end: the guest writes into a VRAM window and the
bits show up in the bitmap that hv-sim's track_dirty_vram returns, once;
modified_memory from a device model marks pages too and is counted;
ranges that are not guest RAM are refused with -EINVAL, by hv-sim's
caller-side checks and by xensim's own (raw control datagrams)."""
import os
import struct
import subprocess
import tempfile
import unittest

from xensim import OP_OPEN, REQUEST, Xensim

HV_CLIENT = os.environ.get("HV_CLIENT", "build/tests/integration/hv-client")
GRANT_CLIENT = os.environ.get("GRANT_CLIENT", "build/tests/integration/grant-client")
OP_TRACK_DIRTY_VRAM, OP_MODIFIED_MEMORY = 21, 22
EXTENT = struct.Struct("<QII")  # first_pfn nr reserved
EINVAL = 22
VRAM = 0x1000          # first pfn of the window (16 MiB)
NR = 64
RAM_PAGES = 32 << 8    # 32 MiB


class HvClient:
    def __init__(self, sim_dir, domid=1, binary=HV_CLIENT):
        self.proc = subprocess.Popen([binary, sim_dir, str(domid)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"hv-client: {line!r} {self.proc.stderr.read()}")

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply:
            raise ConnectionError(f"hv-client died: {self.proc.stderr.read()}")
        return reply

    def dirty(self, first=VRAM, nr=NR):
        r = self.cmd(f"track {first} {nr}")
        if not r.startswith("OK "):
            raise AssertionError(r)
        return [] if r == "OK -" else [int(x) for x in r[3:].split(",")]

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)
        err = self.proc.stderr.read()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        if self.proc.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
            raise AssertionError(f"hv-client exited {self.proc.returncode}: {err}")


class DirtyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=32M,vcpus=1"])
        self.q = self.sim.qtest(1)
        self.hv = HvClient(self.tmp.name)

    def tearDown(self):
        self.hv.close()
        self.sim.stop()
        self.tmp.cleanup()

    def gpa(self, page, offset=0):
        return (VRAM + page) * 4096 + offset

    def test_guest_writes_set_bits_once(self):
        self.assertEqual(self.hv.dirty(), list(range(NR)))  # a new window: all dirty
        self.assertEqual(self.hv.dirty(), [])
        self.assertEqual(self.q.cmd(f"readq {self.gpa(1)}")[:2], "OK")  # reads mark nothing
        self.assertEqual(self.q.cmd(f"writeb {self.gpa(0, 5)} 0x12"), "OK")
        self.assertEqual(self.q.cmd(f"memset {self.gpa(2)} 8192 0xff"), "OK")
        # 8 bytes across the window's last page and the page after it
        self.assertEqual(self.q.cmd(f"write {self.gpa(NR - 1, 4092)} 8 0x0102030405060708"), "OK")
        self.assertEqual(self.q.cmd(f"writel {self.gpa(NR + 3)} 1"), "OK")  # outside
        self.assertEqual(self.q.cmd(f"writel {self.gpa(0) - 4} 1"), "OK")   # just below
        self.assertEqual(self.hv.dirty(), [0, 2, 3, NR - 1])
        self.assertEqual(self.hv.dirty(), [])  # cleared by the read
        # stop tracking: writes are not kept; a window again starts all dirty
        self.assertEqual(self.hv.cmd("track 0 0"), "OK -")
        self.assertEqual(self.q.cmd(f"writeb {self.gpa(9)} 1"), "OK")
        self.assertEqual(self.hv.dirty(VRAM, 3), [0, 1, 2])
        self.assertEqual(self.hv.dirty(VRAM, 3), [])

    def test_modified_memory(self):
        self.hv.dirty()
        self.assertEqual(self.hv.cmd(f"modified {VRAM + 5}:2 {VRAM + 40}:1 16:4"), "OK")
        self.assertEqual(self.hv.dirty(), [5, 6, 40])
        self.assertEqual(self.q.cmd("xen_modified_pages"), "OK 7")
        # more extents than one datagram carries: hv-sim sends them in batches
        many = " ".join(f"{VRAM + 10}:1" for _ in range(300))
        self.assertEqual(self.hv.cmd(f"modified {many}"), "OK")
        self.assertEqual(self.q.cmd("xen_modified_pages"), "OK 307")
        self.assertEqual(self.hv.dirty(), [10])
        # not guest RAM, empty, wrapping, VGA hole, past the end: -EINVAL, nothing counted
        for bad in (f"{VRAM}:0", f"{RAM_PAGES - 1}:2", f"{RAM_PAGES}:1", "0xa0:1", "0x9f:2",
                    "0xffffffffffffffff:2", f"{VRAM}:1 0x100000:1"):
            self.assertEqual(self.hv.cmd(f"modified {bad}"), f"ERR -{EINVAL}", bad)
        self.assertEqual(self.q.cmd("xen_modified_pages"), "OK 307")
        self.assertEqual(self.hv.dirty(), [])

    def test_bad_vram_ranges(self):
        for first, nr in (("0xa0", 4), ("0x9e", 4), (RAM_PAGES - 2, 4), (RAM_PAGES, 1),
                          (VRAM, 65537), ("0xffffffffffffffff", 2)):
            self.assertEqual(self.hv.cmd(f"track {first} {nr}"), f"ERR -{EINVAL}", (first, nr))
        self.assertEqual(self.hv.dirty(RAM_PAGES - 4, 4), [0, 1, 2, 3])  # the very end is fine

    def test_backend_writes_through_grants(self):
        """Pages xensim lets a backend write (a grant copy toward the guest,
        a writable mapping) are dirty once that ends, as Xen marks them."""
        table = 0x100000
        self.q.cmd(f"xen_gnttab_setup {table:#x} 1")
        for ref, page, flags in ((1, 7, 1), (2, 8, 1), (3, 9, 1 | 4)):  # 4: read-only
            entry = struct.pack("<HHI", flags, 0, VRAM + page)
            self.assertEqual(self.q.cmd(f"write {table + 8 * ref:#x} 8 0x{entry.hex()}"), "OK")
        self.hv.dirty()
        self.assertEqual(self.hv.dirty(), [])
        backend = HvClient(self.tmp.name, binary=GRANT_CLIENT)
        try:
            self.assertEqual(backend.cmd("copy t:1:0:c0ffee f:3:0:4").split()[0], "OK")
            # the next round trip ends the copy (its COPY_DONE has no answer)
            self.assertEqual(backend.cmd("copy f:3:0:1").split()[0], "OK")
            self.assertEqual(self.hv.dirty(), [7])
            handle = backend.cmd("map rw 2").split()[1]
            self.assertEqual(backend.cmd(f"write {handle} 0 aa"), "OK")
            self.assertEqual(self.hv.dirty(), [])  # xensim cannot see it yet...
            self.assertEqual(backend.cmd(f"unmap {handle}"), "OK")
            self.assertEqual(self.hv.dirty(), [8])  # ...it counts at the unmap
            handle = backend.cmd("map ro 3").split()[1]
            self.assertEqual(backend.cmd(f"unmap {handle}"), "OK")
            self.assertEqual(self.hv.dirty(), [])
        finally:
            backend.close()

    def test_raw_datagrams(self):
        ctl = self.sim.control()
        opened = ctl.call(OP_OPEN, 1, 1)
        opened.close_fds()
        r, payload = ctl.call_items(OP_TRACK_DIRTY_VRAM, [VRAM, 100])
        self.assertEqual((r.status, r.val[0], len(payload)), (0, 100, 16))
        self.assertEqual(payload, b"\xff" * 12 + b"\x0f\x00\x00\x00")  # exactly 100 bits
        r, _ = ctl.call_items(OP_TRACK_DIRTY_VRAM, [VRAM, 1, 1])
        self.assertEqual(r.status, -EINVAL)
        one = EXTENT.pack(VRAM, 1, 0)
        for args, items, want in (
                ([1], one, 0),
                ([0], b"", -EINVAL),                       # no extent
                ([2], one, -EINVAL),                       # fewer than declared
                ([1], one + one, -EINVAL),                 # more than declared
                ([257], one * 257, -EINVAL),               # past the limit
                ([1, 1], one, -EINVAL),                    # reserved args
                ([1], EXTENT.pack(VRAM, 1, 7), -EINVAL),   # reserved field
        ):
            r, _ = ctl.call_items(OP_MODIFIED_MEMORY, args, items)
            self.assertEqual(r.status, want, (args, len(items)))
        r, _ = ctl.call_items(OP_MODIFIED_MEMORY, [3], one + EXTENT.pack(0xa0, 1, 0) + one)
        self.assertEqual((r.status, r.val[0]), (-EINVAL, 1))  # the index of the bad extent
        # before OPEN nothing is answered but -ENOTCONN
        other = self.sim.control()
        r, _ = other.call_items(OP_TRACK_DIRTY_VRAM, [VRAM, 1])
        self.assertLess(r.status, 0)
        ctl.close()
        other.close()
        self.assertTrue(self.sim.alive())


if __name__ == "__main__":
    unittest.main()
