#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ioreqd benchmarks (issue 4), stdlib only. Each prints its figures and the
ratio against a peer measured in the same run:

    bench.py --build DIR rtt          ioreq round trip vs eventfd / spin ping-pong
    bench.py --build DIR throughput   ioreqs/s: 1 and 2 vCPUs, 3 servers; buffered vs sync
    bench.py --build DIR instructions ioreqd instructions per ioreq (callgrind)
    bench.py --build DIR qemu         vs QEMU: qtest pairs/s, peak RSS, idle, start-up
    bench.py --build DIR scale        64 domains x 3 ioreqd: RSS, start time, round trip

Targets are printed next to the figures ("met" / "NOT met"); nothing here
fails on a timing, because timings on a shared machine are not a test.
"""
import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import xensim as xs  # noqa: E402
from xensim import Xensim  # noqa: E402

ARGS = None


def binary(*parts):
    return os.path.join(ARGS.build, *parts)


def verdict(ok):
    return "met" if ok else "NOT met"


def report(line):
    print(line, flush=True)


def ioreqd_cmd(sim_dir, domid, args, poll_us=0):
    cmd = [binary("ioreqd"), "-xen-domid", str(domid), "-accel", f"xensim,dir={sim_dir}",
           "-display", "none", "-nodefaults"]
    if poll_us:
        cmd += ["-ioreq-poll-us", str(poll_us)]
    return cmd + list(args)


class Setup:
    """One xensim with the given domains and ioreqd processes; stops all."""

    def __init__(self, domains, servers, poll_us=0, wait=True):
        self.tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
        if poll_us:
            self.sim = XensimWithArgs(self.tmp.name, domains, ["--poll-us", str(poll_us)])
        else:
            self.sim = Xensim(self.tmp.name, domains, binary=binary("contrib", "xensim", "xensim"))
        self.procs = []
        self.started = time.monotonic()
        for domid, args in servers:
            self.procs.append(subprocess.Popen(ioreqd_cmd(self.tmp.name, domid, args, poll_us),
                                               stdin=subprocess.DEVNULL,
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        self.guests = {}
        if wait:
            counts = {}
            for domid, _ in servers:
                counts[domid] = counts.get(domid, 0) + 1
            for domid, n in counts.items():
                self.cmd(domid, f"xen_wait_servers {n} 120000")
            self.ready = time.monotonic()

    def guest(self, domid):
        if domid not in self.guests:
            self.guests[domid] = self.sim.qtest(domid)
        return self.guests[domid]

    def cmd(self, domid, line, timeout=600):
        q = self.guest(domid)
        q.send_raw((line + "\n").encode())
        reply = q.reply(timeout=timeout)
        if not reply.startswith("OK"):
            raise RuntimeError(f"dom{domid}: '{line}' -> '{reply}'")
        return reply

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.sim.stop()
        self.tmp.cleanup()


class XensimWithArgs(Xensim):
    """Xensim with extra command-line options (e.g. --poll-us)."""

    def __init__(self, dir, domains, extra):
        real = binary("contrib", "xensim", "xensim")
        wrapper = os.path.join(dir, "xensim-with-args.sh")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec "{real}" "$@" {" ".join(extra)}\n')
        os.chmod(wrapper, 0o755)
        super().__init__(dir, domains, binary=wrapper)


def bench_pio(setup, domid, port, size, n, vcpu=None):
    if vcpu is not None:
        setup.cmd(domid, f"vcpu {vcpu}")
    fields = setup.cmd(domid, f"xen_bench_pio {port:#x} {size} {n}").split()
    return dict(zip(("median", "p99", "mean", "total"), map(int, fields[1:])))


def pingpong(mode, n):
    out = subprocess.run([binary("tests", "bench", "pingpong"), mode, str(n)], check=True,
                         capture_output=True, text=True).stdout.split()
    return dict(zip(("median", "p99", "mean"), map(int, out)))


def proc_pss_kib(pid):
    """Proportional set size: shared library pages split between their users,
    so a sum over many processes does not count glib 192 times."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


DEBUGCON = ["-chardev", "null,id=con", "-device", "isa-debugcon,chardev=con"]


# ---------------------------------------------------------------- rtt

