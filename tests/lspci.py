#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lspci for a xensim guest: prints bus 0 as the guest sees it, from real
config cycles (0xCF8/0xCFC) on the domain's qtest socket, so every access
is routed to the ioreqd processes exactly as a guest's would be.

    tests/lspci.py DIR/dom1.qtest
    00:03.0 ff00: 1b36:0005 (rev 00)
            BAR0: Memory at e0000000 (32-bit, non-prefetchable) [size=128M]
            BAR1: I/O ports at c000 [size=256]

Sizes come from the firmware's sizing dance (decoding off, write all-ones,
read back, restore the BAR and the command register), so running it leaves
the guest's bus as it found it. Stdlib only: usable from demos and docs.
"""
import socket
import sys

CF8, CFC = 0xCF8, 0xCFC


class QtestLink:
    """One qtest connection: a command line in, its OK/FAIL reply out."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                reply, self.buf = self.buf[:nl].decode(), self.buf[nl + 1:]
                # asynchronous lines (IRQ ..., EVTCHN ...) are not replies
                if reply.startswith(("OK", "FAIL")):
                    return reply
                continue
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("qtest socket closed")
            self.buf += chunk

    def close(self):
        self.sock.close()


class ConfigSpace:
    def __init__(self, cmd):
        self.cmd = cmd

    def _ok(self, line):
        reply = self.cmd(line)
        if not reply.startswith("OK"):
            raise RuntimeError(f"{line!r} -> {reply!r}")
        parts = reply.split()
        return int(parts[1], 16) if len(parts) > 1 else None

    def read(self, devfn, reg, size=4):
        self._ok(f"outl {CF8:#x} {0x80000000 | devfn << 8 | (reg & 0xFC):#x}")
        op = {1: "inb", 2: "inw", 4: "inl"}[size]
        return self._ok(f"{op} {CFC + (reg & 3):#x}")

    def write(self, devfn, reg, value, size=4):
        self._ok(f"outl {CF8:#x} {0x80000000 | devfn << 8 | (reg & 0xFC):#x}")
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self._ok(f"{op} {CFC + (reg & 3):#x} {value:#x}")


def human_size(size):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def probe(cfg, devfn, reg):
    saved = cfg.read(devfn, reg)
    cfg.write(devfn, reg, 0xFFFFFFFF)
    mask = cfg.read(devfn, reg)
    cfg.write(devfn, reg, saved)
    return saved, mask


def bars(cfg, devfn, count):
    """[(index, text)] for the implemented BARs of one function."""
    command = cfg.read(devfn, 0x04, 2)
    cfg.write(devfn, 0x04, command & ~0x3, 2)
    out = []
    i = 0
    try:
        while i < count:
            reg = 0x10 + 4 * i
            saved, mask = probe(cfg, devfn, reg)
            if mask in (0, 0xFFFFFFFF):
                i += 1
                continue
            if mask & 1:
                m = mask & ~3
                if not m & 0xFFFF0000:
                    m |= 0xFFFF0000
                size = (~m & 0xFFFFFFFF) + 1
                state = "" if command & 1 else " [disabled]"
                out.append((i, f"I/O ports at {saved & ~3:x}{state} [size={size}]"))
                i += 1
                continue
            is64 = (mask & 6) == 4 and i < count - 1
            addr, m = saved & ~0xF, mask & ~0xF
            if is64:
                saved_hi, mask_hi = probe(cfg, devfn, reg + 4)
                addr |= saved_hi << 32
                m |= mask_hi << 32
                size = (~m & 0xFFFFFFFFFFFFFFFF) + 1
            else:
                size = (~m & 0xFFFFFFFF) + 1
            kind = "64-bit" if is64 else "32-bit"
            pref = "prefetchable" if mask & 8 else "non-prefetchable"
            state = "" if command & 2 else " [disabled]"
            out.append((i, f"Memory at {addr:x} ({kind}, {pref}){state} [size={human_size(size)}]"))
            i += 2 if is64 else 1
    finally:
        cfg.write(devfn, 0x04, command, 2)
    return out


def lspci(cmd):
    """The listing as a list of lines; cmd sends one qtest line, returns the reply."""
    cfg = ConfigSpace(cmd)
    lines = []
    for dev in range(32):
        functions = 1
        fn = 0
        while fn < functions:
            devfn = dev << 3 | fn
            fn += 1
            ids = cfg.read(devfn, 0x00)
            if ids & 0xFFFF in (0xFFFF, 0):
                continue
            header = cfg.read(devfn, 0x0E, 1)
            if devfn & 7 == 0 and header & 0x80:
                functions = 8
            class_rev = cfg.read(devfn, 0x08)
            lines.append(f"00:{dev:02x}.{devfn & 7} {class_rev >> 16:04x}: "
                         f"{ids & 0xFFFF:04x}:{ids >> 16:04x} (rev {class_rev & 0xFF:02x})")
            pin = cfg.read(devfn, 0x3D, 1)
            if 1 <= pin <= 4:
                line = cfg.read(devfn, 0x3C, 1)
                lines.append(f"\tInterrupt: pin {'ABCD'[pin - 1]} routed to IRQ {line}")
            count = {0: 6, 1: 2}.get(header & 0x7F, 0)
            for index, text in bars(cfg, devfn, count):
                lines.append(f"\tBAR{index}: {text}")
    return lines


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {argv[0]} DIR/domN.qtest", file=sys.stderr)
        return 2
    link = QtestLink(argv[1])
    try:
        for line in lspci(link.cmd):
            print(line)
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
