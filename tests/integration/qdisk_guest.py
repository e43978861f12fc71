# SPDX-License-Identifier: MIT
"""A scripted PV block frontend for the qdisk tests: the guest's grant
table v1 and event channels through xensim's qtest socket, blkif requests
written byte by byte into guest memory, and a test case that starts xensim
with one domain and a 4 MiB image for ioreqd to serve.

    ring = GuestRing(guest, gpa, pages, port)   # one shared ring
    ring.init(); ring.submit(request(OP_READ, 1, 0, [(DATA_REF, 0, 7)]))
    ring.responses(1)                          # [(id, op, status)]

QdiskGuestCase (no tests of its own) carries the toolstack and frontend
steps the qdisk ring tests share:
add_disk/start (the backend keys), connect (a Linux-style frontend
handshake), submit/responses/one on the current queue."""
import os
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from ioreqd_proc import Ioreqd
from xensim import Xensim

DOMID = 3
DEVID = 51712
PAGE = 4096
TABLE = 0x100000          # grant table frame
RING = 0x200000           # the shared ring(s), 16 pages each
DATA = 0x300000           # data pages, granted as refs DATA_REF + i
RING_REF = 1
DATA_REF = 8
GTF_permit_access = 1
GTF_readonly = 4
GTF_reading, GTF_writing = 1 << 3, 1 << 4

OP_READ, OP_WRITE, OP_BARRIER, OP_FLUSH, OP_DISCARD, OP_INDIRECT = 0, 1, 2, 3, 5, 6
RSP_OKAY, RSP_ERROR, RSP_EOPNOTSUPP = 0, -1, -2

BE = f"/local/domain/0/backend/qdisk/{DOMID}/{DEVID}"
FE = f"/local/domain/{DOMID}/device/vbd/{DEVID}"

RING_HEADER = 64          # req_prod, req_event, rsp_prod, rsp_event, padding
ENTRY_64, ENTRY_X86_32 = 112, 108


def request(op, rid, sector, segs, nr_segments=None, handle=DEVID & 0xffff):
    """A 64-bit blkif_request: segs are (gref, first_sect, last_sect)."""
    raw = struct.pack("<BBHxxxxQQ", op, len(segs) if nr_segments is None else nr_segments,
                      handle, rid, sector)
    for gref, first, last in segs:
        raw += struct.pack("<IBBxx", gref, first, last)
    return raw.ljust(ENTRY_64, b"\0")


def request32(op, rid, sector, segs):
    """The same request as a 32-bit x86 frontend lays it out."""
    raw = struct.pack("<BBHQQ", op, len(segs), DEVID & 0xffff, rid, sector)
    for gref, first, last in segs:
        raw += struct.pack("<IBBxx", gref, first, last)
    return raw.ljust(ENTRY_X86_32, b"\0")


def indirect(op, rid, sector, nr_segments, grefs, handle=DEVID & 0xffff):
    raw = struct.pack("<BBHxxxxQQHxx", OP_INDIRECT, op, nr_segments, rid, sector, handle)
    raw += struct.pack("<8I", *(list(grefs) + [0] * (8 - len(grefs))))
    return raw.ljust(ENTRY_64, b"\0")


def discard(rid, sector, nr_sectors, flag=0, handle=DEVID & 0xffff):
    return struct.pack("<BBHxxxxQQQ", OP_DISCARD, flag, handle, rid, sector,
                       nr_sectors).ljust(ENTRY_64, b"\0")


def segments(raw_segs):
    """An indirect page's content: (gref, first_sect, last_sect) each."""
    return b"".join(struct.pack("<IBBxx", g, f, l) for g, f, l in raw_segs)


def ring_entries(pages, entry):
    """__RING_SIZE: the largest power of two that fits after the header."""
    size = 1
    while size * 2 <= (pages * PAGE - RING_HEADER) // entry:
        size *= 2
    return size


class XenstoreError(RuntimeError):
    pass


