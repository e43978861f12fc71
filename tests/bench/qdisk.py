#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""qdisk benchmark (issue 6): the blkif ring path through ioreqd against fio
with io_uring directly on the same image file, same storage, same queue
depth, in one run.

    tests/bench/run.sh qdisk            (or: bench/qdisk.py --build DIR)

Workloads: 4 KiB random read, 1 MiB sequential read and write, all O_DIRECT
(the backend with direct-io-safe=1, fio with --direct=1), at --qd.
Variants: persistent grants (zero-copy) against grant copy, 1 against 4
queues. Targets (issue 6): random read >= 0.9 of fio's IOPS, sequential
>= 0.95 of fio's throughput. Prints figures and ratios; never fails on a
timing.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from xensim import Xensim  # noqa: E402
import toolstack  # noqa: E402
from blk_io import make_image  # noqa: E402  (written, not sparse)

DOMID = 1
DEVID = 51712
LOADS = [  # name, fio rw, block size, target ratio, unit
    ("randread-4k", "randread", "4k", 0.9, "iops"),
    ("seqread-1m", "read", "1m", 0.95, "mbps"),
    ("seqwrite-1m", "write", "1m", 0.95, "mbps"),
]


def report(line):
    print(line, flush=True)


def run_fio(image, rw, bs, qd, seconds):
    out = subprocess.run(
        ["fio", "--name=peer", f"--filename={image}", "--ioengine=io_uring", f"--rw={rw}",
         f"--bs={bs}", f"--iodepth={qd}", "--direct=1", "--time_based", f"--runtime={seconds}",
         "--numjobs=1", "--output-format=json"],
        capture_output=True, text=True, check=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["write" if "write" in rw else "read"]
    return {"iops": side["iops"], "mbps": side["bw_bytes"] / 1e6}


def run_ring(args, image, persistent, queues):
    tmp = tempfile.mkdtemp(prefix="qdisk-bench-")
    sim = Xensim(tmp, [f"{DOMID},mem=512M,vcpus=2"],
                 binary=os.path.join(args.build, "contrib", "xensim", "xensim"))
    dm = None
    try:
        xs = toolstack.Xenstore(tmp)
        log = open(os.path.join(tmp, "ioreqd.log"), "w")
        dm = subprocess.Popen(
            [os.path.join(args.build, "ioreqd"), "-xen-domid", str(DOMID), "-accel",
             f"xensim,dir={tmp}", "-display", "none", "-nodefaults", "-machine", "xenfv"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, text=True)
        toolstack.add_qdisk(xs, DOMID, DEVID, image, direct_io_safe=True)
        _, ok = toolstack.wait_backend_state(xs, DOMID, DEVID, [2])
        if not ok:
            raise RuntimeError("the backend did not reach InitWait")
        cmd = [os.path.join(args.build, "tests", "blkfront", "blkfront"), "--dir", tmp,
               "--domid", str(DOMID), "--devid", str(DEVID), "--gpa-base", "0x1000000",
               "--gpa-size", "0x10000000", "--mode", "bench", "--queue-depth", str(args.qd),
               "--persistent", "on" if persistent else "off", "--queues", str(queues),
               "--bench-seconds", str(args.seconds), "--evtchn", args.evtchn]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, XS_BATCH=toolstack.XS_BATCH))
        if out.returncode != 0:
            raise RuntimeError(f"blkfront failed: {out.stdout}{out.stderr}")
        with open(os.path.join(tmp, "ioreqd.log")) as f:
            for line in f:
                if "vbd" in line and ("connected" in line or "bytes" in line):
                    report("   ioreqd: " + line.strip())
        results = {}
        for m in re.finditer(r"bench: (\S+) qd=\d+ request=\d+ iops=([\d.]+) mbps=([\d.]+)",
                             out.stdout):
            results[m.group(1)] = {"iops": float(m.group(2)), "mbps": float(m.group(3))}
        return results
    finally:
        if dm:
            dm.terminate()
            dm.wait(timeout=20)
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def median_of(runs):
    """Per figure, the median of the rounds: the virtual disk here has
    bursts several times its usual speed, which a best-of would pick."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--dir", default="/var/tmp", help="where the image lives (real storage)")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--qd", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--evtchn", choices=["direct", "text"], default="direct",
                    help="how the test frontend signals: its eventfds (a guest's hypercall) "
                         "or text lines relayed by xensim")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    toolstack.XS_BATCH = os.path.join(args.build, "tests", "integration", "xs-batch")
    if not shutil.which("fio"):
        report("fio is missing (apt-get install fio): nothing to compare against")
        return 1
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="qdisk-bench-") as d:
        image = os.path.join(d, "disk.img")
        report(f"qdisk: image {args.size_mib} MiB in {args.dir}, O_DIRECT, queue depth {args.qd}, "
               f"{args.seconds:.0f} s per workload, median of {args.rounds} alternated rounds")
        make_image(image, args.size_mib)
        variants = [("persistent, 1 queue", True, 1), ("grant copy, 1 queue", False, 1),
                    ("persistent, 4 queues", True, 4)]
        # Alternated rounds, median of each: load from elsewhere on a shared
        # machine, or the storage's bursts, then hit both sides alike.
        fio_runs = {name: [] for name, _, _, _, _ in LOADS}
        ring_runs = {label: {} for label, _, _ in variants}
        for _ in range(args.rounds):
            for name, rw, bs, _, _ in LOADS:
                fio_runs[name].append(run_fio(image, rw, bs, args.qd, args.seconds))
            for label, p, q in variants:
                for name, figures in run_ring(args, image, p, q).items():
                    ring_runs[label].setdefault(name, []).append(figures)
        fio = {name: median_of(runs) for name, runs in fio_runs.items()}
        ring = {label: {name: median_of(runs) for name, runs in per.items()}
                for label, per in ring_runs.items()}
        for name, _, _, target, unit in LOADS:
            peer = fio[name][unit]
            report(f"{name}: fio {peer:,.1f} {unit}")
            for label, _, _ in variants:
                got = ring[label].get(name, {}).get(unit)
                if got is None:
                    report(f"   {label}: no result")
                    continue
                ratio = got / peer if peer else 0.0
                mark = f" (target >= {target}: {'met' if ratio >= target else 'NOT met'})" \
                    if label.startswith("persistent, 1") else ""
                report(f"   {label}: {got:,.1f} {unit} -> {ratio:.2f} of fio{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
