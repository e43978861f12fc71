# SPDX-License-Identifier: MIT
"""The xenfv machine through a real ioreqd under xensim: what a guest's
firmware and drivers see first (host bridge, PIIX3, PM function, Xen
platform device and its unplug magic, the i8042 self-test), the serial
port's output and input with IRQ 4, and a reset through 0xCF9 rebooting
the domain."""
import os
import socket
import tempfile
import time
import unittest

from ioreqd_proc import Ioreqd
from xensim import Xensim



class XenfvTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.sim = Xensim(self.tmp.name, ["1,mem=64M,vcpus=1"])
        self.serial_sock = os.path.join(self.tmp.name, "com1.sock")
        self.dm = Ioreqd(self.tmp.name, 1, [
            "-machine", "xenfv,max-ram-below-4g=3G",
            "-serial", f"unix:{self.serial_sock},server,nowait"], name="xenfv")
        self.q = self.sim.qtest(1)
        self.assertEqual(self.q.cmd("xen_wait_servers 1 20000"), "OK")

    def tearDown(self):
        self.dm.stop()
        self.sim.stop()
        self.tmp.cleanup()

    def val(self, line):
        reply = self.q.cmd(line)
        self.assertTrue(reply.startswith("OK"), f"{line} -> {reply}")
        return int(reply.split()[1], 16)

    def cfg(self, dev, reg, fn=0):
        return self.q.cfg_read(dev, reg, fn=fn)

    def test_board_as_firmware_sees_it(self):
        self.assertEqual(self.cfg(0, 0), 0x12378086)        # i440FX
        self.assertEqual(self.cfg(1, 0), 0x70008086)        # PIIX3
        self.assertEqual(self.cfg(1, 0, fn=3), 0x71138086)  # PIIX4 PM
        self.assertEqual(self.cfg(2, 0), 0x00015853)        # Xen platform device
        self.assertEqual(self.cfg(2, 8) >> 8, 0xFF8000)     # its class
        self.assertEqual(self.cfg(3, 0), 0xFFFFFFFF)        # nothing else
        self.assertEqual(self.val("inw 0x10"), 0x49D2)      # unplug magic
        self.assertEqual(self.val("inb 0x12"), 1)           # protocol version
        # i8042 controller self-test, as SeaBIOS and Linux start
        self.assertEqual(self.q.cmd("outb 0x64 0xaa"), "OK")
        self.assertEqual(self.val("inb 0x60"), 0x55)

    def test_serial_output_input_and_irq(self):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.time() + 10
        while True:
            try:
                client.connect(self.serial_sock)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        client.settimeout(10)
        time.sleep(0.2)
        self.assertEqual(self.q.cmd("irq_intercept_in ioapic"), "OK")
        # 8N1, FIFO on, receive-data interrupt enabled, OUT2 so the IRQ reaches the PIC
        for line in ["outb 0x3fb 0x03", "outb 0x3fa 0x07", "outb 0x3fc 0x08", "outb 0x3f9 0x01"]:
            self.assertEqual(self.q.cmd(line), "OK")
        for ch in b"hi\n":
            self.assertEqual(self.q.cmd(f"outb 0x3f8 {ch:#x}"), "OK")
        got = b""
        while len(got) < 3:
            got += client.recv(16)
        self.assertEqual(got, b"hi\n")
        client.sendall(b"Z")
        self.assertEqual(self.q.event(timeout=10), "IRQ raise 4")
        self.assertTrue(self.val("inb 0x3fd") & 0x01)        # data ready
        self.assertEqual(self.val("inb 0x3f8"), ord("Z"))
        self.assertEqual(self.q.event(timeout=10), "IRQ lower 4")
        client.close()

    def test_reset_through_cf9_reboots(self):
        self.assertEqual(self.q.cmd("outb 0xcf9 0x06"), "OK")
        deadline = time.time() + 10
        state = ""
        while time.time() < deadline:
            state = self.q.cmd("xen_domain_state")
            if state != "OK running":
                break
            time.sleep(0.05)
        self.assertEqual(state, "OK shutdown:reboot")


if __name__ == "__main__":
    unittest.main()
