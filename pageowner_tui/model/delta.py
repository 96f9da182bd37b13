"""Deltas between two snapshots: which stacks grew, which shrank, how fast."""

from __future__ import annotations

from dataclasses import dataclass

from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import Stack

__all__ = ["StackDelta", "SnapshotDelta", "diff"]


@dataclass(frozen=True, slots=True)
class StackDelta:
    stack: Stack
    before: int  # base pages in the older snapshot (0 when absent)
    after: int  # base pages in the newer snapshot (0 when absent)

    @property
    def id(self) -> str:
        return self.stack.id

    @property
    def change(self) -> int:
        return self.after - self.before

    @property
    def status(self) -> str:
        if self.before == 0 and self.after > 0:
            return "new"
        if self.after == 0 and self.before > 0:
            return "gone"
        return "changed" if self.change else "same"


class SnapshotDelta:
    """The change from ``before`` to ``after``; per-stack numbers are computed on demand,
    so a refresh tick over 100k stacks pays only for the stacks it looks at."""

    __slots__ = ("before", "after", "_stacks")

    def __init__(self, before: Snapshot, after: Snapshot) -> None:
        self.before = before
        self.after = after
        self._stacks: dict[str, StackDelta] | None = None

    @property
    def seconds(self) -> float:
        return self.after.time - self.before.time

    @property
    def total_change(self) -> int:
        return self.after.total_pages - self.before.total_pages

    def change(self, stack_id: str) -> int:
        new = self.after.stacks.get(stack_id)
        old = self.before.stacks.get(stack_id)
        return (new.pages if new else 0) - (old.pages if old else 0)

    def rate(self, stack_id: str) -> float:
        """Pages per second; 0 when the two snapshots share a timestamp."""
        seconds = self.seconds
        return self.change(stack_id) / seconds if seconds > 0 else 0.0

    @property
    def stacks(self) -> dict[str, StackDelta]:
        """Every stack in either snapshot."""
        if self._stacks is None:
            stacks: dict[str, StackDelta] = {}
            old: dict[str, StackStat] = dict(self.before.stacks)
            for stack_id, stat in self.after.stacks.items():
                prev = old.pop(stack_id, None)
                stacks[stack_id] = StackDelta(stat.stack, prev.pages if prev else 0, stat.pages)
            for stack_id, prev in old.items():
                stacks[stack_id] = StackDelta(prev.stack, prev.pages, 0)
            self._stacks = stacks
        return self._stacks

    def changed(self) -> list[StackDelta]:
        """Stacks that grew or shrank, largest growth first, then largest shrink.

        Builds a StackDelta only for stacks that moved: a live source hands the same
        StackStat object back for an unchanged stack, so most are skipped by identity
        (bench/debugfs_poll: the per-tick diff of 10k stacks).
        """
        before = self.before.stacks
        after = self.after.stacks
        moved = []
        for stack_id, stat in after.items():
            prev = before.get(stack_id)
            if prev is stat:
                continue
            old = prev.pages if prev is not None else 0
            if stat.pages != old:
                moved.append(StackDelta(stat.stack, old, stat.pages))
        for stack_id, prev in before.items():
            if prev.pages and stack_id not in after:
                moved.append(StackDelta(prev.stack, prev.pages, 0))
        moved.sort(key=lambda d: (-d.change, d.id))
        return moved


def diff(before: Snapshot, after: Snapshot) -> SnapshotDelta:
    return SnapshotDelta(before, after)
