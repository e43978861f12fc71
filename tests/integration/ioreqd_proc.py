# SPDX-License-Identifier: MIT
"""Start and stop ioreqd processes for integration tests.

Each process is a real ioreqd talking to a running xensim; the test waits
for the server to be enabled through xensim's `xen_wait_servers`, and on
stop checks the exit status and that no sanitizer report was printed.
"""
import os
import subprocess
import tempfile

from xensim import check_no_sanitizer_report, stop_process

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
