# SPDX-License-Identifier: MIT
"""A test toolstack: writes what libxl writes to xenstore for a qdisk vbd,
through xensim's dom0 xenstore socket and the real libxenstore (xs-batch,
one transaction per call, as libxl uses one).

    xs = Xenstore(sim.dir)                       # dom0
    add_qdisk(xs, 1, 51712, "/tmp/disk.img")     # xvda, raw, read-write
    remove_qdisk(xs, 1, 51712)                   # online=0, state=5, wait, clean up

What libxl writes for a qdisk (libxl_disk.c, libxl_device.c), in one
transaction:
  /libxl/D/device/vbd/N/      frontend, backend, and a copy of the backend keys
  frontend /local/domain/D/device/vbd/N/   perms (nD, r0):
      backend, backend-id, state=1, virtual-device=N, device-type
  backend /local/domain/0/backend/qdisk/D/N/   perms (n0, rD):
      frontend, params=FORMAT:PATH (raw is "aio"), frontend-id, online=1,
      removable, bootable=1, state=1, dev, type=qdisk, mode=w|r,
      device-type=disk|cdrom, [direct-io-safe=1], discard-enable=0|1
Removal: online=0 and, unless it is already Closed, state=5 (Closing);
wait up to 10 s for the backend's state 6 (Closed); then the frontend,
backend and /libxl directories are removed.
"""
import os
import subprocess
import time

XS_BATCH = os.environ.get("XS_BATCH", "build/tests/integration/xs-batch")

XENBUS_STATES = {0: "Unknown", 1: "Initialising", 2: "InitWait", 3: "Initialised",
                 4: "Connected", 5: "Closing", 6: "Closed"}
# libxl's format names in params (libxl__device_disk_string_of_format)
PARAMS_FORMAT = {"raw": "aio", "empty": "aio", "qcow": "qcow", "qcow2": "qcow2",
                 "vhd": "vhd", "qed": "qed"}
LIBXL_DESTROY_TIMEOUT = 10


class XenstoreError(RuntimeError):
    pass