class XenstoreConnection:
    """The xenstore wire protocol (<xen/io/xs_wire.h>) on one of xensim's
    sockets (DIR/domN.xenstore: as that guest), for frontends played in
    Python: one round trip an operation where toolstack.Xenstore starts an
    xs-batch process (about 90 ms under ASan). Same batch/read/read_dir."""

    XS_READ, XS_TRANSACTION_START, XS_TRANSACTION_END = 2, 6, 7
    XS_WRITE, XS_RM, XS_WATCH_EVENT, XS_ERROR = 11, 13, 15, 16

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.req_id = 0

    def close(self):
        self.sock.close()

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise XenstoreError("xenstore closed the connection")
            buf += chunk
        return buf

    def call(self, op, payload, tx=0):
        self.req_id += 1
        self.sock.sendall(struct.pack("<IIII", op, self.req_id, tx, len(payload)) + payload)
        while True:
            op_back, _, _, n = struct.unpack("<IIII", self._recv(16))
            body = self._recv(n)
            if op_back != self.XS_WATCH_EVENT:
                break
        if op_back == self.XS_ERROR:
            raise XenstoreError(body.rstrip(b"\0").decode())
        return body

    def _op(self, tx, op):
        kind, path = op[0], op[1].encode() + b"\0"
        if kind == "write":
            self.call(self.XS_WRITE, path + op[2].encode(), tx)
        elif kind == "rm":
            try:
                self.call(self.XS_RM, path, tx)
            except XenstoreError as e:
                if str(e) != "ENOENT":
                    raise
        elif kind == "read":
            try:
                return self.call(self.XS_READ, path, tx).decode()
            except XenstoreError as e:
                if str(e) != "ENOENT":
                    raise
                return None
        else:
            raise ValueError(f"unknown xenstore op {kind}")
        return None

    def batch(self, ops):
        """ops: ("write", path, value), ("rm", path), ("read", path) in one
        transaction (retried on EAGAIN); the reads' values (None: absent)."""
        for _ in range(100):
            tx = int(self.call(self.XS_TRANSACTION_START, b"\0").rstrip(b"\0"))
            results = [self._op(tx, op) for op in ops]
            try:
                self.call(self.XS_TRANSACTION_END, b"T\0", tx)
            except XenstoreError as e:
                if str(e) == "EAGAIN":
                    continue
                raise
            return [r for op, r in zip(ops, results) if op[0] == "read"]
        raise XenstoreError("transaction kept failing with EAGAIN")

    def read(self, path):
        return self._op(0, ("read", path))

    def read_dir(self, path, keys):
        return dict(zip(keys, self.batch([("read", f"{path}/{k}") for k in keys])))


class Guest:
    """The guest's memory, grant table and event channels (qtest)."""

    def __init__(self, q):
        self.q = q

    def setup_grant_table(self, gpa=TABLE, frames=1):
        self.q.ok(f"xen_gnttab_setup {gpa:#x} {frames}")
        self.table = gpa

    def grant(self, ref, gpa, readonly=False):
        flags = GTF_permit_access | (GTF_readonly if readonly else 0)
        self.q.ok(f"writeq {self.table + 8 * ref:#x} {(gpa >> 12) << 32 | flags:#x}")

    def end_access(self, ref):
        self.q.ok(f"writeq {self.table + 8 * ref:#x} 0")

    def grant_flags(self, ref):
        return self.q.ok(f"readw {self.table + 8 * ref:#x}")

    def write(self, gpa, data):
        for off in range(0, len(data), 1024):  # qtest lines are bounded
            chunk = data[off:off + 1024]
            self.q.ok(f"write {gpa + off:#x} {len(chunk)} 0x{chunk.hex()}")

    def read(self, gpa, n):
        r = self.q.cmd(f"read {gpa:#x} {n}")
        if not r.startswith("OK 0x"):
            raise AssertionError(f"read {gpa:#x} {n}: {r}")
        return bytes.fromhex(r[5:])

    def alloc_port(self):
        return self.q.ok("xen_evtchn_alloc_unbound 0")

    def close_port(self, port):
        self.q.ok(f"xen_evtchn_close {port}")


