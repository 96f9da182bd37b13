"""Line up two snapshots taken by different sources (eBPF and page_owner).

The two capture the same allocation's stack at different points (see normalize.py), so
their stack ids never match.  ``align_sources`` re-keys both snapshots by the normalised
call path: each stack becomes the stack of its key's frames, and stacks sharing a key are
added up, so a diff or a side-by-side view compares like with like.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from pageowner_tui.model.normalize import stack_key
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack

__all__ = ["align_sources", "normalized"]


def normalized(snapshot: Snapshot) -> Snapshot:
    """The snapshot with every stack replaced by its normalised call path."""
    stats = (
        StackStat(
            stack=intern_stack(stack_key(stat.stack) or stat.stack.frames),
            pages=stat.pages,
            allocations=stat.allocations,
            breakdowns=stat.breakdowns,
        )
        for stat in snapshot.stacks.values()
    )
    merged = Snapshot.from_stats(stats, source=snapshot.source, time=snapshot.time, kernel=snapshot.kernel)
    meta = dict(snapshot.meta)
    meta["stacks"] = "normalised call paths (allocator frames dropped, offsets without sizes)"
    return replace(merged, counters=snapshot.counters, meta=MappingProxyType(meta))


def align_sources(before: Snapshot, after: Snapshot) -> tuple[Snapshot, Snapshot]:
    """Both snapshots keyed by normalised call path when their sources differ."""
    if before.source == after.source:
        return before, after
    return normalized(before), normalized(after)
