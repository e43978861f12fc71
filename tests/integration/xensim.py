# SPDX-License-Identifier: MIT
"""Test harness for xensim (stdlib only).

    sim = Xensim(tmpdir, ["1,mem=64M,vcpus=2"])   # waits for "xensim: ready"
    q = sim.qtest(1); q.cmd("readl 0x1000")        # -> "OK 0x..."
    ctl = sim.control(); ctl.call(OP_OPEN, 1, 1)   # raw control socket
    dm = FakeDeviceModel(sim.dir, 1); ...           # a device model in Python
    sim.stop()                                      # SIGTERM, exit 0, no sanitizer report

Qtest keeps asynchronous lines (IRQ ..., EVTCHN ...) apart from replies.
"""
import array
import errno
import mmap
import os
import queue
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

XENSIM = os.environ.get("XENSIM", "build/contrib/xensim/xensim")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")

# protocol.h
PROTOCOL_VERSION = 1
OP_OPEN, OP_CREATE_SERVER, OP_GET_SERVER_PAGES, OP_SET_SERVER_STATE = 1, 2, 3, 4
OP_MAP_RANGE, OP_UNMAP_RANGE, OP_DESTROY_SERVER = 5, 6, 7
OP_EVTCHN_BIND, OP_EVTCHN_UNBIND = 8, 9
OP_SET_ISA_IRQ, OP_SET_PCI_INTX, OP_SET_PCI_LINK_ROUTE, OP_INJECT_MSI = 10, 11, 12, 13
OP_SET_SPI, OP_SHUTDOWN, OP_RESTRICT = 14, 15, 16
OP_GRANT_MAP, OP_GRANT_UNMAP, OP_GRANT_COPY, OP_GRANT_COPY_DONE = 17, 18, 19, 20
GRANT_MAX_REFS, GRANT_MAX_COPY_SEGS = 1024, 1024
GRANT_COPY_SEG = struct.Struct("<IHHII")     # ref offset len flags reserved
GRANT_COPY_RESULT = struct.Struct("<iIQ")    # status reserved offset
RANGE_PORT, RANGE_MMIO, RANGE_PCI = 0, 1, 2
MAX_SERVERS, MAX_RANGES, MAX_FDS = 8, 256, 4
REQUEST = struct.Struct("<II4Q")
REPLY = struct.Struct("<iI2Q6Q")

# <xen/hvm/ioreq.h>
IOREQ = struct.Struct("<QQIIIHBB")  # addr data count size vp_eport pad flags type
STATE_NONE, STATE_READY, STATE_INPROCESS, STATE_IORESP_READY = 0, 1, 2, 3
TYPE_PIO, TYPE_COPY, TYPE_PCI_CONFIG, TYPE_INVALIDATE = 0, 1, 2, 8
SLOTS_PER_BUFRING = 511


def check_no_sanitizer_report(name, text):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            raise AssertionError(f"{name}: sanitizer report:\n{text}")


