"""The Source protocol every source (ebpf, debugfs, replay, file) implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pageowner_tui.errors import Cancelled
from pageowner_tui.model.snapshot import PageRecord, Snapshot

__all__ = ["Cancelled", "Capabilities", "Source", "ProgressCallback", "TimeTravel"]


# Called during long reads with (done, total); total is 0 when unknown.  Returning True
# asks the reader to stop (cancel); the reader then raises Cancelled.
ProgressCallback = Callable[[int, int], "bool | None"]


@dataclass(frozen=True)
class Capabilities:
    """What a source can do; the TUI hides or disables what it cannot, and says why."""

    live: bool = False  # data changes between snapshots
    kernel_threshold: bool = False  # set_threshold() pushes the threshold into the kernel
    pfn_ranges: bool = False  # pages() works
    records: bool = False  # per-allocation records available (page_owner export)
    time_travel: bool = False  # seek()/step() (replay)
    breakdowns: tuple[str, ...] = ()  # Breakdown names the stats carry
    notes: tuple[str, ...] = field(default_factory=tuple)  # why something is missing


@runtime_checkable
class Source(Protocol):
    kind: str  # "ebpf" | "debugfs" | "replay" | "file"

    def capabilities(self) -> Capabilities: ...

    def snapshot(self) -> Snapshot:
        """A new snapshot; called on a worker thread each tick.  Must not block forever."""
        ...

    def pages(self, pfn_start: int, pfn_end: int) -> Iterable[PageRecord]:
        """Allocations whose head PFN is in [pfn_start, pfn_end) (capabilities().pfn_ranges)."""
        ...

    def records(self, progress: ProgressCallback | None = None) -> Iterable[PageRecord]:
        """Every live allocation, for a per-allocation export (capabilities().records).

        May be expensive (the debugfs source reads the whole page_owner file): only call
        it when the user asked for something that needs it.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class TimeTravel(Protocol):
    """What a replay source adds: a sequence of frames to move through.

    ``snapshot()`` on such a source returns the frame at ``position`` (and, while playing,
    the caller advances with ``step``).  Frames are ordered by time.
    """

    def frame_times(self) -> Sequence[float]: ...  # epoch seconds of every frame so far

    @property
    def position(self) -> int: ...  # index of the current frame

    def seek(self, when: float) -> Snapshot: ...  # last frame at or before ``when``

    def seek_index(self, index: int) -> Snapshot: ...  # frame ``index``, clamped to 0..len-1

    def step(self, n: int) -> Snapshot: ...  # move n frames (negative: back), clamped