class GuestRing:
    """One shared blkif ring in guest memory at gpa (pages of it), signalled
    through port. entry: 112 (64-bit) or 108 (x86_32)."""

    def __init__(self, guest, gpa, pages, port, entry=ENTRY_64, context=lambda: ""):
        self.guest, self.ring, self.pages, self.port, self.entry = guest, gpa, pages, port, entry
        self.size = ring_entries(pages, entry)
        self.req_prod = 0
        self.rsp_cons = 0
        self.context = context  # more text for a failure (ioreqd's log)

    def init(self):
        """SHARED_RING_INIT: indexes 0, req_event and rsp_event 1."""
        self.guest.write(self.ring, struct.pack("<IIII", 0, 1, 0, 1))

    def slot(self, idx):
        return self.ring + RING_HEADER + (idx % self.size) * self.entry

    def post(self, *reqs):
        """Writes requests and publishes req_prod, without an event."""
        for raw in reqs:
            self.guest.write(self.slot(self.req_prod), raw[:self.entry])
            self.req_prod += 1
        self.guest.q.ok(f"writel {self.ring:#x} {self.req_prod:#x}")

    def submit(self, *reqs):
        self.post(*reqs)
        self.guest.q.ok(f"xen_evtchn_send {self.port}")

    def responses(self, n, timeout=10):
        """The next n responses as (id, op, status)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            rsp_prod = struct.unpack("<I", self.guest.read(self.ring + 8, 4))[0]
            while self.rsp_cons != rsp_prod and len(out) < n:
                raw = self.guest.read(self.slot(self.rsp_cons), 12)
                out.append(struct.unpack("<QBxh", raw))
                self.rsp_cons += 1
            if len(out) < n:
                if time.monotonic() > deadline:
                    raise AssertionError(f"only {len(out)} of {n} responses\n{self.context()}")
                self.guest.q.event(timeout=0.2)
        # Ask for an event at the next response, as a frontend does.
        self.guest.q.ok(f"writel {self.ring + 12:#x} {self.rsp_cons + 1:#x}")
        return out

    def one(self, raw):
        self.submit(raw)
        return self.responses(1)[0]


class QdiskGuestCase(unittest.TestCase):
    """xensim with domain DOMID (64 MiB, one vCPU), its qtest connection,
    and self.image: 4 MiB of self.pattern for the disk."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.image = os.path.join(self.tmp.name, "disk.img")
        self.pattern = bytes((i * 7 + (i >> 9)) & 0xff for i in range(1 << 20))
        with open(self.image, "wb") as f:
            f.write(self.pattern * 4)  # 4 MiB
        self.sim = Xensim(self.tmp.name, [f"{DOMID},mem=64M,vcpus=1"])
        self.q = self.sim.qtest(DOMID)
        self.guest = Guest(self.q)
        self.dm = None

    def tearDown(self):
        if self.dm:
            self.dm.stop()
        self.sim.stop()
        self.tmp.cleanup()

    def dm_log(self):
        return self.dm.stderr() if self.dm else ""

    # -- xenstore, as the toolstack (dom0) --
    def xs(self, *args, check=True):
        env = dict(os.environ, XENSTORED_PATH=os.path.join(self.tmp.name, "xenstore"))
        p = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=10)
        if check and p.returncode != 0:
            raise AssertionError(f"{args}: {p.stderr}")
        return p.stdout.strip()

    def read_key(self, path):
        p = self.xs("xenstore-read", path, check=False)
        return p if p else None

    def wait_key(self, path, want, timeout=20):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.read_key(path)
            if value == want:
                return
            time.sleep(0.02)
        self.fail(f"{path} is {value!r}, waited for {want!r}\n{self.dm_log()}")

    def wait_log(self, text, timeout=10):
        """ioreqd logs after its xenstore write: wait for the line."""
        deadline = time.monotonic() + timeout
        while text not in self.dm.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.dm.stderr())

    def add_disk(self, mode="w", **overrides):
        """The keys libxl writes for a qdisk vbd; state=1 goes last."""
        self.xs("xenstore-write",
                f"{FE}/backend", BE, f"{FE}/backend-id", "0", f"{FE}/state", "1",
                f"{FE}/virtual-device", str(DEVID), f"{FE}/device-type", "disk")
        keys = {"frontend": FE, "frontend-id": str(DOMID), "online": "1",
                "params": f"raw:{self.image}", "mode": mode, "device-type": "disk",
                "removable": "0"}
        keys.update({k.replace("_", "-"): v for k, v in overrides.items()})
        args = [x for k, v in keys.items() for x in (f"{BE}/{k}", v)]
        self.xs("xenstore-write", *args, f"{BE}/state", "1")

    def start(self, **kw):
        self.add_disk(**kw)
        self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
        self.wait_key(f"{BE}/state", "2")

    # -- the guest's side --
    def grant(self, ref, gpa, readonly=False):
        self.guest.grant(ref, gpa, readonly)

    def write_mem(self, gpa, data):
        self.guest.write(gpa, data)

    def read_mem(self, gpa, n):
        return self.guest.read(gpa, n)

    def wait_grants_released(self, refs, timeout=10):
        """No backend holds any of refs (mapped or copying). A copy's bits
        clear when xensim reads COPY_DONE, which needs no reply, so possibly
        just after the response (docs/xensim.md): wait for them."""
        deadline = time.monotonic() + timeout
        while True:
            held = {r: f for r in refs
                    if (f := self.guest.grant_flags(r)) & (GTF_reading | GTF_writing)}
            if not held or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(held, {}, "grants still in use (ref: flags)")

    def connect(self, protocol="x86_64-abi", order=0, queues=1, persistent=False, extra=()):
        """The frontend's half of the handshake; returns when Connected."""
        self.guest.setup_grant_table(TABLE, 1)
        for i in range(16):
            self.grant(DATA_REF + i, DATA + i * PAGE)
        entry = ENTRY_X86_32 if protocol == "x86_32-abi" else ENTRY_64
        pages = 1 << order
        self.queues = []
        keys = [f"{FE}/protocol", protocol]
        if order:
            keys += [f"{FE}/ring-page-order", str(order)]
        if queues > 1:
            keys += [f"{FE}/multi-queue-num-queues", str(queues)]
        if persistent:
            keys += [f"{FE}/feature-persistent", "1"]
        for qi in range(queues):
            ring = GuestRing(self.guest, RING + qi * 16 * PAGE, pages, self.guest.alloc_port(),
                             entry, context=self.dm_log)
            ring.init()
            prefix = f"{FE}/queue-{qi}/" if queues > 1 else f"{FE}/"
            for i in range(pages):
                ref = RING_REF + 100 + qi * 16 + i
                self.grant(ref, ring.ring + i * PAGE)
                name = "ring-ref" if pages == 1 else f"ring-ref{i}"
                keys += [prefix + name, str(ref)]
            keys += [prefix + "event-channel", str(ring.port)]
            self.queues.append(ring)
        self.use_queue(0)
        self.xs("xenstore-write", *keys, *extra, f"{FE}/state", "3")
        self.wait_key(f"{BE}/state", "4")
        self.xs("xenstore-write", f"{FE}/state", "4")

    def use_queue(self, qi):
        self.cur = self.queues[qi]

    def slot(self, idx):
        return self.cur.slot(idx)

    def submit(self, *reqs):
        self.cur.submit(*reqs)

    def responses(self, n, timeout=10):
        return self.cur.responses(n, timeout)

    @property
    def port(self):
        return self.cur.port

    @property
    def req_prod(self):
        return self.cur.req_prod

    def one(self, raw):
        return self.cur.one(raw)
