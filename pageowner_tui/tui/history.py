"""Pages per stack over the last N snapshots, for trend sparklines and the detail chart.

Kept as one flat ``array('I')`` per snapshot indexed by a shared stack-id index, not as the
snapshots themselves: a live source builds new StackStat objects every tick, so keeping 60
snapshots of 100k stacks would cost gigabytes, while 60 arrays cost 24 MB.
"""

from __future__ import annotations

from array import array
from collections import deque

from pageowner_tui.model.snapshot import Snapshot

__all__ = ["PagesHistory"]

_MAX = 0xFFFFFFFF  # 'I' holds 32 bits: 16 TiB of 4 KiB pages per stack


class PagesHistory:
    """A ring of per-stack page counts; ``add`` runs on the sampling thread, readers on the
    UI thread only read (appending to a deque and to a dict are atomic under the GIL)."""

    def __init__(self, length: int = 60) -> None:
        if length < 1:
            raise ValueError("history length must be at least 1")
        self.length = length
        # (index, columns) swapped as one tuple so a reader never pairs an old index with
        # new columns while ``add`` compacts on the other thread.
        self._state: tuple[dict[str, int], deque[tuple[float, array]]] = ({}, deque(maxlen=length))

    def __len__(self) -> int:
        return len(self._state[1])

    def add(self, snapshot: Snapshot) -> None:
        stacks = snapshot.stacks
        index, columns = self._state
        if len(index) > 2 * len(stacks) + 4096:
            index, columns = self._compacted(stacks)
            self._state = (index, columns)
        for stack_id in stacks:
            if stack_id not in index:
                index[stack_id] = len(index)
        column = array("I", bytes(4 * len(index)))
        for stack_id, stat in stacks.items():
            column[index[stack_id]] = stat.pages if stat.pages < _MAX else _MAX
        columns.append((snapshot.time, column))

    def _compacted(self, stacks: object) -> tuple[dict[str, int], deque[tuple[float, array]]]:
        """Forget ids that no retained column has pages for (stacks that churned away)."""
        index, columns = self._state
        live = set(stacks)  # type: ignore[arg-type]
        for _, column in columns:
            for stack_id, position in index.items():
                if position < len(column) and column[position]:
                    live.add(stack_id)
        new_index = {stack_id: n for n, stack_id in enumerate(sorted(live))}
        fresh_columns: deque[tuple[float, array]] = deque(maxlen=self.length)
        for when, column in columns:
            fresh = array("I", bytes(4 * len(new_index)))
            for stack_id, position in index.items():
                target = new_index.get(stack_id)
                if target is not None and position < len(column):
                    fresh[target] = column[position]
            fresh_columns.append((when, fresh))
        return new_index, fresh_columns

    def tracked_ids(self) -> int:
        return len(self._state[0])

    def times(self) -> list[float]:
        return [when for when, _ in self._state[1]]

    def series(self, stack_id: str, last: int | None = None) -> list[int]:
        """Pages of one stack in each retained snapshot, oldest first (0 when absent)."""
        index, retained = self._state
        position = index.get(stack_id)
        columns = list(retained)
        if last is not None:
            columns = columns[-last:]
        if position is None:
            return [0] * len(columns)
        return [column[position] if position < len(column) else 0 for _, column in columns]