class Xenstore:
    """xenstore as dom0 (or as guest domid) on a xensim directory."""

    def __init__(self, sim_dir, domid=None):
        sock = "xenstore" if domid is None else f"dom{domid}.xenstore"
        self.env = dict(os.environ, XENSTORED_PATH=os.path.join(sim_dir, sock))

    def batch(self, ops):
        """ops: tuples ("write", path, value), ("write-unless", path, value, skip),
        ("mkdir", path), ("rm", path), ("perms", path, "n0", "r1"...), ("read", path),
        run in one transaction. Returns the read results (str or None) in order."""
        text = "".join("\t".join(str(f) for f in op) + "\n" for op in ops)
        p = subprocess.run([XS_BATCH], input=text, env=self.env, capture_output=True,
                           text=True, timeout=20)
        lines = p.stdout.splitlines()
        if p.returncode != 0 or not lines or lines[-1] != "OK":
            raise XenstoreError(f"xs-batch failed: {p.stdout}{p.stderr}")
        return [None if line == "-" else line[2:] for line in lines[:-1]]

    def read(self, path):
        return self.batch([("read", path)])[0]

    def read_dir(self, path, keys):
        """{key: value or None} for path/key, in one transaction."""
        return dict(zip(keys, self.batch([("read", f"{path}/{k}") for k in keys])))

    def write(self, path, value):
        self.batch([("write", path, value)])

    def rm(self, path):
        self.batch([("rm", path)])

    def wait(self, path, accept, timeout=10, interval=0.02):
        """Poll path until accept(value) (value may be None); returns the
        last value and whether it was accepted."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.read(path)
            if accept(value):
                return value, True
            if time.monotonic() >= deadline:
                return value, False
            time.sleep(interval)


def vdev_to_devid(vdev):
    """xvdX[N] as libxl numbers it (the common forms only)."""
    if not vdev.startswith("xvd"):
        raise ValueError(f"unsupported vdev {vdev}")
    rest = vdev[3:]
    letters = "".join(c for c in rest if c.isalpha())
    part = int(rest[len(letters):] or 0)
    disk = -1
    for c in letters:
        disk = (disk + 1) * 26 + (ord(c) - ord("a"))
    if disk <= 15 and part <= 15:
        return (202 << 8) | (disk << 4) | part
    return (1 << 28) | (disk << 8) | part


def devid_to_vdev(devid):
    if devid >> 8 == 202:
        disk, part = (devid >> 4) & 15, devid & 15
    elif devid & (1 << 28):
        disk, part = (devid & ~(1 << 28)) >> 8, devid & 255
    else:
        return str(devid)
    name = ""
    disk += 1
    while disk:
        disk, r = divmod(disk - 1, 26)
        name = chr(ord("a") + r) + name
    return "xvd" + name + (str(part) if part else "")


def frontend_path(domid, devid):
    return f"/local/domain/{domid}/device/vbd/{devid}"


def backend_path(domid, devid, backend_domid=0):
    return f"/local/domain/{backend_domid}/backend/qdisk/{domid}/{devid}"


def libxl_path(domid, devid):
    return f"/libxl/{domid}/device/vbd/{devid}"


def qdisk_backend_keys(domid, devid, target, mode="w", device_type="disk", fmt="raw",
                       removable=False, discard_enable=None, direct_io_safe=False, vdev=None):
    """The backend keys libxl writes, in its order (as a list of pairs)."""
    if mode not in ("w", "r"):
        raise ValueError("mode is 'w' or 'r'")
    if discard_enable is None:
        discard_enable = mode == "w"  # libxl's default: discard on writable disks
    keys = [("params", f"{PARAMS_FORMAT[fmt]}:{target or ''}"),
            ("frontend-id", str(domid)), ("online", "1"),
            ("removable", "1" if removable else "0"), ("bootable", "1"),
            ("state", "1"), ("dev", vdev or devid_to_vdev(devid)), ("type", "qdisk"),
            ("mode", mode), ("device-type", device_type)]
    if direct_io_safe:
        keys.append(("direct-io-safe", "1"))
    keys.append(("discard-enable", "1" if discard_enable else "0"))
    return keys


def add_qdisk(xs, domid, devid, target, mode="w", device_type="disk", fmt="raw",
              removable=False, discard_enable=None, direct_io_safe=False, vdev=None,
              backend_domid=0, extra_backend=()):
    """Create a qdisk vbd as libxl does; returns (frontend, backend) paths.
    extra_backend: more (key, value) pairs for the backend (tests only)."""
    fe, be, lx = frontend_path(domid, devid), backend_path(domid, devid, backend_domid), \
        libxl_path(domid, devid)
    bents = qdisk_backend_keys(domid, devid, target, mode, device_type, fmt, removable,
                               discard_enable, direct_io_safe, vdev) + list(extra_backend)
    fents = [("backend-id", str(backend_domid)), ("state", "1"),
             ("virtual-device", str(devid)), ("device-type", device_type)]
    fe_perms = (f"n{domid}", f"r{backend_domid}")
    ops = [("rm", lx), ("write", f"{lx}/frontend", fe), ("write", f"{lx}/backend", be),
           ("rm", fe), ("mkdir", fe), ("perms", fe) + fe_perms,
           ("write", f"{fe}/backend", be)]
    for k, v in fents:  # libxl sets the frontend perms on each of these keys
        ops += [("write", f"{fe}/{k}", v), ("perms", f"{fe}/{k}") + fe_perms]
    ops += [("rm", be), ("mkdir", be), ("perms", be, f"n{backend_domid}", f"r{domid}"),
            ("write", f"{be}/frontend", fe)]
    ops += [("write", f"{be}/{k}", v) for k, v in bents]
    ops += [("write", f"{lx}/{k}", v) for k, v in bents]
    xs.batch(ops)
    return fe, be


def remove_qdisk(xs, domid, devid, backend_domid=0, timeout=LIBXL_DESTROY_TIMEOUT):
    """Ask the backend to close (online=0, state=5 unless already 6), wait
    for state 6, then remove the directories. Returns True if the backend
    reached Closed in time (libxl then forces the removal anyway)."""
    fe, be = frontend_path(domid, devid), backend_path(domid, devid, backend_domid)
    state = xs.batch([("read", f"{be}/state")])[0]
    closed = state is None
    if not closed:
        xs.batch([("write", f"{be}/online", "0"),
                  ("write-unless", f"{be}/state", "5", "6")])
        _, closed = xs.wait(f"{be}/state", lambda v: v in (None, "6"), timeout)
    xs.batch([("rm", fe), ("rm", be), ("rm", libxl_path(domid, devid))])
    return closed


def resize(xs, domid, devid, image, new_size, backend_domid=0):
    """Grow (or shrink) the image file, then tell the backend by rewriting a
    key of its directory (params, with its own value): ioreqd's qdisk then
    rereads the size, rewrites `sectors` and signals the frontend
    (docs/qdisk.md)."""
    os.truncate(image, new_size)
    be = backend_path(domid, devid, backend_domid)
    params = xs.read(f"{be}/params")
    if params is not None:
        xs.write(f"{be}/params", params)


def wait_backend_state(xs, domid, devid, states, timeout=10, backend_domid=0):
    """Wait until the backend's state is one of states (ints)."""
    want = {str(s) for s in states}
    return xs.wait(f"{backend_path(domid, devid, backend_domid)}/state",
                   lambda v: v in want, timeout)
