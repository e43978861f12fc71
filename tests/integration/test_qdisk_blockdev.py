# SPDX-License-Identifier: MIT
"""qdisk serving a real block device: loop devices over a file in the
test's directory, added as libxl adds a disk (toolstack.py) and driven by
the byte-level scripted frontend of qdisk_guest.py. Checks what the
backend reads from the device (size, logical block size, discard support
and granularity from sysfs, read-only), that data goes through the
device to the right place of its backing file, that flush and discard
really reach it (discarded ranges become holes in the backing file), that
BLKIF_DISCARD_SECURE is a plain discard where discard-secure=0, and a
read-only loop device.

Needs root and loop devices (CI runs as root on Debian 12); without them
every test fails with the reason, it is never skipped."""
import os
import shutil
import struct
import subprocess
import time
import unittest

import toolstack
from ioreqd_proc import Ioreqd
from qdisk_guest import (BE, DATA, DATA_REF, DEVID, DOMID, FE, OP_DISCARD, OP_FLUSH, OP_READ,
                         OP_WRITE, PAGE, RSP_EOPNOTSUPP, RSP_ERROR, RSP_OKAY, QdiskGuestCase,
                         discard, request)

MIB = 1 << 20
BLKIF_DISCARD_SECURE = 1


def loop_unavailable():
    """Why loop devices cannot be made here, or None."""
    if os.geteuid() != 0:
        return "loop devices need root (CI runs the suite as root)"
    if not os.path.exists("/dev/loop-control"):
        return "/dev/loop-control is missing (no loop driver: modprobe loop)"
    if not shutil.which("losetup"):
        return "losetup is missing (util-linux)"
    return None


def sysfs_block(dev, attr):
    """/sys/block/NAME/ATTR for a whole disk such as /dev/loop3."""
    with open(f"/sys/block/{os.path.basename(dev)}/{attr}") as f:
        return f.read().strip()


