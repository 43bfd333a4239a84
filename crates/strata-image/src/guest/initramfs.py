# Writes the guest's initramfs (a gzip'd cpio "newc" archive) from an extracted kernel and
# busybox-static: busybox with its applets, the virtio modules, and /init (guest-init.sh).
import gzip
import os
import re
import sys

ROOT, OUT = sys.argv[1], sys.argv[2]
# The drivers a guest needs (the kernel has them as modules); /init loads them in the order
# of their dependencies, read from each module's `depends=` field.
MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk"]
APPLETS = ["sh", "mount", "insmod", "ip", "udhcpc", "wget", "cat", "echo", "sleep", "mkdir",
           "poweroff", "reboot", "dd", "md5sum", "ls", "sed", "grep", "tr", "hexdump", "head",
           "ifconfig", "route", "uptime", "hostname", "seq", "sync", "date", "printf", "timeout", "cut"]


class Cpio:
    def __init__(self):
        self.data = bytearray()
        self.ino = 1

    def add(self, name, mode, body=b""):
        header = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name) + 1, 0))
        self.ino += 1
        self.data += header.encode() + name.encode() + b"\0"
        self.data += b"\0" * (-len(self.data) % 4)
        self.data += body
        self.data += b"\0" * (-len(self.data) % 4)

    def dir(self, name):
        self.add(name, 0o040755)

    def file(self, name, body, mode=0o644):
        self.add(name, 0o100000 | mode, body)

    def link(self, name, target):
        self.add(name, 0o120777, target.encode())

    def end(self):
        self.add("TRAILER!!!", 0)
        return bytes(self.data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


release = os.listdir(os.path.join(ROOT, "lib/modules"))[0]
found = {}
for top, _, files in os.walk(os.path.join(ROOT, "lib/modules", release, "kernel")):
    for f in files:
        if f.endswith(".ko") and f[:-3] in MODULES:
            found[f[:-3]] = os.path.join(top, f)
missing = [m for m in MODULES if m not in found]
if missing:
    sys.exit("guest initramfs: modules not in the kernel package: " + " ".join(missing))

def depends(path):
    m = re.search(rb"depends=([^\0]*)\0", read(path))
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",") if d] if m else []


order = []


def visit(m):
    if m in order:
        return
    for d in depends(found[m]):
        if d not in found:
            sys.exit(f"guest initramfs: {m} needs {d}, which is not in the list")
        visit(d)
    order.append(m)


for m in MODULES:
    visit(m)

c = Cpio()
for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules", "mnt", "run"):
    c.dir(d)
c.file("bin/busybox", read(os.path.join(ROOT, "bin/busybox")), 0o755)
for a in APPLETS:
    c.link("bin/" + a, "busybox")
for i, m in enumerate(order):
    c.file("lib/modules/%02d-%s.ko" % (i, m), read(found[m]))
here = os.path.dirname(os.path.abspath(__file__))
c.file("init", read(os.path.join(here, "strata-guest-init.sh")), 0o755)
c.file("etc/udhcpc.sh", read(os.path.join(here, "strata-guest-udhcpc.sh")), 0o755)
with open(OUT, "wb") as f:
    f.write(gzip.compress(c.end(), 6))
