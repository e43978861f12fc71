# SPDX-License-Identifier: MIT
"""The test toolstack and the test blkfront against xensim with no real
backend: the keys and permissions add_qdisk/remove_qdisk write, and what
the frontend writes and sets up (rings granted in guest RAM, event
channels a backend can bind) when Python plays the backend's xenbus side
and never connects."""
import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import toolstack
from toolstack import Xenstore, add_qdisk, remove_qdisk
from xensim import OP_EVTCHN_BIND, OP_OPEN, PROTOCOL_VERSION, Xensim
from test_guest_memfd import guest_memfd

BLKFRONT = os.environ.get("BLKFRONT", "build/tests/blkfront/blkfront")
DOMID, DEVID = 1, 51712
GPA_BASE, GPA_SIZE = 0x1000000, 0x2000000
FE = f"/local/domain/{DOMID}/device/vbd/{DEVID}"
BE = f"/local/domain/0/backend/qdisk/{DOMID}/{DEVID}"
GTF_PERMIT_ACCESS = 1


def blkfront_args(sim_dir, *extra):
    return [BLKFRONT, "--dir", sim_dir, "--domid", str(DOMID), "--devid", str(DEVID),
            "--gpa-base", hex(GPA_BASE), "--gpa-size", hex(GPA_SIZE)] + list(extra)


