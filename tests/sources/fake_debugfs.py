"""A machine with page_owner, in memory, behind the ``DebugfsFiles`` system calls.

This machine's kernel has no CONFIG_PAGE_OWNER, and a plain file cannot behave like
``/sys/kernel/debug/page_owner``.  ``FakeMachine`` implements each call with the semantics
of mm/page_owner.c and fs/debugfs in Linux 6.12 (read from the source, quoted where it
matters), fed with the real 6.12 captures, so the debugfs source under test runs exactly
the code it runs on a real kernel:

- ``page_owner``: ``read_page_owner`` starts at ``min_low_pfn`` when the offset is 0 and at
  the offset's PFN otherwise (6.1+; before 6.1 the offset was relative to min_low_pfn),
  returns one record per call and leaves the offset at that record's PFN + 1;
  ``print_page_owner`` caps the buffer at PAGE_SIZE and fails with ENOMEM when the record
  does not fit (``ret >= count``), and then the offset stays where it was (the VFS writes
  f_pos back only on success).  ``lseek_page_owner`` takes SEEK_SET and
  SEEK_CUR, anything else is EINVAL.  It counts the PFNs it walks, so tests can check that
  a range read costs the range.
- ``page_owner_stacks/show_stacks``: a seq_file printing every stack with at least one
  page and at least ``count_threshold`` pages, newest first; ``stack_count:`` for the
  6.9-rc1 variant; ``show_handles`` / ``show_stacks_handles`` for 6.19+.
- ``count_threshold``: ``DEFINE_SIMPLE_ATTRIBUTE(..., "%llu")``: reads back without a
  newline; a write is parsed with kstrtoull (base 0, one trailing newline allowed) and
  fails with EINVAL otherwise.
- debugfs itself: the root is mode 0700 (EACCES for a non-root user); under lockdown a
  file with any write bit (count_threshold, 0600) cannot be opened at all (EPERM,
  debugfs_locked_down), read-only files still can.
- procfs: ``/proc/self/mounts``, ``/proc/sys/kernel/osrelease``, ``/proc/config.gz``,
  ``/proc/zoneinfo``, ``/sys/kernel/security/lockdown``.
"""

from __future__ import annotations

import bisect
import errno
import gzip
import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pageowner_tui.kernel.debugfs_files import FileInfo

PAGE_SIZE = 4096

_DIR = stat.S_IFDIR
_REG = stat.S_IFREG


