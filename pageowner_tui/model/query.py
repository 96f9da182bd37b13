"""Queries over a snapshot as pure functions: filter, threshold, sort, top N.

``view(snapshot, query, previous=..., baseline=...)`` is what the TUI and the batch ``top``
both call; it returns ``Row``s in display order.  Sorting and filtering never touch
Textual, so the same query gives the same rows in a test, a script and the screen.

Filter syntax (``StackFilter.parse``): words are ANDed; a word may be prefixed with
``frame:``, ``module:``, ``comm:``, ``pid:`` or ``id:`` to search one field; a bare word
searches frames, modules and comms.  In regex mode each word is a Python regular
expression (case-insensitive); otherwise a case-insensitive substring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from pageowner_tui.model.delta import SnapshotDelta
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat

__all__ = [
    "FilterError",
    "Query",
    "Row",
    "SORT_KEYS",
    "StackFilter",
    "rank",
    "row_of",
    "view",
]


class FilterError(ValueError):
    """A filter that cannot be used (bad regex, unknown field)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One stack as a view shows it."""

    stat: StackStat
    delta: int = 0  # pages since the previous snapshot
    rate: float = 0.0  # pages per second since the previous snapshot
    since_baseline: int | None = None  # pages since the marked baseline, if any
    percent: float = 0.0  # of the snapshot's total pages

    @property
    def id(self) -> str:
        return self.stat.id

    @property
    def pages(self) -> int:
        return self.stat.pages


FIELDS = ("frame", "module", "comm", "pid", "id")


@dataclass(frozen=True)
class _Term:
    field: str  # one of FIELDS or "" for any
    matches: Callable[[str], bool]


@dataclass(frozen=True)
class StackFilter:
    """A parsed filter; ``StackFilter.parse("")`` matches everything."""

    text: str = ""
    regex: bool = False
    terms: tuple[_Term, ...] = ()
    # Per stack id, what the stack-only part of each term gave (see ``rank``): a stack's
    # frames never change, so a live view filters 100k stacks by dict look-ups after the
    # first tick instead of running every regex again.
    _memo: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    @classmethod
    def parse(cls, text: str, *, regex: bool = False) -> "StackFilter":
        terms = []
        for word in text.split():
            name, sep, pattern = word.partition(":")
            if sep and name in FIELDS and pattern:
                field_name = name
            else:
                field_name, pattern = "", word
            terms.append(_Term(field_name, _matcher(pattern, regex)))
        return cls(text=text, regex=regex, terms=tuple(terms))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, stat: StackStat) -> bool:
        return all(_term_matches(term, stat) for term in self.terms)


def _matcher(pattern: str, regex: bool) -> Callable[[str], bool]:
    if regex:
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"bad regular expression {pattern!r}: {exc}") from None
        return lambda text: compiled.search(text) is not None
    needle = pattern.lower()
    return lambda text: needle in text.lower()


def _term_matches(term: _Term, stat: StackStat) -> bool:
    stack = stat.stack
    if term.field == "id":
        return term.matches(stack.id)
    if term.field == "frame":
        return term.matches(stack.text)
    if term.field == "module":
        return any(term.matches(m) for m in stack.modules)
    if term.field == "comm":
        return any(term.matches(c) for c in stat.breakdown(Breakdown.COMM))
    if term.field == "pid":
        return any(term.matches(p) for p in stat.breakdown(Breakdown.PID))
    return (
        term.matches(stack.text)
        or any(term.matches(c) for c in stat.breakdown(Breakdown.COMM))
    )


# Sort keys: name -> (key function, its natural direction is descending?)
_SortKey = Callable[[Row], object]
SORT_KEYS: dict[str, tuple[_SortKey, bool]] = {
    "pages": (lambda r: r.stat.pages, True),
    "delta": (lambda r: r.delta, True),
    "rate": (lambda r: r.rate, True),
    "baseline": (lambda r: r.since_baseline or 0, True),
    "percent": (lambda r: r.percent, True),
    "allocations": (lambda r: r.stat.allocations, True),
    "caller": (lambda r: r.stat.stack.caller_function, False),
    "module": (lambda r: r.stat.stack.modules[:1] or ("~",), False),
    "frames": (lambda r: len(r.stat.stack.frames), True),
    "id": (lambda r: r.stat.stack.id, False),
}


@dataclass(frozen=True)
class Query:
    """What to show: the same object drives the TUI and ``top``."""

    sort: str = "pages"
    reverse: bool = False  # invert the key's natural direction
    filter: StackFilter = field(default_factory=StackFilter)
    threshold: int = 0  # minimum pages
    limit: int | None = None  # top N after sorting

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.sort!r}; choose from {', '.join(SORT_KEYS)}")
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more pages")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must be 0 or more rows")

    def with_(self, **changes: object) -> "Query":
        return replace(self, **changes)


def view(
    snapshot: Snapshot,
    query: Query = Query(),
    *,
    previous: Snapshot | None = None,
    baseline: Snapshot | None = None,
) -> list[Row]:
    """Rows of ``snapshot`` selected and ordered by ``query``."""
    delta = SnapshotDelta(previous, snapshot) if previous is not None else None
    base = SnapshotDelta(baseline, snapshot) if baseline is not None else None
    total = snapshot.total_pages or 1
    rows = [
        _row(stat, total, delta, base)
        for stat in select(snapshot.stacks.values(), query)
    ]
    return order(rows, query)


def select(stats: Iterable[StackStat], query: Query) -> Iterable[StackStat]:
    threshold = query.threshold
    flt = query.filter
    for stat in stats:
        if stat.pages < threshold:
            continue
        if flt and not flt.matches(stat):
            continue
        yield stat


def order(rows: list[Row], query: Query) -> list[Row]:
    key, natural_desc = SORT_KEYS[query.sort]
    descending = natural_desc != query.reverse
    # Ties are broken by stack id so the order is stable across refreshes.
    rows.sort(key=lambda r: r.stat.stack.id)
    rows.sort(key=key, reverse=descending)
    if query.limit is not None:
        del rows[query.limit:]
    return rows


def _row(
    stat: StackStat,
    total: int,
    delta: SnapshotDelta | None,
    base: SnapshotDelta | None,
) -> Row:
    return Row(
        stat=stat,
        delta=delta.change(stat.id) if delta else 0,
        rate=delta.rate(stat.id) if delta else 0.0,
        since_baseline=base.change(stat.id) if base else None,
        percent=100.0 * stat.pages / total,
    )


# ---------------------------------------------------------------------------------------
# The fast path for live views: ``rank`` orders stack ids without building a Row per stack
# (a refresh over 100k stacks builds Rows only for the rows on screen, with ``row_of``).
# It returns exactly ``[row.id for row in view(...)]``; tests/tui/test_rank.py checks that.

_STACK_ONLY_FIELDS = ("id", "frame", "module")


def _stack_part(term: _Term, stat: StackStat) -> bool:
    stack = stat.stack
    if term.field == "id":
        return term.matches(stack.id)
    if term.field == "module":
        return any(term.matches(m) for m in stack.modules)
    if term.field in ("frame", ""):
        return term.matches(stack.text)
    return True  # comm/pid: nothing in the stack decides them


def _memo_matches(flt: StackFilter, stat: StackStat) -> bool:
    memo = flt._memo
    parts = memo.get(stat.id)
    if parts is None:
        parts = tuple(_stack_part(term, stat) for term in flt.terms)
        memo[stat.id] = parts
    for term, stack_ok in zip(flt.terms, parts):
        if term.field in _STACK_ONLY_FIELDS:
            if not stack_ok:
                return False
        elif term.field == "":
            if not stack_ok and not any(term.matches(c) for c in stat.breakdown(Breakdown.COMM)):
                return False
        elif not _term_matches(term, stat):
            return False
    return True


def _id_key(
    name: str,
    snapshot: Snapshot,
    previous: Snapshot | None,
    baseline: Snapshot | None,
) -> Callable[[str], object]:
    """The sort key of SORT_KEYS[name], computed from a stack id instead of a Row."""
    stacks = snapshot.stacks

    def change_against(other: Snapshot | None) -> Callable[[str], int]:
        if other is None:
            return lambda i: 0
        old = other.stacks

        def change(i: str) -> int:
            before = old.get(i)
            return stacks[i].pages - (before.pages if before is not None else 0)

        return change

    if name in ("pages", "percent"):
        return lambda i: stacks[i].pages
    if name == "delta":
        return change_against(previous)
    if name == "rate":
        change = change_against(previous)
        seconds = snapshot.time - previous.time if previous is not None else 0.0
        if seconds <= 0:
            return lambda i: 0.0
        return lambda i: change(i) / seconds
    if name == "baseline":
        return change_against(baseline)
    if name == "allocations":
        return lambda i: stacks[i].allocations
    if name == "caller":
        return lambda i: stacks[i].stack.caller_function
    if name == "module":
        return lambda i: stacks[i].stack.modules[:1] or ("~",)
    if name == "frames":
        return lambda i: len(stacks[i].stack.frames)
    if name == "id":
        return lambda i: i
    raise ValueError(f"unknown sort key {name!r}")


def rank(
    snapshot: Snapshot,
    query: Query = Query(),
    *,
    previous: Snapshot | None = None,
    baseline: Snapshot | None = None,
    keep: str | None = None,
) -> list[str]:
    """Stack ids of ``snapshot`` in ``view``'s order, without building Rows.

    ``keep`` is a stack id kept even when the threshold or filter would drop it (the TUI's
    followed stack); it is sorted into place like any other.
    """
    threshold = query.threshold
    flt = query.filter
    stacks = snapshot.stacks
    if flt and len(flt._memo) > 4 * len(stacks) + 10_000:
        flt._memo.clear()  # stacks come and go on a live source: keep the memo bounded
    if threshold <= 0 and not flt:
        ids = list(stacks)
    else:
        ids = [
            stack_id
            for stack_id, stat in stacks.items()
            if (stat.pages >= threshold and (not flt or _memo_matches(flt, stat))) or stack_id == keep
        ]
    _, natural_desc = SORT_KEYS[query.sort]
    descending = natural_desc != query.reverse
    composite = _integer_keys(query.sort, snapshot, previous, baseline, descending)
    if composite is not None:
        # One integer per stack holding the key and, below it, the id (16 hex digits = 64
        # bits): a single sort keyed by the dict's built-in __getitem__ gives the key order
        # with ties broken by id, with no Python call per key and no sort of the ids first.
        _sort_in_slices(ids, composite.__getitem__)
    else:
        ids.sort()  # ties broken by stack id, as in ``order``
        ids.sort(key=_id_key(query.sort, snapshot, previous, baseline), reverse=descending)
    if query.limit is not None:
        del ids[query.limit:]
    return ids


_ID_SPAN = 1 << 64  # Stack ids are 8-byte blake2b digests in hex
_SLICE = 16384


def _sort_in_slices(ids: list[str], key: Callable[[str], int]) -> None:
    """``ids.sort(key=key)`` (keys unique), done so no single call holds the GIL long.

    One sort of 100k ids is one C call of tens of milliseconds during which a UI thread
    cannot run; sorting slices, then letting timsort merge the sorted runs, does the same
    work in pieces of a few milliseconds each."""
    if len(ids) <= 2 * _SLICE:
        ids.sort(key=key)
        return
    runs = [sorted(ids[start : start + _SLICE], key=key) for start in range(0, len(ids), _SLICE)]
    ids[:] = [stack_id for run in runs for stack_id in run]
    ids.sort(key=key)  # finds the runs and merges them


def _integer_keys(
    name: str,
    snapshot: Snapshot,
    previous: Snapshot | None,
    baseline: Snapshot | None,
    descending: bool,
) -> dict[str, int] | None:
    """For the integer SORT_KEYS: stack id -> key * 2**64 + id, the key negated when
    descending, so ascending order of these is the view's order.  None for other keys."""
    stacks = snapshot.stacks
    sign = -_ID_SPAN if descending else _ID_SPAN
    if name in ("pages", "percent"):
        return {i: sign * stat.pages + int(i, 16) for i, stat in stacks.items()}
    if name == "allocations":
        return {i: sign * stat.allocations + int(i, 16) for i, stat in stacks.items()}
    if name in ("delta", "baseline"):
        other = baseline if name == "baseline" else previous
        if other is None:
            return {i: int(i, 16) for i in stacks}
        old = other.stacks
        return {
            i: sign * (stat.pages - (o.pages if (o := old.get(i)) is not None else 0)) + int(i, 16)
            for i, stat in stacks.items()
        }
    return None


def row_of(
    snapshot: Snapshot,
    stack_id: str,
    *,
    previous: Snapshot | None = None,
    baseline: Snapshot | None = None,
) -> Row:
    """The Row ``view`` would give for one stack of ``snapshot``."""
    delta = SnapshotDelta(previous, snapshot) if previous is not None else None
    base = SnapshotDelta(baseline, snapshot) if baseline is not None else None
    return _row(snapshot.stacks[stack_id], snapshot.total_pages or 1, delta, base)
