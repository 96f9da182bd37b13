"""The kernel's own page_owner, read live from debugfs: the ground truth when it is on.

What it reads, and when (see KERNEL-FACTS.md):

- Every tick: ``page_owner_stacks/show_stacks`` (6.9+), a seq_file of per-stack counts.
  On 6.19+ the cheaper ``show_handles`` instead, resolving only handles never seen before
  through ``show_stacks_handles`` (handles are stable for the life of the kernel).
  debugfs files give no inotify events, so the source polls; the caller's worker thread
  calls ``snapshot()`` once per interval.
- ``count_threshold``: read at start; ``set_threshold`` writes it so the kernel skips small
  stacks itself.  Where the write is refused (lockdown, permissions, a copy of the tree)
  the threshold is applied here instead and the next snapshot says so once.
- The full ``page_owner`` file only when the user asks for something that needs it
  (``pages``: a PFN range; ``records``: an export) and never on a timer or at start-up:
  reading it walks every PFN in the kernel and has oopsed a real 6.12.117 kernel
  (folios charged to a non-root memcg).  It is read one record per ``read()`` with a
  buffer of at least a page; a PFN range ``lseek``s to its start (6.1+: the offset is the
  PFN) and stops after its end, so a range costs the range.  The one exception is a
  kernel before 6.9, which has no page_owner_stacks: there the per-stack counts can only
  come from the full file, so ``snapshot()`` reads it (the slow path, with progress and a
  longer ``min_interval``) and says so in every snapshot.

``root`` may also be a copy of the debugfs tree (a directory that is not a debugfs mount):
its files are then read as ordinary files, and nothing in it is ever written.

All system calls go through ``pageowner_tui.kernel.debugfs_files`` so tests can run this
exact code against a fake with the kernel's file semantics.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from types import MappingProxyType

from pageowner_tui.errors import Cancelled, FormatError, SourceUnavailable, UserError
from pageowner_tui.formats import show_stacks
from pageowner_tui.kernel.checks import Check
from pageowner_tui.kernel.debugfs_files import (
    PAGE_SIZE,
    DebugfsFiles,
    OsFiles,
    read_text,
    read_whole,
    write_value,
)
from pageowner_tui.model.snapshot import Breakdown, Counters, PageRecord, Snapshot, StackStat
from pageowner_tui.model.stack import Stack
from pageowner_tui.sources.base import Capabilities, ProgressCallback

__all__ = [
    "DEFAULT_ROOT",
    "DebugfsSource",
    "FullReadCost",
    "MODE_FULL_FILE",
    "MODE_HANDLES",
    "MODE_SHOW_STACKS",
    "preflight",
    "stacks_available",
]

DEFAULT_ROOT = "/sys/kernel/debug"

MODE_SHOW_STACKS = "show_stacks"
MODE_HANDLES = "handles"
MODE_FULL_FILE = "full-file (slow path)"

PAGE_OWNER = "page_owner"
STACKS_DIR = "page_owner_stacks"
SHOW_STACKS = f"{STACKS_DIR}/show_stacks"
SHOW_HANDLES = f"{STACKS_DIR}/show_handles"
SHOW_STACKS_HANDLES = f"{STACKS_DIR}/show_stacks_handles"
COUNT_THRESHOLD = f"{STACKS_DIR}/count_threshold"

# The kernel caps one page_owner read at PAGE_SIZE and fails with ENOMEM below the
# record's size: one page (at least 4 KiB) always fits a record it can print at all.
RECORD_BUFFER = max(PAGE_SIZE, 4096)

# The slow path re-reads the whole page_owner file per snapshot: never more often than
# this, nor more often than SLOW_PATH_FACTOR times the last read's duration.
SLOW_PATH_MIN_INTERVAL = 30.0
SLOW_PATH_FACTOR = 10.0

# The snapshot read by the constructor (to report format errors at start-up) serves as the
# first snapshot() if that comes within this many seconds.
PRIMED_FOR = 1.0

# Progress is reported every this many records (a callback per record costs too much).
_PROGRESS_EVERY = 512

_OOPS_WARNING = (
    "reading it walks every PFN in the kernel and has oopsed 6.12.117 kernels "
    "(folios charged to a non-root memory cgroup)"
)


# --- what a debugfs tree offers ------------------------------------------------------------


@dataclass(frozen=True)
class _Tree:
    """What ``root`` holds, found with stat() and open() only (never a page_owner read)."""

    root: str
    live: bool  # root is a debugfs mount: the running kernel, kernel file semantics
    release: str  # the running kernel's release when live, else ""
    page_owner: bool
    page_owner_empty: bool  # a copy whose page_owner file is empty
    show_stacks: bool
    handles: bool  # show_handles and show_stacks_handles (6.19+)
    threshold_file: bool

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    @property
    def mode(self) -> str:
        if self.handles:
            return MODE_HANDLES
        if self.show_stacks:
            return MODE_SHOW_STACKS
        return MODE_FULL_FILE

    @property
    def seek_absolute(self) -> bool:
        """6.1+: the page_owner offset is a PFN.  Before, relative to min_low_pfn, which
        user space cannot read: such kernels get a scan from the start instead."""
        return self.live and (self.show_stacks or _version(self.release) >= (6, 1))


def _version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _exists(files: DebugfsFiles, path: str) -> bool:
    try:
        files.stat(path)
    except FileNotFoundError:
        return False
    return True


def _mount_type(files: DebugfsFiles, path: str) -> str | None:
    """The filesystem type mounted exactly at ``path`` (last mount wins), or None."""
    try:
        table = read_text(files, "/proc/self/mounts")
    except OSError:
        return None
    target = os.path.normpath(path)
    found = None
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
            if os.path.normpath(point) == target:
                found = parts[2]
    return found


def _release(files: DebugfsFiles) -> str:
    try:
        return read_text(files, "/proc/sys/kernel/osrelease").strip()
    except OSError:
        return ""


def _config_page_owner(files: DebugfsFiles, release: str) -> tuple[bool | None, str]:
    """Whether the running kernel was built with CONFIG_PAGE_OWNER, and where we read it."""
    for path in ("/proc/config.gz", f"/boot/config-{release}" if release else ""):
        if not path:
            continue
        try:
            data = read_whole(files, path)
            if path.endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        text = data.decode("utf-8", "replace")
        if re.search(r"^CONFIG_PAGE_OWNER=y$", text, re.MULTILINE):
            return True, path
        return False, path
    return None, ""


def _lockdown(files: DebugfsFiles) -> str:
    try:
        text = read_text(files, "/sys/kernel/security/lockdown")
    except OSError:
        return "unknown"
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else "unknown"


class _Unavailable(SourceUnavailable):
    """SourceUnavailable that also knows which check failed, what was found and the fix,
    so ``preflight`` prints the same words as a failed start-up."""

    def __init__(self, check: str, detail: str, fix: str) -> None:
        self.check, self.detail, self.fix = check, detail, fix
        super().__init__(f"{detail}: {fix}")


def _permission_denied(path: str) -> _Unavailable:
    return _Unavailable(
        "permissions", f"permission denied reading {path}",
        "debugfs is readable by root only; run pageowner-top as root (sudo)",
    )


def _not_mounted(root: str) -> _Unavailable:
    return _Unavailable(
        "debugfs", f"debugfs is not mounted at {root}",
        f"mount it with 'mount -t debugfs none {root}' (or point --debugfs at a copy)",
    )


def _probe(root: str, files: DebugfsFiles) -> _Tree:
    """Look at ``root``; raise SourceUnavailable with one line saying what is wrong."""
    root = os.path.normpath(root)
    try:
        info = files.stat(root)
    except FileNotFoundError:
        if root == DEFAULT_ROOT:
            raise _not_mounted(root) from None
        raise _Unavailable(
            "debugfs", f"{root} does not exist",
            f"--debugfs wants the debugfs mount point (default {DEFAULT_ROOT}) or a copy of it",
        ) from None
    except PermissionError:
        raise _permission_denied(root) from None
    if not info.is_dir:
        raise _Unavailable(
            "debugfs", f"{root} is not a directory", "--debugfs wants the debugfs mount point or a copy of it"
        )
    live = _mount_type(files, root) == "debugfs"
    release = _release(files) if live else ""

    def present(name: str) -> bool:
        try:
            return _exists(files, os.path.join(root, name))
        except PermissionError:
            raise _permission_denied(os.path.join(root, name)) from None

    page_owner = present(PAGE_OWNER)
    stacks = present(SHOW_STACKS)
    if not page_owner and not stacks:
        raise _missing(root, live, release, files)
    empty = False
    if page_owner and not live:
        empty = files.stat(os.path.join(root, PAGE_OWNER)).size == 0
        if empty and not stacks:
            raise _Unavailable(
                "page_owner",
                f"{root}/{PAGE_OWNER} is empty (the kernel it was copied from was not booted with page_owner=on, "
                "or the copy failed)",
                "copy it again from a kernel booted with page_owner=on",
            )
    tree = _Tree(
        root=root,
        live=live,
        release=release,
        page_owner=page_owner,
        page_owner_empty=empty,
        show_stacks=stacks,
        handles=stacks and present(SHOW_HANDLES) and present(SHOW_STACKS_HANDLES),
        threshold_file=stacks and present(COUNT_THRESHOLD),
    )
    # Opening is cheap and reads nothing (the walk happens in read()): it finds
    # permission problems now rather than at the first tick.
    polled = {MODE_HANDLES: SHOW_HANDLES, MODE_SHOW_STACKS: SHOW_STACKS}.get(tree.mode, PAGE_OWNER)
    try:
        files.close(files.open(tree.path(polled)))
    except PermissionError:
        raise _permission_denied(tree.path(polled)) from None
    return tree


def _missing(root: str, live: bool, release: str, files: DebugfsFiles) -> _Unavailable:
    """No page_owner files under ``root``: say which of the possible reasons it is."""
    if not live:
        try:
            entries = files.listdir(root)
        except PermissionError:
            return _permission_denied(root)
        except OSError:
            entries = []
        if not entries and _mount_type(files, root) is None:
            return _not_mounted(root)
        return _Unavailable(
            "debugfs",
            f"{root} is neither a debugfs mount nor a copy of one (no {PAGE_OWNER} or {SHOW_STACKS} in it)",
            f"mount debugfs with 'mount -t debugfs none {root}', or point --debugfs at a copy",
        )
    compiled, where = _config_page_owner(files, release)
    if compiled is False:
        return _Unavailable(
            "page_owner",
            f"page_owner is not compiled into this kernel (CONFIG_PAGE_OWNER is not set in {where}, {release})",
            "use a kernel built with CONFIG_PAGE_OWNER=y, or --source ebpf",
        )
    if compiled:
        return _Unavailable(
            "page_owner",
            f"page_owner is compiled in but not enabled ({root}/{PAGE_OWNER} is missing)",
            "boot with page_owner=on on the kernel command line",
        )
    return _Unavailable(
        "page_owner",
        f"{root}/{PAGE_OWNER} not found (no CONFIG_PAGE_OWNER in this kernel, or booted without page_owner=on)",
        "add page_owner=on to the kernel command line, on a kernel built with CONFIG_PAGE_OWNER=y",
    )


def stacks_available(root: str = DEFAULT_ROOT, *, files: DebugfsFiles | None = None) -> bool:
    """Whether per-stack counts are cheap here (page_owner_stacks, 6.9+).

    ``auto`` source selection should prefer another source when this is False: without
    page_owner_stacks the debugfs source must read the whole page_owner file per tick.
    """
    files = files or OsFiles()
    try:
        return _exists(files, os.path.join(root, SHOW_STACKS))
    except OSError:
        return False


# --- preflight: the checks `doctor` prints ---------------------------------------------------


def preflight(root: str = DEFAULT_ROOT, *, files: DebugfsFiles | None = None) -> list[Check]:
    """One Check per thing the debugfs source needs.  Cheap: stat and open only; it never
    reads the page_owner file."""
    files = files or OsFiles()
    checks: list[Check] = []
    try:
        tree = _probe(root, files)
    except _Unavailable as exc:
        checks.append(Check(exc.check, False, exc.detail, exc.fix))
        return checks
    where = f"mounted at {tree.root}" if tree.live else f"{tree.root} is a copy (not a debugfs mount)"
    checks.append(Check("debugfs", True, where))
    if tree.page_owner and not tree.page_owner_empty:
        checks.append(Check("page_owner", True, f"{tree.path(PAGE_OWNER)} present (page_owner=on)"))
    else:
        checks.append(Check("page_owner", True, f"no {PAGE_OWNER} records in this copy: no PFN ranges or per-allocation exports"))
    if tree.show_stacks:
        checks.append(Check("show_stacks", True, f"{tree.path(SHOW_STACKS)} present (6.9+)"))
    else:
        # Degraded, not broken (the source runs): ok, with the cost said in the detail.
        checks.append(
            Check(
                "show_stacks",
                True,
                "no page_owner_stacks (kernel before 6.9): slow path, every refresh reads all of page_owner "
                f"(at most every {SLOW_PATH_MIN_INTERVAL:.0f} s); a 6.9+ kernel or --source ebpf avoids it",
            )
        )
    if tree.handles:
        checks.append(Check("handles", True, "show_handles present (6.19+): polls read handles, stacks only when new"))
    elif tree.show_stacks:
        checks.append(Check("handles", True, "no show_handles (kernel before 6.19): each poll reads show_stacks in full"))
    if tree.threshold_file:
        writable, reason = _threshold_writable(tree, files)
        if writable:
            checks.append(Check("count_threshold", True, "writable: thresholds are applied by the kernel"))
        else:
            checks.append(Check("count_threshold", True, f"{reason}; thresholds are applied by pageowner-top instead"))
    checks.append(Check("permissions", True, "page_owner files can be opened"))
    return checks


def _threshold_writable(tree: _Tree, files: DebugfsFiles) -> tuple[bool, str]:
    """Can count_threshold be written?  Opening for writing writes nothing, so try that."""
    if not tree.threshold_file:
        return False, "no count_threshold (kernel before 6.9)"
    if not tree.live:
        return False, f"{tree.root} is not a debugfs mount, so its count_threshold is never written"
    try:
        files.close(files.open(tree.path(COUNT_THRESHOLD), write=True))
    except OSError as exc:
        return False, _refusal(exc, tree, files)
    return True, ""


def _refusal(exc: OSError, tree: _Tree, files: DebugfsFiles) -> str:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno == errno.EPERM:
        return f"the kernel refused to open count_threshold for writing (EPERM: lockdown is {_lockdown(files)})"
    if exc.errno == errno.EACCES:
        return f"count_threshold is not writable ({name}: run as root)"
    return f"writing count_threshold failed ({name}: {exc.strerror})"


# --- the source ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FullReadCost:
    """What one read of the page_owner file cost, to tell the user before the next one."""

    records: int
    bytes: int
    seconds: float
    pfn_start: int
    pfn_end: int | None  # None: to the end
    skipped: int = 0  # records longer than a page (ENOMEM): not readable at all

    def describe(self) -> str:
        what = "full read" if self.pfn_start == 0 and self.pfn_end is None else (
            f"PFN range {self.pfn_start:#x}-{self.pfn_end:#x}" if self.pfn_end is not None
            else f"PFNs from {self.pfn_start:#x}"
        )
        text = f"{what}: {self.records} records, {self.bytes / 1e6:.1f} MB in {self.seconds:.2f} s"
        if self.skipped:
            text += f", {self.skipped} records longer than a page skipped"
        return text


class _FdRaw(io.RawIOBase):
    """A copy's page_owner file, read through the file abstraction as a stream."""

    def __init__(self, files: DebugfsFiles, fd: int) -> None:
        self._files, self._fd = files, fd
        self.consumed = 0  # bytes read so far, for progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._files.read(self._fd, len(buffer))
        buffer[: len(data)] = data
        self.consumed += len(data)
        return len(data)