def load_page_owner_records(path: Path) -> list[tuple[int, bytes]]:
    """(pfn, record bytes incl. its empty line) for every record of a real page_owner dump."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        text = f.read()
    records = []
    pfn_re = re.compile(rb"^PFN (0x[0-9a-f]+|[0-9]+) ", re.MULTILINE)
    for block in text.split(b"\n\n"):
        if not block.strip():
            continue
        match = pfn_re.search(block)
        assert match, block[:200]
        records.append((int(match.group(1), 0), block + b"\n\n"))
    records.sort(key=lambda r: r[0])
    return records


def load_show_stacks(path: Path) -> list[tuple[str, int]]:
    """(frames text, nr_base_pages) for every stack of a real show_stacks capture."""
    stacks = []
    for block in Path(path).read_text().split("\n\n"):
        if not block.strip():
            continue
        frames, _, count = block.rpartition("\n")
        label, _, value = count.partition(": ")
        assert label == "nr_base_pages", count
        stacks.append((frames + "\n", int(value)))
    return stacks


@dataclass
class _Node:
    mode: int
    # A regular file produces its bytes when opened (seq_file, procfs) unless it is one of
    # the special kinds below.
    content: Callable[[], bytes] | None = None
    kind: str = "plain"  # "plain" | "page_owner" | "threshold"


@dataclass
class _Open:
    path: str
    node: _Node
    write: bool
    pos: int = 0
    data: bytes = b""


@dataclass
class FakeMachine:
    """One machine.  Every argument is a knob a test turns; defaults are the 6.12 guest."""

    root: str = "/sys/kernel/debug"
    release: str = "6.12.117"
    mounted: bool = True  # debugfs mounted at root
    config_page_owner: bool | None = True  # CONFIG_PAGE_OWNER=y / not set / no config
    enabled: bool = True  # booted with page_owner=on (else no files, as pageowner_init)
    records: list[tuple[int, bytes]] = field(default_factory=list)
    stacks: list[tuple[str, int]] | None = field(default_factory=list)  # None: before 6.9
    variant: str = "stacks"  # "stacks" (6.9+), "stack_count" (6.9-rc1)
    handles: bool = False  # 6.19+: show_handles and show_stacks_handles
    threshold: int = 0
    lockdown: str = "none"  # "none" | "integrity" | "confidentiality"
    root_user: bool = True
    refuse_threshold_write: int | None = None  # errno for open(write) of count_threshold
    seek_absolute: bool | None = None  # None: from release (6.1+ absolute)
    min_low_pfn: int = 0
    max_pfn: int | None = None  # None: one past the last record
    zoneinfo: str | None = None
    page_size: int = PAGE_SIZE
    # What the fake saw: for tests that check costs.
    pfns_walked: int = 0
    page_owner_reads: int = 0
    bytes_read: Counter = field(default_factory=Counter)
    opened: Counter = field(default_factory=Counter)
    threshold_writes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._fds: dict[int, _Open] = {}
        self._next_fd = 100
        self._handles: dict[str, int] = {}
        if self.seek_absolute is None:
            self.seek_absolute = _version(self.release) >= (6, 1)

    # --- what the machine holds ----------------------------------------------------------

    def _pfns(self) -> list[int]:
        pfns = getattr(self, "_pfn_cache", None)
        if pfns is None or len(pfns) != len(self.records):
            self.records.sort(key=lambda r: r[0])
            pfns = [pfn for pfn, _ in self.records]
            self._pfn_cache = pfns
        return pfns

    def set_records(self, records: Iterable[tuple[int, bytes]]) -> None:
        self.records = sorted(records, key=lambda r: r[0])
        self._pfn_cache = None

    def handle_of(self, frames: str) -> int:
        """Stack depot handles: stable for the life of the kernel, as on 6.19."""
        handle = self._handles.get(frames)
        if handle is None:
            handle = 0x100000 + 0x10 * len(self._handles)
            self._handles[frames] = handle
        return handle

    def _visible(self) -> list[tuple[str, int]]:
        # stack_print: "if (nr_base_pages < 1 || nr_base_pages < page_owner_pages_threshold)"
        return [(f, n) for f, n in (self.stacks or []) if n >= 1 and n >= self.threshold]

    def _show_stacks(self) -> bytes:
        label = "stack_count" if self.variant == "stack_count" else "nr_base_pages"
        return "".join(f"{frames}{label}: {n}\n\n" for frames, n in self._visible()).encode()

    def _show_handles(self) -> bytes:
        return "".join(
            f"handle: {self.handle_of(frames)}\nnr_base_pages: {n}\n\n" for frames, n in self._visible()
        ).encode()

    def _show_stacks_handles(self) -> bytes:
        # Every stack, whatever its count and the threshold.
        return "".join(
            f"{frames}handle: {self.handle_of(frames)}\n\n" for frames, _ in (self.stacks or [])
        ).encode()

    def _mounts(self) -> bytes:
        lines = ["proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0"]
        if self.mounted:
            lines.append(f"debugfs {self.root} debugfs rw,relatime 0 0")
        return ("\n".join(lines) + "\n").encode()

    def _config(self) -> bytes:
        line = "CONFIG_PAGE_OWNER=y" if self.config_page_owner else "# CONFIG_PAGE_OWNER is not set"
        return gzip.compress(f"CONFIG_DEBUG_FS=y\n{line}\n".encode())

    def _lockdown(self) -> bytes:
        return (" ".join(f"[{m}]" if m == self.lockdown else m for m in ("none", "integrity", "confidentiality")) + "\n").encode()

    def _tree(self) -> dict[str, _Node]:
        r = self.root
        tree: dict[str, _Node] = {
            "/proc/self/mounts": _Node(_REG | 0o444, self._mounts),
            "/proc/sys/kernel/osrelease": _Node(_REG | 0o444, lambda: f"{self.release}\n".encode()),
            "/sys/kernel/security/lockdown": _Node(_REG | 0o444, self._lockdown),
            r: _Node(_DIR | 0o700),
        }
        if self.config_page_owner is not None:
            tree["/proc/config.gz"] = _Node(_REG | 0o444, self._config)
        if self.zoneinfo is not None:
            tree["/proc/zoneinfo"] = _Node(_REG | 0o444, lambda: self.zoneinfo.encode())
        if not self.mounted:
            return tree
        tree[f"{r}/tracing"] = _Node(_DIR | 0o700)
        if not (self.config_page_owner is not False and self.enabled):
            return tree
        tree[f"{r}/page_owner"] = _Node(_REG | 0o400, kind="page_owner")
        if self.stacks is not None:
            d = f"{r}/page_owner_stacks"
            tree[d] = _Node(_DIR | 0o755)
            tree[f"{d}/show_stacks"] = _Node(_REG | 0o400, self._show_stacks)
            tree[f"{d}/count_threshold"] = _Node(_REG | 0o600, kind="threshold")
            if self.handles:
                tree[f"{d}/show_handles"] = _Node(_REG | 0o400, self._show_handles)
                tree[f"{d}/show_stacks_handles"] = _Node(_REG | 0o400, self._show_stacks_handles)
        return tree

    # --- the system calls ------------------------------------------------------------------

    def _lookup(self, path: str) -> _Node:
        path = os.path.normpath(path)
        if not self.root_user and path.startswith(self.root + "/"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        node = self._tree().get(path)
        if node is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return node

    def stat(self, path: str) -> FileInfo:
        return FileInfo(self._lookup(path).mode, 0)

    def listdir(self, path: str) -> list[str]:
        path = os.path.normpath(path)
        node = self._lookup(path)
        if not stat.S_ISDIR(node.mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        if not self.root_user and path == self.root:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self._tree() if p.startswith(prefix)})

    def open(self, path: str, *, write: bool = False) -> int:
        path = os.path.normpath(path)
        node = self._lookup(path)
        if stat.S_ISDIR(node.mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if path.startswith(self.root + "/") and self.lockdown != "none":
            # debugfs_locked_down(): only files without write bits, opened read-only.
            if stat.S_IMODE(node.mode) & 0o7777 & ~0o444 or write:
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), path)
        if write and not stat.S_IMODE(node.mode) & 0o200:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        if write and node.kind == "threshold" and self.refuse_threshold_write is not None:
            code = self.refuse_threshold_write
            raise OSError(code, os.strerror(code), path)
        handle = _Open(path, node, write)
        if node.kind == "plain" and node.content is not None:
            handle.data = node.content()  # seq_file/procfs: what the kernel prints
        elif node.kind == "threshold" and not write:
            handle.data = b"%d" % self.threshold  # "%llu", no newline
        self._next_fd += 1
        self._fds[self._next_fd] = handle
        self.opened[path] += 1
        return self._next_fd

    def _fd(self, fd: int) -> _Open:
        try:
            return self._fds[fd]
        except KeyError:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF)) from None

    def read(self, fd: int, size: int) -> bytes:
        handle = self._fd(fd)
        if handle.write:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF), handle.path)
        if handle.node.kind == "page_owner":
            data = self._read_page_owner(handle, size)
        else:
            data = handle.data[handle.pos : handle.pos + size]
            handle.pos += len(data)
        self.bytes_read[handle.path] += len(data)
        return data

    def _read_page_owner(self, handle: _Open, count: int) -> bytes:
        self.page_owner_reads += 1
        if self.seek_absolute:
            pfn = self.min_low_pfn if handle.pos == 0 else handle.pos
        else:
            pfn = self.min_low_pfn + handle.pos
        pfns = self._pfns()
        end = self.max_pfn if self.max_pfn is not None else (pfns[-1] + 1 if pfns else 0)
        index = bisect.bisect_left(pfns, pfn)
        if index == len(pfns) or pfns[index] >= end:
            self.pfns_walked += max(0, end - pfn)  # "for (; pfn < max_pfn; pfn++)" to the end
            return b""
        found, record = self.records[index]
        self.pfns_walked += found - pfn + 1
        count = min(count, self.page_size)  # print_page_owner: min_t(size_t, count, PAGE_SIZE)
        if len(record) >= count:
            # read_page_owner sets *ppos before printing, but ksys_read works on a copy of
            # f_pos and writes it back only on success: after ENOMEM the offset has not
            # moved, and the next read finds the same record (seen on the 6.12 guest).
            raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM), handle.path)
        handle.pos = found + 1 if self.seek_absolute else found - self.min_low_pfn + 1
        return record

    def write(self, fd: int, data: bytes) -> int:
        handle = self._fd(fd)
        if not handle.write:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF), handle.path)
        if handle.node.kind != "threshold":
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), handle.path)
        self.threshold_writes.append(bytes(data))
        text = bytes(data[:23]).decode("ascii", "replace")  # sizeof(set_buf) - 1
        value = _kstrtoull(text)
        if value is None:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), handle.path)
        self.threshold = value
        return len(data)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        handle = self._fd(fd)
        if whence == os.SEEK_SET:
            handle.pos = offset
        elif whence == os.SEEK_CUR:
            handle.pos += offset
        else:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), handle.path)
        return handle.pos

    def close(self, fd: int) -> None:
        if self._fds.pop(fd, None) is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    @property
    def open_fds(self) -> int:
        return len(self._fds)


def _kstrtoull(text: str) -> int | None:
    """lib/kstrtox.c with base 0: 0x/0 prefixes, one trailing newline, nothing else."""
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return None
    try:
        if text[:2].lower() == "0x":
            value = int(text[2:], 16) if text[2:] and all(c in "0123456789abcdefABCDEF" for c in text[2:]) else None
        elif text.startswith("0") and len(text) > 1:
            value = int(text[1:], 8) if all(c in "01234567" for c in text[1:]) else None
        else:
            value = int(text) if text.isascii() and text.isdigit() else None
    except ValueError:
        return None
    if value is None or value >= 1 << 64:
        return None
    return value


def _version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)
