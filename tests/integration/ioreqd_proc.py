# SPDX-License-Identifier: MIT
"""Start and stop ioreqd processes for integration tests.

Each process is a real ioreqd talking to a running xensim; the test waits
for the server to be enabled through xensim's `xen_wait_servers`, and on
stop checks the exit status and that no sanitizer report was printed.
"""
import os
import subprocess
import tempfile
import unittest

from xensim import Xensim, check_no_sanitizer_report, stop_process

IOREQD = os.environ.get("IOREQD", "build/ioreqd")


class Ioreqd:
    def __init__(self, sim_dir, domid, args, name="ioreqd"):
        self.name = name
        self.stderr_file = tempfile.TemporaryFile(mode="w+")
        cmd = [IOREQD, "-xen-domid", str(domid), "-accel", f"xensim,dir={sim_dir}",
               "-display", "none", "-nodefaults"] + list(args)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr_file)

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        if self.stderr_file.closed:
            return ""
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def stop(self, expect_status=0, timeout=20):
        """SIGTERM, wait, and check it exited as expected and cleanly."""
        text = stop_process(self.proc, self.name, self.stderr, expect_status, timeout)
        self.stderr_file.close()
        return text

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.stderr_file.close()

    def wait_exit(self, timeout=20):
        status = self.proc.wait(timeout=timeout)
        check_no_sanitizer_report(self.name, self.stderr())
        return status


def run_ioreqd(args, timeout=20):
    """Run ioreqd to completion (for option errors); returns (status, stderr)."""
    p = subprocess.run([IOREQD] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr + p.stdout


def stop_all(procs, skip_exited=False):
    """Stop every process, then raise one AssertionError naming each that
    did not stop cleanly (so one failure does not leave the others running).
    skip_exited: leave processes a test already ended (kill -9) alone."""
    errors = []
    for p in procs:
        if skip_exited and p.proc.returncode is not None:
            continue
        try:
            p.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        raise AssertionError("\n".join(errors))


class DomainTestCase(unittest.TestCase):
    """One xensim domain (domid 1) served by ioreqd processes started by
    start(); everything is stopped and checked after each test."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = None
        self.procs = []

    def tearDown(self):
        try:
            stop_all(self.procs)
        finally:
            if self.sim:
                self.sim.stop()
            self.tmp.cleanup()

    def start(self, domain, process_args):
        self.sim = Xensim(self.tmp.name, [domain])
        for i, args in enumerate(process_args):
            self.procs.append(Ioreqd(self.tmp.name, 1, args, name=f"dm{i}"))
        self.q = self.sim.qtest(1)
        self.assertEqual(self.q.cmd(f"xen_wait_servers {len(process_args)} 20000"), "OK")
