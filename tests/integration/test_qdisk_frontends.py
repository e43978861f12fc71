# SPDX-License-Identifier: MIT
"""qdisk against the frontends guests actually run, each played by the
scripted guest (qdisk_guest) writing exactly the xenstore keys that driver
writes, as that guest (its own xenstore connection, its transactions where
the driver uses one), in the driver's order, with its ring layout, its
state transitions and waits, and its way of issuing I/O:

- Linux xen-blkfront (drivers/block/xen-blkfront.c): multi-page rings on
  two queues, persistent grants, indirect segments, flush with data;
- FreeBSD blkfront (sys/dev/xen/blkfront/blkfront.c): both ring-size
  schemes (num-ring-pages and ring-page-order), a truncated pointer as the
  handle, read-only grants for writes, one indirect page, the resume after
  a cancelled suspend that starts over without closing; and the older
  driver's max-requests / max-request-segments / max-request-size keys;
- Windows XENVBD (win-xenvbd src/xenvbd/frontend.c, ring.c): close before
  every connect, multi-queue-num-queues = 1 with top-level keys,
  feature-large-sector-size, pointers as request ids, per-request grants,
  the close/reconnect of every resume repeated many times (ioreqd's fds
  and the grants back to baseline), and the crash-dump / hibernation
  driver (src/xencrsh/frontend.c, pdo.c) that takes over a connected disk
  with a one-page ring and an empty WRITE_BARRIER for SYNCHRONIZE CACHE.

Plus hostile values of the legacy ring-size key. docs/qdisk.md ("Frontends")
has the table of keys and the sources."""
import os
import time
import unittest

import toolstack
from ioreqd_proc import Ioreqd
from qdisk_guest import (BE, DEVID, DOMID, ENTRY_64, FE, GTF_writing, OP_BARRIER,
                         OP_DISCARD, OP_FLUSH, OP_INDIRECT, OP_READ, OP_WRITE, PAGE, RSP_EOPNOTSUPP,
                         RSP_OKAY, TABLE, GuestRing, QdiskGuestCase, XenstoreConnection, discard,
                         indirect, request, ring_entries, segments)

SECTOR = 512
TABLE_FRAMES = 4                 # 2048 grant refs
POOL = 0x400000                  # guest pages for rings, indirect pages and data
POOL_PAGES = 3000
SEGS_PER_INDIRECT_PAGE = PAGE // 8
UNKNOWN, INITIALISING, INITWAIT, INITIALISED, CONNECTED, CLOSING, CLOSED = range(7)


class Pool:
    """Free things handed out last-in first-out, as guests recycle grant
    refs and pages (a reconnect often gets the same numbers back)."""

    def __init__(self, items):
        self.free = list(reversed(items))

    def get(self, n=1):
        if len(self.free) < n:
            raise AssertionError("the guest ran out of grant refs or pages")
        out = [self.free.pop() for _ in range(n)]
        return out

    def put(self, items):
        self.free.extend(reversed(items))


