# SPDX-License-Identifier: MIT
"""qdisk from a scripted guest: the toolstack's xenstore keys, the xenbus
handshake, and blkif requests written byte by byte into guest memory
through xensim's qtest socket (grant table v1 and event channels as a real
guest has them). Every malformed request gets its protocol error and the
ring keeps working; a corrupt producer index closes the device."""
import os
import random
import struct
import subprocess
import time
import unittest

from ioreqd_proc import Ioreqd
# The scripted guest lives in qdisk_guest; its names stay importable from
# here: other tests import them from this module.
from qdisk_guest import (BE, DATA, DATA_REF, DEVID, DOMID, FE, GTF_permit_access, GTF_readonly,
                         OP_BARRIER, OP_DISCARD, OP_FLUSH, OP_INDIRECT, OP_READ, OP_WRITE, PAGE,
                         RING, RING_REF, RSP_EOPNOTSUPP, RSP_ERROR, RSP_OKAY, TABLE,
                         QdiskGuestCase, discard, indirect, request, request32)


class QdiskRingTest(QdiskGuestCase):
    def test_handshake_features(self):
        self.start()
        self.assertEqual(self.read_key(f"{BE}/sectors"), str(4 * 2048))
        self.assertEqual(self.read_key(f"{BE}/sector-size"), "512")
        self.assertEqual(self.read_key(f"{BE}/feature-flush-cache"), "1")
        self.assertEqual(self.read_key(f"{BE}/feature-persistent"), "1")
        self.assertEqual(self.read_key(f"{BE}/feature-max-indirect-segments"), "256")
        self.assertEqual(self.read_key(f"{BE}/max-ring-page-order"), "4")
        self.assertEqual(self.read_key(f"{BE}/max-ring-pages"), "16")
        self.assertEqual(self.read_key(f"{BE}/multi-queue-max-queues"), "4")
        self.assertEqual(self.read_key(f"{BE}/info"), "0")
        self.assertEqual(self.read_key(f"{BE}/hotplug-status"), "connected")
        self.connect()
        # Frontend closes: backend follows to Closed, then reconnects.
        self.xs("xenstore-write", f"{FE}/state", "5")
        self.wait_key(f"{BE}/state", "5")
        self.xs("xenstore-write", f"{FE}/state", "6")
        self.wait_key(f"{BE}/state", "6")
        self.xs("xenstore-write", f"{FE}/state", "1")
        self.wait_key(f"{BE}/state", "2")
        self.connect()
        self.assertEqual(self.one(request(OP_READ, 1, 0, [(DATA_REF, 0, 7)])), (1, OP_READ, RSP_OKAY))

    def test_read_write_flush_discard(self):
        self.start()
        self.connect()
        # Read two pages' worth from sector 16 into two data pages.
        rsp = self.one(request(OP_READ, 10, 16, [(DATA_REF, 0, 7), (DATA_REF + 1, 2, 5)]))
        self.assertEqual(rsp, (10, OP_READ, RSP_OKAY))
        self.assertEqual(self.read_mem(DATA, PAGE), self.pattern[16 * 512:16 * 512 + PAGE])
        self.assertEqual(self.read_mem(DATA + PAGE + 1024, 2048),
                         self.pattern[16 * 512 + PAGE:16 * 512 + PAGE + 2048])
        # Write one sector from the middle of a page; flush.
        payload = bytes(range(256)) * 2
        self.write_mem(DATA + 2 * PAGE + 3 * 512, payload)
        self.assertEqual(self.one(request(OP_WRITE, 11, 100, [(DATA_REF + 2, 3, 3)])),
                         (11, OP_WRITE, RSP_OKAY))
        self.assertEqual(self.one(request(OP_FLUSH, 12, 0, [])), (12, OP_FLUSH, RSP_OKAY))
        with open(self.image, "rb") as f:
            f.seek(100 * 512)
            self.assertEqual(f.read(512), payload)
        # A flush carrying data writes it and is stable when answered.
        self.write_mem(DATA + 3 * PAGE, b"\xab" * PAGE)
        self.assertEqual(self.one(request(OP_FLUSH, 13, 200, [(DATA_REF + 3, 0, 7)])),
                         (13, OP_FLUSH, RSP_OKAY))
        with open(self.image, "rb") as f:
            f.seek(200 * 512)
            self.assertEqual(f.read(PAGE), b"\xab" * PAGE)
        # Discard where offered. Barrier is not offered: an empty one is
        # served as a flush (Windows' crash-dump driver sends them anyway),
        # one carrying data is refused.
        if self.read_key(f"{BE}/feature-discard") == "1":
            self.assertEqual(self.one(discard(14, 200, 8)), (14, OP_DISCARD, RSP_OKAY))
        self.assertIsNone(self.read_key(f"{BE}/feature-barrier"))
        self.assertEqual(self.one(request(OP_BARRIER, 15, 0, [])), (15, OP_BARRIER, RSP_OKAY))
        self.assertEqual(self.one(request(OP_BARRIER, 16, 0, [(DATA_REF, 0, 7)])),
                         (16, OP_BARRIER, RSP_EOPNOTSUPP))

    def test_bad_requests_keep_ring_working(self):
        self.start()
        self.connect()
        sectors = 4 * 2048
        bad = [
            (request(99, 1, 0, [(DATA_REF, 0, 7)]), RSP_EOPNOTSUPP),
            (request(OP_READ, 2, 0, [], nr_segments=0), RSP_ERROR),
            (request(OP_READ, 3, 0, [(DATA_REF, 0, 7)] * 11, nr_segments=12), RSP_ERROR),
            (request(OP_READ, 4, 0, [(DATA_REF, 5, 4)]), RSP_ERROR),
            (request(OP_READ, 5, 0, [(DATA_REF, 0, 8)]), RSP_ERROR),
            (request(OP_READ, 6, sectors - 4, [(DATA_REF, 0, 7)]), RSP_ERROR),
            (request(OP_READ, 7, 2**64 - 1, [(DATA_REF, 0, 0)]), RSP_ERROR),
            (request(OP_READ, 8, 0, [(900, 0, 7)]), RSP_ERROR),       # ref beyond the table
            (request(OP_READ, 9, 0, [(DATA_REF + 20, 0, 7)]), RSP_ERROR),  # never granted
            (discard(10, sectors - 1, 2), RSP_ERROR),
        ]
        for raw, want in bad:
            rid = struct.unpack("<Q", raw[8:16])[0]
            rsp = self.one(raw)
            self.assertEqual((rsp[0], rsp[2]), (rid, want), f"request {rid}")
        # A read-only grant cannot receive read data.
        self.grant(DATA_REF + 5, DATA + 5 * PAGE, readonly=True)
        self.assertEqual(self.one(request(OP_READ, 20, 0, [(DATA_REF + 5, 0, 7)]))[2], RSP_ERROR)
        # Still serving.
        self.assertEqual(self.one(request(OP_READ, 21, 8, [(DATA_REF, 0, 7)])), (21, OP_READ, RSP_OKAY))
        self.assertEqual(self.read_mem(DATA, PAGE), self.pattern[8 * 512:8 * 512 + PAGE])
        log = self.dm.stderr()
        self.assertIn("refused", log)
        self.assertLess(log.count("refused"), 30, "refusals are rate-limited")

    def test_read_only_disk(self):
        self.start(mode="r")
        self.assertEqual(self.read_key(f"{BE}/info"), "4")
        self.assertEqual(self.read_key(f"{BE}/feature-discard"), "0")
        self.connect()
        self.write_mem(DATA, b"\x55" * PAGE)
        self.assertEqual(self.one(request(OP_WRITE, 1, 0, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)
        self.assertEqual(self.one(request(OP_READ, 2, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        with open(self.image, "rb") as f:
            self.assertEqual(f.read(PAGE), self.pattern[:PAGE])

    def test_cdrom_info(self):
        self.start(device_type="cdrom", removable="1")
        self.assertEqual(self.read_key(f"{BE}/info"), str(1 | 2 | 4))  # CDROM, REMOVABLE, READONLY
        self.connect()
        self.assertEqual(self.one(request(OP_WRITE, 1, 0, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)
        self.assertEqual(self.one(request(OP_READ, 2, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)

    def test_corrupt_producer_closes_device(self):
        self.start()
        self.connect()
        self.assertEqual(self.one(request(OP_READ, 1, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        self.q.ok(f"writel {RING:#x} {self.req_prod + 1000:#x}")
        self.q.ok(f"xen_evtchn_send {self.port}")
        self.wait_key(f"{BE}/state", "5")
        self.assertIn("corrupted the ring", self.read_key(f"{BE}/error") or "")
        # The frontend gives up and starts over: served again.
        self.xs("xenstore-write", f"{FE}/state", "6")
        self.wait_key(f"{BE}/state", "6")
        self.xs("xenstore-write", f"{FE}/state", "1")
        self.wait_key(f"{BE}/state", "2")
        self.connect()
        self.assertEqual(self.one(request(OP_READ, 2, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)

    def test_bad_toolstack_keys(self):
        cases = [
            ("params", "qcow2:/nonexistent.qcow2", "qemu-nbd"),
            ("params", f"raw:{self.tmp.name}/missing.img", "missing.img"),
            ("mode", "rw", "mode"),
            ("frontend-id", "4", "frontend-id"),
            ("frontend", "/local/domain/3/device/vbd/1", "frontend is"),
            ("removable", "yes", "removable"),
        ]
        self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
        for key, value, words in cases:
            with self.subTest(key=key):
                self.add_disk(**{key: value})
                self.wait_key(f"{BE}/state", "6")
                self.assertEqual(self.read_key(f"{BE}/hotplug-status"), "error")
                self.assertIn(words, self.read_key(f"{BE}/hotplug-error") or "")
                self.xs("xenstore-rm", BE)
                self.xs("xenstore-rm", FE)
        # A good disk afterwards is served.
        self.add_disk()
        self.wait_key(f"{BE}/state", "2")

    def test_frontend_never_appears_then_unplug(self):
        self.xs("xenstore-write", f"{BE}/frontend", FE, f"{BE}/frontend-id", str(DOMID),
                f"{BE}/online", "1", f"{BE}/params", f"raw:{self.image}", f"{BE}/mode", "w",
                f"{BE}/state", "1")
        self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
        self.wait_key(f"{BE}/state", "2")
        time.sleep(0.5)
        self.assertEqual(self.read_key(f"{BE}/state"), "2")
        # Waiting costs nothing: ioreqd sleeps.
        with open(f"/proc/{self.dm.pid}/stat") as f:
            before = int(f.read().split()[13])
        time.sleep(1.0)
        with open(f"/proc/{self.dm.pid}/stat") as f:
            after = int(f.read().split()[13])
        self.assertLess(after - before, 10, "CPU ticks while waiting for a frontend")
        # The toolstack unplugs it as libxl does.
        self.xs("xenstore-write", f"{BE}/online", "0", f"{BE}/state", "5")
        self.wait_key(f"{BE}/state", "6")
        self.wait_log("device removed")

    def test_unplug_connected_disk(self):
        self.start()
        self.connect()
        self.xs("xenstore-write", f"{BE}/online", "0")
        self.wait_key(f"{BE}/state", "5")
        self.xs("xenstore-write", f"{FE}/state", "6")
        self.wait_key(f"{BE}/state", "6")
        self.wait_log("device removed")

    def test_x86_32_abi(self):
        self.start()
        self.connect(protocol="x86_32-abi")
        self.assertEqual(self.cur.size, 32)
        self.write_mem(DATA, b"\x32" * PAGE)
        self.assertEqual(self.one(request32(OP_WRITE, 0x1234567890, 64, [(DATA_REF, 0, 7)])),
                         (0x1234567890, OP_WRITE, RSP_OKAY))
        self.assertEqual(self.one(request32(OP_READ, 0x99, 64, [(DATA_REF + 1, 4, 7)])),
                         (0x99, OP_READ, RSP_OKAY))
        self.assertEqual(self.read_mem(DATA + PAGE + 2048, 2048), b"\x32" * 2048)
        with open(self.image, "rb") as f:
            f.seek(64 * 512)
            self.assertEqual(f.read(PAGE), b"\x32" * PAGE)

    def test_indirect(self):
        self.start()
        self.connect()
        # 14 full pages in one request, described by an indirect page.
        segs = b"".join(struct.pack("<IBBxx", DATA_REF + i, 0, 7) for i in range(14))
        self.write_mem(DATA + 15 * PAGE, segs)
        for i in range(14):
            self.write_mem(DATA + i * PAGE, bytes([0x40 + i]) * PAGE)
        self.assertEqual(self.one(indirect(OP_WRITE, 1, 1000, 14, [DATA_REF + 15])),
                         (1, OP_INDIRECT, RSP_OKAY))
        with open(self.image, "rb") as f:
            f.seek(1000 * 512)
            data = f.read(14 * PAGE)
        self.assertEqual(data, b"".join(bytes([0x40 + i]) * PAGE for i in range(14)))
        # Read it back reversed through the same indirect list.
        self.write_mem(DATA, bytes(PAGE))
        self.assertEqual(self.one(indirect(OP_READ, 2, 1000, 14, [DATA_REF + 15]))[2], RSP_OKAY)
        self.assertEqual(self.read_mem(DATA, 16), bytes([0x40]) * 16)
        # Hostile indirect requests.
        bad = [
            indirect(OP_READ, 3, 0, 0, [DATA_REF + 15]),
            indirect(OP_READ, 4, 0, 257, [DATA_REF + 15]),
            indirect(OP_FLUSH, 5, 0, 14, [DATA_REF + 15]),
            indirect(OP_READ, 6, 0, 14, [400]),           # indirect page not granted
            indirect(OP_READ, 7, 8190, 14, [DATA_REF + 15]),  # past the end
        ]
        for raw in bad:
            rid = struct.unpack("<Q", raw[8:16])[0]
            self.assertEqual(self.one(raw), (rid, OP_INDIRECT, RSP_ERROR), f"request {rid}")
        self.write_mem(DATA + 15 * PAGE, struct.pack("<IBBxx", DATA_REF, 3, 1))  # first > last
        self.assertEqual(self.one(indirect(OP_READ, 8, 0, 1, [DATA_REF + 15]))[2], RSP_ERROR)
        self.assertEqual(self.one(request(OP_READ, 9, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)

    def test_multi_queue_multi_page_ring(self):
        self.start()
        self.connect(order=2, queues=3)
        self.assertEqual(self.cur.size, 128)
        self.assertIn("3 queue(s) of 4 ring page(s)", self.dm.stderr())
        for qi in (2, 0, 1):
            self.use_queue(qi)
            reqs = [request(OP_READ, 1000 * qi + i, 8 * i, [(DATA_REF + qi, 0, 7)]) for i in range(40)]
            self.submit(*reqs)
            got = self.responses(40)
            self.assertEqual(sorted(r[0] for r in got), [1000 * qi + i for i in range(40)])
            self.assertTrue(all(r[2] == RSP_OKAY for r in got))
        # Asking for more than offered is refused at connect.
        self.xs("xenstore-write", f"{FE}/state", "6")
        self.wait_key(f"{BE}/state", "6")
        self.xs("xenstore-write", f"{FE}/state", "1")
        self.wait_key(f"{BE}/state", "2")
        self.connect_expect_failure(f"{FE}/multi-queue-num-queues", "5", "multi-queue-num-queues")
        self.connect_expect_failure(f"{FE}/ring-page-order", "5", "ring-page-order")
        self.connect_expect_failure(f"{FE}/protocol", "pdp11-abi", "protocol")
        self.connect_expect_failure(f"{FE}/ring-ref", "12x", "ring-ref")
        self.connect_expect_failure(f"{FE}/ring-ref", "400", "cannot map the ring")  # not granted
        self.connect_expect_failure(f"{FE}/event-channel", "0x10", "event-channel")
        # a ring page granted by the connection above, a port nobody allocated
        self.connect_expect_failure(f"{FE}/event-channel", "4000", "cannot bind event channel",
                                    ring_ref=str(RING_REF + 100))

    def connect_expect_failure(self, key, value, words, ring_ref="1"):
        self.xs("xenstore-write", f"{FE}/ring-ref", ring_ref, f"{FE}/event-channel", "1", key, value,
                f"{FE}/state", "3")
        self.wait_key(f"{BE}/state", "5")
        self.assertIn(words, self.read_key(f"{BE}/error") or "")
        self.xs("xenstore-rm", key)
        self.xs("xenstore-write", f"{FE}/state", "6")
        self.wait_key(f"{BE}/state", "6")
        self.xs("xenstore-write", f"{FE}/state", "1")
        self.wait_key(f"{BE}/state", "2")

    def test_persistent_grants_stay_mapped(self):
        GTF_reading, GTF_writing = 1 << 3, 1 << 4
        self.start()
        self.connect(persistent=True)
        self.assertIn("persistent grants", self.dm.stderr())
        for i in range(3):
            self.write_mem(DATA, bytes([i]) * PAGE)
            self.assertEqual(self.one(request(OP_WRITE, i, 8, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
            self.assertEqual(self.one(request(OP_READ, 10 + i, 8, [(DATA_REF + 1, 0, 7)]))[2], RSP_OKAY)
            self.assertEqual(self.read_mem(DATA + PAGE, PAGE), bytes([i]) * PAGE)
        flags = self.q.ok(f"readw {TABLE + 8 * DATA_REF:#x}")
        self.assertEqual(flags & (GTF_reading | GTF_writing), GTF_reading | GTF_writing,
                         "a persistent grant stays mapped after its request")
        # Closing unmaps them.
        self.xs("xenstore-write", f"{FE}/state", "5")
        self.wait_key(f"{BE}/state", "5")
        flags = self.q.ok(f"readw {TABLE + 8 * DATA_REF:#x}")
        self.assertEqual(flags & (GTF_reading | GTF_writing), 0)

    def test_copy_mode_releases_grants(self):
        GTF_reading, GTF_writing = 1 << 3, 1 << 4
        self.start()
        self.connect(persistent=False)
        self.assertEqual(self.one(request(OP_READ, 1, 8, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        # hv-sim ends a copy with a COPY_DONE that needs no reply, so xensim
        # may clear the bits just after the response (docs/xensim.md).
        deadline = time.monotonic() + 10
        while True:
            flags = self.q.ok(f"readw {TABLE + 8 * DATA_REF:#x}")
            if flags & (GTF_reading | GTF_writing) == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(flags & (GTF_reading | GTF_writing), 0)

    def test_resize(self):
        self.start()
        self.connect()
        with open(self.image, "r+b") as f:
            f.truncate(8 << 20)
        # The toolstack says something changed under the backend directory.
        self.xs("xenstore-write", f"{BE}/params", f"raw:{self.image}")
        self.wait_key(f"{BE}/sectors", str(8 * 2048))
        self.assertEqual(self.read_key(f"{BE}/state"), "4")
        self.assertEqual(self.one(request(OP_READ, 1, 8 * 2048 - 8, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)

    def test_frontend_disappears_mid_io(self):
        self.start()
        self.connect()
        reqs = [request(OP_WRITE if i % 2 else OP_READ, i, 16 * i, [(DATA_REF + i % 16, 0, 7)])
                for i in range(30)]
        self.submit(*reqs)
        # Gone without closing: directory, event channel, grants.
        self.xs("xenstore-rm", FE)
        self.q.ok(f"xen_evtchn_close {self.port}")
        self.q.ok(f"writeq {TABLE + 8 * DATA_REF:#x} 0")
        self.wait_key(f"{BE}/state", "6")
        self.xs("xenstore-rm", BE)
        self.wait_log("device removed")
        # The process is fine and serves a new disk.
        self.add_disk()
        self.wait_key(f"{BE}/state", "2")

    def test_crash_consistency_kill9(self):
        """Writes acknowledged before an acknowledged flush survive kill -9
        at a random point while more writes are in flight, 16 times."""
        rng = random.Random(20261125)
        durable = {}  # page index (low half of the disk) -> content
        self.add_disk()
        for iteration in range(16):
            self.xs("xenstore-write", f"{FE}/state", "1", f"{BE}/state", "1")
            self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
            self.wait_key(f"{BE}/state", "2")
            self.connect()
            for n in range(4):
                page = rng.randrange(0, 512)
                data = rng.randbytes(PAGE)
                self.write_mem(DATA + n * PAGE, data)
                self.assertEqual(self.one(request(OP_WRITE, n, page * 8, [(DATA_REF + n, 0, 7)]))[2],
                                 RSP_OKAY)
                durable[page] = data
            self.assertEqual(self.one(request(OP_FLUSH, 99, 0, []))[2], RSP_OKAY)
            # In flight when the process dies: writes to the upper half only.
            for n in range(4, 16):
                self.write_mem(DATA + n * PAGE, rng.randbytes(PAGE))
            self.submit(*[request(OP_WRITE, 100 + n, (512 + rng.randrange(0, 512)) * 8,
                                  [(DATA_REF + 4 + n % 12, 0, 7)]) for n in range(24)])
            time.sleep(rng.random() * 0.02)
            self.dm.kill9()
            self.dm = None
            self.q.ok(f"xen_evtchn_close {self.port}")
            with open(self.image, "rb") as f:
                image = f.read()
            for page, data in durable.items():
                self.assertEqual(image[page * PAGE:(page + 1) * PAGE], data,
                                 f"iteration {iteration}: page {page} lost")

    def nbd_server(self, sock, cmd):
        """An NBD server beside ioreqd, once its socket is there."""
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.02)
        return server

    def test_qcow2_through_nbd(self):
        """Image formats are served through an NBD server beside ioreqd."""
        qcow2 = os.path.join(self.tmp.name, "disk.qcow2")
        sock = os.path.join(self.tmp.name, "nbd.sock")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", qcow2, "8M"], check=True)
        nbd = self.nbd_server(sock, ["qemu-nbd", "--persistent", f"--socket={sock}", "-f", "qcow2",
                                     qcow2])
        try:
            self.start(params=f"nbd:unix:{sock}")
            self.assertEqual(self.read_key(f"{BE}/sectors"), str(8 * 2048))
            self.connect()
            self.write_mem(DATA, b"\xc2" * PAGE)
            self.assertEqual(self.one(request(OP_WRITE, 1, 2048, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
            self.assertEqual(self.one(request(OP_FLUSH, 2, 0, []))[2], RSP_OKAY)
            self.assertEqual(self.one(request(OP_READ, 3, 2048, [(DATA_REF + 1, 0, 7)]))[2], RSP_OKAY)
            self.assertEqual(self.read_mem(DATA + PAGE, PAGE), b"\xc2" * PAGE)
            self.assertEqual(self.one(request(OP_READ, 4, 0, [(DATA_REF + 1, 0, 7)]))[2], RSP_OKAY)
            self.assertEqual(self.read_mem(DATA + PAGE, PAGE), bytes(PAGE))
            self.dm.stop()
            self.dm = None
        finally:
            nbd.terminate()
            nbd.wait(timeout=20)
        raw = os.path.join(self.tmp.name, "check.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", qcow2, raw], check=True)
        with open(raw, "rb") as f:
            f.seek(2048 * 512)
            self.assertEqual(f.read(PAGE), b"\xc2" * PAGE)

    def test_large_sectors_when_the_frontend_copes(self):
        """A 4 KiB-block export: sector-size stays 512 for frontends that
        hard-code it and becomes 4096 for one that writes
        feature-large-sector-size."""
        sock = os.path.join(self.tmp.name, "nbd4k.sock")
        nbd = self.nbd_server(sock, ["nbdkit", "-f", "-U", sock, "--filter=blocksize-policy",
                                     "memory", "16M", "blocksize-minimum=4096",
                                     "blocksize-preferred=4096"])
        try:
            self.start(params=f"nbd:unix:{sock}")
            self.assertEqual(self.read_key(f"{BE}/sector-size"), "512")
            self.assertEqual(self.read_key(f"{BE}/physical-sector-size"), "4096")
            self.connect(extra=(f"{FE}/feature-large-sector-size", "1"))
            self.assertEqual(self.read_key(f"{BE}/sector-size"), "4096")
            self.assertEqual(self.read_key(f"{BE}/sectors"), str(16 * 256))
            self.write_mem(DATA, b"\x4b" * PAGE)
            # One sector is now the whole page: first_sect = last_sect = 0.
            self.assertEqual(self.one(request(OP_WRITE, 1, 10, [(DATA_REF, 0, 0)]))[2], RSP_OKAY)
            self.assertEqual(self.one(request(OP_READ, 2, 10, [(DATA_REF + 1, 0, 0)]))[2], RSP_OKAY)
            self.assertEqual(self.read_mem(DATA + PAGE, PAGE), b"\x4b" * PAGE)
            self.assertEqual(self.one(request(OP_READ, 3, 10, [(DATA_REF + 1, 0, 1)]))[2], RSP_ERROR)
            self.assertEqual(self.one(request(OP_READ, 4, 16 * 256, [(DATA_REF, 0, 0)]))[2], RSP_ERROR)
        finally:
            if self.dm:
                self.dm.stop()
                self.dm = None
            nbd.terminate()
            nbd.wait(timeout=20)


if __name__ == "__main__":
    unittest.main()
