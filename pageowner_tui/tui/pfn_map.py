"""A PFN range summarised for the PFN pane: its allocations, the pages no allocation covers,
and one cell per pageblock with its dominant owner and migratetype.

Pure computation over PageRecords (and, for a live source on this machine, the flag words
from /proc/kpageflags), so it is tested without a terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from pageowner_tui.kernel.pageflags import BUDDY, NOPAGE
from pageowner_tui.model.snapshot import PageRecord
from pageowner_tui.model.stack import Stack
from pageowner_tui.tui.pfn_range import PAGEBLOCK_PAGES, PfnRange

__all__ = ["Pageblock", "PfnReport", "build_report"]


@dataclass(frozen=True)
class Pageblock:
    start: int
    owned: int  # pages covered by tracked allocations
    owner: str | None  # stack id owning most pages, None when nothing is tracked here
    migratetype: str  # the block's type as page_owner printed it ("Block N type X"), or ""
    free: int | None  # free pages (BUDDY) when flags are known
    untracked: int | None  # flagged (in use) per kpageflags but covered by no allocation


@dataclass(frozen=True)
class PfnReport:
    pfn_range: PfnRange
    records: tuple[PageRecord, ...]  # allocations whose head PFN is in the range, by PFN
    blocks: tuple[Pageblock, ...]
    flags: tuple[int, ...] | None  # one kpageflags word per PFN of the range, when read
    untracked: int | None  # pages in use per flags that no allocation covers
    free: int | None

    def stack_of(self, stack_id: str) -> Stack | None:
        """The stack of an owner in this range (early stacks are in no snapshot)."""
        for record in self.records:
            if record.stack.id == stack_id:
                return record.stack
        return None

    @property
    def owned(self) -> int:
        return sum(block.owned for block in self.blocks)

    def flags_at(self, pfn: int) -> int | None:
        if self.flags is None or not self.pfn_range.start <= pfn < self.pfn_range.end:
            return None
        return self.flags[pfn - self.pfn_range.start]


def build_report(
    pfn_range: PfnRange, records: Iterable[PageRecord], flags: list[int] | None = None
) -> PfnReport:
    start, end = pfn_range.start, pfn_range.end
    ordered = tuple(sorted(records, key=lambda r: r.pfn))
    covered = bytearray(end - start)  # 1 where a tracked allocation owns the page
    first_block = start - start % PAGEBLOCK_PAGES
    owners: dict[int, Counter[str]] = {}
    types: dict[int, Counter[str]] = {}
    for record in ordered:
        lo, hi = max(record.pfn, start), min(record.pfn + record.pages, end)
        for pfn in range(lo, hi):
            covered[pfn - start] = 1
        block = record.pfn - record.pfn % PAGEBLOCK_PAGES
        owners.setdefault(block, Counter())[record.stack.id] += hi - lo
        if record.block_type:
            types.setdefault(block, Counter())[record.block_type] += 1
    blocks = []
    total_free = total_untracked = 0
    for block in range(first_block, end, PAGEBLOCK_PAGES):
        lo, hi = max(block, start), min(block + PAGEBLOCK_PAGES, end)
        owned = sum(covered[lo - start : hi - start])
        owner_counts = owners.get(block)
        owner = owner_counts.most_common(1)[0][0] if owner_counts else None
        type_counts = types.get(block)
        migratetype = type_counts.most_common(1)[0][0] if type_counts else ""
        free = untracked = None
        if flags is not None:
            free = untracked = 0
            for pfn in range(lo, hi):
                word = flags[pfn - start]
                if word & BUDDY:
                    free += 1
                elif word and not word & NOPAGE and not covered[pfn - start]:
                    # Only flagged pages count: a free block's tail pages carry no flags
                    # (BUDDY is set on its head only), so a zero word proves nothing.
                    untracked += 1
            total_free += free
            total_untracked += untracked
        blocks.append(Pageblock(block, owned, owner, migratetype, free, untracked))
    return PfnReport(
        pfn_range,
        ordered,
        tuple(blocks),
        tuple(flags) if flags is not None else None,
        total_untracked if flags is not None else None,
        total_free if flags is not None else None,
    )
