"""The system calls the debugfs source makes, behind one small interface.

Why an interface at all: ``/sys/kernel/debug/page_owner`` is not a normal file.  Each
``read()`` returns exactly one record, fails with ENOMEM when the buffer is smaller than
that record (and the kernel has already moved the offset past it), and the file offset is
a PFN that ``lseek`` sets (SEEK_SET and SEEK_CUR only, 6.1+).  ``count_threshold`` is a
simple attribute that must be written in one ``write()``.  A plain file reproduces none of
this, and this machine's kernel has no page_owner, so the debugfs source makes every
system call through ``DebugfsFiles``.  ``OsFiles`` is the real thing; tests pass a fake
with the kernel's semantics (``tests/sources/fake_debugfs.py``), so all the code above
these calls is the code that runs on a real kernel.

The source also reads a few procfs files through the same interface (the kernel release,
the mount table, the kernel config, zoneinfo, the lockdown mode) so that a fake can stand
for a whole machine, not only for its debugfs directory.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "DebugfsFiles",
    "FileInfo",
    "OsFiles",
    "PAGE_SIZE",
    "read_whole",
    "read_text",
    "write_value",
]

# The kernel caps one page_owner read at PAGE_SIZE (print_page_owner: min(count,
# PAGE_SIZE)), so a buffer of at least a page is enough for any record it can print.
PAGE_SIZE: int = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

# seq_file and procfs reads: any size works; bigger means fewer system calls.
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What ``stat`` tells the source: debugfs files report size 0 whatever they hold."""

    mode: int  # st_mode
    size: int  # st_size (0 for kernel pseudo-files, the real size for a copy)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)

    @property
    def permissions(self) -> int:
        return stat.S_IMODE(self.mode)


@runtime_checkable
class DebugfsFiles(Protocol):
    """The system calls, one method each; errors are raised as ``OSError`` with errno set."""

    def stat(self, path: str) -> FileInfo: ...

    def listdir(self, path: str) -> list[str]: ...

    def open(self, path: str, *, write: bool = False) -> int: ...

    def read(self, fd: int, size: int) -> bytes: ...

    def write(self, fd: int, data: bytes) -> int: ...

    def lseek(self, fd: int, offset: int, whence: int) -> int: ...

    def close(self, fd: int) -> None: ...


class OsFiles:
    """The real system calls.  Never creates files: a missing file stays missing."""

    def stat(self, path: str) -> FileInfo:
        st = os.stat(path)
        return FileInfo(st.st_mode, st.st_size)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def open(self, path: str, *, write: bool = False) -> int:
        # No O_CREAT, no O_TRUNC: writing a debugfs attribute must not create or empty
        # anything, least of all a user's copy of the tree.
        flags = (os.O_WRONLY if write else os.O_RDONLY) | os.O_CLOEXEC
        return os.open(path, flags)

    def read(self, fd: int, size: int) -> bytes:
        return os.read(fd, size)

    def write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def lseek(self, fd: int, offset: int, whence: int) -> int:
        return os.lseek(fd, offset, whence)

    def close(self, fd: int) -> None:
        os.close(fd)


def read_whole(files: DebugfsFiles, path: str, *, limit: int | None = None) -> bytes:
    """Everything a seq_file or procfs file returns, read until end of file.

    ``limit`` stops after that many bytes (for files that only need a peek).
    """
    fd = files.open(path)
    try:
        parts: list[bytes] = []
        total = 0
        while True:
            want = _CHUNK if limit is None else min(_CHUNK, limit - total)
            if want <= 0:
                break
            data = files.read(fd, want)
            if not data:
                break
            parts.append(data)
            total += len(data)
        return b"".join(parts)
    finally:
        files.close(fd)


def read_text(files: DebugfsFiles, path: str) -> str:
    """``read_whole`` decoded the way every parser here expects (bad bytes kept)."""
    return read_whole(files, path).decode("utf-8", "surrogateescape")


def write_value(files: DebugfsFiles, path: str, text: str) -> None:
    """Write a debugfs attribute in a single ``write()``, as simple_attr_write needs.

    Raises ``OSError`` when the kernel refuses (EACCES, EPERM under lockdown, EINVAL for
    a value it cannot parse) or takes only part of the value.
    """
    data = text.encode("ascii")
    fd = files.open(path, write=True)
    try:
        written = files.write(fd, data)
    finally:
        files.close(fd)
    if written != len(data):
        raise OSError(errno.EIO, f"short write ({written} of {len(data)} bytes)", path)
