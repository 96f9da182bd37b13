"""Snapshots: what one source saw at one moment.

A ``Snapshot`` maps stack ids to ``StackStat`` (pages and whatever breakdowns the source
knows), carries the source's gap counters (pages it could not attribute, drops, ...), and
optionally the per-allocation ``PageRecord``s it was built from.  Everything is immutable
once built, so a snapshot can be handed between threads freely.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from operator import attrgetter
from types import MappingProxyType

from pageowner_tui.model.stack import Stack

__all__ = ["Breakdown", "Breakdowns", "Counters", "PageRecord", "Snapshot", "StackStat", "PAGE_SIZE"]

PAGE_SIZE = 4096
_PAGES = attrgetter("pages")

_EMPTY: Mapping = MappingProxyType({})


class Breakdown:
    """Names of the per-stack breakdowns a source may fill (keys of StackStat.breakdowns)."""

    ORDER = "order"  # allocation order -> base pages
    GFP = "gfp"  # gfp names as the kernel prints them (%pGg) -> base pages
    MIGRATETYPE = "migratetype"
    COMM = "comm"
    PID = "pid"
    CGROUP = "cgroup"
    ALL = (ORDER, GFP, MIGRATETYPE, COMM, PID, CGROUP)


class Counters:
    """Names of the gap counters a source reports in Snapshot.counters.

    Each is a number of base pages (or events where the name says so) that the per-stack
    counts do not include, so a user can see how much the table leaves out.
    """

    EARLY_PAGES = "early_pages"  # allocated before page_owner initialised (debugfs)
    UNTRACKED_FREES = "untracked_free_pages"  # freed, but allocated before tracking began
    STACK_FAILURES = "stack_capture_failures"  # events whose stack could not be taken
    OWNER_TABLE_DROPS = "owner_table_drops"  # allocations not recorded: owner table full
    STACK_TABLE_DROPS = "stack_table_drops"  # stack map full or collided
    FAILED_ALLOCATIONS = "failed_allocations"  # mm_page_alloc with pfn -1 (events)
    UNLISTED_STACKS = "unlisted_stacks"  # show_stacks under-reports (debugfs)
    BELOW_THRESHOLD = "below_threshold_stacks"  # hidden by count_threshold
    # eBPF source: pages freed whose allocation fired no mm_page_alloc after tracking began
    # (bulk allocator fast path, compaction targets, CMA), pages reallocated without a free
    # event seen, pages outside the PFN span the tracker was sized for, and live pages
    # counted without a stack (capture failed or stack table full).
    UNTRACED_ALLOC_FREES = "untraced_alloc_free_pages"
    MISSED_FREES = "missed_free_pages"
    OUT_OF_RANGE = "out_of_range_pages"
    NO_STACK_PAGES = "no_stack_pages"
    BPF_MISSED_EVENTS = "bpf_missed_events"  # tracepoint hits our programs did not run for


class Breakdowns(Mapping[str, Mapping[str, int]]):
    """A stack's breakdowns (name -> key -> base pages), immutable, in one flat tuple.

    A live view keeps two snapshots of up to 100k stacks, and sources give most stacks one
    or two small breakdowns (eBPF: pages by order; page_owner files: by comm, pid, ...).
    As a dict of dicts that is ~550 bytes per stack per snapshot, most of a 100k-stack
    view's memory; as ``(name, n, key, pages, ..., name, n, ...)`` it is ~150
    (bench/model_memory).  Readers get the same Mapping interface a dict of dicts gave:
    each inner mapping is built (read-only) when asked for, which only the detail pane,
    filters on comm/pid and exporters do, a handful of times per stack at most.
    """

    __slots__ = ("_flat",)

    _flat: tuple

    def __init__(self, breakdowns: Mapping[str, Mapping[str, int]] | None = None) -> None:
        flat: tuple = ()
        for name, values in (breakdowns or _EMPTY).items():
            if len(values) == 1:  # most breakdowns of most stacks: no iterator chain
                ((key, pages),) = values.items()
                flat += (name, 1, key, pages)
            else:
                flat += (name, len(values), *chain.from_iterable(values.items()))
        object.__setattr__(self, "_flat", flat)

    def _spans(self) -> Iterator[tuple[str, int, int]]:
        """(name, start, end) of each breakdown's key/pages pairs in the flat tuple."""
        flat = self._flat
        position = 0
        while position < len(flat):
            start = position + 2
            end = start + 2 * flat[position + 1]
            yield flat[position], start, end
            position = end

    def __getitem__(self, name: str) -> Mapping[str, int]:
        flat = self._flat
        for found, start, end in self._spans():
            if found == name:
                return MappingProxyType(dict(zip(flat[start:end:2], flat[start + 1 : end : 2])))
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _, _ in self._spans())

    def __len__(self) -> int:
        return sum(1 for _ in self._spans())

    def __bool__(self) -> bool:
        return bool(self._flat)

    def __eq__(self, other: object) -> bool:
        if type(other) is Breakdowns and other._flat == self._flat:
            return True  # the common case (an unchanged stack between two ticks): no dicts
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]  # equal to dicts, which are unhashable

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Breakdowns is immutable")

    def plain(self) -> dict[str, dict[str, int]]:
        """A dict of dicts with the same content (for writers and copies)."""
        return {name: dict(values) for name, values in self.items()}

    def __reduce__(self) -> tuple:
        return (Breakdowns, (self.plain(),))

    def __repr__(self) -> str:
        return f"Breakdowns({self.plain()!r})"


NO_BREAKDOWNS = Breakdowns()


