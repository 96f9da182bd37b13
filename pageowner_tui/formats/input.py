"""Opening input files: plain or gzip-compressed, and telling their format apart.

Bug reports carry page_owner dumps compressed (``page_owner.txt.gz``), so every reader goes
through ``open_input``, which decompresses transparently.  ``sniff`` looks at the first
bytes only, so choosing a parser never reads a 500 MB dump twice.  Failures a user can fix
(missing file, no permission, a directory, a corrupt gzip stream) become one-line
``UserError``/``FormatError`` messages here, so no reader has to repeat that mapping.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import IO, BinaryIO

from pageowner_tui.errors import FormatError, UserError

__all__ = [
    "GZIP_MAGIC",
    "SQLITE_MAGIC",
    "KINDS",
    "open_input",
    "read_chunk",
    "read_limited",
    "read_position",
    "sniff",
]

GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
KINDS = ("page_owner", "show_stacks", "json", "recording")

_PAGE_OWNER_HEADER = "Page allocated via order "
_SHOW_STACKS_LABELS = ("nr_base_pages:", "stack_count:", "handle:")
_SNIFF_BYTES = 64 * 1024


def open_input(path: str) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip transparently.

    Raises ``UserError`` with what to do for a missing file, a directory or no permission.
    The caller closes the returned file (it is a context manager).
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory; give a file (or use 'replay' for a folder)") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; run as a user who can read it") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot open: {exc.strerror}") from None
    try:
        magic = raw.read(2)
        raw.seek(0)
    except OSError as exc:
        raw.close()
        if exc.errno == 21:  # EISDIR on some platforms only at read time
            raise UserError(f"{path} is a directory; give a file") from None
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    if magic == GZIP_MAGIC:
        return _GzipInput(raw, path)  # type: ignore[return-value]
    return raw


class _GzipInput(gzip.GzipFile):
    """A gzip reader over a file it also closes (GzipFile leaves a given file open)."""

    def __init__(self, raw: IO[bytes], path: str) -> None:
        super().__init__(filename=path, mode="rb", fileobj=raw)
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def read_chunk(f: IO, path: str, size: int) -> bytes | str:
    """``f.read(size)`` with decompression and I/O failures turned into one-line errors."""
    try:
        return f.read(size)
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FormatError(path, None, "a valid gzip stream", f"corrupt compressed data ({exc})") from None
    except EOFError:
        raise FormatError(
            path, None, "a complete gzip stream", "a compressed file cut short"
        ) from None
    except OSError as exc:
        raise UserError(f"{path}: read failed: {exc.strerror or exc}") from None


# Formats read whole (show_stacks, JSON) are refused above these sizes, decompressed:
# memory stays bounded whatever a file claims or a gzip stream expands to.  The kernel's
# show_stacks is ~480 bytes per stack (784 stacks: 373 KB), so 64 MiB is ~140,000 stacks;
# our JSON is ~3 times larger per stack.
MAX_SHOW_STACKS_BYTES = 64 << 20
MAX_JSON_BYTES = 256 << 20
MAX_TIME = 2.0**37  # seconds since 1970 (year 6325): a later snapshot time is not a real one


def read_limited(f: IO, path: str, limit: int, what: str) -> bytearray:
    """All of ``f`` (decompressed), or a FormatError once it exceeds ``limit`` bytes.

    A plain file's size is checked before reading (a 10 GB sparse file costs nothing); a
    compressed one is read 1 MiB at a time and refused as soon as it passes the limit.
    """
    expected = f"{what} of at most {limit >> 20} MiB"
    if not isinstance(f, gzip.GzipFile):
        try:
            size = os.fstat(f.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = 0
        if size > limit:
            raise FormatError(path, None, expected, f"{size} bytes")
    data = bytearray()
    while chunk := read_chunk(f, path, 1 << 20):
        data += chunk
        if len(data) > limit:
            raise FormatError(path, None, expected, f"more than {limit} bytes decompressed")
    return data


def read_position(f: IO) -> tuple[int, int]:
    """(bytes consumed, total bytes) of the file on disk, for progress; total 0 if unknown.

    For gzip input both count compressed bytes, so the fraction is right even though the
    decompressed size is not known until the end.
    """
    raw = getattr(f, "fileobj", None) if isinstance(f, gzip.GzipFile) else f
    raw = raw if raw is not None else f
    try:
        done = raw.tell()
        total = os.fstat(raw.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return 0, 0
    return done, total


def sniff(path: str) -> str:
    """Which reader a file needs: ``page_owner``, ``show_stacks``, ``json`` or ``recording``.

    Looks at the first bytes only (after decompression).  Raises ``FormatError`` naming the
    file and what was expected when it is none of them.
    """
    with open_input(path) as f:
        head = read_chunk(f, path, _SNIFF_BYTES)
    assert isinstance(head, bytes)
    if head.startswith(SQLITE_MAGIC):
        return "recording"
    expected = (
        "a page_owner dump ('Page allocated via order ...'), a show_stacks file "
        "(frames then 'nr_base_pages: N'), JSON or a pageowner-top recording"
    )
    if not head:
        raise FormatError(path, 1, expected, "an empty file")
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "json"
    text = head.decode("utf-8", "surrogateescape")
    line_no, first = next(
        ((n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()), (1, "")
    )
    if first.startswith(_PAGE_OWNER_HEADER):
        return "page_owner"
    if line_no == 1 and (first.startswith(" ") or first.startswith(_SHOW_STACKS_LABELS)):
        return "show_stacks"
    if " times, " in first and first.rstrip().endswith(":"):
        raise FormatError(
            path, line_no, expected + " (this looks like page_owner_sort output; give its input)",
            first,
        )
    if "\x00" in text[:4096] or "\ufffd" in text[:4096] or any(
        "\udc80" <= ch <= "\udcff" for ch in first[:200]
    ):
        raise FormatError(path, line_no, expected, "binary data")
    raise FormatError(path, line_no, expected, first or "only whitespace")
