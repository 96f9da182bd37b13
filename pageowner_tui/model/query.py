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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import compress, repeat
from operator import add, attrgetter, mul, sub

from pageowner_tui.model.delta import SnapshotDelta
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat

__all__ = [
    "FilterError",
    "Query",
    "Ranking",
    "Row",
    "SORT_KEYS",
    "StackFilter",
    "rank",
    "rank_lazily",
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
    stacks = snapshot.stacks
    ids = _candidates(stacks, query, keep)
    _, natural_desc = SORT_KEYS[query.sort]
    descending = natural_desc != query.reverse
    keys = _integer_keys(query.sort, ids, stacks, previous, baseline, descending)
    if keys is not None:
        _sort_by_keys(ids, keys)
    else:
        ids.sort()  # ties broken by stack id, as in ``order``
        ids.sort(key=_id_key(query.sort, snapshot, previous, baseline), reverse=descending)
    if query.limit is not None:
        del ids[query.limit:]
    return ids


def _candidates(stacks: Mapping[str, StackStat], query: Query, keep: str | None) -> list[str]:
    """Ids that pass the threshold and filter (and ``keep``), in the snapshot's order."""
    threshold = query.threshold
    flt = query.filter
    if flt and len(flt._memo) > 4 * len(stacks) + 10_000:
        flt._memo.clear()  # stacks come and go on a live source: keep the memo bounded
    if threshold <= 0 and not flt:
        return list(stacks)
    return [
        stack_id
        for stack_id, stat in stacks.items()
        if (stat.pages >= threshold and (not flt or _memo_matches(flt, stat))) or stack_id == keep
    ]


_ID_SPAN = 1 << 64  # Stack.id_number is an 8-byte blake2b digest
_PAGES = attrgetter("pages")
_ALLOCATIONS = attrgetter("allocations")
_ID_NUMBER = attrgetter("stack.id_number")
_INTEGER_SORT_KEYS = frozenset({"pages", "percent", "allocations", "delta", "baseline"})


class _Absent:
    """Stands in for a stack missing from the other snapshot of a delta: it had 0 pages."""

    __slots__ = ()
    pages = 0


_ABSENT = _Absent()


def _integer_values(
    name: str,
    ids: list[str],
    stacks: Mapping[str, StackStat],
    previous: Snapshot | None,
    baseline: Snapshot | None,
) -> Iterator[int] | None:
    """For the integer SORT_KEYS: the key of each stack of ``ids``, in that order, as an
    iterator built of chained ``map``s over C functions (attrgetter, operator.sub), read in
    the snapshot's own order: a Python-level loop, or stack-by-stack look-ups in another
    order, costs several times more at 100k stacks (bench/tui_refresh).  None for the
    other keys."""
    if name not in _INTEGER_SORT_KEYS:
        return None
    stats = _stats_of(ids, stacks)
    if name in ("pages", "percent"):
        return map(_PAGES, stats)
    if name == "allocations":
        return map(_ALLOCATIONS, stats)
    other = baseline if name == "baseline" else previous
    if other is None:
        return repeat(0, len(ids))  # every change is 0
    before = map(_PAGES, map(other.stacks.get, ids, repeat(_ABSENT)))
    return map(sub, map(_PAGES, stats), before)


def _stats_of(ids: list[str], stacks: Mapping[str, StackStat]) -> Iterable[StackStat]:
    # ``ids`` keeps the snapshot's order (rank filters it with a comprehension over it), so
    # the same length means the same ids: read the stats in place, without look-ups.
    return stacks.values() if len(ids) == len(stacks) else list(map(stacks.__getitem__, ids))


def _integer_keys(
    name: str,
    ids: list[str],
    stacks: Mapping[str, StackStat],
    previous: Snapshot | None,
    baseline: Snapshot | None,
    descending: bool,
) -> list[int] | None:
    """For the integer SORT_KEYS: per stack of ``ids`` (in that order) its key * 2**64 +
    its id's number, the key negated when descending, so that ascending order of these is
    the view's order, ties broken by id.  None for the other keys."""
    values = _integer_values(name, ids, stacks, previous, baseline)
    if values is None:
        return None
    sign = -_ID_SPAN if descending else _ID_SPAN
    return list(map(add, map(mul, values, repeat(sign)), map(_ID_NUMBER, _stats_of(ids, stacks))))


def _sort_by_keys(ids: list[str], keys: list[int]) -> None:
    """Sort ``ids`` by ``keys`` (keys[n] belongs to ids[n]; all distinct).

    list.sort computes every key once, left to right, before it sorts, so handing it the
    precomputed keys in order pairs each id with its own key: one C call per stack and no
    100k-entry dict to build and probe."""
    handed_out = iter(keys)
    ids.sort(key=partial(next, handed_out))
    if next(handed_out, None) is not None:  # pragma: no cover - not CPython's list.sort
        raise RuntimeError("list.sort did not ask for every key once")


class Ranking(Sequence[str]):
    """Stack ids in view order, of which only the first ``len(head)`` are sorted until a
    reader asks for one further down (then all are, once, by ``rank``).

    A live view shows the top of 100k stacks, records the top ``TOP`` in its history and
    almost never looks further: sorting only those is what keeps a tick within its budget
    (bench/tui_refresh).  Reading past the head, ``index`` of a stack not in it, iterating
    or comparing gives exactly what ``rank`` gives; ``complete`` says whether that happened.
    """

    __slots__ = ("_head", "_length", "_complete", "_full", "_may_contain", "read_past_head")

    def __init__(
        self,
        head: list[str],
        length: int,
        complete: Callable[[], list[str]],
        may_contain: Callable[[str], bool] | None = None,
    ) -> None:
        self._head = head
        self._length = length
        self._complete: Callable[[], list[str]] | None = complete
        self._full: list[str] | None = None
        # A cheap "certainly not ranked" test, so that looking up a stack that went away
        # does not sort everything; None when only the full ranking can tell.
        self._may_contain = may_contain
        # Whether a reader took an entry past the head by position (a view scrolled down):
        # the next tick's ranking is then worth sorting whole ahead of time.
        self.read_past_head = False

    @property
    def head(self) -> list[str]:
        return self._head

    @property
    def complete(self) -> bool:
        return self._full is not None

    def full(self) -> list[str]:
        """Every id in order (sorted now if not yet)."""
        full = self._full
        if full is None:
            complete = self._complete
            assert complete is not None
            full = complete()
            if len(full) != self._length or full[: len(self._head)] != self._head:  # pragma: no cover
                raise RuntimeError("ranking head disagrees with the full ranking")
            self._full, self._complete = full, None
        return full

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):  # type: ignore[override]
        head = self._head
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step == 1 and stop <= len(head):
                return head[start:stop]
            self.read_past_head = True
            return self.full()[index]
        if index < 0:
            index += self._length
            if index < 0:
                raise IndexError("ranking index out of range")
        if 0 <= index < len(head):
            return head[index]
        self.read_past_head = True
        return self.full()[index]

    def index(self, value: str, start: int = 0, stop: int | None = None) -> int:
        if start == 0 and stop is None:
            if self._full is None:
                try:
                    return self._head.index(value)
                except ValueError:
                    if self._may_contain is not None and not self._may_contain(value):
                        raise ValueError(f"{value!r} is not ranked") from None
            return self.full().index(value)
        return self.full().index(value, start, self._length if stop is None else stop)

    def __contains__(self, value: object) -> bool:
        if value in self._head:
            return True
        if self._may_contain is not None and isinstance(value, str) and not self._may_contain(value):
            return False
        return value in self.full()

    def __iter__(self) -> Iterator[str]:
        return iter(self._head if len(self._head) == self._length else self.full())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ranking):
            other = other.full()
        if isinstance(other, list):
            return self.full() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ranking({len(self._head)} of {self._length} sorted{', complete' if self.complete else ''})"


