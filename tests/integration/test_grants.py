# SPDX-License-Identifier: MIT
"""Grant table v1 in guest memory, end to end.

A scripted guest (qtest) places its grant table and writes entries with
plain memory writes; grant-client (a backend using ioreqd's hv-sim) maps
and copies. Checked: data both ways, GTF_reading/GTF_writing while in use
and cleared after, every refusal (read-only, wrong domid, bad ref, bad
frame, bad type), all-or-nothing maps, a guest rewriting entries while the
backend works, a backend that dies with grants mapped, and hostile
datagrams on the control socket.
"""
import os
import random
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import xensim
from xensim import Xensim

GRANT_CLIENT = os.environ.get("GRANT_CLIENT", "build/tests/integration/grant-client")

GTF_permit_access, GTF_readonly, GTF_reading, GTF_writing = 1, 4, 8, 16
GNTST_okay, GNTST_bad_gntref, GNTST_permission_denied, GNTST_bad_page = 0, -3, -8, -9
GNTST_bad_copy_arg = -10
EINVAL, EACCES, EFAULT, ENOENT, ENOTCONN = 22, 13, 14, 2, 107

DOMID = 1
TABLE = 0x100000       # grant table GPA (1 frame = 512 entries)
DATA = 0x200000        # granted pages start here
PAGE = 4096


class GrantClient:
    def __init__(self, sim_dir, domid=DOMID):
        self.proc = subprocess.Popen([GRANT_CLIENT, sim_dir, str(domid)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"grant-client: {line!r} {self.proc.stderr.read()}")

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply:
            raise ConnectionError(f"grant-client died: {self.proc.stderr.read()}")
        return reply

    def ok(self, line):
        reply = self.cmd(line)
        if not reply.startswith("OK"):
            raise AssertionError(f"{line!r} -> {reply!r}")
        return reply[3:]

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=10)
        err = self.proc.stderr.read()
        xensim.check_no_sanitizer_report("grant-client", err)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()
        assert self.proc.returncode == 0, err


class GrantTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, [f"{DOMID},mem=64M,vcpus=1", "2,mem=16M,vcpus=1"])
        self.q = self.sim.qtest(DOMID)
        self.q.ok(f"xen_gnttab_setup {TABLE:#x} 1")
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.sim.stop()
        self.tmp.cleanup()

    def client(self):
        c = GrantClient(self.tmp.name)
        self.clients.append(c)
        return c

    # guest side
    def grant(self, ref, frame, flags=GTF_permit_access, domid=0):
        entry = struct.pack("<HHI", flags, domid, frame)
        self.q.ok(f"write {TABLE + 8 * ref:#x} 8 0x{entry.hex()}")

    def flags(self, ref):
        return self.q.ok(f"readw {TABLE + 8 * ref:#x}")

    def fill(self, gpa, data):
        for i in range(0, len(data), 1024):  # qtest lines are at most 4 KiB
            chunk = data[i:i + 1024]
            self.q.ok(f"write {gpa + i:#x} {len(chunk)} 0x{chunk.hex()}")

    def peek(self, gpa, n):
        r = self.q.cmd(f"read {gpa:#x} {n}")
        self.assertTrue(r.startswith("OK 0x"), r)
        return bytes.fromhex(r[5:])

    def wait_flags(self, ref, want, timeout=10):
        deadline = time.monotonic() + timeout
        while self.flags(ref) != want:
            if time.monotonic() > deadline:
                self.fail(f"ref {ref}: flags {self.flags(ref):#x}, expected {want:#x}")
            time.sleep(0.02)

    # ---------------------------------------------------------------- maps

    def test_map_rw_both_ways_and_flags(self):
        page_a, page_b = os.urandom(PAGE), os.urandom(PAGE)
        self.fill(DATA, page_a)
        self.fill(DATA + PAGE * 5, page_b)  # not adjacent: two placements
        self.grant(1, DATA // PAGE)
        self.grant(2, DATA // PAGE + 5)
        c = self.client()
        mid = c.ok("map rw 1 2")
        self.assertEqual(bytes.fromhex(c.ok(f"read {mid} 0 4096")), page_a)
        self.assertEqual(bytes.fromhex(c.ok(f"read {mid} 4096 4096")), page_b)
        rw = GTF_permit_access | GTF_reading | GTF_writing
        self.assertEqual(self.flags(1), rw)
        self.assertEqual(self.flags(2), rw)
        c.ok(f"write {mid} 4100 deadbeef")
        self.assertEqual(self.peek(DATA + 5 * PAGE + 4, 4), bytes.fromhex("deadbeef"))
        self.fill(DATA + 16, b"guest")
        self.assertEqual(bytes.fromhex(c.ok(f"read {mid} 16 5")), b"guest")
        c.ok(f"unmap {mid}")
        self.assertEqual(self.flags(1), GTF_permit_access)
        self.assertEqual(self.flags(2), GTF_permit_access)
        self.assertIn("ERR", c.cmd(f"unmap {mid}"))

    def test_map_read_only(self):
        self.grant(3, DATA // PAGE, GTF_permit_access | GTF_readonly)
        c = self.client()
        self.assertEqual(c.cmd("map rw 3"), f"ERR -{EACCES}")
        self.assertEqual(self.flags(3), GTF_permit_access | GTF_readonly)
        mid = c.ok("map ro 3")
        self.assertEqual(self.flags(3), GTF_permit_access | GTF_readonly | GTF_reading)
        mid2 = c.ok("map ro 3")  # two readers: the bit stays until both go
        c.ok(f"unmap {mid}")
        self.assertEqual(self.flags(3), GTF_permit_access | GTF_readonly | GTF_reading)
        c.ok(f"unmap {mid2}")
        self.assertEqual(self.flags(3), GTF_permit_access | GTF_readonly)

    def test_writing_bit_follows_writers(self):
        self.grant(4, DATA // PAGE)
        c = self.client()
        ro = c.ok("map ro 4")
        rw = c.ok("map rw 4")
        self.assertEqual(self.flags(4), GTF_permit_access | GTF_reading | GTF_writing)
        c.ok(f"unmap {rw}")
        self.assertEqual(self.flags(4), GTF_permit_access | GTF_reading)
        c.ok(f"unmap {ro}")
        self.assertEqual(self.flags(4), GTF_permit_access)

    def test_refusals(self):
        c = self.client()
        self.grant(5, DATA // PAGE, domid=7)
        self.assertEqual(c.cmd("map ro 5"), f"ERR -{EACCES}")       # not granted to dom0
        self.grant(6, DATA // PAGE, flags=0)
        self.assertEqual(c.cmd("map ro 6"), f"ERR -{EACCES}")       # GTF_invalid
        self.grant(7, DATA // PAGE, flags=3)
        self.assertEqual(c.cmd("map ro 7"), f"ERR -{EACCES}")       # transitive: v2 only
        self.assertEqual(c.cmd("map ro 512"), f"ERR -{EINVAL}")     # past one frame
        self.assertEqual(c.cmd("map ro 4294967295"), f"ERR -{EINVAL}")
        self.grant(8, 0xA0)                                          # VGA hole
        self.assertEqual(c.cmd("map ro 8"), f"ERR -{EFAULT}")
        self.grant(9, (64 << 20) // PAGE)                            # past RAM
        self.assertEqual(c.cmd("map ro 9"), f"ERR -{EFAULT}")
        for ref in (5, 6, 7, 8, 9):
            self.assertEqual(self.flags(ref) & (GTF_reading | GTF_writing), 0, ref)

    def test_map_all_or_nothing(self):
        self.grant(10, DATA // PAGE)
        self.grant(11, DATA // PAGE + 1, domid=3)
        c = self.client()
        self.assertEqual(c.cmd("map rw 10 11"), f"ERR -{EACCES}")
        self.assertEqual(self.flags(10), GTF_permit_access)

    def test_no_table_every_ref_bad(self):
        q2 = self.sim.qtest(2)
        c = GrantClient(self.tmp.name, 2)
        self.assertEqual(c.cmd("map ro 0"), f"ERR -{EINVAL}")
        self.assertEqual(c.ok("copy f:0:0:4").split(), [str(GNTST_bad_gntref)])
        c.close()
        q2.close()

    def test_many_refs(self):
        self.q.ok(f"xen_gnttab_setup {TABLE:#x} 4")  # 2048 entries
        for ref in range(1024):
            self.grant(ref, DATA // PAGE + ref)
        self.fill(DATA + 1023 * PAGE, b"last")
        c = self.client()
        mid = c.ok("map rw " + " ".join(str(r) for r in range(1024)))
        self.assertEqual(bytes.fromhex(c.ok(f"read {mid} {1023 * PAGE} 4")), b"last")
        self.assertEqual(self.flags(512), GTF_permit_access | GTF_reading | GTF_writing)
        self.assertEqual(c.cmd("map ro " + " ".join(["0"] * 1025)), "ERR -7")  # E2BIG
        c.ok(f"unmap {mid}")
        self.assertEqual(self.flags(1023), GTF_permit_access)

    # --------------------------------------------------------------- copies

    def test_copy_both_ways(self):
        data = os.urandom(64)
        self.fill(DATA + 100, data)
        self.grant(1, DATA // PAGE)
        self.grant(2, DATA // PAGE + 1, GTF_permit_access | GTF_readonly)
        self.grant(3, DATA // PAGE + 2, domid=9)
        c = self.client()
        res = c.ok(f"copy f:1:100:64 t:1:4000:c0ffee f:2:0:8 t:2:0:00 f:3:0:1 f:600:0:1 "
                   f"f:1:4090:10").split()
        self.assertEqual(res[0], "0:" + data.hex())
        self.assertEqual(res[1], "0")
        self.assertTrue(res[2].startswith("0:"))                   # read-only: read ok
        self.assertEqual(res[3], str(GNTST_permission_denied))     # ...but not written
        self.assertEqual(res[4], str(GNTST_permission_denied))     # wrong domid
        self.assertEqual(res[5], str(GNTST_bad_gntref))
        self.assertEqual(res[6], str(GNTST_bad_copy_arg))          # crosses the page
        self.assertEqual(self.peek(DATA + 4000, 3), bytes.fromhex("c0ffee"))
        # Only during the copy. hv-sim's COPY_DONE is sent without a reply,
        # so xensim may clear the bits just after the client has answered.
        self.wait_flags(1, GTF_permit_access)
        self.wait_flags(2, GTF_permit_access | GTF_readonly)

    def test_copy_beside_a_mapping(self):
        self.grant(1, DATA // PAGE)
        c = self.client()
        mid = c.ok("map ro 1")
        c.ok("copy t:1:0:01")
        # the copy's writer goes (COPY_DONE needs no reply: wait for it), the
        # mapping's reader stays
        self.wait_flags(1, GTF_permit_access | GTF_reading)
        c.ok(f"unmap {mid}")
        self.assertEqual(self.flags(1), GTF_permit_access)

    # ------------------------------------------------------ hostile guest

    def test_guest_rewrites_entries_concurrently(self):
        q2 = self.sim.qtest(DOMID)  # the guest's own thread beside self.q
        for ref in range(8):
            self.grant(ref, DATA // PAGE + ref)
        stop = threading.Event()

        def flip():
            rnd = random.Random(1)
            while not stop.is_set():
                ref = rnd.randrange(8)
                entry = struct.pack("<HHI", rnd.choice([0, 1, 1, 5, 0x19, 0xffff]),
                                    rnd.choice([0, 0, 3]),
                                    rnd.choice([DATA // PAGE + ref, 0xA0, 0xffffffff]))
                q2.cmd(f"write {TABLE + 8 * ref:#x} 8 0x{entry.hex()}")

        t = threading.Thread(target=flip)
        t.start()
        try:
            c = self.client()
            for i in range(300):
                refs = random.sample(range(8), 3)
                r = c.cmd("map rw " + " ".join(map(str, refs)))
                if r.startswith("OK"):
                    c.ok(f"read {r[3:]} 0 16")
                    c.ok(f"unmap {r[3:]}")
                c.ok(f"copy f:{refs[0]}:0:16 t:{refs[1]}:8:aa")
        finally:
            stop.set()
            t.join()
        self.assertTrue(self.sim.alive())
        for ref in range(8):
            self.grant(ref, DATA // PAGE + ref)
        mid = c.ok("map rw 0 1 2 3 4 5 6 7")
        c.ok(f"unmap {mid}")
        for ref in range(8):
            self.assertEqual(self.flags(ref), GTF_permit_access)
        q2.close()

    def test_backend_dies_with_grants_mapped(self):
        self.grant(1, DATA // PAGE)
        self.grant(2, DATA // PAGE + 1, GTF_permit_access | GTF_readonly)
        c = GrantClient(self.tmp.name)
        c.ok("map rw 1")
        c.ok("map ro 2")
        self.assertEqual(self.flags(1), GTF_permit_access | GTF_reading | GTF_writing)
        c.kill()
        self.wait_flags(1, GTF_permit_access)
        self.wait_flags(2, GTF_permit_access | GTF_readonly)
        # and the table can move again now nothing is in use
        self.q.ok(f"xen_gnttab_setup {TABLE + PAGE:#x} 2")

    def test_setup_errors(self):
        for args in (f"{TABLE + 1:#x} 1", f"{TABLE:#x} 0", f"{TABLE:#x} 33", "0xA0000 1",
                     "0xF0000000 1", f"{(64 << 20) - PAGE:#x} 2", "0xffffffffffffffff 1",
                     "x 1"):
            self.assertTrue(self.q.cmd(f"xen_gnttab_setup {args}").startswith("FAIL"), args)
        self.grant(1, DATA // PAGE)
        c = self.client()
        mid = c.ok("map ro 1")
        self.assertEqual(self.q.cmd(f"xen_gnttab_setup {TABLE:#x} 2"), "FAIL grants in use")
        c.ok(f"unmap {mid}")
        self.q.ok(f"xen_gnttab_setup {TABLE:#x} 2")

    # ---------------------------------------------------- control socket

    def test_control_bad_input(self):
        ctl = self.sim.control()
        map_hdr = lambda count, *a: (xensim.OP_GRANT_MAP, (count,) + a)
        # before OPEN
        r, _ = ctl.call_items(*map_hdr(1), struct.pack("<I", 1))
        self.assertEqual(r.status, -ENOTCONN)
        r = ctl.call(xensim.OP_OPEN, DOMID, xensim.PROTOCOL_VERSION)
        self.assertEqual(r.status, 0)
        r.close_fds()
        self.grant(1, DATA // PAGE)
        for count, payload in ((0, b""), (1, b""), (2, struct.pack("<I", 1)),
                               (1, struct.pack("<II", 1, 1)), (1025, struct.pack("<I", 1) * 1025),
                               (2**40, struct.pack("<I", 1)), (1, b"\1\0\0")):
            r, extra = ctl.call_items(xensim.OP_GRANT_MAP, (count,), payload)
            self.assertEqual((r.status, extra), (-EINVAL, b""), (count, len(payload)))
        r, _ = ctl.call_items(xensim.OP_GRANT_MAP, (1, 2), struct.pack("<I", 1))  # writable=2
        self.assertEqual(r.status, -EINVAL)
        r, _ = ctl.call_items(xensim.OP_GRANT_MAP, (1,), struct.pack("<I", 1), reserved=1)
        self.assertEqual(r.status, -EINVAL)
        r, _ = ctl.call_items(xensim.OP_GRANT_MAP, (1,), b"\0" * 200000)  # huge datagram
        self.assertEqual(r.status, -EINVAL)
        for count, payload in ((0, b""), (2, xensim.GRANT_COPY_SEG.pack(1, 0, 1, 0, 0)),
                               (1, b"\0" * 15), (1025, b"\0" * 16 * 1025)):
            r, extra = ctl.call_items(xensim.OP_GRANT_COPY, (count,), payload)
            self.assertEqual((r.status, extra), (-EINVAL, b""), count)
        self.assertEqual(ctl.status(xensim.OP_GRANT_UNMAP, 12345), -ENOENT)
        self.assertEqual(ctl.status(xensim.OP_GRANT_UNMAP, 2**63), -ENOENT)
        # per-segment refusals of bad flags and reserved fields
        segs = (xensim.GRANT_COPY_SEG.pack(1, 0, 4, 2, 0) + xensim.GRANT_COPY_SEG.pack(1, 0, 4, 0, 1)
                + xensim.GRANT_COPY_SEG.pack(1, 4095, 1, 1, 0))
        r, extra = ctl.call_items(xensim.OP_GRANT_COPY, (3,), segs)
        self.assertEqual(r.status, 0)
        res = [xensim.GRANT_COPY_RESULT.unpack_from(extra, 16 * i) for i in range(3)]
        self.assertEqual([x[0] for x in res], [GNTST_bad_copy_arg, GNTST_bad_copy_arg, 0])
        self.assertEqual(res[2][2], DATA + 4095)  # low RAM: memfd offset == GPA
        self.assertEqual(self.flags(1), GTF_permit_access | GTF_reading | GTF_writing)
        # DONE has no reply: the next call's reply is its own
        ctl.sock.send(xensim.REQUEST.pack(xensim.OP_GRANT_COPY_DONE, 0, 0, 0, 0, 0))
        ctl.sock.send(xensim.REQUEST.pack(xensim.OP_GRANT_COPY_DONE, 0, 0, 0, 0, 0) + b"junk")
        self.assertEqual(ctl.status(xensim.OP_GRANT_UNMAP, 777), -ENOENT)
        self.assertEqual(self.flags(1), GTF_permit_access)
        # a copy never finished is ended by the next one, and by closing
        one = xensim.GRANT_COPY_SEG.pack(1, 0, 4, 0, 0)
        self.assertEqual(ctl.call_items(xensim.OP_GRANT_COPY, (1,), one)[0].status, 0)
        self.assertEqual(self.flags(1), GTF_permit_access | GTF_reading)
        self.assertEqual(ctl.call_items(xensim.OP_GRANT_COPY, (1,), one)[0].status, 0)
        self.assertEqual(self.flags(1), GTF_permit_access | GTF_reading)
        # a raw map: its offsets, then the connection closes with it mapped
        r, extra = ctl.call_items(xensim.OP_GRANT_MAP, (1, 1), struct.pack("<I", 1))
        self.assertEqual(r.status, 0)
        self.assertEqual(struct.unpack("<Q", extra), (DATA,))
        r, extra = ctl.call_items(xensim.OP_GRANT_MAP, (2, 0), struct.pack("<II", 1, 511))
        self.assertEqual((r.status, r.val[0], r.val[1], extra), (-EACCES, 1, 2**64 - 8, b""))
        ctl.close()
        self.wait_flags(1, GTF_permit_access)
        self.assertTrue(self.sim.alive())


if __name__ == "__main__":
    unittest.main()
