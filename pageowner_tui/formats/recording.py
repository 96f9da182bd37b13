"""Recordings: many snapshots of one source in one self-describing SQLite file.

Why SQLite (stdlib ``sqlite3``) and zlib rather than a container of our own or zstd
(measured by ``bench/recording``; the numbers are in docs/recording-format.md):

- Crash safety comes for free: every frame is one committed transaction, so after
  ``kill -9`` (or a power cut, with the journal) every completed frame is readable and a
  half-written one is rolled back by SQLite itself on the next open.
- Random access by time is an indexed query, so a seek never reads the whole file.
- Nothing executes on load: rows are numbers, text and zlib-compressed arrays of integers.
- zlib is in the standard library; zstd would need a third-party wheel (Python 3.11 has no
  ``compression.zstd``) and the frames are small, so its better ratio buys little.

Layout (schema version ``SCHEMA_VERSION``; docs/recording-format.md is the full reference):

- ``PRAGMA application_id`` is ``APPLICATION_ID`` (so ``file(1)``-style sniffing can tell a
  recording from any other SQLite file) and ``PRAGMA user_version`` the schema version.
- ``meta(key, value)``: schema version, tool version, kernel release, hostname, source,
  interval, start time.
- ``stacks(id, text, handle)``: each distinct stack's text once (again only if its handle
  changes); ids count from 1 in order of first appearance and never change.
- ``frames(seq, time, key, stacks_known, total_pages, n_stacks, counts, breakdowns, extra,
  crc)``: one row per tick.  A keyframe (``key == seq``) holds every stack's counts; any
  other frame holds only the changes from the frame before it.  Keyframes come every
  ``KEYFRAME_EVERY`` frames at most (sooner when the changes add up to a keyframe's size),
  so a seek decodes one keyframe and a bounded number of deltas.

The counts blob is zlib (level 6) over little-endian columns (ids as gaps between sorted
ids, pages, allocations, removed ids), signed values zigzag-coded and each column at the
narrowest byte width that holds it: columns of small numbers compress far better than rows.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import json
import os
import socket
import sqlite3
import stat
import struct
import sys
import threading
import time as _time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pageowner_tui import __version__
from pageowner_tui.errors import FormatError, OutputExistsError, UserError
from pageowner_tui.formats.input import MAX_TIME
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import Stack, intern_stack_text
from pageowner_tui.safe_write import check_output_path

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "KEYFRAME_EVERY",
    "FrameInfo",
    "Recording",
    "RecordingWriter",
    "is_recording",
    "looks_like_recording",
]

SCHEMA_VERSION = 1
APPLICATION_ID = 0x706F7470  # "potp": pageowner-top
KEYFRAME_EVERY = 60
CHECKPOINT_EVERY = 8  # a reader keeps decoded states every this many frames it passes
_CHECKPOINT_BUDGET = 300_000  # ... up to this many stack entries in all (about 15 MB)
ZLIB_LEVEL = 6
SQLITE_MAGIC = b"SQLite format 3\x00"

_HEADER = struct.Struct("<IIBBBB")  # entries set, removed, byte width of each column
_TYPECODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
assert all(array.array(code).itemsize == width for width, code in _TYPECODES.items())
_EMPTY: Mapping = MappingProxyType({})

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE stacks (id INTEGER PRIMARY KEY, text TEXT NOT NULL, handle INTEGER);
CREATE TABLE frames (
    seq INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    key INTEGER NOT NULL,
    stacks_known INTEGER NOT NULL,
    total_pages INTEGER NOT NULL,
    n_stacks INTEGER NOT NULL,
    counts BLOB NOT NULL,
    breakdowns BLOB,
    extra TEXT,
    crc INTEGER NOT NULL
);
CREATE INDEX frames_by_time ON frames(time);
"""


def looks_like_recording(head: bytes) -> bool:
    """True when the first 72+ bytes of a file are a SQLite header with our application id.

    For ``formats/input.sniff``: a recording is told apart from any other SQLite file
    without opening it as a database."""
    if len(head) < 72 or not head.startswith(SQLITE_MAGIC):
        return False
    return struct.unpack(">I", head[68:72])[0] == APPLICATION_ID