_SAMPLE = 2048  # values sampled to place the head's cut-off


def rank_lazily(
    snapshot: Snapshot,
    query: Query = Query(),
    *,
    previous: Snapshot | None = None,
    baseline: Snapshot | None = None,
    keep: str | None = None,
    head: int = 5000,
) -> Sequence[str]:
    """``rank``, with at least the first ``head`` ids sorted now and the rest when read.

    For the integer sort keys, the ids whose key is at or beyond a cut-off (placed from a
    sorted sample of the keys so that about 1.25 * ``head`` pass) are exactly the first of
    the full order, since it sorts by key first; only they are sorted here, by (key, id)
    as ``rank`` does.  Everything else, and a cut-off that lets too few through, is
    ``rank`` itself, so the result is always ``rank``'s."""
    stacks = snapshot.stacks
    ids = _candidates(stacks, query, keep)
    length = len(ids) if query.limit is None else min(len(ids), query.limit)

    def complete() -> list[str]:
        return rank(snapshot, query, previous=previous, baseline=baseline, keep=keep)

    if len(ids) <= 4 * head or length <= head:
        return complete()
    values_iter = _integer_values(query.sort, ids, stacks, previous, baseline)
    if values_iter is None:
        return complete()
    values = list(values_iter)
    _, natural_desc = SORT_KEYS[query.sort]
    descending = natural_desc != query.reverse
    sample = sorted(values[:: max(1, len(values) // _SAMPLE)])
    wanted = min(len(sample), max(1, -(-len(sample) * head * 5 // (4 * len(values)))))
    if descending:
        cut = sample[-wanted]
        passing = list(map(cut.__le__, values))
    else:
        cut = sample[wanted - 1]
        passing = list(map(cut.__ge__, values))
    top = list(compress(ids, passing))
    if len(top) < head or len(top) >= len(ids) // 2:
        return complete()  # a sample that misled, or keys too equal for a cut-off to help
    # The head's keys as in _integer_keys, picked out of the values already read (in the
    # snapshot's order, like everything else here) rather than looked up again.
    top_stats = compress(_stats_of(ids, stacks), passing)
    sign = -_ID_SPAN if descending else _ID_SPAN
    keys = list(map(add, map(mul, compress(values, passing), repeat(sign)), map(_ID_NUMBER, top_stats)))
    _sort_by_keys(top, keys)
    if length <= len(top):
        return top[:length]
    unfiltered = query.threshold <= 0 and not query.filter
    return Ranking(top, length, complete, stacks.__contains__ if unfiltered else None)


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
