# SPDX-License-Identifier: MIT
"""qdisk end to end as a guest and libxl drive it: xensim, one ioreqd
serving the guest's disks, the test toolstack adding them (toolstack.py)
and the test blkfront (tests/blkfront) speaking the real protocol.

Scaffolding for more tests:
    with QdiskGuest(self) as g:
        image = g.add_disk(51712, size=64 << 20)        # toolstack add_qdisk
        r = g.blkfront("verify", "--ops", "500")           # BlkfrontRun
        r.connected["persistent"], r.lines, r.raw_status("bad-op")
        p = g.start_blkfront("disappear", ...)             # a Popen
The guest has one grant table (set up once, at GRANT_TABLE); every
blkfront gets its own guest RAM region and its own range of grant refs in
that table, never reused, since a backend may still hold a vanished
frontend's grants. The tests share one guest (one xensim, one ioreqd),
one disk each, to stay fast.
"""
import os
import subprocess
import tempfile
import unittest

from ioreqd_proc import Ioreqd
from toolstack import (Xenstore, add_qdisk, backend_path, frontend_path, remove_qdisk, resize,
                       wait_backend_state)
from xensim import Xensim

BLKFRONT = os.environ.get("BLKFRONT", "build/tests/blkfront/blkfront")
DOMID = 1
XVDA = 51712
VDISK_READONLY = 4
REGION = 0x2000000        # guest RAM per frontend run (32 MiB each from 16 MiB up)
GRANT_TABLE = 0x800000    # the guest's grant table: 32 frames at 8 MiB
GRANT_REFS = 32 * 512


