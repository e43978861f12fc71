#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The quick-start demo: xensim with one guest served by three ioreqd
processes, a short scripted-guest session, and what each process answered;
then a PV disk added through xenstore as libxl adds one, served by the
'board' process's qdisk backend to a test blkfront playing the guest.

    python3 contrib/demo.py --build build
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import ioreqd_proc  # noqa: E402
import toolstack  # noqa: E402
import xensim as xensim_harness  # noqa: E402
from ioreqd_proc import Ioreqd  # noqa: E402
from xensim import Xensim, cf8  # noqa: E402

DOMID = 1


class Session:
    def __init__(self, qtest):
        self.q = qtest

    def do(self, line, note=""):
        reply = self.q.cmd(line)
        print(f"  guest> {line:<36} {reply:<22} {note}")
        if not reply.startswith("OK"):
            raise SystemExit(f"demo: unexpected reply {reply!r}")
        parts = reply.split()
        try:
            return int(parts[1], 0)
        except (IndexError, ValueError):
            return None

    def cfg_read(self, dev, reg, note=None):
        """A config read; shown as a guest line when note is given."""
        if note is None:
            return self.q.cfg_read(dev, reg)
        self.q.ok(f"outl 0xcf8 {cf8(dev, reg):#x}")
        return self.do("inl 0xcfc", f"[config 00:{dev:02x}.0 reg {reg:#04x}] {note}")

    def cfg_write(self, dev, reg, value, size=4):
        self.q.cfg_write(dev, reg, value, size)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    xensim_harness.XENSIM = os.path.join(build, "contrib", "xensim", "xensim")
    toolstack.XS_BATCH = os.path.join(build, "tests", "integration", "xs-batch")
    blkfront = os.path.join(build, "tests", "blkfront", "blkfront")
    ioreqd_proc.IOREQD = os.path.join(build, "ioreqd")

    workdir = tempfile.mkdtemp(prefix="ioreqd-demo.")
    console = os.path.join(workdir, "console.log")
    debuglog = os.path.join(workdir, "debug-0x402.log")
    image = os.path.join(workdir, "xvda.img")
    print(f"== xensim: domain {DOMID} (128 MiB, 2 vCPUs) in {workdir}")
    sim = Xensim(workdir, [f"{DOMID},mem=128M,vcpus=2"])
    procs = {}
    try:
        procs["board"] = Ioreqd(workdir, DOMID, [
            "-name", "board", "-machine", "xenfv", "-m", "128",
            "-chardev", f"file,id=con,path={console}",
            "-device", "isa-debugcon,iobase=0xe9,chardev=con"], name="board")
        procs["pci-a"] = Ioreqd(workdir, DOMID, [
            "-name", "pci-a", "-device", "pci-testdev,addr=3,id=testdev-a"], name="pci-a")
        procs["pci-b"] = Ioreqd(workdir, DOMID, [
            "-name", "pci-b", "-chardev", f"file,id=dbg,path={debuglog}",
            "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "pci-testdev,addr=4,id=testdev-b"], name="pci-b")
        for name, p in procs.items():
            print(f"== ioreqd '{name}' started, pid {p.pid}")
        g = Session(sim.qtest(DOMID))
        g.do("xen_wait_servers 3 20000", "(all three ioreq servers enabled)")
        print(f"== ioreq servers of dom{DOMID} (id, state, ranges):")
        print("   " + g.q.cmd("xen_servers"))

        print("\n== the guest prints on its debug console (port 0xe9 -> 'board')")
        for ch in "Hello from dom1, served by ioreqd\n":
            g.q.cmd(f"outb 0xe9 {ord(ch):#x}")
        g.do("inb 0xe9", "debugcon readback, answered by 'board'")

        print("\n== the guest scans PCI bus 0 through 0xcf8/0xcfc")
        for dev in range(0, 8):
            vd = g.cfg_read(dev, 0)
            owner = {0: "board: i440FX", 1: "board: PIIX3", 2: "board: Xen platform",
                     3: "pci-a", 4: "pci-b"}.get(dev, "nobody: all-ones")
            if vd != 0xFFFFFFFF:
                owner = f"{owner}: vendor {vd & 0xffff:04x} device {vd >> 16:04x}"
            print(f"  guest> config read 00:{dev:02x}.0 reg 0  {vd:#010x}  -> {owner}")

        print("\n== the guest places BAR0 of both test devices and uses them")
        g.cfg_write(3, 0x10, 0xE0000000)
        g.cfg_write(4, 0x10, 0xE0001000)
        g.cfg_write(3, 0x04, 0x2, size=2)
        g.cfg_write(4, 0x04, 0x2, size=2)
        g.do("writel 0xe0000000 0xaaaa0003", "-> pci-a")
        g.do("writel 0xe0001000 0xbbbb0004", "-> pci-b")
        g.do("readl 0xe0000000", "answered by pci-a")
        g.do("readl 0xe0001000", "answered by pci-b")
        for ch in "bye\n":
            g.q.cmd(f"outb 0x402 {ord(ch):#x}")

        print("\n== kill -9 of 'pci-b': its device disappears, the others carry on")
        procs["pci-b"].kill9()
        g.do("readl 0xe0001000", "pci-b is gone: all-ones")
        g.cfg_read(4, 0, "slot 4 unclaimed now")
        g.do("readl 0xe0000000", "pci-a still serving")
        g.do("xen_domain_state")

        print("\n== a PV disk: the toolstack's keys (as libxl writes them), 'board' serves it "
              "(qdisk), a test blkfront is the guest")
        with open(image, "wb") as f:
            f.truncate(64 << 20)
        xs = toolstack.Xenstore(workdir)
        _, backend = toolstack.add_qdisk(xs, DOMID, 51712, image)
        print(f"   toolstack> add_qdisk xvda -> {image} (backend {backend})")
        run = subprocess.run([blkfront, "--dir", workdir, "--domid", str(DOMID), "--devid", "51712",
                              "--gpa-base", "0x4000000", "--gpa-size", "0x2000000",
                              "--mode", "verify", "--ops", "400"],
                             capture_output=True, text=True, timeout=120)
        for line in run.stdout.splitlines():
            print(f"   guest (blkfront)> {line}")
        print(f"   backend state after the guest closed: "
              f"{xs.read(backend + '/state')} (6 = Closed); removed: "
              f"{toolstack.remove_qdisk(xs, DOMID, 51712)}")

        xs_env = dict(os.environ, XENSTORED_PATH=os.path.join(workdir, "xenstore"))
        state = subprocess.run(["xenstore-read", f"/local/domain/0/device-model/{DOMID}/state"],
                               env=xs_env, capture_output=True, text=True)
        print(f"\n== xenstore (read with the real xenstore-read): device-model state = "
              f"{state.stdout.strip() or state.stderr.strip()}")
    finally:
        for p in procs.values():
            if p.proc.poll() is None:
                p.stop()
        sim.stop()

    print("\n== what there is to look at")
    with open(console) as f:
        print(f"   guest console ({console}):\n     " + f.read().replace("\n", "\n     "))
    with open(debuglog) as f:
        print(f"   port 0x402 log ({debuglog}): {f.read()!r}")
    print("   VNC: none yet (the display and VNC work has not landed); all processes ran "
          "with -display none.")
    print(f"   Everything is left in {workdir}.")


if __name__ == "__main__":
    main()
