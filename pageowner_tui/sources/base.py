"""The Source protocol every source (ebpf, debugfs, replay, file) implements."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pageowner_tui.model.snapshot import PageRecord, Snapshot

__all__ = ["Cancelled", "Capabilities", "Source", "ProgressCallback"]


# Called during long reads with (done, total); total is 0 when unknown.  Returning True
# asks the reader to stop (cancel); the reader then raises Cancelled.
ProgressCallback = Callable[[int, int], "bool | None"]


class Cancelled(Exception):
    """A long read was cancelled through its progress callback."""


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
        """Allocations whose head PFN is in [pfn_start, pfn_end)."""
        ...

    def close(self) -> None: ...