def is_recording(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return looks_like_recording(f.read(100))
    except OSError:
        return False


# ---------------------------------------------------------------------------------------
# Encoding of one frame's counts


def _column(values: list[int]) -> tuple[int, bytes]:
    """Non-negative ints as little-endian unsigned of the narrowest width that holds them."""
    top = max(values, default=0)
    width = 1 if top < 1 << 8 else 2 if top < 1 << 16 else 4 if top < 1 << 32 else 8
    out = array.array(_TYPECODES[width], values)
    if sys.byteorder == "big":
        out.byteswap()
    return width, out.tobytes()


def _uncolumn(width: int, data: bytes) -> array.array:
    out = array.array(_TYPECODES[width])
    out.frombytes(data)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _gaps(ids: list[int]) -> list[int]:
    """Sorted ids as differences from the previous id (the first from 0): mostly 1s."""
    return [b - a for a, b in zip([0, *ids], ids)]


def _ungap(gaps: array.array) -> list[int]:
    return list(itertools.accumulate(gaps))


def _zigzag(values: Sequence[int]) -> list[int]:
    """Signed -> unsigned with small magnitudes small (0, -1, 1, -2 -> 0, 1, 2, 3): a
    shrinking stack then costs a byte, not eight bytes of 0xff."""
    return [v << 1 if v >= 0 else (-v << 1) - 1 for v in values]


def _unzigzag(values: array.array) -> list[int]:
    return [(z >> 1) ^ -(z & 1) for z in values]


def encode_counts(
    ids: list[int], pages: list[int], allocations: list[int], removed: list[int]
) -> bytes:
    """One frame's counts as a zlib blob (``ids`` and ``removed`` sorted ascending).

    Column by column (id gaps, pages, allocations, removed-id gaps), each at the narrowest
    byte width that holds it: columns of small numbers compress far better than rows."""
    columns = [_column(_gaps(ids)), _column(_zigzag(pages)), _column(_zigzag(allocations)), _column(_gaps(removed))]
    header = _HEADER.pack(len(ids), len(removed), *(width for width, _ in columns))
    return zlib.compress(header + b"".join(data for _, data in columns), ZLIB_LEVEL)


# SQLite errors, a damaged file's invalid UTF-8 in its schema or an error message (sqlite3
# raises UnicodeDecodeError) and SQLITE_NOMEM, which SQLite returns for records claiming
# absurd sizes (sqlite3 raises MemoryError): all mean a damaged recording.
_DB_ERRORS = (sqlite3.DatabaseError, UnicodeDecodeError, MemoryError)
_INT64 = 1 << 63
_MAX_COUNT = 1 << 62  # per stack: a change between frames (zigzag-coded) still fits 64 bits
MAX_BREAKDOWNS_BYTES = 64 << 20  # one frame's breakdowns as JSON, whatever it holds


def breakdowns_limit(stacks_known: int) -> int:
    """The most a frame's breakdowns may take as JSON: 4 KiB per stack the file holds, and
    64 MiB at most. The reader refuses more (a few KB of zlib can claim gigabytes), so the
    writer never stores more: a frame above it is recorded without breakdowns."""
    return min(MAX_BREAKDOWNS_BYTES, 4096 * (stacks_known + 16))


def _inflate(blob: bytes, limit: int, what: str) -> bytes:
    """zlib data that may expand to at most ``limit`` bytes (a hostile file can make a
    few KB expand to gigabytes); ValueError beyond that or when the stream is cut short."""
    inflater = zlib.decompressobj()
    raw = inflater.decompress(blob, limit + 1)
    if len(raw) > limit:
        raise ValueError(f"{what} expands beyond {limit} bytes")
    if not inflater.eof:
        raise ValueError(f"{what} is cut short")
    return raw


def decode_counts(blob: bytes, max_size: int = 1 << 30) -> tuple[list[int], list[int], list[int], list[int]]:
    raw = _inflate(blob, max_size, "counts blob")
    n_set, n_removed, *widths = _HEADER.unpack_from(raw, 0)
    if any(w not in _TYPECODES for w in widths):
        raise ValueError(f"counts blob has column widths {widths}")
    lengths = [n_set, n_set, n_set, n_removed]
    expected = _HEADER.size + sum(w * n for w, n in zip(widths, lengths))
    if len(raw) != expected:
        raise ValueError(f"counts blob is {len(raw)} bytes, expected {expected}")
    pos = _HEADER.size
    columns = []
    for width, n in zip(widths, lengths):
        columns.append(_uncolumn(width, raw[pos : pos + width * n]))
        pos += width * n
    ids, pages, allocations, removed = columns
    return _ungap(ids), _unzigzag(pages), _unzigzag(allocations), _ungap(removed)


def _crc(counts: bytes, breakdowns: bytes | None, extra: str | None) -> int:
    crc = zlib.crc32(counts)
    if breakdowns is not None:
        crc = zlib.crc32(breakdowns, crc)
    if extra is not None:
        crc = zlib.crc32(extra.encode("utf-8", "surrogateescape"), crc)
    return crc


def _frame_extra(snapshot: Snapshot) -> dict:
    """The per-frame facts beside the counts; stored only when they change."""
    return {
        "source": snapshot.source,
        "kernel": snapshot.kernel,
        "counters": dict(snapshot.counters),
        "meta": dict(snapshot.meta),
    }


def _plain_breakdowns(breakdowns: Mapping[str, Mapping[str, int]]) -> dict:
    return {name: dict(values) for name, values in breakdowns.items()}


# ---------------------------------------------------------------------------------------
# Writing


def _create_exclusive(path: str, force: bool) -> os.stat_result:
    """Create ``path`` as a new empty 0600 file without following a symlink there.

    ``check_output_path`` refuses symlinks and (without ``force``) existing files; the
    O_EXCL|O_NOFOLLOW create closes the race between that check and SQLite's open."""
    check_output_path(path, force)
    if force:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        for suffix in ("-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(path + suffix)
                if stat.S_ISREG(st.st_mode):
                    os.unlink(path + suffix)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise OutputExistsError(f"{path} appeared while starting; choose another path") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot create the recording: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it; never widen beyond 0600
        return os.fstat(fd)
    finally:
        os.close(fd)


class RecordingWriter:
    """Appends snapshots to a new recording; each ``append`` is one committed frame.

    Safe to use from a thread other than the one that created it (the TUI records from
    its sampling worker): a lock serialises appends and ``close``.
    """

    def __init__(
        self,
        path: str,
        *,
        source: str,
        interval: float,
        kernel: str = "",
        hostname: str | None = None,
        force: bool = False,
        keyframe_every: int = KEYFRAME_EVERY,
        extra_meta: Mapping[str, str] | None = None,
    ) -> None:
        if keyframe_every < 1:
            raise ValueError("keyframe_every must be 1 or more")
        self.path = path
        self.keyframe_every = keyframe_every
        self._lock = threading.Lock()
        created = _create_exclusive(path, force)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        after = os.lstat(path)
        if (after.st_dev, after.st_ino) != (created.st_dev, created.st_ino):
            self._db.close()
            raise OutputExistsError(f"{path} was replaced while starting; refusing to write")
        try:
            self._start(source, interval, kernel, hostname, extra_meta)
        except BaseException as exc:
            self._db.close()
            with contextlib.suppress(OSError):
                os.unlink(path)  # ours, created above and still empty of frames
            if isinstance(exc, sqlite3.Error):
                raise UserError(f"{path}: cannot start the recording: {exc}") from None
            raise
        self._ids: dict[str, int] = {}  # stack id -> its current row id
        self._handles: list[int | None] = []  # handle of each row (row id - 1)
        self._prev: dict[int, tuple[int, int]] = {}  # row id -> (pages, allocations)
        self._prev_breakdowns: dict[int, Mapping] = {}
        self.breakdowns_dropped = 0  # frames recorded without breakdowns (breakdowns_limit)
        self._prev_extra: str | None = None
        self._seq = 0
        self._key = 0
        self._since_key_bytes = 0
        self._key_bytes = 0
        self._last_time = float("-inf")
        self.bytes_written = 0  # payload bytes of the frames so far (for the benchmark)
        self.closed = False

    def _start(
        self,
        source: str,
        interval: float,
        kernel: str,
        hostname: str | None,
        extra_meta: Mapping[str, str] | None,
    ) -> None:
        # Rollback journal, not WAL: after a crash the main file alone holds every
        # committed frame, and readers on read-only media need no -shm file.  FULL: a
        # committed frame also survives a power cut, for one fsync per tick.
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        meta = {
            "schema_version": str(SCHEMA_VERSION),
            "tool": "pageowner-top",
            "tool_version": __version__,
            "kernel": kernel,
            "hostname": socket.gethostname() if hostname is None else hostname,
            "source": source,
            "interval": repr(float(interval)),
            "started": repr(_time.time()),
            "keyframe_every": str(self.keyframe_every),
        }
        meta.update(extra_meta or {})
        with self._transaction():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def frames(self) -> int:
        return self._seq

    def append(self, snapshot: Snapshot) -> int:
        """Write ``snapshot`` as the next frame and commit it; returns its frame number."""
        with self._lock:
            if self.closed:
                raise UserError(f"{self.path}: the recording is closed")
            try:
                return self._append(snapshot)
            except sqlite3.Error as exc:  # a full disk, a file removed under us, ...
                raise UserError(
                    f"{self.path}: cannot write frame {self._seq} ({exc}); "
                    f"the {self._seq} frames before it are saved"
                ) from None

    def _append(self, snapshot: Snapshot) -> int:
        if snapshot.time < self._last_time:
            raise UserError(
                f"{self.path}: a snapshot from {snapshot.time:.3f} is before the previous "
                f"frame ({self._last_time:.3f}); a recording is in time order (stop recording "
                "before stepping back in a replay)"
            )
        new_stacks: list[tuple[int, str, int | None]] = []
        new_ids: dict[str, int] = {}  # rows assigned by this frame: kept only if it commits
        current: dict[int, tuple[int, int]] = {}
        breakdowns_now: dict[int, Mapping] = {}
        ids, handles = self._ids, self._handles
        for stack_id, stat_ in snapshot.stacks.items():
            row = ids.get(stack_id)
            if row is None or handles[row - 1] != stat_.handle:
                # A handle is part of a stack's row: one that changes (a new kernel
                # instance behind the same source) gets a new row, text stored again.
                row = len(handles) + len(new_stacks) + 1
                new_ids[stack_id] = row
                new_stacks.append((row, _storable(stat_.stack.text), stat_.handle))
            if not (0 <= stat_.pages < _MAX_COUNT and 0 <= stat_.allocations < _MAX_COUNT):
                raise UserError(
                    f"{self.path}: a stack with {stat_.pages} pages cannot be recorded (counts are "
                    "0 to 2^62 so their changes and sums fit 64 bits); the input holds counts no kernel reports"
                )
            current[row] = (stat_.pages, stat_.allocations)
            if stat_.breakdowns:
                breakdowns_now[row] = stat_.breakdowns
        total_pages = sum(p for p, _ in current.values())
        if total_pages >= _INT64:
            raise UserError(f"{self.path}: the snapshot's pages add up to more than 64 bits; "
                            "the input holds counts no kernel reports")

        seq = self._seq
        keyframe = (
            seq == 0
            or seq - self._key >= self.keyframe_every
            or self._since_key_bytes > self._key_bytes
        )
        prev = self._prev
        if keyframe:
            ids = sorted(current)
            pages = [current[i][0] for i in ids]
            allocs = [current[i][1] for i in ids]
            removed: list[int] = []
            changed_breakdowns = {i: b for i, b in breakdowns_now.items()}
        else:
            ids = sorted(i for i, v in current.items() if prev.get(i) != v)
            pages = []
            allocs = []
            for i in ids:
                old = prev.get(i, (0, 0))
                new = current[i]
                pages.append(new[0] - old[0])
                allocs.append(new[1] - old[1])
            removed = sorted(i for i in prev if i not in current)
            changed_breakdowns = {
                i: b for i, b in breakdowns_now.items() if self._prev_breakdowns.get(i) != b
            }
            for i in self._prev_breakdowns:
                if i not in breakdowns_now and i in current:
                    changed_breakdowns[i] = _EMPTY
        counts = encode_counts(ids, pages, allocs, removed)
        known = len(handles) + len(new_stacks)
        breakdowns_blob = None
        if changed_breakdowns:
            plain = {str(i): _plain_breakdowns(b) for i, b in changed_breakdowns.items()}
            text = json.dumps(plain, separators=(",", ":"), sort_keys=True)
            if len(text) > breakdowns_limit(known):
                # More than a reader accepts: this frame clears every row's breakdowns
                # (stale ones would be shown as current) and the next frame sends them anew.
                self.breakdowns_dropped += 1
                plain = {str(i): {} for i in sorted(set(self._prev_breakdowns) & set(current))}
                text = json.dumps(plain, separators=(",", ":"), sort_keys=True)
                breakdowns_now = {}
            breakdowns_blob = zlib.compress(text.encode(), ZLIB_LEVEL) if plain else None
        extra_text = json.dumps(_frame_extra(snapshot), separators=(",", ":"), sort_keys=True)
        extra = extra_text if keyframe or extra_text != self._prev_extra else None
        size = len(counts) + len(breakdowns_blob or b"") + len(extra or "")
        with self._transaction():
            if new_stacks:
                self._db.executemany("INSERT INTO stacks VALUES (?, ?, ?)", new_stacks)
            self._db.execute(
                "INSERT INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    snapshot.time,
                    seq if keyframe else self._key,
                    known,
                    total_pages,
                    len(current),
                    counts,
                    breakdowns_blob,
                    extra,
                    _crc(counts, breakdowns_blob, extra),
                ),
            )
        self._ids.update(new_ids)
        self._handles.extend(handle for _, _, handle in new_stacks)
        if keyframe:
            self._key = seq
            self._key_bytes = size
            self._since_key_bytes = 0
        else:
            self._since_key_bytes += size
        self.bytes_written += size
        self._prev = current
        self._prev_breakdowns = breakdowns_now
        self._prev_extra = extra_text
        self._last_time = snapshot.time
        self._seq = seq + 1
        return seq

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._db.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What the frame index knows without decoding a frame."""

    seq: int
    time: float
    key: int
    stacks_known: int
    total_pages: int
    n_stacks: int


@dataclass
class _State:
    """Decoded counts after frame ``seq``: what the next delta applies to."""

    seq: int
    by_row: dict[int, StackStat]
    extra: dict


class Recording:
    """A recording opened for reading: frame index in memory, frames decoded on demand.

    Damage is handled, not hidden: frames are kept up to the last one that reads back
    whole (row present, checksum right, stacks present), and ``warnings`` says what was
    cut.  A file from a newer schema is refused.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._check_header()
        self._db = self._connect()
        try:
            self.meta = self._read_meta()
            self._stacks: list[Stack] = []
            self._handles: list[int | None] = []
            self.frames: list[FrameInfo] = []
            self._load_stacks()
            self._load_frames(start=0)
        except BaseException:
            self._db.close()
            raise
        if not self.frames:
            self._db.close()
            why = f" ({self.warnings[-1]})" if self.warnings else ""
            raise FormatError(path, None, "a recording with at least one complete frame", f"none{why}")
        self._state: _State | None = None
        self._times: list[float] = []
        self._checkpoints: dict[int, _State] = {}  # decoded states, least recently used first
        self._checkpoint_entries = 0

    # -- opening ----------------------------------------------------------------------

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as f:
                head = f.read(100)
        except OSError as exc:
            raise UserError(f"{self.path}: cannot read: {exc.strerror}") from None
        if not head.startswith(SQLITE_MAGIC):
            raise FormatError(self.path, None, "a pageowner-top recording (an SQLite file)")
        if len(head) < 100:
            raise FormatError(self.path, None, "a complete recording header", f"{len(head)} bytes")
        if not looks_like_recording(head):
            raise FormatError(
                self.path, None, "a pageowner-top recording", "an SQLite file of another program"
            )
        version = struct.unpack(">I", head[60:64])[0]  # PRAGMA user_version
        if version > SCHEMA_VERSION:
            raise FormatError(
                self.path,
                None,
                f"a recording of schema version {SCHEMA_VERSION} or older "
                f"(this is pageowner-top {__version__}; upgrade it to read this file)",
                f"schema version {version}",
            )

    def _connect(self) -> sqlite3.Connection:
        # Read-write when we may, so SQLite can roll back a frame half-written by a killed
        # recorder (a "hot journal"); otherwise read-only, which works for finished files.
        writable = os.access(self.path, os.W_OK) and os.access(
            os.path.dirname(os.path.abspath(self.path)), os.W_OK
        )
        has_journal = os.path.exists(self.path + "-journal")
        mode = "rw" if writable and has_journal else "ro"
        uri = f"file:{_uri_path(self.path)}?mode={mode}"
        try:
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except _DB_ERRORS as exc:
            first_error = exc
        # SQLite refuses a file shorter than its header says (cut short by a full disk or
        # an interrupted copy).  writable_schema makes it read the pages that are there;
        # this connection never writes, and the frame checks below stop at the cut.
        try:
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.execute("PRAGMA writable_schema=ON")
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except _DB_ERRORS:
            raise FormatError(
                self.path, None, "a readable recording", f"SQLite error: {first_error}"
            ) from None
        self.warnings.append(f"{self.path}: the file is damaged or cut short ({first_error})")
        return db

    def _read_meta(self) -> dict[str, str]:
        try:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        except _DB_ERRORS as exc:
            raise FormatError(
                self.path, None, "a recording's metadata table", f"SQLite error: {exc}"
            ) from None
        meta = dict(rows)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise FormatError(self.path, None, "a metadata table of text keys and values", "other values")
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError:
            raise FormatError(self.path, None, "schema_version in the metadata", repr(meta.get("schema_version"))) from None
        if version > SCHEMA_VERSION:
            raise FormatError(
                self.path,
                None,
                f"a recording of schema version {SCHEMA_VERSION} or older "
                f"(upgrade pageowner-top to read this file)",
                f"schema version {version}",
            )
        return meta

    def _load_stacks(self) -> None:
        start = len(self._stacks) + 1
        try:
            cursor = self._db.execute(
                "SELECT id, text, handle FROM stacks WHERE id >= ? ORDER BY id", (start,)
            )
            for row_id, text, handle in cursor:
                if row_id != len(self._stacks) + 1:
                    self.warnings.append(f"{self.path}: stack {len(self._stacks) + 1} is missing")
                    break
                if not isinstance(text, str) or not (handle is None or type(handle) is int):
                    self.warnings.append(f"{self.path}: stack {row_id} is not text and a handle")
                    break
                self._stacks.append(intern_stack_text(text))
                self._handles.append(handle)
        except _DB_ERRORS as exc:
            self.warnings.append(
                f"{self.path}: stack table damaged after {len(self._stacks)} stacks ({exc})"
            )

    def _load_frames(self, start: int) -> int:
        """Index and verify frames from ``start`` on; returns how many were added."""
        added = 0
        problem = None
        try:
            cursor = self._db.execute(
                "SELECT seq, time, key, stacks_known, total_pages, n_stacks, counts,"
                " breakdowns, extra, crc FROM frames WHERE seq >= ? ORDER BY seq",
                (start,),
            )
            for seq, when, key, known, total, n, counts, breakdowns, extra, crc in cursor:
                expected = len(self.frames)
                if not _frame_columns_ok(when, key, known, total, n, counts, breakdowns, extra, crc):
                    problem = f"frame {expected} has a column of the wrong type or an impossible time"
                elif seq != expected:
                    problem = f"frame {expected} is missing"
                elif key != seq and not (self.frames and key == self.frames[-1].key):
                    problem = f"frame {seq} refers to keyframe {key}, which does not precede it"
                elif counts is None or _crc(counts, breakdowns, extra) != crc:
                    problem = f"frame {seq} fails its checksum"
                elif known > len(self._stacks):
                    problem = f"frame {seq} uses stacks that are not in the file"
                elif self.frames and when < self.frames[-1].time:
                    problem = f"frame {seq} goes back in time"
                if problem:
                    break
                self.frames.append(FrameInfo(seq, when, key, known, total, n))
                added += 1
        except _DB_ERRORS as exc:
            problem = f"frame {len(self.frames)} is unreadable ({exc})"
        if problem:
            self.warnings.append(
                f"{self.path}: {problem}; showing the {len(self.frames)} complete frames before it"
            )
        return added

    # -- growing (a recording still being written) -----------------------------------

    def refresh(self) -> int:
        """Pick up frames committed since the file was opened; returns how many."""
        with self._lock:
            if self.warnings:
                return 0  # damaged: do not read past the damage
            self._load_stacks()
            return self._load_frames(start=len(self.frames))

    # -- access -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frames)

    def times(self) -> list[float]:
        return [f.time for f in self.frames]

    @property
    def stacks(self) -> Sequence[Stack]:
        return self._stacks

    def times_cache(self) -> list[float]:
        """Frame times, rebuilt only when frames were added (for bisecting on every seek)."""
        if len(self._times) != len(self.frames):
            self._times = self.times()
        return self._times

    def frame(self, index: int) -> Snapshot:
        """The snapshot of frame ``index`` (negative counts from the end)."""
        with self._lock:
            n = len(self.frames)
            if index < 0:
                index += n
            if not 0 <= index < n:
                raise IndexError(f"frame {index} is not in {self.path} ({n} frames)")
            info = self.frames[index]
            state = self._state
            if state is None or state.seq > index or state.seq < info.key:
                state = self._start_state(info.key, index)
            for seq in range(state.seq + 1, index + 1):
                self._apply_delta(state, seq)
                if seq % CHECKPOINT_EVERY == 0:
                    self._remember(state)
            self._state = state
            return self._snapshot_of(state, info)

    def _start_state(self, key: int, index: int) -> _State:
        """A private state to decode frame ``index`` from: the latest checkpoint at or
        before it in its keyframe's segment, or the keyframe itself.  Checkpoints make a
        step back cost a dict copy and a few deltas, not the whole segment again."""
        best = max(
            (seq for seq in self._checkpoints if key <= seq <= index), default=None
        )
        if best is None:
            state = self._decode_keyframe(key)
            self._remember(state)
            return state
        cached = self._checkpoints.pop(best)
        self._checkpoints[best] = cached  # most recently used last
        return _State(cached.seq, dict(cached.by_row), cached.extra)

    def _remember(self, state: _State) -> None:
        if state.seq in self._checkpoints:
            return
        self._checkpoints[state.seq] = _State(state.seq, dict(state.by_row), state.extra)
        self._checkpoint_entries += len(state.by_row)
        while self._checkpoint_entries > _CHECKPOINT_BUDGET and len(self._checkpoints) > 1:
            oldest = next(iter(self._checkpoints))
            self._checkpoint_entries -= len(self._checkpoints.pop(oldest).by_row)

    def _row(self, seq: int) -> tuple[bytes, bytes | None, str | None]:
        try:
            row = self._db.execute(
                "SELECT counts, breakdowns, extra FROM frames WHERE seq = ?", (seq,)
            ).fetchone()
        except _DB_ERRORS as exc:
            raise FormatError(self.path, None, f"frame {seq} readable", f"SQLite error: {exc}") from None
        if row is None:
            raise FormatError(self.path, None, f"frame {seq}", "nothing")
        return row

    def _decode(self, seq: int) -> tuple[list[int], list[int], list[int], list[int], dict, dict | None]:
        counts, breakdowns, extra = self._row(seq)
        known = self.frames[seq].stacks_known if seq < len(self.frames) else len(self._stacks)
        try:
            # Columns of at most 8 bytes per entry; entries (set or removed) at most the stacks.
            ids, pages, allocs, removed = decode_counts(counts, _HEADER.size + 32 * (known + 1))
            changed_breakdowns = (
                _checked_breakdowns(json.loads(_inflate(breakdowns, breakdowns_limit(known), "breakdowns")))
                if breakdowns else {}
            )
            extra_obj = _checked_extra(json.loads(extra)) if extra is not None else None
        except (zlib.error, ValueError, struct.error, RecursionError, MemoryError) as exc:
            raise FormatError(self.path, None, f"frame {seq} decodable", str(exc)) from None
        return ids, pages, allocs, removed, changed_breakdowns, extra_obj

    def _stat(self, row: int, pages: int, allocations: int, breakdowns: Mapping) -> StackStat:
        if not 1 <= row <= len(self._stacks):
            raise FormatError(self.path, None, f"stack ids 1..{len(self._stacks)}", str(row))
        if pages < 0 or allocations < 0:
            raise FormatError(self.path, None, "page and allocation counts of 0 or more", f"{pages}, {allocations}")
        return StackStat(
            stack=self._stacks[row - 1],
            pages=pages,
            allocations=allocations,
            handle=self._handles[row - 1],
            breakdowns=breakdowns,
        )

    def _decode_keyframe(self, seq: int) -> _State:
        ids, pages, allocs, _removed, breakdowns, extra = self._decode(seq)
        by_row = {}
        for i, row in enumerate(ids):
            b = breakdowns.get(str(row))
            by_row[row] = self._stat(row, pages[i], allocs[i], b or _EMPTY)
        return _State(seq, by_row, extra or {})

    def _apply_delta(self, state: _State, seq: int) -> None:
        ids, pages, allocs, removed, breakdowns, extra = self._decode(seq)
        by_row = state.by_row  # private to this state: snapshots get their own dict
        for row in removed:
            by_row.pop(row, None)
        for i, row in enumerate(ids):
            old = by_row.get(row)
            b = breakdowns.get(str(row))
            if old is None:
                by_row[row] = self._stat(row, pages[i], allocs[i], b or _EMPTY)
            else:
                if old.pages + pages[i] < 0 or old.allocations + allocs[i] < 0:
                    raise FormatError(self.path, None, f"frame {seq}: counts of 0 or more",
                                      f"{old.pages + pages[i]} pages")
                by_row[row] = StackStat(
                    stack=old.stack,
                    pages=old.pages + pages[i],
                    allocations=old.allocations + allocs[i],
                    handle=old.handle,
                    breakdowns=old.breakdowns if b is None else (b or _EMPTY),
                )
        for key, b in breakdowns.items():
            row = int(key)
            if row in by_row and row not in ids:
                old = by_row[row]
                by_row[row] = StackStat(
                    old.stack, old.pages, old.allocations, old.handle, b or _EMPTY
                )
        state.seq = seq
        state.by_row = by_row
        if extra is not None:
            state.extra = extra

    def _snapshot_of(self, state: _State, info: FrameInfo) -> Snapshot:
        extra = state.extra
        stacks = {stat_.stack.id: stat_ for stat_ in state.by_row.values()}
        return Snapshot(
            time=info.time,
            source=str(extra.get("source", self.meta.get("source", ""))),
            stacks=MappingProxyType(stacks),
            kernel=str(extra.get("kernel", self.meta.get("kernel", ""))),
            counters=MappingProxyType(dict(extra.get("counters", {}))),
            meta=MappingProxyType(dict(extra.get("meta", {}))),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


def _frame_columns_ok(when, key, known, total, n, counts, breakdowns, extra, crc) -> bool:
    """A frame row's columns have the types the writer stores (SQLite stores any value in
    any column of a hand-made file) and a time that every view can print."""
    return (
        type(when) in (int, float) and 0 <= when < MAX_TIME
        and all(type(v) is int for v in (key, known, total, n, crc))
        and type(counts) is bytes
        and (breakdowns is None or type(breakdowns) is bytes)
        and (extra is None or type(extra) is str)
    )


def _checked_breakdowns(obj: object) -> dict:
    """``{row: {breakdown: {key: pages}}}`` as the writer stores it."""
    if not isinstance(obj, dict):
        raise ValueError("breakdowns are not an object")
    out = {}
    for row, breakdowns in obj.items():
        # A stack row as the writer writes it: 1 to 10 digits, no leading zero.
        if not (row.isascii() and row.isdigit() and len(row) <= 10 and row[0] != "0"):
            raise ValueError(f"breakdowns name {row[:20]!r}, which is not a stack row")
        if not isinstance(breakdowns, dict):
            raise ValueError(f"breakdowns of row {row} are not an object")
        out[row] = {}
        for name, values in breakdowns.items():
            if not isinstance(values, dict) or not all(type(v) is int for v in values.values()):
                raise ValueError(f"breakdown {name!r} of row {row} is not counts")
            out[row][name] = values
    return out


def _checked_extra(obj: object) -> dict:
    """A frame's facts (source, kernel, counters, meta) as the writer stores them."""
    if not isinstance(obj, dict):
        raise ValueError("frame facts are not an object")
    out: dict = {}
    for name in ("source", "kernel"):
        if name in obj:
            if not isinstance(obj[name], str):
                raise ValueError(f"frame {name} is not text")
            out[name] = obj[name]
    counters, meta = obj.get("counters", {}), obj.get("meta", {})
    if not isinstance(counters, dict) or not all(type(v) is int for v in counters.values()):
        raise ValueError("frame counters are not counts")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("frame meta is not text")
    out["counters"], out["meta"] = counters, meta
    return out


def _storable(text: str) -> str:
    """Text SQLite can hold: bytes that were not UTF-8 (kept as surrogates when read) are
    written as ``\\xNN``; SQLite's TEXT is UTF-8 and sqlite3 refuses surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text
