# SPDX-License-Identifier: MIT
"""A guest storming ioreqd with interrupts and log-port writes, as fast as
xensim can issue them, must not stall the host.

While three vCPUs hammer one ioreqd — pci-testdev's trigger (BAR0+0xffc)
toggling INTx and firing all 2048 MSI-X vectors, a second function firing
MSI, and rep-outs on the Xen platform device's driver-log, unplug and
unknown ports — a fourth vCPU keeps writing to another device of the same
process, and to a device of a second process. Checked:

- responsiveness: the round trip xensim measures for those writes during the
  storm stays within a generous ratio of the one measured before it (a
  stall would make it the length of a whole storm burst);
- the log stays rate-limited: the lines ioreqd printed are a small bounded
  number against the tens of thousands of loggable guest events;
- memory: ioreqd's RSS stops growing (a second round of storms adds little).

Ratios only: no absolute times, the machine may be shared."""
import re
import sys
import tempfile
import threading
import time
import unittest

from ioreqd_proc import Ioreqd, stop_all
from xensim import Xensim

STORM = 4      # pci-testdev: INTx + 2048 MSI-X vectors
MSI_DEV = 5    # pci-testdev: INTx + MSI (4 vectors)
QUIET = 6      # pci-testdev in the same process: the latency probe
OTHER = 7      # pci-testdev in a second process
MSIX_VECTORS = 2048
RAM_TABLE = 0x100000   # MSI-X table image in guest RAM
RAM_TEXT = 0x200000    # driver-log text and unplug words in guest RAM
STORM_SECONDS = 2.0
# A probe write may queue behind one request of each storming vCPU, so its
# fair cost grows with the storm's own request time, which a loaded machine
# stretches. The probe passes if it stays within either generous bound: 100
# times its time before the storm (measured 1-25 on a busy 2-core box), or
# 8 times the median storm request (3 storming vCPUs, with slack). A
# stalled loop makes probes wait for whole bursts of thousands of requests.
MAX_SLOWDOWN = 100
FAIR_SHARE = 8
RSS_GROWTH_LIMIT_KB = 8 * 1024



class IrqStormTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=4"])
        self.dm = Ioreqd(self.tmp.name, 1, [
            "-machine", "xenfv",
            "-device", f"pci-testdev,addr={STORM:x},intx=on,msix-vectors={MSIX_VECTORS},id=storm",
            "-device", f"pci-testdev,addr={MSI_DEV:x},intx=on,msi=on,id=msidev",
            "-device", f"pci-testdev,addr={QUIET:x},id=quiet"], name="storm-dm")
        self.q = self.sim.qtest(1)
        self.assertEqual(self.q.cmd("xen_wait_servers 1 20000"), "OK")
        self.other = Ioreqd(self.tmp.name, 1, ["-device", f"pci-testdev,addr={OTHER:x}"],
                            name="other-dm")
        self.assertEqual(self.q.cmd("xen_wait_servers 2 20000"), "OK")
        self.assertEqual(self.q.cmd("xen_pci_setup"), "OK")

    def tearDown(self):
        try:
            stop_all((self.other, self.dm))
        finally:
            self.sim.stop()
            self.tmp.cleanup()

    # ------------------------------------------------------------ helpers

    def cfg_read(self, dev, reg, size=4):
        return self.q.cfg_read(dev, reg, size)

    def cfg_write(self, dev, reg, value, size=4):
        self.q.cfg_write(dev, reg, value, size)

    def bar(self, dev, n):
        return self.cfg_read(dev, 0x10 + 4 * n) & ~0xF

    def cap(self, dev, cap_id):
        pos = self.cfg_read(dev, 0x34, 1)
        while pos:
            if self.cfg_read(dev, pos, 1) == cap_id:
                return pos
            pos = self.cfg_read(dev, pos + 1, 1)
        self.fail(f"device {dev} has no capability {cap_id:#x}")

    def ram_write(self, gpa, data):
        for off in range(0, len(data), 1024):  # qtest lines are bounded
            chunk = data[off:off + 1024]
            self.q.ok(f"write {gpa + off:#x} {len(chunk)} 0x{chunk.hex()}")

    def msi_count(self):
        return int(self.q.cmd("xen_msi_last").split()[1], 0)

    def rss_kb(self, proc):
        with open(f"/proc/{proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def probe(self, q, addr, n=300):
        """xensim's own mean round trip of n writes to addr (ns): the mean,
        so a few writes held up for long count in full."""
        reply = q.cmd(f"xen_bench_mmio_write {addr:#x} 4 {n}", timeout=120)
        self.assertTrue(reply.startswith("OK "), reply)
        return int(reply.split()[3])

    def arm_interrupts(self):
        # MSI-X: all 2048 entries unmasked, written from RAM by one rep movs
        entry = (0xFEE00000).to_bytes(4, "little") + bytes(4) + \
            (0x4030).to_bytes(4, "little") + bytes(4)
        self.ram_write(RAM_TABLE, entry * MSIX_VECTORS)
        table = self.bar(STORM, 2)
        self.q.ok(f"xen_rep_mmio write {table:#x} 4 {MSIX_VECTORS * 4} {RAM_TABLE:#x} 0")
        self.cfg_write(STORM, self.cap(STORM, 0x11) + 2, 0x8000, 2)
        # MSI: 64-bit address, 4 vectors
        msi = self.cap(MSI_DEV, 0x05)
        self.cfg_write(MSI_DEV, msi + 4, 0xFEE01000)
        self.cfg_write(MSI_DEV, msi + 8, 0)
        self.cfg_write(MSI_DEV, msi + 0xC, 0x4050, 2)
        self.cfg_write(MSI_DEV, msi + 2, 0x0021, 2)
        # guest RAM for the log ports: text lines and unplug words
        self.ram_write(RAM_TEXT, b"storm line from the guest\n" * 150)
        self.ram_write(RAM_TEXT + 0x2000, (0x0003).to_bytes(2, "little") * 1024)

    def storms(self, stop, counters):
        """One thread per storming vCPU; each issues bursts until stop."""
        trigger = self.bar(STORM, 0) + 0xFFC
        msi_trigger = self.bar(MSI_DEV, 0) + 0xFFC
        # xen_bench_mmio_write writes 0, 1, 2, ...: values below 0x100 toggle
        # INTx, then 0x100 + N fires vector N (all 2048 MSI-X vectors)
        bursts = [
            (0, [f"xen_bench_mmio_write {trigger:#x} 4 {0x100 + MSIX_VECTORS}"]),
            (1, [f"xen_bench_mmio_write {msi_trigger:#x} 4 {0x104}"]),
            (3, [f"xen_rep_pio out 0x12 1 3900 {RAM_TEXT:#x} 0",          # driver log
                 f"xen_rep_pio out 0x10 2 1024 {RAM_TEXT + 0x2000:#x} 0",  # unplug
                 f"xen_rep_pio out 0x14 1 1024 {RAM_TEXT:#x} 0"]),         # unknown port
        ]
        threads = []
        for vcpu, cmds in bursts:
            q = self.sim.qtest(1)
            self.assertEqual(q.cmd(f"vcpu {vcpu}"), "OK")

            def run(q=q, cmds=cmds, vcpu=vcpu):
                while not stop.is_set():
                    for c in cmds:
                        started = time.monotonic_ns()
                        r = q.cmd(c, timeout=120)
                        took = time.monotonic_ns() - started
                        if not r.startswith("OK"):
                            counters["errors"].append(f"{c} -> {r}")
                            return
                        # one ioreq per rep command; bench replies carry their mean
                        per_request = int(r.split()[3]) if c.startswith("xen_bench") else took
                        counters["request_ns"].append(per_request)
                    counters[vcpu] = counters.get(vcpu, 0) + 1
            t = threading.Thread(target=run, daemon=True)
            t.start()
            threads.append(t)
        return threads

    def storm_round(self, probes):
        stop = threading.Event()
        counters = {"errors": [], "request_ns": []}
        threads = self.storms(stop, counters)
        time.sleep(0.2)  # let every storm get going
        during = [[self.probe(q, addr)] for q, addr in probes]
        deadline = time.monotonic() + STORM_SECONDS
        while time.monotonic() < deadline:
            for i, (q, addr) in enumerate(probes):
                during[i].append(self.probe(q, addr))
        stop.set()
        for t in threads:
            t.join(timeout=120)
        self.assertEqual(counters["errors"], [])
        for vcpu in (0, 1, 3):
            self.assertGreater(counters.get(vcpu, 0), 0, f"vCPU {vcpu} never completed a burst")
        return [sorted(d)[len(d) // 2] for d in during], counters

    # -------------------------------------------------------------- test

    def test_storm_does_not_stall_the_host(self):
        self.arm_interrupts()
        # the storms work: interrupts are really injected
        before_msis = self.msi_count()
        probe_q = self.sim.qtest(1)
        self.assertEqual(probe_q.cmd("vcpu 2"), "OK")
        probes = [(probe_q, self.bar(QUIET, 0)), (probe_q, self.bar(OTHER, 0))]
        for q, addr in probes:
            self.probe(q, addr)  # warm up
        baseline = [min(self.probe(q, addr) for _ in range(3)) for q, addr in probes]

        lines_before = len(self.dm.stderr().splitlines())
        started = time.monotonic()
        medians, counters = self.storm_round(probes)
        elapsed = time.monotonic() - started
        rss_after_first = self.rss_kb(self.dm)

        print(f"storm: probes before {baseline} ns, during {medians} ns; "
              f"storm requests {sorted(counters['request_ns'])[len(counters['request_ns']) // 2]} ns "
              f"(median); "
              f"bursts { {k: v for k, v in counters.items() if isinstance(k, int)} }; "
              f"{len(self.dm.stderr().splitlines()) - lines_before} log lines; "
              f"RSS {rss_after_first} KiB", file=sys.stderr)
        injected = self.msi_count() - before_msis
        self.assertGreaterEqual(injected, counters[0] * MSIX_VECTORS)  # every vector, every burst
        typical_request = sorted(counters["request_ns"])[len(counters["request_ns"]) // 2]
        for base, during, what in zip(baseline, medians, ("same process", "other process")):
            self.assertLessEqual(during, max(base * MAX_SLOWDOWN, typical_request * FAIR_SHARE),
                                 f"{what}: mean round trip {during} ns during the storm "
                                 f"against {base} ns before, storm requests typically "
                                 f"{typical_request} ns")

        # the log: every burst of vCPU 3 alone offers ~3000 loggable events
        lines = self.dm.stderr().splitlines()[lines_before:]
        events = counters[3] * (150 + 1024 + 1024)
        limiters = 4  # platform driver log, platform guest log, storm and msidev devices
        bound = limiters * 10 * (int(elapsed) + 2)
        self.assertLessEqual(len(lines), bound, "\n".join(lines[-20:]))
        self.assertLess(len(lines) * 20, events)
        self.assertTrue(any("guest driver: storm line from the guest" in l for l in lines))
        self.assertTrue(any("suppressed" in l for l in lines))

        # memory: a second round costs (almost) nothing more
        self.storm_round(probes)
        growth = self.rss_kb(self.dm) - rss_after_first
        print(f"storm: RSS growth in the second round {growth} KiB", file=sys.stderr)
        self.assertLess(growth, RSS_GROWTH_LIMIT_KB, f"RSS grew {growth} KiB in a second storm")
        self.assertIsNone(self.dm.proc.poll())
        self.assertEqual(self.q.cmd("xen_domain_state"), "OK running")


if __name__ == "__main__":
    unittest.main()
