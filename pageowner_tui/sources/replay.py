"""Replay: a recording, a saved snapshot file or a watched folder as a source you can move
through in time (the ``TimeTravel`` protocol of sources/base.py).

- A recording (formats/recording.py): frames are decoded on demand; frames committed by a
  ``record`` still running are picked up as they land.
- A folder: every snapshot file in it (show_stacks, page_owner, JSON, JSON Lines) is a
  frame, ordered by time; watchfiles reports new and rewritten files, which become new
  frames once they have stopped changing for ``settle`` seconds, so a file written in
  pieces (``cat > f``) is read once it is whole, and a file renamed into place (atomic
  writers) as soon as it lands.  Hidden and temporary names (``.x``, ``x~``, ``x.tmp``,
  ``x.part``, ``x.swp``) are ignored.
- A single snapshot file: one frame (JSON Lines from ``top --json``: one frame per line).

While the position is on the newest frame, new frames move it forward (like ``tail -f``);
once the user steps back it stays where it was put.

``snapshot_at("rec.db@10:05")`` is the time syntax of ``diff`` (see ``resolve_time``).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import os
import re
import stat
import threading
import time as _time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from pageowner_tui.errors import UserError
from pageowner_tui.model.snapshot import PageRecord, Snapshot
from pageowner_tui.sources.base import Capabilities, ProgressCallback

__all__ = [
    "ReplaySource",
    "bundled_recording_path",
    "snapshot_at",
    "split_spec",
    "resolve_time",
    "IGNORED_SUFFIXES",
]

IGNORED_SUFFIXES = ("~", ".tmp", ".part", ".swp", ".swx", ".partial", ".crdownload", "-journal", "-wal", "-shm")
DEFAULT_SETTLE = 0.5  # seconds a file must stay unchanged before a folder replay reads it
_REFRESH_EVERY = 0.5  # seconds between looks for frames appended to an open recording

BUNDLED_NAME = "real-6.12-show-stacks.db"


def bundled_recording_path() -> Path:
    """The real recording shipped with the package (built by scripts/build-bundled-recording
    from the 6.12 page_owner captures), which ``replay`` and the TUI fall back to."""
    path = Path(__file__).resolve().parent.parent / "data" / BUNDLED_NAME
    if not path.is_file():
        raise UserError(
            f"the bundled recording {path} is missing: reinstall pageowner-top "
            "(or run scripts/build-bundled-recording in a source tree)"
        )
    return path


def _ignored_name(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


@dataclass(frozen=True, eq=False)
class _Frame:
    time: float
    origin: str  # file it came from ("" for a recording)
    part: int  # index within a multi-frame file (JSON Lines)
    snapshot: Snapshot


class _RecordingFrames:
    """Frames of a recording file, decoded on demand."""

    def __init__(self, path: str) -> None:
        from pageowner_tui.formats.recording import Recording

        self.recording = Recording(path)
        self._last_refresh = _time.monotonic()

    def __len__(self) -> int:
        return len(self.recording)

    def times(self) -> list[float]:
        return self.recording.times_cache()

    def get(self, index: int) -> Snapshot:
        return self.recording.frame(index)

    def refresh(self) -> int:
        now = _time.monotonic()
        if now - self._last_refresh < _REFRESH_EVERY:
            return 0
        self._last_refresh = now
        return self.recording.refresh()

    def close(self) -> None:
        self.recording.close()


class _ListFrames:
    """Frames held in memory: snapshot files, one or more per file, kept in time order."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self._times: list[float] = []

    def __len__(self) -> int:
        return len(self.frames)

    def times(self) -> list[float]:
        return self._times

    def get(self, index: int) -> Snapshot:
        return self.frames[index].snapshot

    def replace_file(self, origin: str, snapshots: Sequence[Snapshot]) -> tuple[int, int]:
        """Drop ``origin``'s frames, insert ``snapshots``; returns (removed, first index)."""
        kept = [f for f in self.frames if f.origin != origin]
        removed = len(self.frames) - len(kept)
        new = [_Frame(s.time, origin, i, s) for i, s in enumerate(snapshots)]
        frames = sorted(kept + new, key=lambda f: (f.time, f.origin, f.part))
        first = next((i for i, f in enumerate(frames) if f.origin == origin), len(frames))
        self.frames = frames
        self._times = [f.time for f in frames]
        return removed, first

    def refresh(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None


def _load_file(path: str) -> list[Snapshot]:
    """Every snapshot in one saved file (several for JSON Lines)."""
    from pageowner_tui.formats import input as inputs

    kind = inputs.sniff(path)
    if kind == "recording":
        raise UserError(f"{path}: a recording inside a watched folder is not read; replay it on its own")
    if kind in ("json", "jsonl", "json_lines"):
        from pageowner_tui.formats import json_export

        return json_export.read_all(path)
    from pageowner_tui.sources.file import load_snapshot

    return [load_snapshot(path, kind=kind)]


class _FolderWatcher(threading.Thread):
    """Reads a folder's snapshot files now and as they land (watchfiles), into frames."""

    def __init__(self, source: "ReplaySource", folder: str, settle: float) -> None:
        super().__init__(name=f"replay-watch:{folder}", daemon=True)
        self.source = source
        self.folder = folder
        self.settle = settle
        self.stop_event = threading.Event()
        self.started_watching = threading.Event()
        self._pending: dict[str, tuple[tuple[int, int], float]] = {}  # path -> (sig, since)
        self._done: dict[str, tuple[int, int]] = {}  # path -> signature read (or refused)
        self._lock = threading.Lock()  # scan() runs on the caller's thread, the rest here

    @staticmethod
    def signature(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return (st.st_size, st.st_mtime_ns)

    def scan(self, wait_for_settle: bool) -> None:
        """Read what is already there.  While watching, a file modified within the last
        ``settle`` seconds may still be being written: it waits like a new one."""
        try:
            names = sorted(os.listdir(self.folder))
        except OSError as exc:
            raise UserError(f"{self.folder}: cannot list the folder: {exc.strerror}") from None
        now = _time.time()
        for name in names:
            if _ignored_name(name):
                continue
            path = os.path.join(self.folder, name)
            sig = self.signature(path)
            if sig is None:
                continue
            if not wait_for_settle or abs(now - sig[1] / 1e9) >= self.settle:
                self.read(path, sig)
            else:
                self.note(path)

    def note(self, path: str) -> None:
        sig = self.signature(path)
        if sig is None or _ignored_name(os.path.basename(path)):
            return
        with self._lock:
            if self._done.get(path) != sig and self._pending.get(path, (None,))[0] != sig:
                self._pending[path] = (sig, _time.monotonic())

    def settle_pending(self) -> None:
        now = _time.monotonic()
        ready = []
        with self._lock:
            for path, (sig, since) in list(self._pending.items()):
                current = self.signature(path)
                if current is None:
                    del self._pending[path]
                elif current != sig:
                    self._pending[path] = (current, now)
                elif now - since >= self.settle:
                    del self._pending[path]
                    ready.append((path, sig))
        for path, sig in ready:
            self.read(path, sig)

    def read(self, path: str, sig: tuple[int, int]) -> None:
        with self._lock:
            if self._done.get(path) == sig:
                return
            self._done[path] = sig
        try:
            snapshots = _load_file(path)
        except (UserError, OSError, UnicodeError) as exc:
            self.source._warn(f"{path}: skipped: {exc}")
            return
        except Exception as exc:  # a parser bug on one odd file must not end the replay
            self.source._warn(f"{path}: skipped, unexpected {type(exc).__name__}: {exc}")
            return
        if snapshots:
            self.source._add_file(path, snapshots)

    def run(self) -> None:
        import watchfiles

        try:
            for changes in watchfiles.watch(
                self.folder,
                watch_filter=None,
                debounce=400,
                step=50,
                rust_timeout=max(50, int(self.settle * 500)),
                yield_on_timeout=True,
                stop_event=self.stop_event,
                recursive=False,
                raise_interrupt=False,
            ):
                if not self.started_watching.is_set():
                    self.started_watching.set()
                for change, path in changes:
                    if change != watchfiles.Change.deleted:
                        self.note(path)
                self.settle_pending()
        except Exception as exc:  # the watcher must not die silently
            self.source._warn(f"{self.folder}: stopped watching: {exc}")
        finally:
            self.started_watching.set()


class ReplaySource:
    """A recording, a snapshot file or a folder as a source with time travel."""

    kind = "replay"

    def __init__(
        self,
        path: str,
        *,
        watch: bool | None = None,
        settle: float = DEFAULT_SETTLE,
        on_frames: Callable[[int], None] | None = None,
    ) -> None:
        self.path = str(path)
        self.warnings: list[str] = []
        self.on_frames = on_frames  # called (from the watcher thread) with the new frame count
        self._lock = threading.RLock()
        self._position = 0
        self._watcher: _FolderWatcher | None = None
        self.folder = os.path.isdir(self.path)
        if self.folder:
            self._frames: _RecordingFrames | _ListFrames = _ListFrames()
            watcher = _FolderWatcher(self, self.path, settle)
            if watch is None or watch:
                watcher.start()
                watcher.started_watching.wait(5.0)
                self._watcher = watcher
            try:
                watcher.scan(wait_for_settle=self._watcher is not None)
                if not len(self._frames) and not self._watcher:
                    raise UserError(f"{self.path}: no snapshot files in this folder")
            except BaseException:
                self.close()
                raise
            self._position = max(len(self._frames) - 1, 0)
        elif not os.path.exists(self.path):
            raise UserError(f"{self.path}: no such file or directory")
        else:
            from pageowner_tui.formats.recording import SQLITE_MAGIC

            if _head(self.path).startswith(SQLITE_MAGIC):  # ours, or refused with a reason
                self._frames = _RecordingFrames(self.path)
                self.warnings.extend(self._frames.recording.warnings)
                self._position = 0
            else:
                self._frames = _ListFrames()
                self._frames.replace_file(self.path, _load_file(self.path))
                self._position = 0

    # -- the folder watcher's callbacks ------------------------------------------------

    def _warn(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def _add_file(self, origin: str, snapshots: Sequence[Snapshot]) -> None:
        with self._lock:
            frames = self._frames
            assert isinstance(frames, _ListFrames)
            following = self._position >= len(frames) - 1
            removed, first = frames.replace_file(origin, snapshots)
            if following:
                self._position = len(frames) - 1
            elif not removed and first <= self._position:
                self._position += len(snapshots)  # keep showing the same frame
            self._position = min(self._position, len(frames) - 1)
            count = len(frames)
        if self.on_frames is not None:
            self.on_frames(count)

    # -- Source ------------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        notes = ["replay: per-stack counts only (no PFN ranges, no per-allocation export)"]
        if self.folder:
            notes.append(
                f"watching {self.path} for new snapshot files" if self._watcher else f"folder {self.path}"
            )
        return Capabilities(
            live=self._watcher is not None,
            time_travel=True,
            breakdowns=(),
            notes=tuple(notes),
        )

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._refresh()
            if not len(self._frames):
                raise UserError(f"{self.path}: no snapshot files yet; waiting for one to land")
            return self._frames.get(self._position)

    def pages(self, pfn_start: int, pfn_end: int) -> Iterator[PageRecord]:
        raise UserError("a replay holds per-stack counts only: PFN ranges need a live source or a page_owner file")

    def records(self, progress: ProgressCallback | None = None) -> Iterator[PageRecord]:
        raise UserError("a replay holds per-stack counts only: no per-allocation records")

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop_event.set()
            self._watcher.join(timeout=5.0)
            self._watcher = None
        with self._lock:
            self._frames.close()

    # -- TimeTravel ----------------------------------------------------------------------

    def _refresh(self) -> None:
        frames = self._frames
        following = self._position >= len(frames) - 1
        if frames.refresh() and following:
            self._position = len(frames) - 1

    def frame_times(self) -> Sequence[float]:
        with self._lock:
            self._refresh()
            return list(self._frames.times())

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def position(self) -> int:
        return self._position

    def frame(self, index: int) -> Snapshot:
        """Frame ``index`` (negative from the end) without moving the position."""
        with self._lock:
            return self._frames.get(index)

    def seek_index(self, index: int) -> Snapshot:
        """Move to frame ``index``, clamped to the frames there are."""
        with self._lock:
            n = len(self._frames)
            if not n:
                raise UserError(f"{self.path}: no frames yet")
            self._position = min(max(index, 0), n - 1)  # clamped: no wrap-around
            return self._frames.get(self._position)

    def seek(self, when: float) -> Snapshot:
        """Move to the last frame at or before ``when`` (the first frame if before all)."""
        with self._lock:
            times = self._frames.times()
            return self.seek_index(max(bisect.bisect_right(times, when) - 1, 0))

    def step(self, n: int) -> Snapshot:
        with self._lock:
            self._refresh()
            return self.seek_index(self._position + n)

    def __enter__(self) -> "ReplaySource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# PATH@TIME


def split_spec(spec: str) -> tuple[str, str | None]:
    """``rec.db@10:05`` -> (``rec.db``, ``10:05``); a path that exists as given wins."""
    if os.path.exists(spec):
        return spec, None
    path, sep, when = spec.rpartition("@")
    if sep and path and os.path.exists(path):
        return path, when
    if sep and path:
        raise UserError(f"{path}: no such file or directory")
    raise UserError(f"{spec}: no such file or directory")


_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m)?(?:(\d+(?:\.\d*)?)s?)?$")
_CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?$")

TIME_SYNTAX = (
    "HH:MM[:SS] (local clock time within the recording), YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM], "
    "epoch seconds, +DURATION from the first frame or -DURATION before the last "
    "(e.g. +90s, +5m, -1h30m), or #N for frame N (from 0; #-1 is the last)"
)


def _duration(text: str) -> float | None:
    match = _DURATION_RE.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _fmt(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def resolve_time(text: str, times: Sequence[float], *, what: str = "the recording") -> int:
    """Index of the frame ``text`` names in ``times`` (ascending epoch seconds).

    Times between frames pick the last frame at or before them; a time up to one frame
    interval outside the recording is clamped to its first or last frame; anything
    further is an error that says what the recording spans."""
    if not times:
        raise UserError(f"{what} has no frames")
    text = text.strip()
    n = len(times)
    if text.startswith("#"):
        try:
            index = int(text[1:])
        except ValueError:
            raise UserError(f"bad frame number {text!r}: use #N, e.g. #0 or #-1") from None
        if not -n <= index < n:
            raise UserError(f"frame {index} is not in {what} (frames #0 to #{n - 1})")
        return index % n
    when: float | None = None
    if text[:1] in "+-" and (d := _duration(text[1:])) is not None:
        when = times[0] + d if text[0] == "+" else times[-1] - d
    elif (match := _CLOCK_RE.match(text)) is not None:
        hour, minute = int(match.group(1)), int(match.group(2))
        second = float(match.group(3) or 0)
        if hour > 23 or minute > 59 or second >= 60:
            raise UserError(f"bad clock time {text!r}")
        when = _clock_in(times, hour, minute, second)
    else:
        try:
            when = float(text)
        except ValueError:
            try:
                parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise UserError(f"cannot read the time {text!r}; use {TIME_SYNTAX}") from None
            when = parsed.timestamp()  # naive means local time
    gaps = [b - a for a, b in zip(times, times[1:])]
    slack = max(sorted(gaps)[len(gaps) // 2] if gaps else 0.0, 1.0)
    if when < times[0] - slack or when > times[-1] + slack:
        raise UserError(
            f"{text} ({_fmt(when)}) is outside {what}, which runs from {_fmt(times[0])} "
            f"to {_fmt(times[-1])}"
        )
    return max(bisect.bisect_right(times, when) - 1, 0)


def _clock_in(times: Sequence[float], hour: int, minute: int, second: float) -> float:
    """The epoch time of HH:MM:SS (local) on a day the recording covers, nearest to it."""
    first = _dt.datetime.fromtimestamp(times[0]).date()
    last = _dt.datetime.fromtimestamp(times[-1]).date()
    candidates = []
    day = first - _dt.timedelta(days=1)
    while day <= last + _dt.timedelta(days=1):
        moment = _dt.datetime.combine(day, _dt.time(hour, minute)) + _dt.timedelta(seconds=second)
        candidates.append(moment.timestamp())
        day += _dt.timedelta(days=1)

    def distance(t: float) -> float:
        return 0.0 if times[0] <= t <= times[-1] else min(abs(t - times[0]), abs(t - times[-1]))

    return min(candidates, key=distance)


def snapshot_at(spec: str) -> Snapshot:
    """The snapshot ``PATH[@TIME]`` names: a frame of a recording (the last one without
    ``@TIME``), or the frame of a file or folder replay at that time."""
    path, when = split_spec(spec)
    source = ReplaySource(path, watch=False)
    try:
        for warning in source.warnings:
            import sys

            print(f"pageowner-top: warning: {warning}", file=sys.stderr)
        times = source.frame_times()
        if when is None:
            index = len(times) - 1
        else:
            index = resolve_time(when, times, what=path)
        snapshot = source.frame(index)
        meta = dict(snapshot.meta)
        meta.setdefault("origin", path)
        meta["frame"] = str(index)
        return replace(snapshot, meta=MappingProxyType(meta))
    finally:
        source.close()