class _IncrementalParse:
    """One show_stacks-family file, parsed tick after tick.

    A tick changes a few counts, so most records are byte-identical to the last tick's:
    those are looked up by their text, and only new or changed records go through
    ``show_stacks.parse``.  Anything unusual (a truncated file, an error) parses the whole
    text, so a FormatError names the same line it would without this cache.
    """

    def __init__(self, path: str, variants: tuple[str, ...], expected: str) -> None:
        self.path = path
        self.variants = variants  # what this file may hold
        self.expected = expected  # said in the error when it holds something else
        self.variant: str | None = None
        self.known: dict[str, show_stacks.Entry] = {}

    def parse(self, text: str, warnings: list[str]) -> list[show_stacks.Entry]:
        if not text:
            return []
        if not text.endswith("\n\n") or "\n\n\n" in text or text.startswith("\n"):
            return self._whole(text, warnings)
        blocks = text[:-2].split("\n\n")
        known = self.known
        out: list = []
        missing: list[int] = []
        for block in blocks:
            entry = known.get(block)
            if entry is None:
                missing.append(len(out))
                out.append(block)
            else:
                out.append(entry)
        if missing:
            try:
                parsed = show_stacks.parse("\n\n".join(out[i] for i in missing) + "\n\n", self.path)
            except FormatError:
                return self._whole(text, warnings)  # raises, naming the line in the whole file
            if parsed.warnings or len(parsed.entries) != len(missing) or not self._accept(parsed.variant):
                return self._whole(text, warnings)
            for i, entry in zip(missing, parsed.entries):
                known[out[i]] = entry
                out[i] = entry
            if len(known) > 2 * len(blocks) + 1024:  # forget records long gone
                self.known = {block: entry for block, entry in zip(blocks, out)}
        return out

    def _accept(self, variant: str) -> bool:
        if variant not in self.variants or (self.variant is not None and variant != self.variant):
            return False
        self.variant = variant
        return True

    def _whole(self, text: str, warnings: list[str]) -> list[show_stacks.Entry]:
        parsed = show_stacks.parse(text, self.path)
        if parsed.entries and not self._accept(parsed.variant):
            raise FormatError(self.path, 1, self.expected, f"{parsed.variant} records")
        warnings.extend(parsed.warnings)
        return parsed.entries