class Frontend:
    """What every driver does the same way: its xenstore connection (as the
    guest), grants and pages from the guest's pools, waits on the backend.
    The drivers' own steps are the test's methods (freebsd_*, windows_*;
    Linux's are inline in its test)."""

    def __init__(self, t):
        self.t, self.guest, self.xs = t, t.guest, t.gxs
        self.rings = []
        self.ring_pages = []      # (gpa, ref) of every ring page granted

    # -- xenstore --
    def write(self, *pairs, path=FE):
        """One transaction (xenbus_transaction_start .. end)."""
        self.xs.batch([("write", f"{path}/{k}", v) for k, v in pairs])

    def write_each(self, *pairs, path=FE):
        """One write per key, no transaction (FreeBSD's xs_printf)."""
        for k, v in pairs:
            self.xs.batch([("write", f"{path}/{k}", v)])

    def rm(self, *keys):
        self.xs.batch([("rm", f"{FE}/{k}") for k in keys])

    def set_state(self, state):
        self.write(("state", str(state)))

    def backend(self, *keys):
        """Backend keys as the guest reads them (it may: perms r<domid>)."""
        values = self.xs.read_dir(BE, keys)
        return values if len(keys) > 1 else values[keys[0]]

    def backend_state(self):
        v = self.xs.read(f"{BE}/state")
        return int(v) if v is not None else UNKNOWN

    def wait_backend(self, accept, what, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            state = self.backend_state()
            if accept(state):
                return state
            if time.monotonic() > deadline:
                self.t.fail(f"backend state {state}, waited for {what}\n{self.t.dm_log()}")
            time.sleep(0.01)

    def wait_change(self, old):
        """Windows' __WaitState: until the backend's state differs from old."""
        return self.wait_backend(lambda s: s != old, f"a state other than {old}")

    # -- rings --
    def make_ring(self, pages):
        """Pages for a shared ring, granted (the ring-ref values), an
        unbound event channel; SHARED_RING_INIT done."""
        gpas = self.t.pages.get(pages)
        refs = self.t.refs.get(pages)
        # A ring's pages must be contiguous for GuestRing: take a fresh run
        # when the pool's pages are not.
        if any(b - a != PAGE for a, b in zip(gpas, gpas[1:])):
            self.t.pages.put(gpas)
            gpas = self.t.fresh_pages(pages)
        for gpa, ref in zip(gpas, refs):
            self.guest.grant(ref, gpa)
        ring = GuestRing(self.guest, gpas[0], pages, self.guest.alloc_port(), ENTRY_64,
                         context=self.t.dm_log)
        ring.init()
        ring.refs = refs
        self.rings.append(ring)
        self.ring_pages += list(zip(gpas, refs))
        return ring

    def free_rings(self):
        """Close the ports, end access to the ring pages (after the backend
        let go of them) and give everything back to the pools."""
        for ring in self.rings:
            self.guest.close_port(ring.port)
        refs = [ref for _, ref in self.ring_pages]
        self.t.wait_grants_released(refs)
        for gpa, ref in self.ring_pages:
            self.guest.end_access(ref)
        self.t.refs.put(refs)
        self.t.pages.put([gpa for gpa, _ in self.ring_pages])
        self.rings, self.ring_pages = [], []

    def ring_ref_keys(self, ring, prefix=""):
        if ring.pages == 1:
            return [(prefix + "ring-ref", str(ring.refs[0]))]
        return [(f"{prefix}ring-ref{i}", str(r)) for i, r in enumerate(ring.refs)]


class Transfer:
    """Per-request grants, as FreeBSD and Windows do: each data page granted
    for the request (read-only for a write when the driver does that), an
    indirect page when there are more than 11 segments, access ended once
    the backend answered and let go of the grants."""

    def __init__(self, t, ring, handle, write_grants_readonly):
        self.t, self.ring, self.handle = t, ring, handle
        self.write_ro = write_grants_readonly

    def segments_for(self, gpa, nbytes, sector_size):
        """(page gpa, first_sect, last_sect) for [gpa, gpa + nbytes)."""
        out = []
        while nbytes:
            page = gpa & ~(PAGE - 1)
            off = gpa - page
            n = min(nbytes, PAGE - off)
            out.append((page, off // sector_size, (off + n) // sector_size - 1))
            gpa += n
            nbytes -= n
        return out

    def rw(self, op, rid, sector, gpa, nbytes, sector_size=SECTOR, max_segs=11):
        """One READ or WRITE (INDIRECT above 11 segments); the response."""
        segs = self.segments_for(gpa, nbytes, sector_size)
        assert len(segs) <= max_segs, "split it first, as the driver does"
        guest = self.t.guest
        refs = self.t.refs.get(len(segs))
        for (page, _, _), ref in zip(segs, refs):
            guest.grant(ref, page, readonly=self.write_ro and op == OP_WRITE)
        ind_pages, ind_refs = [], []
        if len(segs) > 11:
            n = (len(segs) + SEGS_PER_INDIRECT_PAGE - 1) // SEGS_PER_INDIRECT_PAGE
            ind_pages, ind_refs = self.t.pages.get(n), self.t.refs.get(n)
            lst = [(ref, f, l) for (_, f, l), ref in zip(segs, refs)]
            for i, (page, ref) in enumerate(zip(ind_pages, ind_refs)):
                chunk = lst[i * SEGS_PER_INDIRECT_PAGE:(i + 1) * SEGS_PER_INDIRECT_PAGE]
                guest.write(page, segments(chunk))
                guest.grant(ref, page, readonly=True)
            raw = indirect(op, rid, sector, len(segs), ind_refs, handle=self.handle)
        else:
            raw = request(op, rid, sector, [(ref, f, l) for (_, f, l), ref in zip(segs, refs)],
                          handle=self.handle)
        rsp = self.ring.one(raw)
        self.release(refs + ind_refs)
        self.t.pages.put(ind_pages)
        return rsp

    def release(self, refs):
        self.t.wait_grants_released(refs)
        for ref in refs:
            self.t.guest.end_access(ref)
        self.t.refs.put(refs)


class QdiskFrontendsTest(QdiskGuestCase):
    def setUp(self):
        super().setUp()
        self.ts = toolstack.Xenstore(self.tmp.name)            # dom0, the toolstack
        # The guest's own xenstore connection (its permissions apply).
        self.gxs = XenstoreConnection(os.path.join(self.tmp.name, f"dom{DOMID}.xenstore"))
        self.addCleanup(self.gxs.close)
        self.guest.setup_grant_table(TABLE, TABLE_FRAMES)
        self.refs = Pool(list(range(16, TABLE_FRAMES * 512)))
        self.pages = Pool([POOL + i * PAGE for i in range(POOL_PAGES)])
        self.next_fresh = POOL + POOL_PAGES * PAGE

    def fresh_pages(self, n):
        gpas = [self.next_fresh + i * PAGE for i in range(n)]
        self.next_fresh += n * PAGE
        return gpas

    def serve(self):
        """The disk as libxl adds it (frontend directory owned by the
        guest), ioreqd serving it: the backend in InitWait."""
        toolstack.add_qdisk(self.ts, DOMID, DEVID, self.image)
        self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
        self.wait_key(f"{BE}/state", str(INITWAIT))

    def fds(self):
        return len(os.listdir(f"/proc/{self.dm.pid}/fd"))

    def image_bytes(self, offset, n):
        with open(self.image, "rb") as f:
            f.seek(offset)
            return f.read(n)

    def unplug(self, frontend_steps):
        """The toolstack unplugs (libxl: online=0, state=5); the frontend
        answers with its steps; the backend ends Closed and goes."""
        self.ts.batch([("write", f"{BE}/online", "0"), ("write-unless", f"{BE}/state", "5", "6")])
        self.wait_key(f"{BE}/state", str(CLOSING))
        frontend_steps()
        self.wait_key(f"{BE}/state", str(CLOSED))
        self.wait_log("device removed")

    # ---------------------------------------------------------------- Linux
    def test_linux_blkfront(self):
        """xen-blkfront: talk_to_blkback at InitWait (max-ring-page-order,
        multi-queue-max-queues read; one transaction with ring-page-order,
        multi-queue-num-queues, queue-N/ring-refN and event-channel,
        protocol, feature-persistent), Initialised; blkfront_connect at
        Connected; persistent grants reused; indirect writes, flush with
        data (a FUA write), discard."""
        self.serve()
        fe = Frontend(self)
        max_order = int(fe.backend("max-ring-page-order") or 0)
        order = min(1, max_order)            # max_ring_page_order=1 on the command line
        queues = min(2, int(fe.backend("multi-queue-max-queues") or 1))  # two vCPUs
        self.assertEqual((order, queues), (1, 2))
        rings = [fe.make_ring(1 << order) for _ in range(queues)]
        keys = [("ring-page-order", str(order)), ("multi-queue-num-queues", str(queues))]
        for qi, ring in enumerate(rings):
            keys += fe.ring_ref_keys(ring, f"queue-{qi}/") + \
                [(f"queue-{qi}/event-channel", str(ring.port))]
        keys += [("protocol", "x86_64-abi"), ("feature-persistent", "1")]
        fe.write(*keys)
        fe.set_state(INITIALISED)
        fe.wait_backend(lambda s: s == CONNECTED, "Connected")
        info = fe.backend("sectors", "info", "sector-size", "physical-sector-size",
                          "feature-barrier", "feature-flush-cache", "feature-discard",
                          "discard-granularity", "discard-alignment", "discard-secure",
                          "feature-persistent", "feature-max-indirect-segments")
        self.assertEqual((info["sectors"], info["sector-size"], info["info"]), ("8192", "512", "0"))
        self.assertEqual((info["feature-flush-cache"], info["feature-barrier"]), ("1", None))
        self.assertEqual(info["feature-persistent"], "1")
        max_segs = min(32, int(info["feature-max-indirect-segments"]))  # xen_blkif_max_segments
        fe.set_state(CONNECTED)
        self.assertIn(f"connected: {queues} queue(s) of {1 << order} ring page(s)", self.dm_log())
        self.assertIn("persistent grants", self.dm_log())

        # Persistent grants: a pool of pages granted writable once, reused.
        data = self.pages.get(max_segs)
        grefs = self.refs.get(max_segs)
        for gpa, ref in zip(data, grefs):
            self.guest.grant(ref, gpa)
        payload = os.urandom(max_segs * PAGE)
        for i, gpa in enumerate(data):
            self.guest.write(gpa, payload[i * PAGE:(i + 1) * PAGE])
        ind_page, ind_ref = self.pages.get()[0], self.refs.get()[0]
        self.guest.grant(ind_ref, ind_page, readonly=True)
        self.guest.write(ind_page, segments([(r, 0, 7) for r in grefs]))
        q0, q1 = rings
        self.assertEqual(q0.one(indirect(OP_WRITE, 1, 2048, max_segs, [ind_ref])),
                         (1, OP_INDIRECT, RSP_OKAY))
        self.assertEqual(self.image_bytes(2048 * SECTOR, len(payload)), payload)
        # Read the first 8 pages back on the other queue, direct.
        for gpa in data[:8]:
            self.guest.write(gpa, bytes(PAGE))
        rsp = q1.one(request(OP_READ, 2, 2048, [(r, 0, 7) for r in grefs[:8]]))
        self.assertEqual(rsp, (2, OP_READ, RSP_OKAY))
        self.assertEqual(b"".join(self.guest.read(g, PAGE) for g in data[:8]), payload[:8 * PAGE])
        # A FUA write goes as FLUSH_DISKCACHE with data; REQ_OP_FLUSH empty.
        self.guest.write(data[0], b"\xf1" * PAGE)
        self.assertEqual(q0.one(request(OP_FLUSH, 3, 4000, [(grefs[0], 0, 7)])),
                         (3, OP_FLUSH, RSP_OKAY))
        self.assertEqual(self.image_bytes(4000 * SECTOR, PAGE), b"\xf1" * PAGE)
        self.assertEqual(q1.one(request(OP_FLUSH, 4, 0, [])), (4, OP_FLUSH, RSP_OKAY))
        if info["feature-discard"] == "1":
            self.assertEqual(q0.one(discard(5, 4000, 8)), (5, OP_DISCARD, RSP_OKAY))
            self.assertEqual(self.image_bytes(4000 * SECTOR, PAGE), bytes(PAGE))
        # The grants stay mapped while connected (persistent).
        self.assertTrue(self.guest.grant_flags(grefs[0]) & GTF_writing)

        # Unplug: blkfront_closing goes straight to Closed.
        self.unplug(lambda: fe.set_state(CLOSED))
        self.wait_grants_released(grefs + [ind_ref] + [r for _, r in fe.ring_pages])

    # -------------------------------------------------------------- FreeBSD
    def freebsd_initialize(self, fe, legacy_limits=False):
        """xbd_initialize (frontend in Initialising, backend InitWait or
        later): ring pages from max-ring-page-order, overridden by
        max-ring-pages, capped at XBD_MAX_RING_PAGES (32) and rounded down
        to a power of two; ring-ref or ring-refN one xs_printf each, then
        num-ring-pages and ring-page-order for more than one page,
        [the 9.x/10.0 driver: max-requests, max-request-segments,
        max-request-size], event-channel, protocol; Initialised."""
        order = fe.backend("max-ring-page-order")
        pages = 1 << int(order) if order is not None else 1
        legacy = fe.backend("max-ring-pages")
        if legacy is not None:
            pages = int(legacy)
        pages = max(1, min(pages, 32))
        pages = 1 << (pages.bit_length() - 1)
        ring = fe.make_ring(pages)
        fe.write_each(*fe.ring_ref_keys(ring))
        if pages > 1:
            fe.write_each(("num-ring-pages", str(pages)),
                          ("ring-page-order", str(pages.bit_length() - 1)))
        if legacy_limits:
            max_requests = ring_entries(pages, ENTRY_64)
            fe.write_each(("max-requests", str(max_requests)), ("max-request-segments", "11"),
                          ("max-request-size", str(10 * PAGE)))
        fe.write_each(("event-channel", str(ring.port)), ("protocol", "x86_64-abi"))
        fe.set_state(INITIALISED)
        return ring

    def freebsd_connect(self, fe):
        """xbd_connect at backend Connected: sectors, info and sector-size
        must all be there (xs_gather), then the optional keys; Connected."""
        fe.wait_backend(lambda s: s == CONNECTED, "Connected")
        info = fe.backend("sectors", "info", "sector-size", "physical-sector-size",
                          "feature-barrier", "feature-flush-cache", "feature-max-indirect-segments")
        for key in ("sectors", "info", "sector-size"):
            self.assertIsNotNone(info[key], f"FreeBSD's xbd_connect needs {key}")
        self.assertNotEqual(info["sectors"], "0")
        # BIO_FLUSH needs flush or barrier, or FreeBSD panics.
        self.assertTrue(info["feature-flush-cache"] == "1" or info["feature-barrier"] == "1")
        fe.set_state(CONNECTED)
        return info

    def test_freebsd_blkfront(self):
        self.serve()
        fe = Frontend(self)
        ring = self.freebsd_initialize(fe)
        self.assertEqual(ring.pages, 16)  # max-ring-pages 16 agrees with order 4
        info = self.freebsd_connect(fe)
        self.assertIn("1 queue(s) of 16 ring page(s)", self.dm_log())
        # MAXPHYS 128 KiB: min(256, XBD_SIZE_TO_SEGS(MAXPHYS) = 33) segments.
        max_segs = min(int(info["feature-max-indirect-segments"]), 128 * 1024 // PAGE + 1)
        self.assertEqual(max_segs, 33)
        # The handle is the disk's pointer, truncated; ids are command indexes.
        xfer = Transfer(self, ring, handle=0xc2e0, write_grants_readonly=True)
        # 128 KiB from a buffer 512-aligned in its page: 33 segments, the
        # first starting at sector 3, the last ending at sector 2.
        buf = self.fresh_pages(33)[0] + 3 * SECTOR
        payload = os.urandom(128 * 1024)
        self.guest.write(buf, payload)
        self.assertEqual(xfer.rw(OP_WRITE, 0, 1000, buf, len(payload), max_segs=max_segs),
                         (0, OP_INDIRECT, RSP_OKAY))
        self.assertEqual(self.image_bytes(1000 * SECTOR, len(payload)), payload)
        self.guest.write(buf, bytes(len(payload)))
        self.assertEqual(xfer.rw(OP_READ, 1, 1000, buf, len(payload), max_segs=max_segs),
                         (1, OP_INDIRECT, RSP_OKAY))
        self.assertEqual(self.guest.read(buf, len(payload)), payload)
        self.assertEqual(xfer.rw(OP_READ, 2, 1000, buf, 11 * PAGE - 3 * SECTOR),
                         (2, OP_READ, RSP_OKAY))
        # BIO_FLUSH: FLUSH_DISKCACHE, no segments.
        self.assertEqual(ring.one(request(OP_FLUSH, 3, 0, [], handle=0xc2e0)),
                         (3, OP_FLUSH, RSP_OKAY))

        # A suspend, cancelled or not: xenbusb_resume writes Initialising
        # without closing, xbd_resume frees the ring (closes its port, ends
        # access to its pages) and xbd_initialize publishes a new one and
        # Initialised. The backend drops the old connection. FreeBSD does
        # not wait for InitWait; the test does, standing in for the
        # xenstore round trips FreeBSD makes before it writes Initialised.
        fds = self.fds()
        fe.set_state(INITIALISING)
        old_pages = fe.ring_pages
        fe.free_rings()
        fe.wait_backend(lambda s: s == INITWAIT, "InitWait after the frontend started over")
        self.wait_log("the frontend started over without closing")
        held = self.pages.get(16)   # the new ring lands on other pages
        ring = self.freebsd_initialize(fe)
        self.pages.put(held)
        self.assertEqual([r for _, r in fe.ring_pages], [r for _, r in old_pages],
                         "the refs come back LIFO: the same numbers")
        self.assertNotEqual(fe.ring_pages[0][0], old_pages[0][0])
        self.freebsd_connect(fe)
        xfer.ring = ring
        self.guest.write(buf, bytes(PAGE))
        self.assertEqual(xfer.rw(OP_READ, 4, 1000, buf, PAGE - 3 * SECTOR), (4, OP_READ, RSP_OKAY))
        self.assertEqual(self.guest.read(buf, PAGE - 3 * SECTOR), payload[:PAGE - 3 * SECTOR])
        self.assertEqual(self.fds(), fds)

        # Unplug: xbd_closing writes Closing then Closed at once.
        self.unplug(lambda: (fe.set_state(CLOSING), fe.set_state(CLOSED)))
        self.wait_grants_released([r for _, r in fe.ring_pages])

    def test_freebsd_9_legacy_limits(self):
        """The FreeBSD 9.x / 10.0 driver also writes max-requests,
        max-request-segments and max-request-size (its segment-block
        extension, used only when the backend offers max-request-segments
        above 11, which we do not): they change nothing."""
        self.serve()
        self.assertIsNone(self.read_key(f"{BE}/max-request-segments"))
        fe = Frontend(self)
        ring = self.freebsd_initialize(fe, legacy_limits=True)
        self.freebsd_connect(fe)
        xfer = Transfer(self, ring, handle=0x5a10, write_grants_readonly=True)
        buf = self.fresh_pages(11)[0]
        payload = os.urandom(10 * PAGE)
        self.guest.write(buf, payload)
        self.assertEqual(xfer.rw(OP_WRITE, 7, 64, buf, len(payload)), (7, OP_WRITE, RSP_OKAY))
        self.assertEqual(self.image_bytes(64 * SECTOR, len(payload)), payload)

    # -------------------------------------------------------------- Windows
    def windows_close(self, fe):
        """FrontendClose: wait for the backend to leave Initialising, then
        Closing until the backend is Closing or Closed, then Closed until
        it is Closed; each write followed by a wait for a change."""
        state = fe.wait_change(UNKNOWN)
        while state == INITIALISING:
            state = fe.wait_change(state)
        while state not in (CLOSING, CLOSED):
            fe.set_state(CLOSING)
            state = fe.wait_change(state)
        while state != CLOSED:
            fe.set_state(CLOSED)
            state = fe.wait_change(state)

    def windows_prepare(self, fe, target_keys):
        """FrontendPrepare: its target directory, Initialising, the backend
        must then say InitWait; removable, feature-max-indirect-segments,
        feature-persistent read."""
        fe.write(*target_keys, path=f"/local/domain/{DOMID}/data/scsi/target/0")
        fe.set_state(INITIALISING)
        state = fe.wait_change(UNKNOWN)
        while state in (CLOSED, INITIALISING):
            state = fe.wait_change(state)
        self.assertEqual(state, INITWAIT, "XENVBD fails unless the backend is in InitWait")
        return fe.backend("removable", "feature-max-indirect-segments", "feature-persistent")

    def windows_connect(self, fe, max_queues):
        """FrontendConnect (xcp-ng win-xenvbd): NumQueues = min(vCPUs,
        multi-queue-max-queues), ring order min(4, max-ring-page-order);
        one transaction: per ring event-channel and ring-ref(N) (top level
        for one queue, queue-N/ otherwise), multi-queue-num-queues (even
        1), ring-page-order (order > 0), protocol x86_64-abi, target-id,
        feature-surprise-remove, feature-online-resize,
        feature-large-sector-size; Initialised; at Connected it reads the
        disk info and features and goes Connected."""
        queues = min(max_queues, int(fe.backend("multi-queue-max-queues") or 1))
        order = min(4, int(fe.backend("max-ring-page-order") or 0))
        keys = []
        for qi in range(queues):
            ring = fe.make_ring(1 << order)
            prefix = "" if queues == 1 else f"queue-{qi}/"
            keys += [(prefix + "event-channel", str(ring.port))] + fe.ring_ref_keys(ring, prefix)
        keys.append(("multi-queue-num-queues", str(queues)))
        if order:
            keys.append(("ring-page-order", str(order)))
        keys += [("protocol", "x86_64-abi"), ("target-id", "0"), ("feature-surprise-remove", "1"),
                 ("feature-online-resize", "1"), ("feature-large-sector-size", "1")]
        fe.write(*keys)
        fe.set_state(INITIALISED)
        state = fe.wait_change(UNKNOWN)
        while state in (INITWAIT, INITIALISING, INITIALISED):
            state = fe.wait_change(state)
        self.assertEqual(state, CONNECTED, f"backend error: {fe.backend('error')}")
        info = fe.backend("info", "sector-size", "physical-sector-size", "sectors",
                          "feature-barrier", "feature-flush-cache", "feature-discard",
                          "discard-enable", "discard-secure", "discard-alignment",
                          "discard-granularity", "sm-data/scsi/0x12/0x80",
                          "sm-data/scsi/0x12/0x83", "removable", "feature-max-indirect-segments",
                          "feature-persistent")
        fe.set_state(CONNECTED)
        return info

    def windows_start(self, fe, max_queues=1):
        """Driver load (INITIALIZED -> ENABLED): Close, Prepare, Connect."""
        if not hasattr(self, "windows_buffer"):
            self.windows_buffer = self.fresh_pages(25)[0]
        self.windows_close(fe)
        self.windows_prepare(fe, [("frontend", FE), ("device", str(DEVID)), ("paging", "0"),
                                  ("hibernation", "0"), ("dump", "0")])
        return self.windows_connect(fe, max_queues)

    def windows_io(self, fe, info, ring, cycle):
        """What storport sends: READ/WRITE with pointers as ids, data
        granted read-only for writes, INDIRECT above 11 segments,
        SYNCHRONIZE CACHE as an empty FLUSH_DISKCACHE carrying the CDB's
        LBA, UNMAP as DISCARD (flag 0) per descriptor."""
        sector_size = int(info["sector-size"])
        self.assertEqual(sector_size, SECTOR)  # the file's logical block size
        handle = DEVID & 0xffff
        xfer = Transfer(self, ring, handle, write_grants_readonly=True)
        srb = 0xffffc40f8e2a1000 + cycle * 0x1c0           # Request pointers
        max_segs = int(info["feature-max-indirect-segments"])
        base = 3000 + cycle * 40
        payload = os.urandom(24 * PAGE)
        buf = self.windows_buffer
        self.guest.write(buf, payload)
        # 96 KiB >= 11 pages: one INDIRECT write of 24 segments.
        self.assertEqual(xfer.rw(OP_WRITE, srb, base, buf, len(payload), sector_size, max_segs),
                         (srb, OP_INDIRECT, RSP_OKAY))
        # A buffer sector-aligned inside its page: first_sect = offset /
        # sector size (an unaligned one would be bounced, first_sect 0).
        self.guest.write(buf, bytes(4 * PAGE))
        self.assertEqual(xfer.rw(OP_READ, srb + 8, base, buf + SECTOR, 3 * PAGE, sector_size),
                         (srb + 8, OP_READ, RSP_OKAY))
        self.assertEqual(self.guest.read(buf + SECTOR, 3 * PAGE), payload[:3 * PAGE])
        self.assertEqual(ring.one(request(OP_FLUSH, srb + 16, base, [], handle=handle)),
                         (srb + 16, OP_FLUSH, RSP_OKAY))
        self.assertEqual(self.image_bytes(base * SECTOR, len(payload)), payload)
        if info["feature-discard"] == "1" and info["discard-enable"] != "0":
            self.assertEqual(ring.one(discard(srb + 24, base + 40, 8, handle=handle)),
                             (srb + 24, OP_DISCARD, RSP_OKAY))

    def test_windows_xenvbd_and_resume_cycles(self):
        """Driver load, I/O, then the close/reconnect every resume does
        (FrontendSuspendCallback: SetState(CLOSED) then back to ENABLED)
        30 times with I/O each time: ioreqd's fds back to what they were
        at the same point, every grant it used released."""
        self.serve()
        fe = Frontend(self)
        info = self.windows_start(fe)
        self.assertEqual(fe.backend("state"), str(CONNECTED))
        self.assertIn("1 queue(s) of 16 ring page(s)", self.dm_log())
        self.assertEqual(info["feature-flush-cache"], "1")
        self.assertIsNone(info["feature-barrier"])
        self.windows_io(fe, info, fe.rings[0], 0)
        connected_fds = self.fds()
        closed_fds = None
        for cycle in range(1, 31):
            # ENABLED -> CONNECTED (ring disabled once every response is in)
            # -> FrontendClose -> FrontendDisconnect (ports closed, ring
            # grants revoked) -> Prepare -> Connect -> ENABLED.
            self.windows_close(fe)
            fe.free_rings()
            if closed_fds is None:
                closed_fds = self.fds()
            self.assertEqual(self.fds(), closed_fds, f"cycle {cycle}: fds while closed")
            self.windows_prepare(fe, [("paging", "0"), ("hibernation", "0"), ("dump", "0"),
                                      ("frontend", FE), ("device", str(DEVID))])
            info = self.windows_connect(fe, 1)
            self.assertEqual(self.fds(), connected_fds, f"cycle {cycle}: fds while connected")
            self.windows_io(fe, info, fe.rings[0], cycle)
        self.assertLess(closed_fds, connected_fds)
        self.assertEqual(self.dm_log().count("disconnected"), 30)

        # Unplug: __CheckBackendForEject sees online=0 and Closing, Windows
        # ejects the disk: FrontendClose (the backend is already Closing:
        # Closed), then "ejected".
        def eject():
            self.windows_close(fe)
            fe.write(("ejected", "1"))
        self.unplug(eject)
        fe.free_rings()

    def test_windows_crash_dump_and_hibernate(self):
        """The main driver connected on two queues (a two-vCPU guest) with
        16-page rings; then xencrsh takes the disk over as for a crash dump
        or a hibernation: Close, drop ring-page-order, the two feature keys
        and multi-queue-num-queues (the queue-N/ and ring-refN keys and
        feature-large-sector-size stay behind), Prepare, a one-page ring
        with top-level ring-ref, writes, and an empty WRITE_BARRIER for
        SYNCHRONIZE CACHE, whatever the backend offers; then the main driver
        comes back (resume from hibernation)."""
        self.serve()
        fe = Frontend(self)
        info = self.windows_start(fe, max_queues=2)
        self.assertIn("2 queue(s) of 16 ring page(s)", self.dm_log())
        self.windows_io(fe, info, fe.rings[1], 0)
        # A request still on the ring (no event sent) when the system crashes.
        lost = self.refs.get(1)
        self.guest.grant(lost[0], self.windows_buffer)
        fe.rings[0].post(request(OP_READ, 0xffffc40f00000001, 0, [(lost[0], 0, 7)]))

        # xencrsh: FrontendClose, polling the backend's state.
        crash = Frontend(self)
        self.windows_close(crash)
        crash.rm("ring-page-order", "feature-online-resize", "feature-surprise-remove",
                 "multi-queue-num-queues")
        fe.free_rings()   # the crashed system's rings are gone with it
        Transfer(self, None, 0, False).release(lost)
        # FrontendPrepare
        crash.write(("frontend", FE), ("device", str(DEVID)), ("filter", "absent"),
                    path=f"/local/domain/{DOMID}/data/scsi/target/0")
        crash.set_state(INITIALISING)
        state = crash.wait_change(UNKNOWN)
        while state in (CLOSED, INITIALISING):
            state = crash.wait_change(state)
        self.assertEqual(state, INITWAIT)
        feats = crash.backend("removable", "feature-barrier", "feature-discard")
        self.assertIsNone(feats["feature-barrier"])
        # FrontendConnect: one page, one transaction, Initialised.
        ring = crash.make_ring(1)
        crash.write(("event-channel", str(ring.port)), ("ring-ref", str(ring.refs[0])),
                    ("protocol", "x86_64-abi"), ("feature-surprise-remove", "1"),
                    ("feature-online-resize", "1"))
        crash.set_state(INITIALISED)
        state = crash.wait_change(UNKNOWN)
        while state in (INITWAIT, INITIALISING, INITIALISED):
            state = crash.wait_change(state)
        self.assertEqual(state, CONNECTED, f"backend error: {crash.backend('error')}")
        crash.set_state(CONNECTED)
        disk = crash.backend("info", "sector-size", "sectors")
        self.assertEqual(disk["sector-size"], "512")
        self.assertIn("1 queue(s) of 1 ring page(s)", self.dm_log())

        # The dump: writes of at most 11 segments, then SYNCHRONIZE CACHE
        # as an empty barrier with the CDB's LBA. The barrier is a flush of
        # what was written before it, and the write posted behind it waits
        # for it: the responses come in this order.
        xfer = Transfer(self, ring, DEVID & 0xffff, write_grants_readonly=True)
        buf = self.fresh_pages(12)[0]
        dump = os.urandom(11 * PAGE)
        self.guest.write(buf, dump)
        req = 0xffffd10b7c3e0000
        self.assertEqual(xfer.rw(OP_WRITE, req, 6000, buf, len(dump)), (req, OP_WRITE, RSP_OKAY))
        refs = self.refs.get(2)
        self.guest.grant(refs[0], buf, readonly=True)
        self.guest.grant(refs[1], buf + PAGE, readonly=True)
        ring.submit(request(OP_WRITE, req + 1, 7000, [(refs[0], 0, 7)]),
                    request(OP_BARRIER, req + 2, 7000, []),
                    request(OP_WRITE, req + 3, 7008, [(refs[1], 0, 7)]))
        self.assertEqual(ring.responses(3), [(req + 1, OP_WRITE, RSP_OKAY),
                                             (req + 2, OP_BARRIER, RSP_OKAY),
                                             (req + 3, OP_WRITE, RSP_OKAY)])
        xfer.release(refs)
        self.assertEqual(self.image_bytes(6000 * SECTOR, len(dump)), dump)
        self.assertEqual(self.image_bytes(7000 * SECTOR, 2 * PAGE), dump[:2 * PAGE])
        # A barrier carrying data is not served (feature-barrier is not offered).
        self.assertEqual(ring.one(request(OP_BARRIER, req + 4, 7000, [(1999, 0, 7)])),
                         (req + 4, OP_BARRIER, RSP_EOPNOTSUPP))

        # Resume from hibernation: the main driver loads again (Close first).
        main = Frontend(self)
        self.windows_close(main)
        crash.free_rings()
        info = self.windows_start(main, max_queues=2)
        self.windows_io(main, info, main.rings[0], 1)
        self.windows_close(main)
        main.free_rings()

    # --------------------------------------------------- hostile legacy keys
    def test_num_ring_pages_hostile_and_legacy_only(self):
        """num-ring-pages alone (Red Hat's and Amazon's scheme) sizes the
        ring; 0, too large, not a power of two, not a number, or not what
        ring-page-order says closes the device with the reason, and the
        frontend can start over."""
        self.serve()
        fe = Frontend(self)
        cases = [
            ("0", None), ("32", None), ("4294967312", None), ("3", None), ("12", None),
            ("4k", None), ("-4", None), ("0x4", None), (" 4", None), ("", None),
            ("4", "3"), ("16", "2"), ("2", "0"),
        ]
        for pages, order in cases:
            with self.subTest(num_ring_pages=pages, ring_page_order=order):
                ring = fe.make_ring(4)
                keys = fe.ring_ref_keys(ring) + [("event-channel", str(ring.port)),
                                                 ("protocol", "x86_64-abi"),
                                                 ("num-ring-pages", pages)]
                if order is not None:
                    keys.append(("ring-page-order", order))
                fe.write(*keys)
                fe.set_state(INITIALISED)
                fe.wait_backend(lambda s: s == CLOSING, "Closing")
                self.assertIn("num-ring-pages", fe.backend("error") or "")
                fe.set_state(CLOSED)
                fe.wait_backend(lambda s: s == CLOSED, "Closed")
                fe.free_rings()
                fe.rm("num-ring-pages", "ring-page-order", "ring-ref0", "ring-ref1",
                      "ring-ref2", "ring-ref3")
                fe.set_state(INITIALISING)
                fe.wait_backend(lambda s: s == INITWAIT, "InitWait")
        # Good: four pages by num-ring-pages alone, then one page by it.
        for pages in (4, 1):
            ring = fe.make_ring(pages)
            fe.write(*fe.ring_ref_keys(ring), ("event-channel", str(ring.port)),
                     ("protocol", "x86_64-abi"), ("num-ring-pages", str(pages)))
            fe.set_state(INITIALISED)
            fe.wait_backend(lambda s: s == CONNECTED, "Connected")
            self.assertIn(f"1 queue(s) of {pages} ring page(s)", self.dm_log())
            self.assertEqual(ring.size, ring_entries(pages, ENTRY_64))
            xfer = Transfer(self, ring, DEVID & 0xffff, write_grants_readonly=False)
            buf = self.fresh_pages(1)[0]
            self.assertEqual(xfer.rw(OP_READ, pages, 16, buf, PAGE), (pages, OP_READ, RSP_OKAY))
            self.assertEqual(self.guest.read(buf, PAGE), self.pattern[16 * SECTOR:16 * SECTOR + PAGE])
            fe.set_state(CLOSING)
            fe.wait_backend(lambda s: s == CLOSING, "Closing")
            fe.set_state(CLOSED)
            fe.wait_backend(lambda s: s == CLOSED, "Closed")
            fe.free_rings()
            fe.rm("num-ring-pages", "ring-ref0", "ring-ref1", "ring-ref2", "ring-ref3", "ring-ref")
            fe.set_state(INITIALISING)
            fe.wait_backend(lambda s: s == INITWAIT, "InitWait")


if __name__ == "__main__":
    unittest.main()
