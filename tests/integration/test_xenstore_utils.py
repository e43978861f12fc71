# SPDX-License-Identifier: MIT
"""xenstore-utils (Debian's xenstore-ls, -read, -write, -rm, -list, -chmod,
-watch) against xensim's store through XENSTORED_PATH, as an administrator
uses them: the toolstack's keys are there, ioreqd's ready key appears, and a
guest's socket follows Xen's permission rules."""
import os
import subprocess
import tempfile
import time
import unittest

from ioreqd_proc import Ioreqd
from xensim import Xensim


class XenstoreUtilsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["3,mem=32M,vcpus=1"])

    def tearDown(self):
        self.sim.stop()
        self.tmp.cleanup()

    def xs(self, *args, guest=False, check=True):
        sock = "dom3.xenstore" if guest else "xenstore"
        env = dict(os.environ, XENSTORED_PATH=os.path.join(self.tmp.name, sock))
        p = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=10)
        if check and p.returncode != 0:
            raise AssertionError(f"{args} failed: {p.stderr}")
        return p

    def test_toolstack_keys_and_ioreqd_ready(self):
        self.assertEqual(self.xs("xenstore-read", "/local/domain/3/name").stdout.strip(), "dom3")
        listing = self.xs("xenstore-ls", "/local/domain/3").stdout
        self.assertIn("domid = \"3\"", listing)
        dm = Ioreqd(self.tmp.name, 3, ["-device", "pci-testdev"])
        state = ""
        deadline = time.time() + 20
        while state != "running" and time.time() < deadline:
            state = self.xs("xenstore-read", "/local/domain/0/device-model/3/state",
                            check=False).stdout.strip()
            time.sleep(0.05)
        self.assertEqual(state, "running")
        dm.stop()

    def test_write_read_list_rm_chmod(self):
        self.xs("xenstore-write", "/tool/a", "1", "/tool/b", "two words")
        self.assertEqual(self.xs("xenstore-read", "/tool/b").stdout.strip(), "two words")
        self.assertEqual(self.xs("xenstore-list", "/tool").stdout.split(), ["a", "b"])
        self.xs("xenstore-rm", "/tool/a")
        self.assertEqual(self.xs("xenstore-list", "/tool").stdout.split(), ["b"])
        self.assertNotEqual(self.xs("xenstore-read", "/tool/a", check=False).returncode, 0)
        # the guest may not read dom0's keys until dom0 grants it
        self.assertNotEqual(self.xs("xenstore-read", "/tool/b", guest=True, check=False)
                            .returncode, 0)
        self.xs("xenstore-chmod", "/tool/b", "n0", "r3")
        self.assertEqual(self.xs("xenstore-read", "/tool/b", guest=True).stdout.strip(),
                         "two words")
        self.assertNotEqual(self.xs("xenstore-write", "/tool/b", "x", guest=True, check=False)
                            .returncode, 0)
        self.assertIn("(n0,r3)", self.xs("xenstore-ls", "-p", "/tool").stdout)
        # the guest writes in its own area, relative to it
        self.xs("xenstore-write", "data/feature", "1", guest=True)
        self.assertEqual(self.xs("xenstore-read", "/local/domain/3/data/feature").stdout.strip(),
                         "1")

    def test_watch(self):
        env = dict(os.environ, XENSTORED_PATH=os.path.join(self.tmp.name, "xenstore"))
        watcher = subprocess.Popen(["xenstore-watch", "-n", "3", "/watched"], env=env,
                                   stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        self.xs("xenstore-write", "/watched/x", "1")
        self.xs("xenstore-rm", "/watched")
        out, _ = watcher.communicate(timeout=10)
        self.assertEqual(out.split(), ["/watched", "/watched/x", "/watched"])


if __name__ == "__main__":
    unittest.main()