@dataclass(frozen=True, slots=True)
class StackStat:
    """One stack's numbers in one snapshot.

    ``breakdowns`` may be given as any mapping of mappings (a dict of dicts, as sources
    build them); it is stored as ``Breakdowns``, which compares equal to that dict.
    """

    stack: Stack
    pages: int  # base pages currently owned
    allocations: int = 0  # allocation records seen (0 = the source cannot tell)
    handle: int | None = None  # stack depot handle (debugfs 6.19+)
    breakdowns: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: NO_BREAKDOWNS)

    def __post_init__(self) -> None:
        # Sources build 100k of these per tick: a plain class check, no call.
        breakdowns = self.breakdowns
        if breakdowns.__class__ is not Breakdowns:
            object.__setattr__(self, "breakdowns", Breakdowns(breakdowns) if breakdowns else NO_BREAKDOWNS)

    @property
    def id(self) -> str:
        return self.stack.id

    def breakdown(self, name: str) -> Mapping[str, int]:
        return self.breakdowns.get(name, _EMPTY)


@dataclass(frozen=True, slots=True)
class PageOwnerDialect:
    """Which optional header fields a page_owner file printed (they depend on the kernel)."""

    pid: bool = True  # ", pid %d"
    tgid: bool = True  # ", tgid %d (%s)"
    ts: bool = True  # ", ts %llu ns"
    free_ts: bool = False  # ", free_ts %llu ns" (5.13-6.6)
    pfn_hex: bool = True  # "PFN 0x%lx" (6.5+) rather than "PFN %lu"
    pid_comm: bool = False  # ", pid %d (%s)": comm right after the pid (5.18, before tgid)


DIALECT_6_12 = PageOwnerDialect()


@dataclass(slots=True)
class PageRecord:
    """One allocation as page_owner prints it (head page only), or as eBPF saw it."""

    pfn: int
    order: int
    gfp_mask: int
    gfp_names: str  # inside the parentheses of "mask 0x..(...)"
    stack: Stack
    pid: int = -1
    tgid: int = -1
    comm: str = ""
    ts_ns: int = 0
    free_ts_ns: int = 0
    migratetype: str = ""  # "type X" of the page
    block_type: str = ""  # "Block N type X" of its pageblock
    flags: str = ""  # everything after "Flags " as printed, e.g. "0x...(lru|node=0|zone=1)"
    trailer: tuple[str, ...] = ()  # lines after the stack, verbatim, without newline
    dialect: PageOwnerDialect = DIALECT_6_12
    cgroup: int = 0  # cgroup id (eBPF source), 0 unknown
    pageblock: int = -1  # "Block N" as printed (pfn >> pageblock_order, config-dependent); -1 unknown

    @property
    def pages(self) -> int:
        return 1 << self.order

    @property
    def early(self) -> bool:
        """Allocated before page_owner initialised (the kernel's early marker stack)."""
        return self.stack.is_early

    @property
    def migrate_reason(self) -> str:
        prefix = "Page has been migrated, last migrate reason: "
        for line in self.trailer:
            if line.startswith(prefix):
                return line[len(prefix):]
        return ""


@dataclass(frozen=True)
class Snapshot:
    """What a source saw at one moment."""

    time: float  # seconds since the epoch
    source: str  # "ebpf", "debugfs", "file", "replay"
    stacks: Mapping[str, StackStat]  # by stack id
    kernel: str = ""  # kernel release, "" when unknown
    counters: Mapping[str, int] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)  # origin, format, mode, ...
    records: tuple[PageRecord, ...] | None = None  # per-allocation data, when kept

    @classmethod
    def from_stats(
        cls,
        stats: Iterable[StackStat],
        *,
        source: str,
        time: float | None = None,
        kernel: str = "",
        counters: Mapping[str, int] | None = None,
        meta: Mapping[str, str] | None = None,
        records: tuple[PageRecord, ...] | None = None,
    ) -> "Snapshot":
        merged: dict[str, StackStat] = {}
        for stat in stats:
            previous = merged.get(stat.id)
            merged[stat.id] = stat if previous is None else merge_stats(previous, stat)
        return cls(
            time=_time.time() if time is None else time,
            source=source,
            stacks=MappingProxyType(merged),
            kernel=kernel,
            counters=MappingProxyType(dict(counters or {})),
            meta=MappingProxyType(dict(meta or {})),
            records=records,
        )

    @cached_property
    def total_pages(self) -> int:
        return sum(map(_PAGES, self.stacks.values()))  # C-level: ~3x a generator at 100k

    @property
    def total_bytes(self) -> int:
        return self.total_pages * PAGE_SIZE

    @property
    def has_records(self) -> bool:
        return self.records is not None

    def get(self, stack_id: str) -> StackStat | None:
        return self.stacks.get(stack_id)

    def __len__(self) -> int:
        return len(self.stacks)


def merge_stats(a: StackStat, b: StackStat) -> StackStat:
    """Two entries for the same stack (e.g. show_stacks listing a stack twice): add them."""
    breakdowns: dict[str, dict[str, int]] = {k: dict(v) for k, v in a.breakdowns.items()}
    for name, values in b.breakdowns.items():
        target = breakdowns.setdefault(name, {})
        for key, count in values.items():
            target[key] = target.get(key, 0) + count
    return StackStat(
        stack=a.stack,
        pages=a.pages + b.pages,
        allocations=a.allocations + b.allocations,
        handle=a.handle if a.handle is not None else b.handle,
        breakdowns=breakdowns,
    )