class BlkfrontRun:
    """A finished blkfront: status, lines, the negotiated features."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.lines = stdout.splitlines()
        self.connected = {}
        for line in self.lines:
            if line.startswith("blkfront: connected "):
                self.connected = dict(w.split("=", 1) for w in line.split()[2:])

    def raw_status(self, case):
        for line in self.lines:
            if line.startswith(f"raw: {case} status="):
                return int(line.split()[2].split("=")[1])
        return None

    def raw_ring_ok(self, case):
        return f"raw: {case} ring=ok" in self.lines

    def __repr__(self):
        return f"blkfront exited {self.returncode}\n{self.stdout}{self.stderr}"


class QdiskGuest:
    """xensim with one guest, ioreqd serving its qdisks, dom0's xenstore."""

    def __init__(self, test, mem="512M", ioreqd_args=("-machine", "xenfv")):
        self.test = test
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.sim = Xensim(self.dir, [f"{DOMID},mem={mem},vcpus=1"])
        self.xs = Xenstore(self.dir)
        self.guest_xs = Xenstore(self.dir, DOMID)
        self.dm = Ioreqd(self.dir, DOMID, list(ioreqd_args))
        self.sim.qtest(DOMID).ok(f"xen_gnttab_setup {GRANT_TABLE:#x} 32")
        self.next_region, self.next_ref = 0x1000000, 8
        self.ram_end = int(mem[:-1]) << 20

    def add_disk(self, devid, size=64 << 20, **kw):
        image = os.path.join(self.dir, f"disk{devid}.img")
        with open(image, "wb") as f:
            f.truncate(size)
        add_qdisk(self.xs, DOMID, devid, image, **kw)
        _, ok = wait_backend_state(self.xs, DOMID, devid, [2], timeout=20)
        self.test.assertTrue(ok, f"backend of {devid} never reached InitWait\n"
                                 f"{self.dm.stderr()}")
        return image

    def blkfront_args(self, mode, devid, refs, args):
        """A fresh region and ref range for one run."""
        base, first = self.next_region, self.next_ref
        self.next_region += REGION
        self.next_ref += refs
        self.test.assertLessEqual(self.next_region, self.ram_end, "out of guest RAM regions")
        self.test.assertLessEqual(self.next_ref, GRANT_REFS, "out of grant refs")
        return [BLKFRONT, "--dir", self.dir, "--domid", str(DOMID), "--devid", str(devid),
                "--gpa-base", hex(base), "--gpa-size", hex(REGION), "--mode", mode,
                "--shared-grant-table", hex(GRANT_TABLE), "--grant-refs", f"{first}:{refs}",
                "--connect-timeout", "20", "--io-timeout", "20"] + list(args)

    def start_blkfront(self, mode, *args, devid=XVDA, refs=1024, stdin=subprocess.DEVNULL):
        return subprocess.Popen(self.blkfront_args(mode, devid, refs, args), stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def blkfront(self, mode, *args, devid=XVDA, refs=1024, timeout=120, input=None):
        p = self.start_blkfront(mode, *args, devid=devid, refs=refs,
                                stdin=subprocess.DEVNULL if input is None else subprocess.PIPE)
        out, err = p.communicate(input=input, timeout=timeout)
        return BlkfrontRun(p.returncode, out, err)

    def close(self):
        try:
            self.test.assertTrue(self.sim.alive())
            self.dm.stop()
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def disk(n):
    """xvda, xvdb, ...: one disk per test."""
    return XVDA + 16 * n


class QdiskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = QdiskGuest(cls)

    @classmethod
    def tearDownClass(cls):
        cls.g.close()

    def setUp(self):
        self.g.test = self
        self.assertTrue(self.g.sim.alive() and self.g.dm.proc.poll() is None,
                        self.g.dm.stderr())

    def test_verify_with_every_feature_then_unplug(self):
        g, dev = self.g, disk(0)
        g.add_disk(dev)
        r = g.blkfront("verify", "--ops", "1500", "--seed", "7", devid=dev, refs=5000)
        self.assertEqual(r.returncode, 0, r)
        c = r.connected
        self.assertEqual((c["queues"], c["ring-page-order"], c["persistent"], c["flush"],
                          c["discard"]), ("4", "4", "1", "1", "1"), r)
        self.assertGreater(int(c["indirect"]), 11)
        self.assertEqual(c["evtchn"], "direct")  # the default: the ports' own eventfds
        self.assertEqual(c["sectors"], str((64 << 20) // 512))
        self.assertIn("blkfront: closed", r.lines)
        self.assertTrue(remove_qdisk(g.xs, DOMID, dev, timeout=10))
        self.assertIsNone(g.xs.read(backend_path(DOMID, dev)))

    def test_verify_minimal_x86_32_with_grant_copy(self):
        """Also the event channels as qtest text (xen_evtchn_send, EVTCHN
        lines), the path every other test leaves for the ports' eventfds."""
        g, dev = self.g, disk(1)
        g.add_disk(dev)
        r = g.blkfront("verify", "--ops", "1500", "--protocol", "x86_32-abi",
                       "--persistent", "off", "--indirect", "off", "--queues", "1",
                       "--ring-page-order", "0", "--flush", "off", "--discard", "off",
                       "--evtchn", "text", devid=dev)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual((r.connected["protocol"], r.connected["persistent"],
                          r.connected["indirect"], r.connected["evtchn"]),
                         ("x86_32-abi", "0", "0", "text"))
        self.assertIn(" 0 flushes, 0 discards", r.stdout)

    def test_verify_feature_matrix(self):
        """Each feature on and off against the others, both layouts, both
        event channel paths; every byte read back as written."""
        combos = [
            ("x86_64-abi", "on", "off", "1", "2", "on", "on", "direct"),
            ("x86_32-abi", "on", "32", "4", "0", "off", "on", "direct"),
            ("x86_32-abi", "off", "auto", "2", "4", "on", "off", "text"),
            ("x86_64-abi", "off", "64", "3", "1", "off", "off", "direct"),
        ]
        with QdiskGuest(type(self)) as g:  # its own grant table: refs are not reused
            g.test = self
            self.run_matrix(g, combos)

    def run_matrix(self, g, combos):
        for n, combo in enumerate(combos):
            proto, persistent, indirect, queues, order, flush, discard, evtchn = combo
            with self.subTest(combo=n):
                dev = disk(8 + n)
                g.add_disk(dev)
                r = g.blkfront("verify", "--ops", "600", "--seed", str(n), "--protocol", proto,
                               "--persistent", persistent, "--indirect", indirect,
                               "--queues", queues, "--ring-page-order", order, "--flush", flush,
                               "--discard", discard, "--evtchn", evtchn, devid=dev, refs=3000)
                self.assertEqual(r.returncode, 0, r)
                c = r.connected
                self.assertEqual((c["protocol"], c["persistent"], c["queues"],
                                  c["ring-page-order"], c["flush"], c["discard"], c["evtchn"]),
                                 (proto, "1" if persistent == "on" else "0", queues, order,
                                  "1" if flush == "on" else "0",
                                  "1" if discard == "on" else "0", evtchn), r)
                self.assertTrue(remove_qdisk(g.xs, DOMID, dev, timeout=10))

    def test_verify_large_persistent_requests_gathered(self):
        """Persistent-grant requests of 64 KiB and more go through the
        huge-page bounce buffers (QDISK_GATHER_MIN_BYTES): data copied in
        before the write, out before the read's answer, with O_DIRECT;
        40 in flight on one queue also outrun the 32 buffers of the arena,
        so the ordinary buffers beyond it are used and freed too."""
        with QdiskGuest(type(self)) as g:
            g.test = self
            dev = disk(12)
            g.add_disk(dev, direct_io_safe=True)
            r = g.blkfront("verify", "--ops", "1200", "--seed", "11", "--max-sectors", "512",
                           "--queues", "1", "--queue-depth", "40", "--persistent", "on",
                           "--indirect", "64", devid=dev, refs=40 * 66)
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual((r.connected["persistent"], r.connected["queues"]), ("1", "1"), r)

    def test_two_disks_at_once(self):
        g, a, b = self.g, disk(2), disk(3)
        g.add_disk(a)
        g.add_disk(b, size=32 << 20)
        first = g.start_blkfront("verify", "--ops", "1500", "--queues", "2", devid=a)
        _, ok = g.guest_xs.wait(f"{frontend_path(DOMID, a)}/state", lambda v: v == "4",
                                timeout=20)
        self.assertTrue(ok)
        second = g.blkfront("verify", "--ops", "1500", "--protocol", "none", devid=b)
        out, err = first.communicate(timeout=120)
        self.assertEqual(first.returncode, 0, out + err)
        self.assertEqual(second.returncode, 0, second)
        self.assertEqual(second.connected["sectors"], str((32 << 20) // 512))

    def test_bad_requests_answered_and_ring_kept(self):
        g, dev = self.g, disk(4)
        g.add_disk(dev)
        r = g.blkfront("raw", devid=dev)
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.raw_status("bad-op"), -2, r)  # BLKIF_RSP_EOPNOTSUPP
        for case in ("nseg-0", "nseg-12", "indirect-over-max", "first-gt-last", "last-gt-7",
                     "beyond-disk", "bad-gref", "ro-grant-read"):
            self.assertEqual(r.raw_status(case), -1, f"{case}: {r}")  # BLKIF_RSP_ERROR
            self.assertTrue(r.raw_ring_ok(case), f"{case}: {r}")
        self.assertEqual(r.raw_status("write-readonly"), 0, r)  # the disk is writable
        overflow = [line for line in r.lines if line.startswith("raw: ring-overflow")]
        self.assertIn(overflow[0].split()[2], ("backend-state=5", "backend-state=6"), r)

    def test_read_only_disk_refuses_writes(self):
        g, dev = self.g, disk(5)
        g.add_disk(dev, mode="r")
        r = g.blkfront("raw", "--raw-cases", "write-readonly,beyond-disk", devid=dev)
        self.assertEqual(r.returncode, 0, r)
        self.assertTrue(int(r.connected["info"]) & VDISK_READONLY, r)
        self.assertEqual(r.raw_status("write-readonly"), -1, r)
        self.assertTrue(r.raw_ring_ok("write-readonly"), r)

    def test_frontend_disappears_mid_io_then_guest_reconnects(self):
        g, dev = self.g, disk(6)
        g.add_disk(dev)
        r = g.blkfront("disappear", "--ops", "300", devid=dev)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("requests in flight", r.stdout)
        # the rebooted guest's frontend starts over: Closed, then Initialising
        fe = frontend_path(DOMID, dev)
        g.guest_xs.write(f"{fe}/state", "6")
        _, ok = wait_backend_state(g.xs, DOMID, dev, [6], timeout=20)
        self.assertTrue(ok, g.dm.stderr())
        g.guest_xs.write(f"{fe}/state", "1")
        _, ok = wait_backend_state(g.xs, DOMID, dev, [2], timeout=20)
        self.assertTrue(ok, g.dm.stderr())
        r = g.blkfront("verify", "--ops", "300", devid=dev)
        self.assertEqual(r.returncode, 0, r)

    def test_resize_while_connected(self):
        g, dev = self.g, disk(7)
        image = g.add_disk(dev, size=16 << 20)
        p = g.start_blkfront("connect", "--linger", "30", devid=dev)
        _, ok = g.guest_xs.wait(f"{frontend_path(DOMID, dev)}/state", lambda v: v == "4",
                                timeout=20)
        self.assertTrue(ok)
        resize(g.xs, DOMID, dev, image, 32 << 20)
        value, ok = g.xs.wait(f"{backend_path(DOMID, dev)}/sectors",
                              lambda v: v == str((32 << 20) // 512), timeout=10)
        p.terminate()
        p.communicate(timeout=20)
        self.assertTrue(ok, f"sectors stayed {value}")

    def test_bench_mode_runs_the_loads_asked_for(self):
        """tests/bench/qdisk.py runs one workload per connection."""
        g, dev = self.g, disk(8)
        g.add_disk(dev)
        small = ("--queues", "1", "--queue-depth", "2", "--bench-seconds", "0.2")
        r = g.blkfront("bench", *small, "--bench-loads", "seqwrite-1m,randread-4k", devid=dev,
                       refs=2 * 256 + 2 * 8)
        self.assertEqual(r.returncode, 0, r)
        ran = [line.split()[1] for line in r.lines if line.startswith("bench: ")]
        self.assertEqual(ran, ["randread-4k", "seqwrite-1m"], r)
        for bad in ("seqread-2m", "randread-4k,", ""):
            r = g.blkfront("bench", *small, "--bench-loads", bad, devid=dev, refs=1)
            self.assertEqual(r.returncode, 2, r)
            self.assertIn(f"bad value for --bench-loads: {bad}", r.stderr, r)

    def test_bench_windows_wait_for_stdin(self):
        """--bench-windows: one result per line the driver sends; the
        driver going away before the last window is a failure, not a hang."""
        with QdiskGuest(type(self)) as g:  # its own RAM regions
            g.test = self
            self.windows_on(g, disk(9), disk(10))

    def windows_on(self, g, dev, other):
        g.add_disk(dev)
        g.add_disk(other)
        small = ("--queues", "1", "--queue-depth", "2", "--bench-seconds", "0.1",
                 "--bench-loads", "randread-4k", "--bench-windows", "3")
        r = g.blkfront("bench", *small, devid=dev, refs=64, input="go\ngo\ngo\n")
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(sum(line.startswith("bench: randread-4k ") for line in r.lines), 3, r)
        r = g.blkfront("bench", *small, devid=other, refs=64, input="go\n")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("bench: stdin closed before window 2", r.lines, r)
        r = g.blkfront("bench", *small[:-1], "0", devid=dev, refs=1)
        self.assertEqual(r.returncode, 2, r)


if __name__ == "__main__":
    unittest.main()