class DebugfsSource:
    """page_owner from debugfs as a live Source (see the module docstring)."""

    kind = "debugfs"

    def __init__(self, root: str = DEFAULT_ROOT, *, files: DebugfsFiles | None = None) -> None:
        self._files: DebugfsFiles = files or OsFiles()
        self._tree = _probe(root, self._files)
        self.root = self._tree.root
        self.mode = self._tree.mode
        self.warnings: list[str] = []  # skipped records, truncated files: for the caller to show
        self.last_read: FullReadCost | None = None  # the last page_owner read (range or full)
        self.last_full_read: FullReadCost | None = None
        # _poll_lock: one tick at a time (a slow-path tick takes seconds); _state_lock: the
        # threshold and notices, so set_threshold() from the UI never waits for a tick.
        self._poll_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._last_slow: Snapshot | None = None
        self._previous: dict[str, StackStat] = {}  # last snapshot's stats, reused when unchanged
        self._show_stacks = _IncrementalParse(
            self._tree.path(SHOW_STACKS), ("stacks", "stack_count"), "show_stacks records (frames, then 'nr_base_pages: N')"
        )
        self._show_handles = _IncrementalParse(
            self._tree.path(SHOW_HANDLES), ("handles",), "'handle: H' then 'nr_base_pages: N' records"
        )
        self._by_handle: dict[int, Stack] = {}
        self._notice: str | None = None  # said once, in the next snapshot's meta
        self._early_pages: int | None = None  # from the last full read
        self._early_at: float = 0.0
        self._closed = False
        self._refusal_said = False
        self._kernel_threshold_original: int | None = None
        self._threshold_in_kernel = False
        self._kernel_threshold = self._read_threshold() if self._tree.threshold_file else None
        self._threshold = self._kernel_threshold or 0
        self._writable, self._write_refusal = _threshold_writable(self._tree, self._files)
        if self._kernel_threshold:
            self._threshold_in_kernel = True
        self._max_pfn = self._read_max_pfn() if self._tree.live else None
        # Read the per-stack file once now: a format problem is reported at start-up, in
        # one line, and the first snapshot() does not pay twice.
        self._primed: Snapshot | None = None
        if self.mode != MODE_FULL_FILE:
            self._primed = self._poll()
            self._primed_at = time.monotonic()
        else:
            self._notice = (
                f"slow path: this kernel has no {STACKS_DIR} (before 6.9), so every refresh reads all of "
                f"{self._tree.path(PAGE_OWNER)} ({_OOPS_WARNING}); refreshing at most every "
                f"{SLOW_PATH_MIN_INTERVAL:.0f} s"
            )

    # --- Source protocol ---

    def capabilities(self) -> Capabilities:
        notes: list[str] = []
        tree = self._tree
        if tree.page_owner and not tree.page_owner_empty:
            notes.append(
                f"PFN ranges and per-allocation exports read {tree.path(PAGE_OWNER)}"
                + (f": {_OOPS_WARNING}" if tree.live else " (a copy: read as a file)")
            )
        else:
            notes.append(f"no page_owner records in {tree.root}: no PFN ranges, no per-allocation export")
        if self.mode == MODE_FULL_FILE:
            notes.append(
                "slow path: no page_owner_stacks (kernel before 6.9), so per-stack counts come from "
                f"full reads of page_owner, at most every {self.min_interval:.0f} s"
            )
        else:
            notes.append(
                "early-allocated pages are not in page_owner_stacks (the kernel never counts them); "
                "a full read (export) counts them"
            )
        if not self._writable:
            notes.append(f"count_threshold: {self._write_refusal}; thresholds are applied here")
        if tree.live and not tree.seek_absolute:
            notes.append("PFN ranges scan page_owner from the start (before 6.1 its offset is not a PFN)")
        return Capabilities(
            live=tree.live,
            kernel_threshold=self._writable,
            pfn_ranges=tree.page_owner and not tree.page_owner_empty,
            records=tree.page_owner and not tree.page_owner_empty,
            # Per-stack counts from show_stacks carry no breakdowns; the slow path aggregates
            # records, which carry order, GFP, migratetype, comm and pid.
            breakdowns=(
                (Breakdown.ORDER, Breakdown.GFP, Breakdown.MIGRATETYPE, Breakdown.COMM, Breakdown.PID)
                if self.mode == MODE_FULL_FILE else ()
            ),
            notes=tuple(notes),
        )

    @property
    def threshold(self) -> int:
        """Minimum pages per stack shown (applied by the kernel when it took it)."""
        return self._threshold

    @property
    def threshold_in_kernel(self) -> bool:
        return self._threshold_in_kernel

    @property
    def min_interval(self) -> float:
        """Shortest sensible refresh interval: 0 unless on the slow path."""
        if self.mode != MODE_FULL_FILE:
            return 0.0
        last = self.last_full_read.seconds if self.last_full_read else 0.0
        return max(SLOW_PATH_MIN_INTERVAL, SLOW_PATH_FACTOR * last)

    def set_threshold(self, pages: int) -> bool:
        """Show only stacks with at least ``pages`` pages.  True when the kernel took it
        (count_threshold written and read back); False when it is applied here."""
        if pages < 0:
            raise UserError(f"threshold must be 0 or more pages, not {pages}")
        with self._state_lock:
            self._threshold = pages
            self._primed = None  # read before the change
            if self._writable:
                try:
                    if self._kernel_threshold_original is None:
                        self._kernel_threshold_original = self._kernel_threshold or 0
                    write_value(self._files, self._tree.path(COUNT_THRESHOLD), f"{pages}\n")
                    back = self._read_threshold()
                except OSError as exc:
                    self._writable = False
                    self._write_refusal = _refusal(exc, self._tree, self._files)
                else:
                    self._kernel_threshold = back
                    if back == pages:
                        self._threshold_in_kernel = True
                        return True
                    self._write_refusal = f"count_threshold reads back {back} after writing {pages}"
                    self._writable = False
            self._threshold_in_kernel = False
            if pages and not self._refusal_said:
                self._notice = f"threshold applied by pageowner-top, not the kernel: {self._write_refusal}"
                self._refusal_said = True
            return False

    def snapshot(self, progress: ProgressCallback | None = None) -> Snapshot:
        """A new snapshot.  ``progress`` is only called on the slow path (full reads).

        On the slow path a snapshot younger than ``min_interval`` is returned again rather
        than reading the whole page_owner file once more, whatever the caller's interval.
        """
        with self._poll_lock:
            with self._state_lock:
                if self._closed:
                    raise UserError("the debugfs source is closed")
                primed, self._primed = self._primed, None
                recent = self._last_slow
            if primed is not None and time.monotonic() - self._primed_at > PRIMED_FOR:
                primed = None  # too old to pass for "now"
            if primed is not None:
                snap = primed
            elif self.mode != MODE_FULL_FILE:
                snap = self._poll()
            elif recent is not None and time.time() - recent.time < self.min_interval:
                snap = self._filtered(recent)  # too soon for another full read
            else:
                self._last_slow = self._slow_snapshot(progress)
                snap = self._filtered(self._last_slow)
            with self._state_lock:
                notice, self._notice = self._notice, None
            if notice:
                meta = dict(snap.meta)
                meta["notice"] = notice
                snap = replace(snap, meta=MappingProxyType(meta))
            return snap

    def pages(self, pfn_start: int, pfn_end: int, progress: ProgressCallback | None = None) -> Iterator[PageRecord]:
        """Allocations whose head PFN is in [pfn_start, pfn_end): lseeks to pfn_start and
        stops after pfn_end, so the kernel walks the range, not all of memory."""
        if pfn_start < 0 or pfn_end < pfn_start:
            raise UserError(f"bad PFN range {pfn_start:#x}-{pfn_end:#x}: want 0 <= start <= end")
        return self._read_records(pfn_start, pfn_end, progress)

    def records(self, progress: ProgressCallback | None = None) -> Iterator[PageRecord]:
        """Every allocation: a full read of page_owner (only when the user asked for it)."""
        return self._read_records(0, None, progress)

    def full_read_warning(self) -> str:
        """What a full read costs, for the prompt before one."""
        where = self._tree.path(PAGE_OWNER)
        if not self._tree.live:
            return f"reads the copy {where} as a file"
        size = f" ({self._max_pfn:,} PFNs, {self._max_pfn * 4096 / 2**30:.1f} GiB)" if self._max_pfn else ""
        last = f"; the last full read took {self.last_full_read.seconds:.1f} s" if self.last_full_read else ""
        return f"reads {where}: the kernel walks every PFN{size}{last}; {_OOPS_WARNING}"

    def close(self) -> None:
        """Give the kernel back the count_threshold we found (other tools read show_stacks)."""
        with self._poll_lock, self._state_lock:
            if self._closed:
                return
            self._closed = True
            if self._kernel_threshold_original is not None and self._writable:
                try:
                    write_value(self._files, self._tree.path(COUNT_THRESHOLD), f"{self._kernel_threshold_original}\n")
                except OSError:
                    pass  # the kernel refused now; nothing the user can do about it on exit

    def __enter__(self) -> "DebugfsSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- per-stack polls ---

    def _read_threshold(self) -> int | None:
        path = self._tree.path(COUNT_THRESHOLD)
        try:
            text = read_text(self._files, path).strip()
        except OSError:
            return None  # lockdown refuses even a read of this 0600 file
        if not text.isdigit():
            raise FormatError(path, 1, "a decimal page count", text)
        return int(text)

    def _read_max_pfn(self) -> int | None:
        try:
            text = read_text(self._files, "/proc/zoneinfo")
        except OSError:
            return None
        end = 0
        spanned = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "spanned":
                spanned = int(parts[1])
            elif len(parts) == 2 and parts[0] == "start_pfn:":
                if spanned:
                    end = max(end, int(parts[1]) + spanned)
                spanned = 0
        return end or None

    def _poll(self) -> Snapshot:
        started = time.perf_counter()
        now = time.time()
        meta: dict[str, str] = {"mode": self.mode, "origin": self.root}
        counters: dict[str, int] = {}
        if self.mode == MODE_HANDLES:
            entries, cost = self._poll_handles(counters)
        else:
            data = read_whole(self._files, self._tree.path(SHOW_STACKS))
            parsed = self._show_stacks.parse(data.decode("utf-8", "surrogateescape"), self.warnings)
            entries = ((e.stack, e.pages or 0, None) for e in parsed)  # no list: fewer live objects
            cost = f"show_stacks: {len(data):,} bytes"
        stats = self._stats(entries, counters)
        meta["poll"] = f"{cost} in {1000 * (time.perf_counter() - started):.1f} ms"
        self._describe_threshold(meta)
        if self._early_pages is not None:
            counters[Counters.EARLY_PAGES] = self._early_pages
            meta["early_pages"] = "from the full page_owner read at " + time.strftime("%H:%M:%S", time.localtime(self._early_at))
        return Snapshot(
            time=now,
            source="debugfs",
            stacks=MappingProxyType(stats),
            kernel=self._tree.release,
            counters=MappingProxyType(counters),
            meta=MappingProxyType(meta),
        )

    def _poll_handles(self, counters: dict[str, int]) -> tuple[list[tuple[Stack, int, int | None]], str]:
        data = read_whole(self._files, self._tree.path(SHOW_HANDLES))
        parsed = self._show_handles.parse(data.decode("utf-8", "surrogateescape"), self.warnings)
        by_handle = self._by_handle
        unknown = {e.handle for e in parsed if e.handle not in by_handle}
        cost = f"show_handles: {len(data):,} bytes"
        if unknown:
            resolved, read = self._resolve_handles(unknown)
            cost += f" + show_stacks_handles: {read:,} bytes for {resolved} new handles"
        entries = []
        unresolved = 0
        for e in parsed:
            stack = by_handle.get(e.handle)  # type: ignore[arg-type]
            if stack is None:
                unresolved += 1  # listed after show_stacks_handles was read: next poll
                continue
            entries.append((stack, e.pages or 0, e.handle))
        if unresolved:
            counters[Counters.UNLISTED_STACKS] = unresolved
        return entries, cost

    def _resolve_handles(self, unknown: set[int | None]) -> tuple[int, int]:
        """Frames for the handles not seen before; every other block is skipped unparsed."""
        path = self._tree.path(SHOW_STACKS_HANDLES)
        data = read_whole(self._files, path)
        text = data.decode("utf-8", "surrogateescape")
        if len(unknown) * 2 > len(self._by_handle) + len(unknown):
            # Mostly new (the first poll): one parse of everything is cheaper.
            parsed = show_stacks.parse(text, path)
            if parsed.entries and parsed.variant != "stacks_handles":
                raise FormatError(path, 1, "frames then 'handle: H' records", parsed.variant)
            for e in parsed.entries:
                if e.handle is not None and e.stack is not None:
                    self._by_handle.setdefault(e.handle, e.stack)
            return len(unknown & {e.handle for e in parsed.entries}), len(data)
        resolved = 0
        line = 1
        pos = 0
        while pos < len(text):
            end = text.find("\n\n", pos)
            if end < 0:
                end = len(text)
            block = text[pos:end]
            cut = block.rfind("\n")
            tail = block[cut + 1 :]
            if not tail.startswith("handle: ") or not tail[8:].isdigit():
                raise FormatError(path, line + block.count("\n"), "'handle: H' after the frames", tail)
            handle = int(tail[8:])
            if handle in unknown:
                try:
                    entry = show_stacks.parse(block + "\n\n", path).entries[0]
                except FormatError as exc:
                    raise FormatError(path, line - 1 + (exc.line or 1), exc.expected, exc.found) from None
                self._by_handle[handle] = entry.stack  # type: ignore[assignment]
                resolved += 1
            line += block.count("\n") + 2
            pos = end + 2
        return resolved, len(data)

    def _stats(self, entries: Iterable[tuple[Stack, int, int | None]], counters: dict[str, int]) -> dict[str, StackStat]:
        """StackStats by id, reusing last poll's objects for unchanged stacks (most of them)."""
        threshold = self._threshold
        previous = self._previous
        stats: dict[str, StackStat] = {}
        below = 0
        for stack, pages, handle in entries:
            if pages < threshold:
                below += 1
                continue
            sid = stack.id
            old = stats.get(sid)
            if old is not None:  # listed twice: add up, as Snapshot.from_stats would
                stats[sid] = StackStat(stack, old.pages + pages, handle=old.handle)
                continue
            prev = previous.get(sid)
            stats[sid] = prev if prev is not None and prev.pages == pages and prev.handle == handle else StackStat(
                stack, pages, handle=handle
            )
        if below:
            counters[Counters.BELOW_THRESHOLD] = below
        self._previous = stats
        return stats

    def _describe_threshold(self, meta: dict[str, str]) -> None:
        if self._kernel_threshold is None and self._tree.threshold_file:
            meta["kernel_threshold"] = "unknown (count_threshold cannot be read here)"
        elif self._kernel_threshold:
            meta["kernel_threshold"] = f"{self._kernel_threshold} (stacks below it are not listed by the kernel)"
        if self._threshold:
            where = "kernel" if self._threshold_in_kernel else "pageowner-top"
            meta["threshold"] = f"{self._threshold} pages, applied by {where}"

    # --- the page_owner file ---

    def _read_records(self, pfn_start: int, pfn_end: int | None, progress: ProgressCallback | None) -> Iterator[PageRecord]:
        tree = self._tree
        if not tree.page_owner or tree.page_owner_empty:
            raise UserError(f"{tree.root} has no page_owner records to read (a copy without {PAGE_OWNER})")
        if self._closed:
            raise UserError("the debugfs source is closed")
        if tree.live:
            return self._kernel_records(pfn_start, pfn_end, progress)
        return self._copy_records(pfn_start, pfn_end, progress)

    def _kernel_records(self, pfn_start: int, pfn_end: int | None, progress: ProgressCallback | None) -> Iterator[PageRecord]:
        """page_owner as the kernel serves it: one record per read(), offset = next PFN."""
        from pageowner_tui.formats import page_owner

        path = self._tree.path(PAGE_OWNER)
        files = self._files
        started = time.perf_counter()
        count = nbytes = skipped = early = 0
        line = 1
        end_for_progress = pfn_end if pfn_end is not None else (self._max_pfn or 0)
        total = max(0, end_for_progress - pfn_start)
        fd = files.open(path)
        try:
            if pfn_start and self._tree.seek_absolute:
                files.lseek(fd, pfn_start, os.SEEK_SET)
            while True:
                try:
                    data = files.read(fd, RECORD_BUFFER)
                except OSError as exc:
                    if exc.errno == errno.ENOMEM:
                        # A record longer than a page can never be read, and the offset
                        # stays on it: step past it, count it and go on.
                        first, last = self._skip_unreadable(fd)
                        skipped += 1
                        unit = "PFN" if self._tree.seek_absolute else "offset"
                        self.warnings.append(
                            f"{path}: records from {unit} {first:#x} to {unit} {last:#x} are longer than a page "
                            f"({RECORD_BUFFER} bytes) and cannot be read (ENOMEM); skipped"
                        )
                        continue
                    if exc.errno == errno.EINVAL:
                        raise SourceUnavailable(
                            f"reading {path} fails with EINVAL: page_owner is compiled in but not enabled; "
                            "boot with page_owner=on"
                        ) from None
                    if exc.errno in (errno.EACCES, errno.EPERM):
                        raise _permission_denied(path) from None
                    raise UserError(f"reading {path} failed: {exc.strerror}") from None
                if not data:
                    break
                block = data.decode("utf-8", "surrogateescape")
                record = page_owner.parse_record(block, path, line)
                line += block.count("\n")
                nbytes += len(data)
                if pfn_end is not None and record.pfn >= pfn_end:
                    break  # records come in PFN order: the range is done
                if record.pfn < pfn_start:
                    continue  # scanning from the start (offsets before 6.1 are not PFNs)
                count += 1
                if page_owner.is_early(record):
                    early += record.pages
                yield record
                if progress is not None and count % _PROGRESS_EVERY == 0:
                    if progress(min(record.pfn - pfn_start, total) if total else record.pfn - pfn_start, total):
                        raise Cancelled(f"read of {path} cancelled after {count} records")
        finally:
            files.close(fd)
        if progress is not None:
            progress(total, total)
        self._record_cost(FullReadCost(count, nbytes, time.perf_counter() - started, pfn_start, pfn_end, skipped), early)

    def _skip_unreadable(self, fd: int) -> tuple[int, int]:
        """Move the offset just past a record that does not fit in a page; return the
        offsets it was searched between (the last one is the unreadable record's PFN).

        After ENOMEM the kernel leaves the offset where it was, and the record's PFN is
        unknown (it was never printed).  Reading from each next offset in turn fails until
        the offset is past that record; the first offset that reads is its PFN + 1.  Two
        such records in a row look like one, and a search that jumps ahead could step over
        readable records, so this walks one offset at a time: slow, but only ever needed
        for records over a page long (16 frames with very long symbol names).
        """
        files = self._files
        offset = start = files.lseek(fd, 0, os.SEEK_CUR)
        while True:
            offset += 1
            files.lseek(fd, offset, os.SEEK_SET)
            try:
                files.read(fd, RECORD_BUFFER)
            except OSError as exc:
                if exc.errno == errno.ENOMEM:
                    continue
                raise
            files.lseek(fd, offset, os.SEEK_SET)  # read that record again, in the main loop
            return start, offset - 1

    def _copy_records(self, pfn_start: int, pfn_end: int | None, progress: ProgressCallback | None) -> Iterator[PageRecord]:
        """A copy of page_owner: an ordinary file, parsed as a stream; every record is
        checked against the range (a copy need not be in PFN order)."""
        from pageowner_tui.formats import page_owner

        path = self._tree.path(PAGE_OWNER)
        started = time.perf_counter()
        size = self._files.stat(path).size
        count = early = 0
        fd = self._files.open(path)
        try:
            raw = _FdRaw(self._files, fd)
            report = None
            if progress is not None:
                def report(_done: int, _total: int) -> bool | None:
                    return progress(raw.consumed, size)
            stream = io.BufferedReader(raw, 1 << 16)
            for record in page_owner.iter_records(stream, path, progress=report, warnings=self.warnings):
                if record.pfn < pfn_start or (pfn_end is not None and record.pfn >= pfn_end):
                    continue
                count += 1
                if page_owner.is_early(record):
                    early += record.pages
                yield record
        finally:
            self._files.close(fd)
        self._record_cost(FullReadCost(count, size, time.perf_counter() - started, pfn_start, pfn_end), early)

    def _record_cost(self, cost: FullReadCost, early_pages: int) -> None:
        self.last_read = cost
        if cost.pfn_start == 0 and cost.pfn_end is None:
            self.last_full_read = cost
            # Early pages are never in page_owner_stacks: a full read is the only way to
            # count them, so later polls carry this number (and say where it came from).
            self._early_pages, self._early_at = early_pages, time.time()

    def _slow_snapshot(self, progress: ProgressCallback | None) -> Snapshot:
        """Per-stack counts from a full read (kernels without page_owner_stacks), before
        any threshold: ``_filtered`` applies the current one each time it is shown."""
        from pageowner_tui.formats import page_owner

        now = time.time()
        snap = page_owner.aggregate(
            self._read_records(0, None, progress), source="debugfs", time=now, kernel=self._tree.release,
            meta={"mode": self.mode, "origin": self.root},
        )
        meta = dict(snap.meta)
        if self.last_full_read is not None:
            meta["poll"] = self.last_full_read.describe()
        return replace(snap, meta=MappingProxyType(meta))

    def _filtered(self, snap: Snapshot) -> Snapshot:
        """A slow-path snapshot with the current threshold applied (here: no kernel help)."""
        meta = dict(snap.meta)
        counters = dict(snap.counters)
        stats = dict(snap.stacks)
        threshold = self._threshold
        if threshold:
            kept = {sid: s for sid, s in stats.items() if s.pages >= threshold}
            if len(kept) != len(stats):
                counters[Counters.BELOW_THRESHOLD] = len(stats) - len(kept)
            stats = kept
        self._describe_threshold(meta)
        return replace(
            snap,
            stacks=MappingProxyType(stats),
            counters=MappingProxyType(counters),
            meta=MappingProxyType(meta),
        )