def run_rtt():
    n = ARGS.iterations
    report(f"== ioreq-rtt: {n} synchronous PIO reads (inb 0xe9, isa-debugcon), timed inside xensim")
    for poll_us, peer in ((0, "eventfd"), (ARGS.poll_us, "spin")):
        s = Setup(["1,mem=16M,vcpus=1"], [(1, DEBUGCON)], poll_us=poll_us)
        try:
            bench_pio(s, 1, 0xe9, 1, min(n, 10000))  # warm-up
            a = bench_pio(s, 1, 0xe9, 1, n)
        finally:
            s.stop()
        b = pingpong(peer, n)
        mode = "blocking (event fd each way)" if not poll_us else \
            f"polling (ioreqd -ioreq-poll-us {poll_us}, xensim --poll-us {poll_us})"
        target = 1.3 if not poll_us else 1.5
        ratio = a["median"] / b["median"]
        report(f"-- {mode}")
        report(f"   ioreq round trip   median {a['median']} ns  p99 {a['p99']} ns  "
               f"mean {a['mean']} ns  ({n * 1e9 / a['total']:.0f} ioreqs/s)")
        report(f"   {peer:7} ping-pong  median {b['median']} ns  p99 {b['p99']} ns  "
               f"mean {b['mean']} ns")
        report(f"   ratio a/b: median {ratio:.2f}  p99 {a['p99'] / b['p99']:.2f}  "
               f"(target <= {target}: {verdict(ratio <= target)})")
        if poll_us:
            # The ABI's notification each way (Xen: an event-channel send;
            # here an eventfd write) is a syscall the bare spin does not pay.
            c = pingpong("spin-notify", n)
            report(f"   spin + one notification each way (the ABI's floor)  median {c['median']} ns"
                   f"  p99 {c['p99']} ns; ratio a/c: median {a['median'] / c['median']:.2f}")


# ---------------------------------------------------------------- throughput

