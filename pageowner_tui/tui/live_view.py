"""The TUI's state from tick to tick, in plain Python (no Textual), so it can be tested and
benchmarked on its own.

One tick is split in two, following ARCHITECTURE.md's threading advice:

- ``sample(snapshot)`` runs on the sampling worker thread: it records the snapshot in the
  history and ranks it for the query in force at that moment (the expensive part: up to
  100k stacks), returning an immutable ``Prepared``.
- ``commit(prepared)`` runs on the UI thread: it adopts the ranking if nothing changed in
  between (query, baseline, followed stack), or ranks again if the user did change
  something.  While paused it only keeps the newest ``Prepared`` aside: sampling (and
  recording) goes on, the view stays frozen.

Everything is addressed by stack id: ``index_of(id)`` gives the row a stack is on now, so
the cursor stays on the same stack across refreshes and re-sorts.

Rankings are ``model.query.rank_lazily``'s: the first ``TOP`` stacks (what the history
records and what anyone looks at) are sorted each tick, the rest of 100k only when a row
past them is read.  Once the UI has read past them (the user scrolled far down), each
following ``sample`` sorts everything on the worker, so the UI thread does not pay for it
again every tick.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from pageowner_tui.model.query import Query, Ranking, Row, rank_lazily, row_of
from pageowner_tui.model.snapshot import Snapshot
from pageowner_tui.tui.history import TOP, PagesHistory

__all__ = ["LiveView", "Prepared"]


@dataclass(frozen=True)
class Prepared:
    """One sampled snapshot, ranked for the state it was sampled under."""

    snapshot: Snapshot
    previous: Snapshot | None
    baseline: Snapshot | None
    query: Query
    keep: str | None
    ids: Sequence[str]  # a list, or a Ranking sorted only as far as it is read


class LiveView:
    def __init__(self, query: Query = Query(), *, history_length: int = 60) -> None:
        self.query = query
        self.history = PagesHistory(history_length)
        self.current: Snapshot | None = None  # what the table shows
        self.previous: Snapshot | None = None  # the one before it (deltas, rates)
        self.baseline: Snapshot | None = None  # marked with `b`
        self.follow: str | None = None  # stack id kept in view even if filtered out
        self.paused = False
        self.pending: Prepared | None = None  # newest sample while paused
        self.latest: Snapshot | None = None  # newest sample, paused or not
        self.first_time: float | None = None  # time of the first snapshot seen
        self.ids: Sequence[str] = []
        self._rows: dict[str, Row] = {}
        self._sample_lock = threading.Lock()
        self._last_sampled: Snapshot | None = None
        self._last_prepared: Prepared | None = None

    # -- sampling thread -------------------------------------------------------------
    def sample(self, snapshot: Snapshot) -> Prepared:
        # Read the UI-owned state once; commit() compares these exact objects.
        previous = self.current if self.current is not snapshot else self.previous
        baseline, query, keep = self.baseline, self.query, self.follow
        last = self._last_prepared
        if (
            last is not None
            and last.snapshot is snapshot
            and last.previous is previous
            and last.baseline is baseline
            and last.query is query
            and last.keep == keep
        ):
            return last  # a static source: the same snapshot, nothing to redo
        with self._sample_lock:
            fresh = self._last_sampled is not snapshot
            self._last_sampled = snapshot
        ids = rank_lazily(snapshot, query, previous=previous, baseline=baseline, keep=keep, head=TOP)
        shown = self.ids
        if isinstance(ids, Ranking) and isinstance(shown, Ranking) and shown.read_past_head:
            ids.full()  # the view is scrolled past the top: sort it all here, not on the UI thread
        snapshot.total_pages  # noqa: B018 - computed (and cached) here, not on the UI thread
        if fresh:
            recorded = ids[:TOP] if keep is None else [*ids[:TOP], keep]
            self.history.add(snapshot, recorded)
        if self.first_time is None:
            self.first_time = snapshot.time
        self.latest = snapshot
        prepared = Prepared(snapshot, previous, baseline, query, keep, ids)
        self._last_prepared = prepared
        return prepared

    # -- UI thread -------------------------------------------------------------------
    def commit(self, prepared: Prepared, *, even_paused: bool = False) -> bool:
        """Show ``prepared``; False (and nothing changes on screen) while paused, unless
        ``even_paused``: a frame the user moved to in a replay is shown, paused or not."""
        if self.paused and not even_paused:
            self.pending = prepared
            return False
        if even_paused:
            self.pending = None  # what the user asked for supersedes what came in meanwhile
        if prepared.snapshot is not self.current:
            self.previous = self.current
            self.current = prepared.snapshot
        if (
            prepared.previous is self.previous
            and prepared.baseline is self.baseline
            and prepared.query is self.query
            and prepared.keep == self.follow
        ):
            self._set_ids(prepared.ids)
        else:
            self.rerank()
        return True

    def rerank(self) -> None:
        if self.current is None:
            self._set_ids([])
            return
        self._set_ids(
            rank_lazily(
                self.current,
                self.query,
                previous=self.previous,
                baseline=self.baseline,
                keep=self.follow,
                head=TOP,
            )
        )

    def _set_ids(self, ids: Sequence[str]) -> None:
        self.ids = ids
        self._rows = {}

    def set_query(self, query: Query) -> None:
        self.query = query
        self.rerank()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused and self.pending is not None:
            pending, self.pending = self.pending, None
            self.commit(pending)

    def mark_baseline(self) -> None:
        self.baseline = self.current
        self.rerank()

    def clear_baseline(self) -> None:
        self.baseline = None
        self.rerank()

    def set_follow(self, stack_id: str | None) -> None:
        self.follow = stack_id
        self.rerank()

    def index_of(self, stack_id: str | None, hint: int | None = None) -> int | None:
        """The row ``stack_id`` is on; ``hint`` (where it was) makes the common case O(1)."""
        if stack_id is None:
            return None
        ids = self.ids
        if hint is not None and 0 <= hint < len(ids) and ids[hint] == stack_id:
            return hint
        try:  # one C-level scan (of the sorted head first): cheaper than a 100k-entry dict
            return ids.index(stack_id)
        except ValueError:
            return None

    def row(self, stack_id: str) -> Row:
        """The row of one stack as shown now (built on demand: only visible rows pay)."""
        cached = self._rows.get(stack_id)
        if cached is None:
            assert self.current is not None
            cached = row_of(self.current, stack_id, previous=self.previous, baseline=self.baseline)
            self._rows[stack_id] = cached
        return cached

    def __len__(self) -> int:
        return len(self.ids)