def stop_process(proc, name, read_stderr, expect_status=0, timeout=20):
    """SIGTERM proc and wait; check it stopped in time, printed no sanitizer
    report and exited with expect_status (None: any). Returns its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name} did not stop on SIGTERM:\n{read_stderr()}")
    text = read_stderr()
    check_no_sanitizer_report(name, text)
    if expect_status is not None and status != expect_status:
        raise AssertionError(f"{name} exited {status}, expected {expect_status}:\n{text}")
    return text


def sbdf(bus, dev, fn=0, seg=0):
    return (seg << 16) | (bus << 8) | (dev << 3) | fn


def cf8(dev, reg, fn=0, bus=0):
    """CONFIG_ADDRESS for a config access, enable bit set."""
    return 0x80000000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xFC)


PIO_IN = {1: "inb", 2: "inw", 4: "inl"}
PIO_OUT = {1: "outb", 2: "outw", 4: "outl"}


class Xensim:
    """One xensim process in directory `dir` with the given --domain specs."""

    def __init__(self, dir, domains, binary=None, timeout=20):
        self.dir = dir
        self.binary = binary or XENSIM
        self.stderr_file = tempfile.TemporaryFile(mode="w+")
        args = [self.binary, "--dir", dir]
        for d in domains:
            args += ["--domain", d]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, text=True)
        self.lines = []
        self._clients = []
        self._stdout = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._stdout.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                self.proc.wait()
                text = self.stderr()
                self.stderr_file.close()
                self.proc.stdout.close()
                raise RuntimeError(f"xensim did not get ready:\n{text}")
            self.lines.append(line)
            if line == "xensim: ready":
                break

    def _read_stdout(self):
        try:
            for line in self.proc.stdout:
                self._stdout.put(line.rstrip("\n"))
        except (ValueError, OSError):  # closed by stop()
            pass
        self._stdout.put(None)

    def path(self, name):
        return os.path.join(self.dir, name)

    def stderr(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def qtest(self, domid):
        q = Qtest(self.path(f"dom{domid}.qtest"))
        self._clients.append(q)
        return q

    def control(self):
        c = Control(self.path("control"))
        self._clients.append(c)
        return c

    def alive(self):
        return self.proc.poll() is None

    def stop(self, expect_status=0, timeout=20):
        """SIGTERM; check the exit status and that no sanitizer report was
        printed. Returns stderr."""
        for c in self._clients:
            c.close()
        text = stop_process(self.proc, "xensim", self.stderr, expect_status, timeout)
        self.stderr_file.close()
        self.proc.stdout.close()
        return text

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


class Qtest:
    """A qtest connection: cmd() sends one line and returns its reply;
    asynchronous lines (IRQ ..., EVTCHN ...) go to events()."""

    ASYNC_PREFIXES = ("IRQ ", "EVTCHN ")

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.timeout = timeout
        self.replies = queue.Queue()
        self.async_lines = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.replies.put(None)
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(self.ASYNC_PREFIXES):
                    self.async_lines.put(text)
                else:
                    self.replies.put(text)

    def send_raw(self, data):
        self.sock.sendall(data)

    def reply(self, timeout=None):
        r = self.replies.get(timeout=timeout or self.timeout)
        if r is None:
            self.replies.put(None)  # stay closed for later callers
            raise ConnectionError("qtest connection closed")
        return r

    def cmd(self, line, timeout=None):
        with self._lock:
            self.sock.sendall(line.encode() + b"\n")
            return self.reply(timeout)

    def ok(self, line, timeout=None):
        """cmd() that must answer OK; returns the value after OK as int, if any."""
        r = self.cmd(line, timeout)
        if not r.startswith("OK"):
            raise AssertionError(f"{line!r} -> {r!r}")
        parts = r.split()
        return int(parts[1], 0) if len(parts) > 1 else None

    def cfg_read(self, dev, reg, size=4, fn=0):
        """PCI config read through 0xCF8/0xCFC, as a guest does it."""
        self.ok(f"outl 0xcf8 {cf8(dev, reg, fn):#x}")
        return self.ok(f"{PIO_IN[size]} {0xCFC + (reg & 3):#x}")

    def cfg_write(self, dev, reg, value, size=4, fn=0):
        self.ok(f"outl 0xcf8 {cf8(dev, reg, fn):#x}")
        self.ok(f"{PIO_OUT[size]} {0xCFC + (reg & 3):#x} {value:#x}")

    def event(self, timeout=5):
        """The next asynchronous line, or None."""
        try:
            return self.async_lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def events(self):
        out = []
        while True:
            try:
                out.append(self.async_lines.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Reply:
    def __init__(self, raw, fds):
        f = REPLY.unpack(raw)
        self.status, self.nr_fds, self.val = f[0], f[1], (f[2], f[3])
        self.ram = [(f[4 + 3 * i], f[5 + 3 * i], f[6 + 3 * i]) for i in range(2)]
        self.fds = fds

    def close_fds(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class Control:
    """Raw control-socket client (protocol.h)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)

    def send_raw(self, data, timeout=10):
        """Send one datagram as is; returns the Reply."""
        self.sock.send(data)
        return self.recv(timeout)

    def recv(self, timeout=10):
        self.sock.settimeout(timeout)
        fds = array.array("i")
        msg, anc, flags, _ = self.sock.recvmsg(REPLY.size + 64,
                                               socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
        self.sock.settimeout(None)
        for level, type_, data in anc:
            if level == socket.SOL_SOCKET and type_ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
        if len(msg) != REPLY.size:
            for fd in fds:
                os.close(fd)
            raise ConnectionError(f"bad reply of {len(msg)} bytes")
        return Reply(msg, list(fds))

    def call(self, op, *args, reserved=0):
        a = list(args) + [0] * (4 - len(args))
        return self.send_raw(REQUEST.pack(op, reserved, *[x & (2**64 - 1) for x in a]))

    def call_items(self, op, args, items=b"", reserved=0, timeout=10):
        """A variable-length op (GRANT_MAP, GRANT_COPY): header + items.
        Returns (Reply, the bytes after the reply header)."""
        a = list(args) + [0] * (4 - len(args))
        self.sock.send(REQUEST.pack(op, reserved, *[x & (2**64 - 1) for x in a]) + items)
        self.sock.settimeout(timeout)
        msg = self.sock.recv(REPLY.size + 65536)
        self.sock.settimeout(None)
        if len(msg) < REPLY.size:
            raise ConnectionError(f"bad reply of {len(msg)} bytes")
        return Reply(msg[:REPLY.size], []), msg[REPLY.size:]

    def status(self, op, *args, **kw):
        """call() for ops that return no fds: just the status."""
        r = self.call(op, *args, **kw)
        r.close_fds()
        return r.status

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _eventfd_read(fd):
    try:
        os.read(fd, 8)
        return True
    except BlockingIOError:
        return False


def _eventfd_write(fd):
    os.write(fd, struct.pack("<Q", 1))


class FakeDeviceModel:
    """A device model in Python: one control connection, any number of
    servers, answering ioreqs in a thread through `handler(req) -> data`.

    req is a dict: server, vcpu, addr, data, count, size, type, dir (1 read),
    df, data_is_ptr. The default handler is a register file per (type, addr)
    for non-pointer accesses and, for data_is_ptr reps, reads/writes the
    guest RAM pattern `ptr_fill` (read) or records the bytes (write).
    `misbehave` = "backwards" answers by setting the state back to NONE.
    """

    def __init__(self, sim_dir, domid):
        self.ctl = Control(os.path.join(sim_dir, "control"))
        r = self.ctl.call(OP_OPEN, domid, PROTOCOL_VERSION)
        if r.status:
            raise OSError(-r.status, f"OPEN dom{domid}")
        self.nr_vcpus, self.arch = r.val
        self.ram_regions = [x for x in r.ram if x[1]]
        total = sum(size for _, size, _ in self.ram_regions)
        self.ram = mmap.mmap(r.fds[0], total)
        os.close(r.fds[0])
        self.servers = {}
        self.registers = {}
        self.written = []       # (type, addr, size, bytes) for pointer writes
        self.requests = []      # every request seen
        self.ptr_fill = 0xA5
        self.misbehave = None
        self.hold = threading.Event()  # set: leave requests unanswered
        self.handler = self.default_handler
        self._stop_r, self._stop_w = os.pipe()
        self._thread = None

    # -- set-up --------------------------------------------------------
    def create_server(self, buffered=False, ranges=(), enable=True):
        r = self.ctl.call(OP_CREATE_SERVER, 1 if buffered else 0)
        if r.status:
            raise OSError(-r.status, "CREATE_SERVER")
        sid = r.val[0]
        r = self.ctl.call(OP_GET_SERVER_PAGES, sid)
        if r.status:
            raise OSError(-r.status, "GET_SERVER_PAGES")
        slots = mmap.mmap(r.fds[0], 4096)
        bufpage = mmap.mmap(r.fds[1], 4096) if len(r.fds) > 1 else None
        buf_port = r.val[0]
        r.close_fds()
        ports = []
        for vcpu in range(self.nr_vcpus):
            eport = IOREQ.unpack_from(slots, 32 * vcpu)[4]
            b = self.ctl.call(OP_EVTCHN_BIND, eport)
            if b.status:
                raise OSError(-b.status, "EVTCHN_BIND")
            ports.append((b.val[0], b.fds[0], b.fds[1]))
        self.servers[sid] = {"slots": slots, "buf": bufpage, "buf_port": buf_port,
                             "ports": ports}
        for rtype, start, end in ranges:
            st = self.ctl.status(OP_MAP_RANGE, sid, rtype, start, end)
            if st:
                raise OSError(-st, "MAP_RANGE")
        if enable:
            st = self.ctl.status(OP_SET_SERVER_STATE, sid, 1)
            if st:
                raise OSError(-st, "SET_SERVER_STATE")
        return sid

    def start(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    # -- guest RAM -----------------------------------------------------
    def ram_offset(self, gpa, length):
        for start, size, offset in self.ram_regions:
            if start <= gpa and gpa + length <= start + size:
                return offset + gpa - start
        raise ValueError(f"gpa {gpa:#x} not RAM")

    def ram_read(self, gpa, length):
        off = self.ram_offset(gpa, length)
        return bytes(self.ram[off:off + length])

    def ram_write(self, gpa, data):
        off = self.ram_offset(gpa, len(data))
        self.ram[off:off + len(data)] = data

    # -- the ioreq loop ---------------------------------------------------
    def default_handler(self, req):
        key = (req["type"], req["addr"])
        if req["data_is_ptr"]:
            step = -req["size"] if req["df"] else req["size"]
            for i in range(req["count"]):
                gpa = req["data"] + i * step
                if req["dir"] == 1:
                    self.ram_write(gpa, bytes([self.ptr_fill]) * req["size"])
                else:
                    self.written.append((req["type"], req["addr"], req["size"],
                                         self.ram_read(gpa, req["size"])))
            return req["data"]
        if req["dir"] == 1:
            return self.registers.get(key, 0x1234 if req["type"] != TYPE_INVALIDATE else 0)
        self.registers[key] = req["data"]
        return req["data"]

    def _serve(self, sid, vcpu):
        srv = self.servers[sid]
        off = 32 * vcpu
        addr, data, count, size, eport, _, flags, rtype = IOREQ.unpack_from(srv["slots"], off)
        if flags & 0xF != STATE_READY:
            return
        srv["slots"][off + 30] = (flags & 0xF0) | STATE_INPROCESS
        req = {"server": sid, "vcpu": vcpu, "addr": addr, "data": data, "count": count,
               "size": size, "type": rtype, "dir": (flags >> 5) & 1, "df": (flags >> 6) & 1,
               "data_is_ptr": (flags >> 4) & 1}
        self.requests.append(req)
        if self.hold.is_set():
            return
        result = self.handler(req) & (2**64 - 1)
        struct.pack_into("<Q", srv["slots"], off + 8, result)
        state = STATE_NONE if self.misbehave == "backwards" else STATE_IORESP_READY
        srv["slots"][off + 30] = (flags & 0xF0) | state
        _eventfd_write(srv["ports"][vcpu][2])

    def _loop(self):
        while True:
            fds = {self._stop_r: None}
            for sid, srv in list(self.servers.items()):
                for vcpu, (_, from_guest, _) in enumerate(srv["ports"]):
                    fds[from_guest] = (sid, vcpu)
            ready, _, _ = select.select(list(fds), [], [])
            for fd in ready:
                if fds[fd] is None:
                    return
                if _eventfd_read(fd):
                    self._serve(*fds[fd])

    def buffered_entries(self, sid):
        """Drain the buffered ring: [(type, dir, size, addr, data)]."""
        page = self.servers[sid]["buf"]
        rp, wp = struct.unpack_from("<II", page, 0)
        out = []
        while rp != wp:
            lo, data = struct.unpack_from("<II", page, 8 + 8 * (rp % SLOTS_PER_BUFRING))
            out.append((lo & 0xFF, (lo >> 9) & 1, 1 << ((lo >> 10) & 3), lo >> 12, data))
            rp += 1
            struct.pack_into("<I", page, 0, rp)
        return out

    def close(self):
        """Close the control socket (xensim then destroys our servers) and stop."""
        os.write(self._stop_w, b"x")
        if self._thread:
            self._thread.join(5)
        self.ctl.close()
        for srv in self.servers.values():
            for _, a, b in srv["ports"]:
                os.close(a)
                os.close(b)
            srv["slots"].close()
            if srv["buf"]:
                srv["buf"].close()
        self.servers = {}
        self.ram.close()
        os.close(self._stop_r)
        os.close(self._stop_w)