def concurrent_pio(s, jobs, n):
    """jobs: [(domid, vcpu, port)] each on its own qtest connection, at once."""
    conns = []
    for domid, vcpu, port in jobs:
        q = s.sim.qtest(domid)
        q.send_raw(f"vcpu {vcpu}\n".encode())
        assert q.reply().startswith("OK")
        conns.append((q, port))
    results = [None] * len(conns)
    barrier = threading.Barrier(len(conns))

    def worker(i, q, port):
        barrier.wait()
        t0 = time.monotonic()
        q.send_raw(f"xen_bench_pio {port:#x} 1 {n}\n".encode())
        reply = q.reply(timeout=600)
        results[i] = (reply, time.monotonic() - t0)

    threads = [threading.Thread(target=worker, args=(i, q, p)) for i, (q, p) in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for reply, _ in results:
        if not reply.startswith("OK"):
            raise RuntimeError(reply)
    wall = max(t for _, t in results)
    return len(jobs) * n / wall


def run_throughput():
    n = ARGS.iterations
    report(f"== throughput: {n} ioreqs per vCPU")
    s = Setup(["1,mem=16M,vcpus=2"], [(1, DEBUGCON)])
    try:
        bench_pio(s, 1, 0xe9, 1, 10000)
        one = concurrent_pio(s, [(1, 0, 0xe9)], n)
        two = concurrent_pio(s, [(1, 0, 0xe9), (1, 1, 0xe9)], n)
    finally:
        s.stop()
    report(f"   1 server, 1 vCPU:  {one:.0f} ioreqs/s")
    report(f"   1 server, 2 vCPUs: {two:.0f} ioreqs/s  (x{two / one:.2f} of 1 vCPU)")

    servers = [(1, ["-chardev", "null,id=con", "-device", f"isa-debugcon,iobase={p:#x},chardev=con"])
               for p in (0xe9, 0x402, 0x403)]
    s = Setup(["1,mem=16M,vcpus=2"], servers)
    try:
        bench_pio(s, 1, 0x403, 1, 10000)
        three_one = concurrent_pio(s, [(1, 0, 0x403)], n)
        three_two = concurrent_pio(s, [(1, 0, 0xe9), (1, 1, 0x402)], n)
    finally:
        s.stop()
    report(f"   3 servers, 1 vCPU (to the third):    {three_one:.0f} ioreqs/s  "
           f"(x{three_one / one:.2f} of 1 server)")
    report(f"   3 servers, 2 vCPUs (to two servers): {three_two:.0f} ioreqs/s  "
           f"(x{three_two / two:.2f} of 1 server)")

    # Buffered (VGA window) against synchronous MMIO writes to the same
    # device: a pci-testdev whose BAR0 is placed by xen_pci_setup and which
    # also decodes the VGA window (vga-window=on: no BAR may go there), where
    # xensim buffers single writes.
    s = Setup(["1,mem=16M,vcpus=1"], [(1, ["-device", "pci-testdev,addr=4,vga-window=on"])])
    try:
        s.cmd(1, "xen_pci_setup")
        bar0 = s.guest(1).cfg_read(4, 0x10) & ~0xF
        r = s.cmd(1, f"xen_bench_mmio_write {bar0:#x} 4 {n}").split()
        sync = n * 1e9 / int(r[4])
        s.cmd(1, "writel 0xa0000 0x12345678")
        check = s.cmd(1, "readl 0xa0000").split()[1]
        if int(check, 16) != 0x12345678:
            raise RuntimeError(f"the VGA-window BAR does not read back: {check}")
        r = s.cmd(1, f"xen_bench_mmio_write 0xa0000 4 {n}").split()
        buffered = n * 1e9 / int(r[4])
        last = int(s.cmd(1, "readl 0xa0000").split()[1], 16)  # drains the ring first
    finally:
        s.stop()
    report(f"   synchronous MMIO writes (BAR0 at {bar0:#x}): {sync:.0f} writes/s")
    report(f"   buffered VGA-window writes (at 0xa0000): {buffered:.0f} writes/s  "
           f"(x{buffered / sync:.2f} of synchronous; last value read back {last:#x}, "
           f"expected {(n - 1) & 0xffffffff:#x})")


# ---------------------------------------------------------------- instructions

def callgrind_instructions(iterations):
    """Total instructions ioreqd executed for a run with `iterations` PIO reads."""
    tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
    sim = Xensim(tmp.name, ["1,mem=16M,vcpus=1"], binary=binary("contrib", "xensim", "xensim"))
    out = os.path.join(tmp.name, "callgrind.out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] +
                         ioreqd_cmd(tmp.name, 1, DEBUGCON), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    q = sim.qtest(1)
    q.send_raw(b"xen_wait_servers 1 120000\n")
    assert q.reply(timeout=130) == "OK"
    q.send_raw(f"xen_bench_pio 0xe9 1 {iterations}\n".encode())
    reply = q.reply(timeout=600)
    assert reply.startswith("OK"), reply
    p.terminate()
    err = p.communicate(timeout=120)[1]
    sim.stop()
    total = None
    for line in err.splitlines():
        if "Collected :" in line:
            total = int(line.split(":")[1].strip())
    tmp.cleanup()
    if total is None:
        raise RuntimeError(f"no callgrind summary:\n{err}")
    return total


def run_instructions():
    if not shutil.which("valgrind"):
        report("== instructions: SKIPPED, valgrind is not installed (apt-get install valgrind)")
        return
    small, large = 2000, 2000 + ARGS.instr_iterations
    report(f"== instructions per ioreq on the ioreqd side (callgrind, runs of {small} and {large} "
           "PIO reads; the difference removes start-up and teardown)")
    a = callgrind_instructions(small)
    b = callgrind_instructions(large)
    per = (b - a) / (large - small)
    report(f"   ioreqd total: {a} and {b} instructions -> {per:.0f} instructions per ioreq")


# ---------------------------------------------------------------- qemu

QEMU = "qemu-system-x86_64"
TYPICAL_IOREQD = ["-machine", "xenfv", "-serial", "null", "-device", "pci-testdev"]
# -qtest-log /dev/null as libqtest passes it: otherwise QEMU logs every
# qtest line to stderr
TYPICAL_QEMU = ["-M", "pc", "-S", "-nodefaults", "-display", "none", "-serial", "null",
                "-device", "pci-testdev", "-qtest-log", "/dev/null"]


class QemuQtest:
    """QEMU started with -qtest unix:PATH connecting to our listening socket."""

    def __init__(self, tmpdir, extra=()):
        self.path = os.path.join(tmpdir, "qemu.qtest")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.started = time.monotonic()
        self.proc = subprocess.Popen([QEMU] + TYPICAL_QEMU + list(extra) +
                                     ["-qtest", f"unix:{self.path}"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.listener.settimeout(30)
        self.sock, _ = self.listener.accept()
        self.buf = b""

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while True:
            while b"\n" in self.buf:
                reply, self.buf = self.buf.split(b"\n", 1)
                if not reply.startswith(b"IRQ"):
                    return reply.decode()
            data = self.sock.recv(4096)
            if not data:
                raise RuntimeError("QEMU closed its qtest connection")
            self.buf += data

    def stop(self):
        self.sock.close()
        self.listener.close()
        self.proc.kill()
        self.proc.wait()


def qemu_startup_ms(tmpdir):
    q = QemuQtest(tmpdir)
    reply = q.cmd("endianness")
    took = (time.monotonic() - q.started) * 1000
    q.stop()
    os.unlink(q.path)
    if not reply.startswith("OK"):
        raise RuntimeError(f"QEMU answered '{reply}'")
    return took


def ioreqd_startup_ms():
    """exec of ioreqd to its server enabled (xen_wait_servers answers); the
    xenstore 'running' key is written right after enabling."""
    tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
    sim = Xensim(tmp.name, ["1,mem=16M,vcpus=1"], binary=binary("contrib", "xensim", "xensim"))
    q = sim.qtest(1)
    t0 = time.monotonic()
    p = subprocess.Popen(ioreqd_cmd(tmp.name, 1, TYPICAL_IOREQD), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    q.send_raw(b"xen_wait_servers 1 30000\n")
    reply = q.reply(timeout=40)
    took = (time.monotonic() - t0) * 1000
    p.terminate()
    p.wait()
    sim.stop()
    tmp.cleanup()
    if reply != "OK":
        raise RuntimeError(reply)
    return took


def run_qemu():
    n = ARGS.pairs
    have_qemu = shutil.which(QEMU) is not None
    if not have_qemu:
        report(f"== qemu: {QEMU} not found: QEMU's half of every comparison is SKIPPED "
               "(install it: apt-get install qemu-system-x86)")
    report(f"== scripted guest: {n} 'outl 0xcf8' + 'inl 0xcfc' pairs from a C qtest client")
    def our_pairs(s):
        out = subprocess.run([binary("tests", "bench", "qtest-pairs"), "connect",
                              s.sim.path("dom1.qtest"), str(n)], check=True, capture_output=True,
                             text=True).stdout.split()
        return float(out[0]), " ".join(out[1:])

    s = Setup(["1,mem=16M,vcpus=1"], [(1, TYPICAL_IOREQD)], poll_us=ARGS.poll_us)
    try:
        polled, _ = our_pairs(s)
    finally:
        s.stop()
    s = Setup(["1,mem=16M,vcpus=1"], [(1, TYPICAL_IOREQD)])
    try:
        ioreqd_pid = s.procs[0].pid
        ours, last = our_pairs(s)
        report(f"   xensim + ioreqd: {ours:.0f} pairs/s (last reply '{last}'); "
               f"with polling ({ARGS.poll_us} us both sides): {polled:.0f} pairs/s")
        rss_ioreqd = proc_status(ioreqd_pid, "VmHWM")
        idle_window = ARGS.idle_seconds
        before = (proc_status(ioreqd_pid, "voluntary_ctxt_switches"),
                  proc_status(ioreqd_pid, "nonvoluntary_ctxt_switches"))
        time.sleep(idle_window)
        after = (proc_status(ioreqd_pid, "voluntary_ctxt_switches"),
                 proc_status(ioreqd_pid, "nonvoluntary_ctxt_switches"))
    finally:
        s.stop()
    qemu_pairs = qemu_rss = None
    if have_qemu:
        tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
        path = os.path.join(tmp.name, "qemu.qtest")
        client = subprocess.Popen([binary("tests", "bench", "qtest-pairs"), "listen", path, str(n)],
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout.readline().strip() == "listening"
        qemu = subprocess.Popen([QEMU] + TYPICAL_QEMU + ["-qtest", f"unix:{path}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        out = client.stdout.read().split()
        client.wait()
        qemu_pairs = float(out[0])
        qemu.kill()
        qemu.wait()
        tmp.cleanup()
        report(f"   QEMU 7.2 qtest:  {qemu_pairs:.0f} pairs/s (last reply '{' '.join(out[1:])}')")
        report(f"   ratio: {ours / qemu_pairs:.2f}x QEMU, polling {polled / qemu_pairs:.2f}x "
               f"(target >= 4: {verdict(max(ours, polled) / qemu_pairs >= 4)})")
    tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
    out = subprocess.run([binary("tests", "bench", "qtest-pairs"), "echo",
                          os.path.join(tmp.name, "echo.sock"), str(n)], check=True,
                         capture_output=True, text=True).stdout.split()
    tmp.cleanup()
    floor = float(out[0])
    report(f"   floor: a process answering each line at once, nothing else: {floor:.0f} pairs/s; "
           f"ours {ours / floor:.2f} of it (polling {polled / floor:.2f})"
           + (f", QEMU {qemu_pairs / floor:.2f}" if qemu_pairs else ""))
    report("== memory: peak RSS (VmHWM) after the pairs")
    report(f"   ioreqd {' '.join(TYPICAL_IOREQD)}: {rss_ioreqd} KiB")
    if have_qemu:
        tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
        q = QemuQtest(tmp.name)
        q.cmd("endianness")
        for _ in range(2000):
            q.cmd("outl 0xcf8 0x80000000")
            q.cmd("inl 0xcfc")
        qemu_rss = proc_status(q.proc.pid, "VmHWM")
        q.stop()
        tmp.cleanup()
        report(f"   qemu {' '.join(TYPICAL_QEMU)}: {qemu_rss} KiB")
        report(f"   ratio: 1/{qemu_rss / rss_ioreqd:.1f} of QEMU (target <= 1/10: "
               f"{verdict(rss_ioreqd * 10 <= qemu_rss)})")
    idle = (after[0] - before[0]) + (after[1] - before[1])
    report(f"== idle: ioreqd context switches over {idle_window} s idle: {idle} "
           f"(voluntary {after[0] - before[0]}, involuntary {after[1] - before[1]}; target 0: "
           f"{verdict(idle == 0)})")
    report("== start-up (median of 5)")
    ours_ms = statistics.median(ioreqd_startup_ms() for _ in range(5))
    report(f"   ioreqd exec -> server enabled: {ours_ms:.1f} ms")
    if have_qemu:
        tmp = tempfile.TemporaryDirectory(prefix="ioreqd-bench-")
        qemu_ms = statistics.median(qemu_startup_ms(tmp.name) for _ in range(5))
        tmp.cleanup()
        report(f"   QEMU exec -> first qtest reply: {qemu_ms:.1f} ms")
        report(f"   ratio: 1/{qemu_ms / ours_ms:.1f} of QEMU (target <= 1/10: "
               f"{verdict(ours_ms * 10 <= qemu_ms)})")


# ---------------------------------------------------------------- scale

def run_scale():
    domains = ARGS.domains
    n = ARGS.iterations
    report(f"== scale: {domains} domains x 3 ioreqd under one xensim")
    specs = [f"{d},mem=16M,vcpus=1" for d in range(1, domains + 1)]
    servers = []
    for d in range(1, domains + 1):
        servers += [(d, DEBUGCON),
                    (d, ["-chardev", "null,id=con", "-device",
                         "isa-debugcon,iobase=0x402,chardev=con"]),
                    (d, ["-device", "pci-testdev,addr=4"])]
    s = Setup(specs, servers)
    try:
        start_s = s.ready - s.started
        rss = [proc_status(p.pid, "VmRSS") for p in s.procs]
        sim_rss = proc_status(s.sim.proc.pid, "VmRSS")
        pss = sum(proc_pss_kib(p.pid) for p in s.procs)
        sim_pss = proc_pss_kib(s.sim.proc.pid)
        bench_pio(s, 1, 0xe9, 1, 10000)
        a = bench_pio(s, 1, 0xe9, 1, n)
    finally:
        s.stop()
    b = pingpong("eventfd", n)
    report(f"   start: {len(servers)} ioreqd launched -> all servers enabled in {start_s:.2f} s")
    report(f"   RSS: ioreqd total {sum(rss)} KiB (mean {sum(rss) / len(rss):.0f} KiB, "
           f"max {max(rss)} KiB), xensim {sim_rss} KiB, all {sum(rss) + sim_rss} KiB")
    report(f"   PSS (shared pages divided among users): ioreqd total {pss} KiB "
           f"(mean {pss / len(s.procs):.0f} KiB), xensim {sim_pss} KiB, all {pss + sim_pss} KiB")
    report(f"   round trip under that load: median {a['median']} ns p99 {a['p99']} ns; "
           f"eventfd ping-pong median {b['median']} ns p99 {b['p99']} ns; "
           f"ratio median {a['median'] / b['median']:.2f} p99 {a['p99'] / b['p99']:.2f}")


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--iterations", type=int, default=200000)
    ap.add_argument("--poll-us", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=20000)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--instr-iterations", type=int, default=20000)
    ap.add_argument("--domains", type=int, default=64)
    ap.add_argument("name", choices=["rtt", "throughput", "instructions", "qemu", "scale", "all"])
    ARGS = ap.parse_args()
    ARGS.build = os.path.abspath(ARGS.build)
    # 64 domains x 3 servers need a few thousand fds in xensim
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    names = ["rtt", "throughput", "instructions", "qemu", "scale"] if ARGS.name == "all" \
        else [ARGS.name]
    for name in names:
        globals()["run_" + name]()


if __name__ == "__main__":
    main()