class BlkfrontNoBackendTest(unittest.TestCase):
    # one xensim for all: each test removes its devices again
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sim = Xensim(cls.tmp.name, [f"{DOMID},mem=128M,vcpus=1"])
        cls.xs = Xenstore(cls.tmp.name)
        cls.image = os.path.join(cls.tmp.name, "disk.img")

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        cls.tmp.cleanup()

    def tearDown(self):
        self.xs.batch([("rm", f"/local/domain/{DOMID}/device"), ("rm", "/local/domain/0/backend"),
                       ("rm", "/libxl")])
        self.assertTrue(self.sim.alive())

    def run_blkfront(self, *extra, timeout=20):
        return subprocess.run(blkfront_args(self.tmp.name, *extra), capture_output=True,
                              text=True, timeout=timeout)

    def perms(self, path):
        out = subprocess.run(["xenstore-ls", "-p", path], env=self.xs.env, capture_output=True,
                             text=True, timeout=10).stdout
        return {line.split("=")[0].strip(): line.rsplit("(", 1)[1].rstrip(")")
                for line in out.splitlines() if "=" in line}

    def test_toolstack_writes_what_libxl_writes(self):
        add_qdisk(self.xs, DOMID, DEVID, self.image, direct_io_safe=True)
        want_be = {"frontend": FE, "params": f"aio:{self.image}", "frontend-id": "1",
                   "online": "1", "removable": "0", "bootable": "1", "state": "1",
                   "dev": "xvda", "type": "qdisk", "mode": "w", "device-type": "disk",
                   "direct-io-safe": "1", "discard-enable": "1"}
        self.assertEqual(self.xs.read_dir(BE, list(want_be)), want_be)
        want_fe = {"backend": BE, "backend-id": "0", "state": "1",
                   "virtual-device": str(DEVID), "device-type": "disk"}
        self.assertEqual(self.xs.read_dir(FE, list(want_fe)), want_fe)
        self.assertEqual(self.xs.read(f"/libxl/{DOMID}/device/vbd/{DEVID}/params"),
                         f"aio:{self.image}")
        # guest owns its frontend dir (dom0 reads); dom0 owns the backend (guest reads)
        fe_perms, be_perms = self.perms(FE), self.perms(BE)
        self.assertEqual(fe_perms["state"], "n1,r0")
        self.assertEqual(fe_perms["backend"], "n1,r0")
        self.assertEqual(be_perms["params"], "n0,r1")
        guest = Xenstore(self.tmp.name, DOMID)
        self.assertEqual(guest.read(f"{BE}/mode"), "w")
        guest.write(f"{FE}/state", "3")
        with self.assertRaises(toolstack.XenstoreError):
            guest.write(f"{BE}/state", "4")
        # read-only cdrom, no discard by default on a read-only disk
        add_qdisk(self.xs, DOMID, 51728, "", mode="r", device_type="cdrom")
        cd = self.xs.read_dir(f"/local/domain/0/backend/qdisk/{DOMID}/51728",
                              ["discard-enable", "dev", "direct-io-safe", "params"])
        self.assertEqual(cd, {"discard-enable": "0", "dev": "xvdb", "direct-io-safe": None,
                              "params": "aio:"})

    def test_remove_without_backend_times_out_and_cleans_up(self):
        add_qdisk(self.xs, DOMID, DEVID, self.image)
        start = time.monotonic()
        self.assertFalse(remove_qdisk(self.xs, DOMID, DEVID, timeout=0.3))
        self.assertLess(time.monotonic() - start, 5)
        for path in (FE, BE, f"/libxl/{DOMID}/device/vbd/{DEVID}"):
            self.assertIsNone(self.xs.read(path))

    def test_remove_asks_the_backend_to_close(self):
        add_qdisk(self.xs, DOMID, DEVID, self.image)
        self.xs.write(f"{BE}/state", "4")
        seen = []

        def backend_closes(value):
            seen.append(value)
            if value == "5" and self.xs.read(f"{BE}/online") == "0":
                self.xs.write(f"{BE}/state", "6")
            return value in ("6", None)  # None: remove_qdisk already cleaned up
        self.xs.wait(f"{BE}/state", lambda v: v is not None)
        # play the backend from a second poller while remove_qdisk waits
        import threading
        t = threading.Thread(target=self.xs.wait, args=(f"{BE}/state", backend_closes, 5))
        t.start()
        self.assertTrue(remove_qdisk(self.xs, DOMID, DEVID, timeout=5))
        t.join()
        self.assertIn("5", seen)
        self.assertIsNone(self.xs.read(BE))

    def test_vdev_numbers(self):
        self.assertEqual(toolstack.vdev_to_devid("xvda"), 51712)
        self.assertEqual(toolstack.vdev_to_devid("xvdb1"), 51729)
        self.assertEqual(toolstack.vdev_to_devid("xvdq"), (1 << 28) | (16 << 8))
        for devid in (51712, 51729, (1 << 28) | (16 << 8)):
            self.assertEqual(toolstack.vdev_to_devid(toolstack.devid_to_vdev(devid)), devid)

    def test_connect_timeout_names_the_state(self):
        add_qdisk(self.xs, DOMID, DEVID, self.image)
        p = self.run_blkfront("--connect-timeout", "0.3")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(f"timed out after 300 ms waiting for the backend {BE}/state to reach "
                      "InitWait (2); it is Initialising (1)", p.stderr)

    def test_no_disk_and_bad_command_lines(self):
        p = self.run_blkfront("--connect-timeout", "0.3")
        self.assertEqual(p.returncode, 2)
        self.assertIn(f"{FE}/backend: missing", p.stderr)
        for bad in (["--persistent", "maybe"], ["--queue-depth", "0"], ["--mode", "fly"],
                    ["--protocol", "arm-abi"], ["--gpa-base", "0x1000001"],
                    ["--evtchn", "upcall"]):
            p = self.run_blkfront(*bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertTrue(p.stderr.startswith("blkfront: ") or "usage" in p.stderr, p.stderr)

    def frontend_as_far_as_initialised(self, extra, backend_keys):
        """Play the backend up to InitWait; return the running blkfront."""
        add_qdisk(self.xs, DOMID, DEVID, self.image)
        self.xs.batch([("write", f"{BE}/{k}", v) for k, v in backend_keys] +
                      [("write", f"{BE}/state", "2")])
        proc = subprocess.Popen(blkfront_args(self.tmp.name, "--connect-timeout", "20", *extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, ok = self.xs.wait(f"{FE}/state", lambda v: v == "3", timeout=10)
        self.assertTrue(ok, "frontend never reached Initialised")
        return proc

    def backend_gives_up(self, proc):
        """The backend goes to Closing instead of Connected: the frontend
        stops waiting at once. Returns its stderr."""
        self.xs.write(f"{BE}/state", "5")
        _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 2, err)
        return err

    def check_ring_grant(self, ram, ref):
        flags, domid, frame = struct.unpack_from("<HHI", ram, GPA_BASE + 8 * ref)
        self.assertEqual((flags, domid), (GTF_PERMIT_ACCESS, 0), f"ref {ref}")
        self.assertTrue(GPA_BASE <= frame * 4096 < GPA_BASE + GPA_SIZE, hex(frame))

    def test_frontend_keys_grants_and_event_channels(self):
        proc = self.frontend_as_far_as_initialised(
            ["--protocol", "x86_32-abi", "--persistent", "off"],
            [("max-ring-page-order", "1"), ("multi-queue-max-queues", "2"),
             ("feature-persistent", "1")])
        try:
            keys = self.xs.read_dir(FE, ["multi-queue-num-queues", "ring-page-order",
                                         "protocol", "feature-persistent", "ring-ref"] +
                                    [f"queue-{q}/{k}" for q in range(2)
                                     for k in ("ring-ref0", "ring-ref1", "event-channel")])
            self.assertEqual((keys["multi-queue-num-queues"], keys["ring-page-order"],
                              keys["protocol"], keys["feature-persistent"], keys["ring-ref"]),
                             ("2", "1", "x86_32-abi", "0", None))
            _, fd, _ = guest_memfd(self.sim.path(f"dom{DOMID}.qtest"))
            import mmap
            ram = mmap.mmap(fd, 128 << 20)
            os.close(fd)
            refs, ports = set(), set()
            for q in range(2):
                for i in range(2):
                    ref = int(keys[f"queue-{q}/ring-ref{i}"])
                    self.check_ring_grant(ram, ref)
                    refs.add(ref)
                ports.add(int(keys[f"queue-{q}/event-channel"]))
            self.assertEqual(len(refs), 4)
            self.assertEqual(len(ports), 2)
            ram.close()
            # each port is unbound for dom0: a backend can bind it once
            ctl = self.sim.control()
            self.assertEqual(ctl.status(OP_OPEN, DOMID, PROTOCOL_VERSION), 0)
            for port in ports:
                r = ctl.call(OP_EVTCHN_BIND, port)
                r.close_fds()
                self.assertEqual(r.status, 0, port)
        finally:
            err = self.backend_gives_up(proc)
        self.assertIn(f"gave up (the backend is closing) waiting for the backend {BE}/state to "
                      "reach Connected (4); it is Closing (5)", err)

    def test_single_queue_order_zero_native(self):
        proc = self.frontend_as_far_as_initialised([], [])
        try:
            keys = self.xs.read_dir(FE, ["protocol", "ring-page-order", "multi-queue-num-queues",
                                         "event-channel", "feature-persistent", "ring-ref"])
            self.assertEqual((keys["protocol"], keys["ring-page-order"],
                              keys["multi-queue-num-queues"], keys["feature-persistent"]),
                             ("x86_64-abi", None, None, "0"))
            self.assertIsNotNone(keys["event-channel"])
            ref = int(keys["ring-ref"])
            q = self.sim.qtest(DOMID)
            entry = q.ok(f"readq {GPA_BASE + 8 * ref:#x}")
            self.assertEqual(entry & 0xFFFFFFFF, GTF_PERMIT_ACCESS)
        finally:
            self.backend_gives_up(proc)


if __name__ == "__main__":
    unittest.main()
