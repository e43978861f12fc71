# SPDX-License-Identifier: MIT
"""Random and malformed lines on the qtest socket, with an ioreqd serving
the domain: every line gets exactly one `OK ...` or `FAIL ...` reply, the
connection keeps working, and neither xensim nor ioreqd falls over
(both stop cleanly, no sanitizer report)."""
import os
import random
import tempfile
import unittest

from ioreqd_proc import Ioreqd
from xensim import Xensim

COMMANDS = ["outb", "outw", "outl", "inb", "inw", "inl", "readb", "readw", "readl", "readq",
            "writeb", "writew", "writel", "writeq", "read", "write", "memset", "vcpu",
            "xen_rep_pio", "xen_rep_mmio", "xen_rep_mmio_fill", "xen_servers",
            "xen_domain_state", "clock_step", "bogus", ""]
INTERESTING = [0, 1, 2, 3, 4, 7, 8, 0xE9, 0xCF8, 0xCFC, 0xCFF, 0xC000, 0xFFFF, 0x10000,
               0xA0000, 0xBFFFF, 0xE0000000, 0xFFFFFFFF, 0x100000000, 2**63, 2**64 - 1, 2**64,
               -1, 0x3FFFFFF]


def random_arg(rng):
    pick = rng.random()
    if pick < 0.6:
        v = rng.choice(INTERESTING) + rng.choice([0, 0, 1, -1, 4096])
        return hex(v) if rng.random() < 0.5 else str(v)
    if pick < 0.8:
        return rng.choice(["in", "out", "read", "write", "0x", "--", "0x" + "f" * 40, "1e3"])
    return "".join(rng.choice("0123456789abcdefxXg -\t") for _ in range(rng.randint(0, 12)))


class QtestFuzzTest(unittest.TestCase):
    def test_random_lines(self):
        with tempfile.TemporaryDirectory() as tmp:
            sim = Xensim(tmp, ["1,mem=16M,vcpus=2"])
            dm = Ioreqd(tmp, 1, ["-chardev", f"file,id=c,path={os.path.join(tmp, 'c.log')}",
                                 "-device", "isa-debugcon,chardev=c",
                                 "-device", "pci-testdev,addr=3"], name="ioreqd")
            q = sim.qtest(1)
            self.assertEqual(q.cmd("xen_wait_servers 1 20000"), "OK")
            # give the test device's BARs somewhere to live
            for line in ["outl 0xcf8 0x80001810", "outl 0xcfc 0xe0000000",
                         "outl 0xcf8 0x80001814", "outl 0xcfc 0xc000",
                         "outl 0xcf8 0x80001804", "outw 0xcfc 0x3"]:
                self.assertEqual(q.cmd(line), "OK")
            rng = random.Random(0x5EED)
            for i in range(3000):
                words = [rng.choice(COMMANDS)] + [random_arg(rng)
                                                  for _ in range(rng.randint(0, 6))]
                line = " ".join(words)
                reply = q.cmd(line, timeout=30)
                self.assertTrue(reply.startswith("OK") or reply.startswith("FAIL"),
                                f"line {i} {line!r} -> {reply!r}")
            # still alive and serving
            self.assertEqual(q.cmd("vcpu 0"), "OK")
            self.assertEqual(q.cmd("xen_domain_state"), "OK running")
            self.assertEqual(int(q.cmd("inb 0xe9").split()[1], 16), 0xE9)
            dm.stop()
            sim.stop()


if __name__ == "__main__":
    unittest.main()
