#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The disk I/O engine (backends/blk-io.c) against fio with io_uring on the
same file, in the same run, same queue depth, both with O_DIRECT:

    blk_io.py --build DIR [--dir DIR] [--size-mib N] [--seconds S] [--engine E]

Cases: 4 KiB random read at QD32, 1 MiB sequential read and write at QD8.
Prints each figure and ratio = ours / fio. Needs fio (apt-get install fio).
Nothing here fails on a timing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

CASES = [
    # name, our mode, fio rw, block size, queue depth, figure
    ("4k-randread-qd32", "randread", "randread", 4096, 32, "iops"),
    ("1m-seqread-qd8", "seqread", "read", 1 << 20, 8, "mbps"),
    ("1m-seqwrite-qd8", "seqwrite", "write", 1 << 20, 8, "mbps"),
]


def make_image(path, size_mib):
    # written, not sparse: reads must reach the disk, not the hole path
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def run_fio(path, rw, bs, qd, seconds):
    out = subprocess.run(
        ["fio", "--name=peer", f"--filename={path}", "--ioengine=io_uring", f"--rw={rw}",
         f"--bs={bs}", f"--iodepth={qd}", "--direct=1", "--time_based",
         f"--runtime={seconds}", "--ramp_time=0", "--norandommap", "--randrepeat=0",
         "--output-format=json"],
        check=True, capture_output=True, text=True).stdout
    job = json.loads(out)["jobs"][0]
    side = job["write"] if rw == "write" else job["read"]
    return {"iops": side["iops"], "mbps": side["bw_bytes"] / 1e6}


def run_ours(build, engine, path, mode, bs, qd, seconds):
    out = subprocess.run(
        [os.path.join(build, "tests", "bench", "blk-io-bench"), "--engine", engine,
         "--mode", mode, "--bs", str(bs), "--qd", str(qd), "--seconds", str(seconds),
         "--direct", path],
        check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=", 1) for kv in out.split())
    return {"iops": float(fields["iops"]), "mbps": float(fields["mbps"])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--dir", default="/var/tmp", help="where the image goes (not tmpfs)")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--engine", default="io_uring", choices=["io_uring", "threads"])
    args = ap.parse_args()
    if not shutil.which("fio"):
        sys.exit("blk_io.py: fio is missing (apt-get install fio)")
    with tempfile.TemporaryDirectory(prefix="blk-io-bench-", dir=args.dir) as tmp:
        path = os.path.join(tmp, "disk.img")
        make_image(path, args.size_mib)
        print(f"image {args.size_mib} MiB in {args.dir}, O_DIRECT, best of 2 alternated runs of "
              f"{args.seconds} s each")
        for name, mode, rw, bs, qd, figure in CASES:
            # alternated twice, best of each: whoever runs first warms the
            # host's caches for the other
            peer = {"iops": 0.0, "mbps": 0.0}
            ours = {"iops": 0.0, "mbps": 0.0}
            for _ in range(2):
                p = run_fio(path, rw, bs, qd, args.seconds)
                o = run_ours(args.build, args.engine, path, mode, bs, qd, args.seconds)
                peer = max(peer, p, key=lambda r: r[figure])
                ours = max(ours, o, key=lambda r: r[figure])
            unit = "IOPS" if figure == "iops" else "MB/s"
            ratio = ours[figure] / peer[figure] if peer[figure] else float("nan")
            print(f"{name:18} {args.engine} {ours[figure]:12.1f} {unit}   fio io_uring "
                  f"{peer[figure]:12.1f} {unit}   ratio {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()
