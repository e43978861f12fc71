# SPDX-License-Identifier: MIT
"""Start and stop ioreqd processes for integration tests.

Each process is a real ioreqd talking to a running xensim; the test waits
for the server to be enabled through xensim's `xen_wait_servers`, and on
stop checks the exit status and that no sanitizer report was printed.
"""
import os
import signal
import subprocess
import tempfile

IOREQD = os.environ.get("IOREQD", "build/ioreqd")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


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

    def check_clean(self, text):
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise AssertionError(f"{self.name}: sanitizer report:\n{text}")

    def stop(self, expect_status=0, timeout=20):
        """SIGTERM, wait, and check it exited as expected and cleanly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not stop on SIGTERM:\n{self.stderr()}")
        text = self.stderr()
        self.stderr_file.close()
        self.check_clean(text)
        if expect_status is not None and status != expect_status:
            raise AssertionError(f"{self.name} exited {status}, expected {expect_status}:\n{text}")
        return status

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.stderr_file.close()

    def wait_exit(self, timeout=20):
        status = self.proc.wait(timeout=timeout)
        self.check_clean(self.stderr())
        return status


def run_ioreqd(args, timeout=20):
    """Run ioreqd to completion (for option errors); returns (status, stderr)."""
    p = subprocess.run([IOREQD] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr + p.stdout
