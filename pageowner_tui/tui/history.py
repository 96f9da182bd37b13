"""Pages per stack over the last N snapshots, for trend sparklines and the detail chart.

Kept as one flat ``array('I')`` per snapshot indexed by a shared stack-id index, not as the
snapshots themselves: a live source builds new StackStat objects every tick, so keeping 60
snapshots of 100k stacks would cost gigabytes, while 60 arrays cost 24 MB.

Each tick records the stacks it is given: the app passes the first ``TOP`` of the current
order (and the followed stack), which is what anyone can scroll to in practice, because a
Python loop over 100k stacks per tick costs more than the whole rest of the tick.  A stack
not recorded in a tick reads as None there (a gap in its sparkline), never as 0 pages.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterable
from itertools import filterfalse, repeat
from operator import attrgetter

from pageowner_tui.model.snapshot import Snapshot

__all__ = ["PagesHistory", "TOP"]

TOP = 5000  # stacks recorded per tick, from the top of the current order
_UNKNOWN = 0xFFFFFFFF  # 'I' is 32 bits: counts above this are clamped just below it
_PAGES = attrgetter("pages")


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

    def add(self, snapshot: Snapshot, ids: Iterable[str] | None = None) -> None:
        """Record ``snapshot``'s pages for ``ids`` (default: every stack)."""
        stacks = snapshot.stacks
        # C-level passes (filter, map) where possible: this runs every tick on 5000 ids.
        wanted = list(stacks) if ids is None else list(filter(stacks.__contains__, ids))
        index, columns = self._state
        if len(index) > 4 * max(len(wanted), 1024):
            index, columns = self._compacted()
            self._state = (index, columns)
        for stack_id in filterfalse(index.__contains__, wanted):  # lazy: a repeated id is seen
            index[stack_id] = len(index)
        column = array("I", [_UNKNOWN]) * len(index)
        counts = map(min, map(_PAGES, map(stacks.__getitem__, wanted)), repeat(_UNKNOWN - 1))
        for position, count in zip(map(index.__getitem__, wanted), counts):
            column[position] = count
        columns.append((snapshot.time, column))

    def _compacted(self) -> tuple[dict[str, int], deque[tuple[float, array]]]:
        """Forget ids that no retained column recorded (stacks that churned away)."""
        index, columns = self._state
        live = {
            stack_id
            for stack_id, position in index.items()
            if any(position < len(column) and column[position] != _UNKNOWN for _, column in columns)
        }
        new_index = {stack_id: n for n, stack_id in enumerate(sorted(live))}
        fresh_columns: deque[tuple[float, array]] = deque(maxlen=self.length)
        for when, column in columns:
            fresh = array("I", [_UNKNOWN]) * len(new_index)
            for stack_id, target in new_index.items():
                position = index[stack_id]
                if position < len(column):
                    fresh[target] = column[position]
            fresh_columns.append((when, fresh))
        return new_index, fresh_columns

    def tracked_ids(self) -> int:
        return len(self._state[0])

    def times(self) -> list[float]:
        return [when for when, _ in self._state[1]]

    def series(self, stack_id: str, last: int | None = None) -> list[int | None]:
        """Pages of one stack in each retained snapshot, oldest first; None where the stack
        was not recorded (outside the top of the order then, or not in that snapshot)."""
        index, retained = self._state
        position = index.get(stack_id)
        columns = list(retained)
        if last is not None:
            columns = columns[-last:]
        if position is None:
            return [None] * len(columns)
        values: list[int | None] = []
        for _, column in columns:
            value = column[position] if position < len(column) else _UNKNOWN
            values.append(None if value == _UNKNOWN else value)
        return values
