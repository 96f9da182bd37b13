"""Workloads that allocate a known number of pages, for tests against the real kernel.

Each runs in a child process (so its pid/tgid identifies its pages in owner records, and
its exit frees them) and holds its memory until released.  Used on the host and, through
run-guest, inside the page_owner kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from collections.abc import Iterator

__all__ = ["PAGE", "HeldMemory", "hold_anonymous", "tmpfs_file", "mixed_churn"]

PAGE = os.sysconf("SC_PAGE_SIZE")

# mode "touch": write one byte per page from user space (the ordinary page-fault path).
# mode "populate": mmap(MAP_POPULATE) faults every page in from the mmap syscall (other
# programs, e.g. stress-ng, use that path too).
# mode "readzero": read(2) /dev/zero into the mapping, so the kernel faults every page in
# from read_zero (read_iter_zero on newer kernels): a call path of its own even on a
# machine where others run stress-ng.
_CHILD = r"""
import mmap, os, sys
pages, mode, hugepages = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
size = pages * mmap.PAGESIZE
flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
if mode == "populate":
    flags |= mmap.MAP_POPULATE
m = mmap.mmap(-1, size, flags=flags)
if not hugepages and hasattr(m, "madvise"):
    m.madvise(mmap.MADV_NOHUGEPAGE)
if mode == "touch":
    for offset in range(0, size, mmap.PAGESIZE):
        m[offset] = 1
elif mode == "readzero":
    with open("/dev/zero", "rb", buffering=0) as zero:
        view = memoryview(m)
        done = 0
        while done < size:
            done += zero.readinto(view[done:])
        view.release()
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
"""


class HeldMemory:
    """A child process holding ``pages`` anonymous pages until release()."""

    MODES = ("touch", "populate", "readzero")

    def __init__(self, pages: int, mode: str = "touch", hugepages: bool = False) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, not {mode!r}")
        self.pages = pages
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(pages), mode, "1" if hugepages else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"workload child failed to start (said {line!r})")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=60)


@contextmanager
def hold_anonymous(pages: int, mode: str = "touch", hugepages: bool = False) -> Iterator[HeldMemory]:
    held = HeldMemory(pages, mode, hugepages)
    try:
        yield held
    finally:
        held.release()
        if held.proc.poll() is None:
            held.proc.kill()


@contextmanager
def tmpfs_file(pages: int, directory: str | None = None) -> Iterator[tuple[str, int]]:
    """A file of ``pages`` pages written by a child ``dd`` into a fresh tmpfs mount
    (huge=never, so every page is one order-0 shmem folio); yields (path, writer pid).
    The file is removed and the mount undone on exit."""
    mount_point = tempfile.mkdtemp(prefix="pageowner-tmpfs-", dir=directory)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={pages * PAGE + (64 << 20)},huge=never", "pageowner-test", mount_point],
        check=True,
    )
    path = os.path.join(mount_point, "file")
    try:
        writer = subprocess.Popen(
            ["dd", "if=/dev/zero", f"of={path}", f"bs={PAGE}", f"count={pages}", "status=none"]
        )
        writer.wait(timeout=120)
        if writer.returncode != 0:
            raise RuntimeError(f"dd failed with {writer.returncode}")
        yield path, writer.pid
    finally:
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run(["umount", mount_point], check=False)
        os.rmdir(mount_point)


def mixed_churn(seconds_budget_pages: int = 8192) -> None:
    """Allocations and frees of many kinds: fork/exec, page cache, pipes, anon, tmpfs."""
    with hold_anonymous(seconds_budget_pages // 2, "touch", hugepages=True):
        pass
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "churn")
        with open(path, "wb") as f:
            for _ in range(256):
                f.write(os.urandom(PAGE * 4))
            f.flush()
            os.fsync(f.fileno())
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    for _ in range(20):
        subprocess.run(["sh", "-c", "cat /proc/meminfo | sort | head -c 100000 > /dev/null"], check=True)
    read_end, write_end = os.pipe()
    for _ in range(64):
        os.write(write_end, b"x" * PAGE)
        os.read(read_end, PAGE)
    os.close(read_end)
    os.close(write_end)