class QdiskBlockdevTest(QdiskGuestCase):
    """The scripted guest and its helpers (connect, submit, one, ...) on a
    loop device instead of an image file."""

    def setUp(self):
        reason = loop_unavailable()
        if reason:
            self.fail(f"cannot test qdisk on a block device: {reason}")
        super().setUp()  # self.image: 4 MiB of self.pattern * 4
        self.xstore = toolstack.Xenstore(self.tmp.name)

    # -- loop devices --
    def losetup(self, *args):
        p = subprocess.run(["losetup", *args], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            self.fail(f"losetup {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def detach(self, dev):
        """Cleanups run after tearDown, when ioreqd is gone; retried while
        udev or the kernel still holds the device."""
        for _ in range(50):
            p = subprocess.run(["losetup", "-d", dev], capture_output=True, text=True)
            if p.returncode == 0 or "No such device" in p.stderr:
                return
            time.sleep(0.1)
        self.fail(f"losetup -d {dev}: {p.stderr.strip()}")

    def attach(self, *options, backing=None):
        dev = self.losetup("-f", "--show", *options, backing or self.image)
        self.addCleanup(self.detach, dev)
        return dev

    # -- the disk, as libxl adds it --
    def serve(self, dev, mode="w", **kw):
        toolstack.add_qdisk(self.xstore, DOMID, DEVID, dev, mode=mode, **kw)
        self.dm = Ioreqd(self.tmp.name, DOMID, ["-machine", "xenfv"])
        self.wait_key(f"{BE}/state", "2")

    def backend(self, *keys):
        return self.xstore.read_dir(BE, keys)

    def backing(self, offset, n):
        with open(self.image, "rb") as f:
            f.seek(offset)
            return f.read(n)

    def assert_hole(self, start, end):
        """[start, end) of the backing file is deallocated and reads zeroes."""
        with open(self.image, "rb") as f:
            fd = f.fileno()
            self.assertEqual(os.lseek(fd, start, os.SEEK_HOLE), start,
                             f"no hole at {start} in the backing file")
            try:
                data = os.lseek(fd, start, os.SEEK_DATA)
            except OSError:  # ENXIO: a hole up to the end of the file
                data = os.fstat(fd).st_size
            self.assertGreaterEqual(data, end, f"the hole at {start} ends at {data}")
            f.seek(start)
            self.assertEqual(f.read(end - start), bytes(end - start))

    def assert_allocated(self, offset):
        with open(self.image, "rb") as f:
            self.assertEqual(os.lseek(f.fileno(), offset, os.SEEK_DATA), offset)

    # -- tests --
    def test_512_device_geometry_data_flush(self):
        """A 2 MiB window of the 4 MiB file (--offset 1 MiB): the size is
        the device's, and sector S lands at 1 MiB + S * 512 in the file."""
        dev = self.attach("--offset", str(MIB), "--sizelimit", str(2 * MIB))
        self.serve(dev)
        keys = self.backend("sectors", "sector-size", "physical-sector-size", "info",
                            "feature-flush-cache", "feature-discard", "discard-granularity",
                            "discard-alignment", "discard-secure")
        self.assertEqual(keys["sectors"], str(2 * MIB // 512))
        self.assertEqual(keys["sector-size"], "512")
        self.assertEqual(keys["physical-sector-size"],
                         sysfs_block(dev, "queue/physical_block_size"))
        self.assertEqual(keys["info"], "0")
        self.assertEqual(keys["feature-flush-cache"], "1")
        # A loop device discards by punching holes in its file.
        self.assertEqual(sysfs_block(dev, "queue/logical_block_size"), "512")
        self.assertEqual(keys["feature-discard"], "1")
        self.assertEqual(keys["discard-granularity"], sysfs_block(dev, "queue/discard_granularity"))
        self.assertNotEqual(keys["discard-granularity"], "512",
                            "the granularity comes from sysfs (the file system's block), "
                            "not the sector size")
        self.assertEqual(keys["discard-alignment"], sysfs_block(dev, "discard_alignment"))
        self.assertEqual(keys["discard-secure"], "0")  # no loop device has it
        self.connect()
        # Reads see the file through the window.
        self.assertEqual(self.one(request(OP_READ, 1, 8, [(DATA_REF, 0, 7)])),
                         (1, OP_READ, RSP_OKAY))
        self.assertEqual(self.read_mem(DATA, PAGE), self.backing(MIB + 8 * 512, PAGE))
        # A write from the middle of a page, then a flush: in the file.
        payload = os.urandom(3 * 512)
        self.write_mem(DATA + PAGE + 2 * 512, payload)
        self.assertEqual(self.one(request(OP_WRITE, 2, 100, [(DATA_REF + 1, 2, 4)])),
                         (2, OP_WRITE, RSP_OKAY))
        self.assertEqual(self.one(request(OP_FLUSH, 3, 0, [])), (3, OP_FLUSH, RSP_OKAY))
        self.assertEqual(self.backing(MIB + 100 * 512, 3 * 512), payload)
        self.assertEqual(self.backing(MIB + 99 * 512, 512), self.pattern[99 * 512:100 * 512])
        self.assertEqual(self.backing(100 * 512, 3 * 512), self.pattern[100 * 512:103 * 512])
        # A flush carrying data: stable in the file when answered.
        page = os.urandom(PAGE)
        self.write_mem(DATA + 2 * PAGE, page)
        self.assertEqual(self.one(request(OP_FLUSH, 4, 2 * 2048 - 8, [(DATA_REF + 2, 0, 7)])),
                         (4, OP_FLUSH, RSP_OKAY))
        self.assertEqual(self.backing(MIB + (2 * 2048 - 8) * 512, PAGE), page)
        # The window's end is the disk's end; the file goes on beyond it.
        self.assertEqual(self.one(request(OP_READ, 5, 2 * 2048 - 4, [(DATA_REF, 0, 7)]))[2],
                         RSP_ERROR)
        self.assertEqual(self.backing(3 * MIB, PAGE), self.pattern[:PAGE])

    def test_direct_io_writes_reach_the_device(self):
        """direct-io-safe=1 (O_DIRECT): a write is in the device when
        answered, before any flush."""
        dev = self.attach()
        self.serve(dev, direct_io_safe=True)
        self.assertIn("O_DIRECT", self.dm.stderr())
        self.connect()
        page = os.urandom(PAGE)
        self.write_mem(DATA, page)
        self.assertEqual(self.one(request(OP_WRITE, 1, 24, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        self.assertEqual(self.backing(24 * 512, PAGE), page)
        self.assertEqual(self.one(request(OP_READ, 2, 24, [(DATA_REF + 1, 0, 7)]))[2], RSP_OKAY)
        self.assertEqual(self.read_mem(DATA + PAGE, PAGE), page)

    def test_discard_deallocates(self):
        """Discards reach the loop device, which punches holes in its file;
        BLKIF_DISCARD_SECURE with discard-secure=0 is a plain discard."""
        dev = self.attach()
        self.serve(dev)
        self.assertEqual(self.backend("feature-discard", "discard-secure"),
                         {"feature-discard": "1", "discard-secure": "0"})
        self.connect()
        start, end = 128 * 1024, 192 * 1024
        self.assert_allocated(start)
        blocks = os.stat(self.image).st_blocks
        self.assertEqual(self.one(discard(1, start // 512, (end - start) // 512)),
                         (1, OP_DISCARD, RSP_OKAY))
        self.assert_hole(start, end)
        self.assertLess(os.stat(self.image).st_blocks, blocks)
        self.assertEqual(self.backing(start - PAGE, PAGE), self.pattern[start - PAGE:start])
        self.assertEqual(self.backing(end, PAGE), self.pattern[end:end + PAGE])
        # The guest reads zeroes there too.
        self.write_mem(DATA, b"\xee" * PAGE)
        self.assertEqual(self.one(request(OP_READ, 2, start // 512, [(DATA_REF, 0, 7)]))[2],
                         RSP_OKAY)
        self.assertEqual(self.read_mem(DATA, PAGE), bytes(PAGE))
        # The secure flag, not offered: answered OKAY as a plain discard.
        start2, end2 = 1024 * 1024, 1024 * 1024 + 32 * 1024
        self.assert_allocated(start2)
        self.assertEqual(self.one(discard(3, start2 // 512, (end2 - start2) // 512,
                                          flag=BLKIF_DISCARD_SECURE)),
                         (3, OP_DISCARD, RSP_OKAY))
        self.assert_hole(start2, end2)
        self.assertNotIn("secure discard", self.dm.stderr())
        # Data written after a discard is data again.
        self.write_mem(DATA, b"\x77" * PAGE)
        self.assertEqual(self.one(request(OP_WRITE, 4, start // 512, [(DATA_REF, 0, 7)]))[2],
                         RSP_OKAY)
        self.assertEqual(self.one(request(OP_FLUSH, 5, 0, []))[2], RSP_OKAY)
        self.assertEqual(self.backing(start, PAGE), b"\x77" * PAGE)
        # Out of range and empty discards.
        self.assertEqual(self.one(discard(6, 8192 - 1, 2))[2], RSP_ERROR)
        self.assertEqual(self.one(discard(7, 2**64 - 1, 2))[2], RSP_ERROR)
        self.assertEqual(self.one(discard(8, 100, 0))[2], RSP_OKAY)

    def test_4k_device_large_sectors(self):
        """--sector-size 4096: a frontend that writes
        feature-large-sector-size gets sector-size 4096 and 4 KiB sectors."""
        dev = self.attach("--sector-size", "4096")
        self.assertEqual(sysfs_block(dev, "queue/logical_block_size"), "4096")
        self.serve(dev)
        self.assertEqual(self.backend("sector-size", "physical-sector-size", "sectors"),
                         {"sector-size": "512", "physical-sector-size": "4096",
                          "sectors": str(4 * MIB // 512)})
        self.assertEqual(self.backend("discard-granularity")["discard-granularity"],
                         sysfs_block(dev, "queue/discard_granularity"))
        self.connect(extra=(f"{FE}/feature-large-sector-size", "1"))
        self.assertEqual(self.backend("sector-size", "sectors"),
                         {"sector-size": "4096", "sectors": str(4 * MIB // 4096)})
        page = os.urandom(PAGE)
        self.write_mem(DATA, page)
        # One sector is the whole page: first_sect = last_sect = 0.
        self.assertEqual(self.one(request(OP_WRITE, 1, 10, [(DATA_REF, 0, 0)]))[2], RSP_OKAY)
        self.assertEqual(self.one(request(OP_FLUSH, 2, 0, []))[2], RSP_OKAY)
        self.assertEqual(self.backing(10 * PAGE, PAGE), page)
        self.assertEqual(self.one(request(OP_READ, 3, 10, [(DATA_REF + 1, 0, 0)]))[2], RSP_OKAY)
        self.assertEqual(self.read_mem(DATA + PAGE, PAGE), page)
        self.assertEqual(self.one(request(OP_READ, 4, 1024, [(DATA_REF, 0, 0)]))[2], RSP_ERROR)
        # Discard in 4 KiB sectors.
        self.assertEqual(self.one(discard(5, 20, 2)), (5, OP_DISCARD, RSP_OKAY))
        self.assert_hole(20 * PAGE, 22 * PAGE)
        self.assertEqual(self.backing(19 * PAGE, PAGE), self.pattern[19 * PAGE:20 * PAGE])

    def test_4k_device_512_byte_frontend(self):
        """The same device for a frontend with 512-byte sectors: writes
        smaller than a block work (buffered), and a discard not aligned to
        4 KiB discards the whole blocks inside it (the kernel refuses
        anything else) instead of failing."""
        dev = self.attach("--sector-size", "4096")
        self.serve(dev)
        self.connect()
        self.assertEqual(self.backend("sector-size")["sector-size"], "512")
        payload = os.urandom(512)
        self.write_mem(DATA, payload)
        self.assertEqual(self.one(request(OP_WRITE, 1, 3, [(DATA_REF, 0, 0)]))[2], RSP_OKAY)
        self.assertEqual(self.one(request(OP_FLUSH, 2, 0, []))[2], RSP_OKAY)
        self.assertEqual(self.backing(3 * 512, 512), payload)
        self.assertEqual(self.backing(2 * 512, 512), self.pattern[2 * 512:3 * 512])
        # sectors 9..39 (bytes 4608..20480): blocks 2..4 (8192..20480) go
        self.assertEqual(self.one(discard(3, 9, 31)), (3, OP_DISCARD, RSP_OKAY))
        self.assert_hole(2 * PAGE, 5 * PAGE)
        self.assertEqual(self.backing(PAGE, PAGE), self.pattern[PAGE:2 * PAGE])
        self.assertEqual(self.backing(5 * PAGE, PAGE), self.pattern[5 * PAGE:6 * PAGE])
        # Inside one block: nothing to discard, still OKAY.
        self.assertEqual(self.one(discard(4, 1, 2)), (4, OP_DISCARD, RSP_OKAY))
        self.assertEqual(self.backing(0, 3 * 512), self.pattern[:3 * 512])

    def test_partition(self):
        """A partition (loopNp1) has no queue/ in sysfs: its discard
        granularity is its disk's, its discard alignment its own (the
        partition starts at sector 2049, off the 4 KiB grid)."""
        start, count = 2049, 4096
        mbr = bytearray(512)
        mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", start, count)
        mbr[510:512] = b"\x55\xaa"
        with open(self.image, "r+b") as f:
            f.write(mbr)
        dev = self.attach("-P")
        part = dev + "p1"
        deadline = time.monotonic() + 2
        while not os.path.exists(part) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(part):  # a kernel without the MBR parser: add it by hand
            p = subprocess.run(["partx", "-a", dev], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, f"partx -a {dev}: {p.stderr}")
        sysdir = f"/sys/block/{os.path.basename(dev)}/{os.path.basename(part)}"
        with open(f"{sysdir}/discard_alignment") as f:
            alignment = f.read().strip()
        self.serve(part)
        keys = self.backend("sectors", "feature-discard", "discard-granularity",
                            "discard-alignment")
        self.assertEqual(keys, {"sectors": str(count), "feature-discard": "1",
                                "discard-granularity": sysfs_block(dev, "queue/discard_granularity"),
                                "discard-alignment": alignment})
        self.assertNotEqual(alignment, "0")
        self.connect()
        page = os.urandom(PAGE)
        self.write_mem(DATA, page)
        self.assertEqual(self.one(request(OP_WRITE, 1, 0, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        self.assertEqual(self.one(request(OP_FLUSH, 2, 0, []))[2], RSP_OKAY)
        self.assertEqual(self.backing(start * 512, PAGE), page)
        self.assertEqual(self.one(request(OP_READ, 3, count - 8, [(DATA_REF, 0, 7)]))[2], RSP_OKAY)
        self.assertEqual(self.read_mem(DATA, PAGE), self.backing((start + count - 8) * 512, PAGE))
        self.assertEqual(self.one(request(OP_READ, 4, count - 7, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)

    def check_read_only(self, mode):
        dev = self.attach("-r")
        self.assertEqual(sysfs_block(dev, "ro"), "1")
        self.serve(dev, mode=mode)
        self.assertEqual(self.backend("feature-discard")["feature-discard"], "0")
        self.connect()
        self.write_mem(DATA, b"\x55" * PAGE)
        self.assertEqual(self.one(request(OP_WRITE, 1, 0, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)
        self.assertEqual(self.one(discard(3, 0, 8))[2], RSP_EOPNOTSUPP)
        self.assertEqual(self.one(request(OP_READ, 4, 0, [(DATA_REF + 1, 0, 7)]))[2], RSP_OKAY)
        self.assertEqual(self.read_mem(DATA + PAGE, PAGE), self.pattern[:PAGE])
        self.assertEqual(self.one(request(OP_FLUSH, 5, 0, []))[2], RSP_OKAY)
        self.assertEqual(self.backing(0, 2 * PAGE), self.pattern[:2 * PAGE])

    def test_read_only_device(self):
        """losetup -r, configured read-only (mode=r)."""
        self.check_read_only("r")
        self.assertEqual(self.backend("info")["info"], "4")  # VDISK_READONLY

    def test_read_only_device_mode_w(self):
        """losetup -r, though the toolstack says mode=w: the device decides."""
        self.check_read_only("w")
        self.assertIn("read-only device", self.dm.stderr())
        self.assertEqual(self.backend("info")["info"], "4")  # told, not left to fail
        # A flush carrying data is a write: refused too.
        self.assertEqual(self.one(request(OP_FLUSH, 6, 8, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)
        self.assertEqual(self.backing(0, 2 * PAGE), self.pattern[:2 * PAGE])

    def test_read_only_flush_with_data(self):
        """On a mode=r disk a FLUSH_DISKCACHE carrying data is a write:
        refused, never a bare flush answered OKAY with the data dropped."""
        dev = self.attach("-r")
        self.serve(dev, mode="r")
        self.connect()
        self.write_mem(DATA, b"\x55" * PAGE)
        self.assertEqual(self.one(request(OP_FLUSH, 1, 8, [(DATA_REF, 0, 7)]))[2], RSP_ERROR)


if __name__ == "__main__":
    unittest.main()
