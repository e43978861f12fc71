# SPDX-License-Identifier: MIT
"""QMP as libxl speaks it to ioreqd under xensim: the two monitors libxl
passes (-chardev socket + -mon) and the -qmp shorthand, the greeting,
capabilities negotiation, the commands libxl sends (query-status, stop and
cont, which disable and enable the ioreq server as QEMU does on Xen,
xen-set-global-dirty-log reporting ioreqd's own RAM writes, quit...), hostile input (malformed JSON, non-objects, wrong types, a huge
message, deep nesting, binary junk) answered with QMP's errors while the
session goes on, clients one after another, -S and -smp against the domain."""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

from ioreqd_proc import IOREQD, Ioreqd, run_ioreqd, stop_all
from xensim import Xensim, stop_process


class Qmp:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.buf = b""
        self.events = []
        self.greeting = self.recv()

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP connection closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def answer(self):
        while True:
            msg = self.recv()
            if "event" in msg:
                self.events.append(msg)
            else:
                return msg

    def send_raw(self, data):
        self.sock.sendall(data)

    def cmd(self, name, args=None, id=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if id is not None:
            msg["id"] = id
        self.send_raw(json.dumps(msg).encode() + b"\r\n")
        return self.answer()

    def negotiate(self):
        self.assertOk(self.cmd("qmp_capabilities"))

    @staticmethod
    def assertOk(r):
        if "return" not in r:
            raise AssertionError(f"QMP error: {r}")
        return r["return"]

    def close(self):
        self.sock.close()


class QmpTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=32M,vcpus=2"])
        self.procs = []

    def tearDown(self):
        try:
            stop_all(self.procs, skip_exited=True)
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def start(self, extra=(), name="ioreqd"):
        log = self.path("con.log")
        args = ["-chardev", f"socket,id=libxl-cmd,path={self.path('qmp-libxl-1')},server=on,wait=off",
                "-mon", "chardev=libxl-cmd,mode=control",
                "-chardev", f"socket,id=libxenstat-cmd,path={self.path('qmp-libxenstat-1')},"
                            "server=on,wait=off",
                "-mon", "chardev=libxenstat-cmd,mode=control",
                "-qmp", f"unix:{self.path('qmp-extra')},server=on,wait=off",
                "-no-user-config", "-xen-attach", "-no-shutdown", "-vnc", "none",
                "-boot", "order=cd", "-smp", "2,maxcpus=2", "-net", "none",
                "-chardev", f"file,id=c,path={log}", "-device", "isa-debugcon,chardev=c",
                ] + list(extra)
        p = Ioreqd(self.tmp.name, 1, args, name=name)
        self.procs.append(p)
        return p

    def served(self, q):
        """Whether a port write reaches ioreqd (a disabled server gets nothing)."""
        return int(q.cmd("inb 0xe9").split()[1], 16) == 0xE9

    def test_libxl_session(self):
        self.start()
        q = self.sim.qtest(1)
        self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
        m = Qmp(self.path("qmp-libxl-1"))
        g = m.greeting["QMP"]
        self.assertEqual(g["capabilities"], [])
        self.assertEqual(sorted(g["version"]["qemu"]), ["major", "micro", "minor"])
        self.assertTrue(g["version"]["package"].startswith("ioreqd "))
        # nothing but qmp_capabilities before negotiation, as QEMU
        r = m.cmd("query-status", id=1)
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["id"], 1)
        r = m.cmd("qmp_capabilities", {"enable": ["oob"]})
        self.assertEqual(r["error"]["class"], "GenericError")
        m.negotiate()
        r = m.cmd("qmp_capabilities")
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        st = m.assertOk(m.cmd("query-status", id="a"))
        self.assertEqual(st, {"running": True, "singlestep": False, "status": "running"})
        self.assertTrue(self.served(q))
        # stop: the ioreq server is disabled, the guest's port reads all-ones
        m.assertOk(m.cmd("stop"))
        self.assertEqual(m.assertOk(m.cmd("query-status"))["status"], "paused")
        self.assertFalse(self.served(q))
        m.assertOk(m.cmd("stop"))
        m.assertOk(m.cmd("cont"))
        self.assertTrue(self.served(q))
        self.assertEqual([e["event"] for e in m.events], ["STOP", "RESUME"])
        v = m.assertOk(m.cmd("query-version"))
        self.assertEqual(v["qemu"], g["version"]["qemu"])
        self.assertEqual(m.assertOk(m.cmd("query-vnc")), {"enabled": False})
        names = {c["name"] for c in m.assertOk(m.cmd("query-commands"))}
        self.assertTrue({"qmp_capabilities", "query-status", "stop", "cont", "quit",
                         "xen-set-global-dirty-log", "xen-save-devices-state"} <= names)
        r = m.cmd("xen-save-devices-state", {"filename": "/tmp/x", "live": False})
        self.assertEqual(r["error"]["class"], "GenericError")
        self.assertIn("not supported", r["error"]["desc"])
        r = m.cmd("xen-load-devices-state", {"filename": "/tmp/x"})
        self.assertIn("not supported", r["error"]["desc"])
        r = m.cmd("no-such-command", id=[1, {"x": 2}])
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["id"], [1, {"x": 2}])
        # the second monitor (libxenstat's) and the -qmp one work too
        m2 = Qmp(self.path("qmp-libxenstat-1"))
        m2.negotiate()
        self.assertEqual(m2.assertOk(m2.cmd("query-status"))["status"], "running")
        m2.close()
        m3 = Qmp(self.path("qmp-extra"))
        m3.negotiate()
        m3.close()
        m.close()

    def test_hostile_input(self):
        self.start()
        self.assertEqual(self.sim.qtest(1).cmd("xen_wait_servers 1 20000"), "OK")
        m = Qmp(self.path("qmp-libxl-1"))
        m.negotiate()

        def err(raw):
            m.send_raw(raw)
            r = m.answer()
            self.assertIn("error", r, raw)
            return r["error"]["class"], r["error"]["desc"]

        self.assertEqual(err(b"{]\n")[0], "GenericError")
        m.send_raw(b"}")  # a stray close bracket
        self.assertEqual(m.answer()["error"]["class"], "GenericError")
        self.assertEqual(err(b"3\n"), ("GenericError", "QMP input must be a JSON object"))
        self.assertEqual(err(b"[1, 2]"), ("GenericError", "QMP input must be a JSON object"))
        self.assertEqual(err(b'"hello"'), ("GenericError", "QMP input must be a JSON object"))
        self.assertEqual(err(b'{"arguments": {}}'),
                         ("GenericError", "QMP input lacks member 'execute'"))
        self.assertEqual(err(b'{"execute": 5}'),
                         ("GenericError", "QMP input member 'execute' must be a string"))
        self.assertEqual(err(b'{"execute": "stop", "arguments": []}'),
                         ("GenericError", "QMP input member 'arguments' must be an object"))
        self.assertEqual(err(b'{"execute": "stop", "colour": 1}'),
                         ("GenericError", "QMP input member 'colour' is unexpected"))
        self.assertEqual(err(b'{"execute": "stop", "arguments": {"now": true}}'),
                         ("GenericError", "Parameter 'now' is unexpected"))
        self.assertEqual(err(b'{"execute": "xen-set-global-dirty-log"}'),
                         ("GenericError", "Parameter 'enable' is missing"))
        self.assertEqual(
            err(b'{"execute": "xen-set-global-dirty-log", "arguments": {"enable": "yes"}}'),
            ("GenericError", "Invalid parameter type for 'enable', expected: boolean"))
        self.assertEqual(err(b'{"execute": "xen-save-devices-state", "arguments": {"filename": 1}}'),
                         ("GenericError", "Invalid parameter type for 'filename', expected: string"))
        self.assertEqual(err(b'{"execute": "\xff\xfe"}')[0], "GenericError")
        self.assertEqual(err(b'{"execute": "st\x00op"}')[0], "GenericError")
        # a message past the cap, then too deep a nesting: an error each, no crash
        cls, desc = err(b'{"execute": "stop", "id": "' + b"x" * (200 * 1024) + b'"}')
        self.assertEqual(cls, "GenericError")
        self.assertIn("larger than", desc)
        cls, desc = err(b"[" * 1000 + b"]" * 1000)
        self.assertIn("nesting", desc)
        # braces inside strings do not confuse the framing
        r = m.cmd("no-such", id="}{][")
        self.assertEqual((r["error"]["class"], r["id"]), ("CommandNotFound", "}{]["))
        # two commands in one write, and one split across writes
        m.send_raw(b'{"execute": "query-vnc", "id": 1}{"execute": "query-vnc", "id": 2}')
        self.assertEqual([m.answer()["id"], m.answer()["id"]], [1, 2])
        m.send_raw(b'{"execute": "query-st')
        time.sleep(0.05)
        m.send_raw(b'atus", "id": 3}')
        self.assertEqual(m.answer()["id"], 3)
        m.close()
        # random junk from a new client: it is answered or dropped, never a crash
        junk = Qmp(self.path("qmp-libxl-1"))
        junk.send_raw(os.urandom(64 * 1024))
        junk.close()
        # a client that never reads its answers is dropped, the next one is served
        flood = Qmp(self.path("qmp-libxl-1"))
        flood.negotiate()
        flood.sock.setblocking(False)
        sent = 0
        try:
            for _ in range(20000):
                sent += flood.sock.send(b'{"execute": "query-commands"}')
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass
        flood.close()
        m = Qmp(self.path("qmp-libxl-1"))
        m.negotiate()
        self.assertEqual(m.assertOk(m.cmd("query-status"))["status"], "running")
        m.close()

    def test_clients_in_turn_and_quit(self):
        p = self.start()
        self.assertEqual(self.sim.qtest(1).cmd("xen_wait_servers 1 20000"), "OK")
        first = Qmp(self.path("qmp-libxl-1"))
        # a second client waits in the backlog until the first leaves
        second = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        second.settimeout(0.3)
        second.connect(self.path("qmp-libxl-1"))
        with self.assertRaises(socket.timeout):
            second.recv(1)
        first.close()
        second.settimeout(10)
        self.assertIn(b'"QMP"', second.recv(4096))
        second.close()
        for _ in range(3):
            c = Qmp(self.path("qmp-libxl-1"))
            c.negotiate()
            c.close()
        m = Qmp(self.path("qmp-libxl-1"))
        m.negotiate()
        self.assertEqual(m.cmd("quit", id=7), {"return": {}, "id": 7})
        self.assertEqual(p.wait_exit(), 0)
        self.assertEqual(self.sim.qtest(1).cmd("xen_servers"), "OK 0")
        m.close()

    def test_start_paused(self):
        self.start(["-S"])
        q = self.sim.qtest(1)
        m = Qmp(self.path("qmp-libxl-1"))
        m.negotiate()
        st = m.assertOk(m.cmd("query-status"))
        self.assertEqual(st, {"running": False, "singlestep": False, "status": "prelaunch"})
        self.assertFalse(self.served(q))  # created, not enabled, until cont
        m.assertOk(m.cmd("cont"))
        self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
        self.assertTrue(self.served(q))
        m.close()

    def test_listening_fd_from_libxl(self):
        """Newer libxl opens the QMP socket itself and passes fd=N with -S."""
        path = self.path("qmp-fd")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(path)
        lsock.listen(1)
        fd = lsock.fileno()
        err = tempfile.TemporaryFile(mode="w+")
        proc = subprocess.Popen(
            [IOREQD, "-xen-domid", "1", "-accel", f"xensim,dir={self.tmp.name}", "-S",
             "-chardev", f"socket,id=libxl-cmd,fd={fd},server=on,wait=off",
             "-mon", "chardev=libxl-cmd,mode=control", "-chardev", "null,id=n",
             "-device", "isa-debugcon,chardev=n"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, pass_fds=[fd])
        lsock.close()  # ioreqd holds it now

        def read_err():
            err.seek(0)
            return err.read()
        try:
            m = Qmp(path)
            m.negotiate()
            self.assertEqual(m.assertOk(m.cmd("query-status"))["status"], "prelaunch")
            m.assertOk(m.cmd("cont"))
            q = self.sim.qtest(1)
            self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
            self.assertTrue(self.served(q))
            m.close()
        finally:
            stop_process(proc, "ioreqd fd=", read_err)
            err.close()

    def test_dirty_log(self):
        """xen-set-global-dirty-log: while on, ioreqd reports what it writes
        into guest RAM (here a rep insb into memory) with modified_memory."""
        self.start()
        q = self.sim.qtest(1)
        self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
        m = Qmp(self.path("qmp-libxl-1"))
        m.negotiate()
        self.assertEqual(q.cmd("xen_rep_pio in 0xe9 1 16 0x10000 0"), "OK")
        self.assertEqual(q.cmd("xen_modified_pages"), "OK 0")
        m.assertOk(m.cmd("xen-set-global-dirty-log", {"enable": True}))
        self.assertEqual(q.cmd("xen_rep_pio in 0xe9 1 16 0x10ff8 0"), "OK")  # 2 pages
        self.assertEqual(q.cmd("readq 0x10ff8"), "OK 0xe9e9e9e9e9e9e9e9")
        self.assertEqual(q.cmd("xen_modified_pages"), "OK 2")
        m.assertOk(m.cmd("xen-set-global-dirty-log", {"enable": False}))
        self.assertEqual(q.cmd("xen_rep_pio in 0xe9 1 16 0x10000 0"), "OK")
        self.assertEqual(q.cmd("xen_modified_pages"), "OK 2")
        m.close()

    def test_option_errors(self):
        base = ["-xen-domid", "1", "-accel", f"xensim,dir={self.tmp.name}"]
        cases = [
            (["-smp", "4"], "ioreqd: -smp: 4 vCPUs (maxcpus) given, but the domain has 2: "
                            "Xen decides the count\n"),
            (["-vnc", "127.0.0.1:0,to=99"],
             "ioreqd: -vnc 127.0.0.1:0,to=99: ioreqd has no VNC server yet; only -vnc none is "
             "accepted (vnc=0 in xl.cfg)\n"),
            (["-chardev", "socket,id=m,path=/tmp/x,server=on", "-mon", "chardev=m,mode=control"],
             "ioreqd: -chardev socket,id=m,path=/tmp/x,server=on: wait=on is not supported: "
             "use wait=off\n"),
            (["-chardev", "socket,id=m,fd=0,server=on,wait=off", "-mon", "chardev=m,mode=control"],
             "ioreqd: -chardev socket,id=m,fd=0,server=on,wait=off: fd= is not a listening "
             "stream socket\n"),
        ]
        for args, message in cases:
            status, err = run_ioreqd(base + args)
            self.assertEqual(status, 1, args)
            self.assertEqual(err, message)
        # ioreqd took its server down after the -smp refusal
        self.assertEqual(self.sim.qtest(1).cmd("xen_servers"), "OK 0")


if __name__ == "__main__":
    unittest.main()
