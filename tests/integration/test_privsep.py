# SPDX-License-Identifier: MIT
"""A restricted, deprivileged ioreqd (-xen-domid-restrict -runas -chroot)
keeps serving its guest, runs as the given user inside the chroot (checked
from /proc), and its hypervisor connection is refused every op on another
domain (mapping its RAM, creating a server and mapping ranges for it,
binding its event channels, its interrupts, grant ops) while an
unrestricted one may do them: shown on raw control connections and from
inside ioreqd itself (the IOREQD_TEST_FOREIGN_DOMID hook)."""
import errno
import mmap
import os
import re
import stat
import struct
import tempfile
import time
import unittest

from ioreqd_proc import Ioreqd, run_ioreqd, stop_all
from xensim import (OP_CREATE_SERVER, OP_DESTROY_SERVER, OP_EVTCHN_BIND, OP_GRANT_MAP,
                    OP_MAP_RANGE, OP_OPEN, OP_RESTRICT, OP_SET_ISA_IRQ, RANGE_PORT, Xensim)

NOBODY = 65534
OP_GET_RAM = 23
TARGET_OTHER = 0x80000000


def proc_status_ids(pid):
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = rest.split()
    return ids


@unittest.skipUnless(os.geteuid() == 0, "needs root to change user and chroot")
class PrivsepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=32M,vcpus=1", "2,mem=32M,vcpus=1"])
        self.jail = os.path.join(self.tmp.name, "jail")
        os.mkdir(self.jail)
        os.chmod(self.jail, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        self.procs = []

    def tearDown(self):
        try:
            stop_all(self.procs, skip_exited=True)
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    def start(self, args, name, probe_domid=None):
        # LeakSanitizer cannot stop the world without /proc inside the chroot
        os.environ["ASAN_OPTIONS"] = "detect_leaks=0"
        if probe_domid:
            os.environ["IOREQD_TEST_FOREIGN_DOMID"] = str(probe_domid)
        try:
            p = Ioreqd(self.tmp.name, 1, args, name=name)
        finally:
            del os.environ["ASAN_OPTIONS"]
            os.environ.pop("IOREQD_TEST_FOREIGN_DOMID", None)
        self.procs.append(p)
        return p

    def check_serving_deprivileged(self, p):
        q = self.sim.qtest(1)
        self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
        log = os.path.join(self.tmp.name, "con.log")
        q.cmd("outb 0xe9 0x50")
        self.assertEqual(int(q.cmd("inb 0xe9").split()[1], 16), 0xE9)
        with open(log, "rb") as f:
            self.assertEqual(f.read(), b"P")
        ids = proc_status_ids(p.pid)
        self.assertEqual(ids["Uid"], [str(NOBODY)] * 4)  # real, effective, saved, fs
        self.assertEqual(ids["Gid"], [str(NOBODY)] * 4)
        self.assertEqual(ids.get("Groups", []), [])
        self.assertEqual(os.readlink(f"/proc/{p.pid}/root"), self.jail)
        self.assertEqual(os.readlink(f"/proc/{p.pid}/cwd"), self.jail)
        # still serving after the checks, and stops cleanly
        q.cmd("outl 0xcf8 0x80001800")
        self.assertEqual(int(q.cmd("inl 0xcfc").split()[1], 16), 0x00051B36)

    def common_args(self):
        log = os.path.join(self.tmp.name, "con.log")
        return ["-chardev", f"file,id=c,path={log}", "-device", "isa-debugcon,chardev=c",
                "-device", "pci-testdev,addr=3"]

    def test_restrict_runas_chroot(self):
        p = self.start(["-xen-domid-restrict", "-runas", f"{NOBODY}:{NOBODY}",
                        "-chroot", self.jail] + self.common_args(), "restricted")
        self.check_serving_deprivileged(p)

    def test_run_with_spelling(self):
        p = self.start(["-xen-domid-restrict", "-run-with",
                        f"user={NOBODY}:{NOBODY},chroot={self.jail}"] + self.common_args(),
                       "run-with")
        self.check_serving_deprivileged(p)

    def test_bad_chroot_refuses_to_run(self):
        status, err = run_ioreqd(["-xen-domid", "1", "-accel", f"xensim,dir={self.tmp.name}",
                                  "-chroot", os.path.join(self.tmp.name, "missing"),
                                  "-device", "pci-testdev"])
        self.assertEqual(status, 1)
        self.assertIn("-chroot", err)
        # it took its server down on the way out
        self.assertEqual(self.sim.qtest(1).cmd("xen_servers"), "OK 0")

    def wait_probe(self, p):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(r"foreign-domain probe on dom2: (.*)", p.stderr())
            if m:
                return dict(kv.split("=") for kv in m.group(1).split())
            time.sleep(0.05)
        raise AssertionError(f"no probe line:\n{p.stderr()}")

    def test_restricted_ioreqd_cannot_touch_another_domain(self):
        p = self.start(["-xen-domid-restrict", "-runas", f"{NOBODY}:{NOBODY}",
                        "-chroot", self.jail] + self.common_args(), "restricted", probe_domid=2)
        probe = self.wait_probe(p)
        self.assertEqual(probe, {k: str(-errno.EPERM) for k in
                                 ("map_ram", "create_server", "map_range", "evtchn_bind",
                                  "isa_irq", "grant")})
        self.assertEqual(self.sim.qtest(2).cmd("xen_servers"), "OK 0")
        self.check_serving_deprivileged(p)  # its own guest is served all along

    def test_unrestricted_ioreqd_can(self):
        """The same probe without -xen-domid-restrict: the refusals above are
        the restriction's doing, not something else's."""
        p = self.start(self.common_args(), "unrestricted", probe_domid=2)
        probe = self.wait_probe(p)
        self.assertEqual(probe["map_ram"], "0")
        self.assertEqual(probe["create_server"], "0")
        self.assertEqual(probe["map_range"], "0")
        self.assertEqual(probe["isa_irq"], "0")
        self.assertEqual(probe["evtchn_bind"], "0")
        self.assertEqual(probe["grant"], str(-errno.EOPNOTSUPP))   # own domain only
        self.assertEqual(self.sim.qtest(2).cmd("xen_servers"), "OK 0")  # probe cleaned up

    def foreign_ops_status(self, ctl, target, port):
        """Every kind of op on `target`; returns {op: status}."""
        out = {}
        r = ctl.call(OP_GET_RAM, reserved=target)
        out["map_ram"] = r.status
        if r.status == 0:
            self.assertEqual(len(r.fds), 1)
            size = r.ram[0][1]
            with mmap.mmap(r.fds[0], size, mmap.MAP_SHARED, mmap.PROT_READ) as ram:
                out["ram_bytes"] = ram[0x5000:0x5004]
        r.close_fds()
        r = ctl.call(OP_CREATE_SERVER, 0, reserved=target)
        r.close_fds()
        out["create_server"] = r.status
        sid = r.val[0] if r.status == 0 else 0
        out["map_range"] = ctl.status(OP_MAP_RANGE, sid, RANGE_PORT, 0x80, 0x80, reserved=target)
        if r.status == 0:
            self.assertEqual(ctl.status(OP_DESTROY_SERVER, sid, reserved=target), 0)
        r = ctl.call(OP_EVTCHN_BIND, port, reserved=target)
        r.close_fds()
        out["evtchn_bind"] = r.status
        out["isa_irq"] = ctl.status(OP_SET_ISA_IRQ, 5, 0, reserved=target)
        r, _ = ctl.call_items(OP_GRANT_MAP, (1,), struct.pack("<I", 1), reserved=target)
        out["grant"] = r.status
        return out

    def test_restricted_connection_is_refused_other_domains(self):
        q1, q2 = self.sim.qtest(1), self.sim.qtest(2)
        self.assertEqual(q2.cmd("writel 0x5000 0x12345678"), "OK")
        port1 = int(q1.cmd("xen_evtchn_alloc_unbound 0").split()[1])
        port2 = int(q2.cmd("xen_evtchn_alloc_unbound 0").split()[1])
        ctl = self.sim.control()
        opened = ctl.call(OP_OPEN, 1, 1)
        opened.close_fds()
        self.assertEqual(opened.status, 0)
        # unrestricted, like any dom0 process: another domain is reachable
        ok = self.foreign_ops_status(ctl, TARGET_OTHER | 2, port2)
        self.assertEqual(ok["ram_bytes"], struct.pack("<I", 0x12345678))
        for op in ("map_ram", "create_server", "map_range", "evtchn_bind", "isa_irq"):
            self.assertEqual(ok[op], 0, op)
        self.assertEqual(ok["grant"], -errno.EOPNOTSUPP)
        self.assertEqual(ctl.status(OP_SET_ISA_IRQ, 5, 0, reserved=TARGET_OTHER | 9), -errno.ESRCH)
        self.assertEqual(ctl.status(OP_SET_ISA_IRQ, 5, 0, reserved=7), -errno.EINVAL)
        self.assertEqual(ctl.status(OP_RESTRICT), 0)
        # restricted: every op on domain 2 is refused...
        port2b = int(q2.cmd("xen_evtchn_alloc_unbound 0").split()[1])
        refused = self.foreign_ops_status(ctl, TARGET_OTHER | 2, port2b)
        self.assertEqual(refused, {op: -errno.EPERM for op in
                                   ("map_ram", "create_server", "map_range", "evtchn_bind",
                                    "isa_irq", "grant")})
        self.assertEqual(ctl.status(OP_SET_ISA_IRQ, 5, 0, reserved=TARGET_OTHER | 9), -errno.EPERM)
        self.assertLess(ctl.status(OP_OPEN, 2, 1), 0)
        self.assertEqual(q2.cmd("xen_servers"), "OK 0")
        # ...while its own domain keeps working, named or not
        for target in (0, TARGET_OTHER | 1):
            own = self.foreign_ops_status(ctl, target, port1)
            port1 = int(q1.cmd("xen_evtchn_alloc_unbound 0").split()[1])
            for op in ("map_ram", "create_server", "map_range", "evtchn_bind", "isa_irq"):
                self.assertEqual(own[op], 0, (target, op))
            self.assertEqual(own["grant"], -errno.EINVAL)  # no grant table: bad ref, not EPERM
        ctl.close()


if __name__ == "__main__":
    unittest.main()
