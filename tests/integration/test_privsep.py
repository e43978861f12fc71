# SPDX-License-Identifier: MIT
"""A restricted, deprivileged ioreqd (-xen-domid-restrict -runas -chroot)
keeps serving its guest, runs as the given user inside the chroot (checked
from /proc), and its control connection is refused anything beyond its own
domain."""
import os
import stat
import tempfile
import unittest

from ioreqd_proc import Ioreqd, run_ioreqd
from xensim import OP_OPEN, OP_RESTRICT, Xensim

NOBODY = 65534


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
        for p in self.procs:
            if p.proc.returncode is None:
                p.stop()
        self.sim.stop()
        self.tmp.cleanup()

    def start(self, args, name):
        # LeakSanitizer cannot stop the world without /proc inside the chroot
        os.environ["ASAN_OPTIONS"] = "detect_leaks=0"
        try:
            p = Ioreqd(self.tmp.name, 1, args, name=name)
        finally:
            del os.environ["ASAN_OPTIONS"]
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

    def test_restricted_connection_is_refused_other_domains(self):
        ctl = self.sim.control()
        opened = ctl.call(OP_OPEN, 1, 1)
        opened.close_fds()
        self.assertEqual(opened.status, 0)
        self.assertEqual(ctl.status(OP_RESTRICT), 0)
        self.assertLess(ctl.status(OP_OPEN, 2, 1), 0)
        ctl.close()


if __name__ == "__main__":
    unittest.main()
