"""A pure-Python reference model of the BPF program's page attribution (bpf/pageowner.bpf.c).

The kernel side cannot be unit-tested with arbitrary event sequences; this model can.  It
does exactly what the two tracepoint programs do, slot by slot, so property tests can drive
it with allocations, whole frees, split-page frees, chunked frees, failed allocations,
pages allocated before start and allocations no tracepoint reported, and compare its
per-stack counts with the truth.  Keep it in step with the C file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PRESTART", "FreeAttribution", "StackCount", "Owner"]

PRESTART = 0xFFFFFFFF  # slot row of a page not seen since the tracker started
NR_ORDERS = 11


@dataclass
class StackCount:
    pages: int = 0
    allocations: int = 0
    order_pages: list[int] = field(default_factory=lambda: [0] * NR_ORDERS)


@dataclass(frozen=True)
class Owner:
    row: int
    order: int
    pid: int


def slot_value(row: int, offset: int, order: int) -> int:
    return row | offset << 32 | order << 48


@dataclass
class FreeAttribution:
    """State of the tracker: slots per PFN, counts per stack row, owners, counters."""

    pfn_limit: int
    slots: list[int] = field(init=False)
    rows: dict[int, StackCount] = field(default_factory=dict)
    owners: dict[int, Owner] = field(default_factory=dict)
    untracked_free_pages: int = 0  # allocated before start
    untraced_free_pages: int = 0  # allocated since start by a path without mm_page_alloc
    missed_free_pages: int = 0  # reallocated although we saw no free
    failed_allocations: int = 0
    out_of_range_pages: int = 0

    def __post_init__(self) -> None:
        # user space marks every page "not seen since start" before counting begins
        self.slots = [PRESTART] * self.pfn_limit

    def _add(self, row: int, pages: int, heads: int, order: int) -> None:
        count = self.rows.setdefault(row, StackCount())
        count.pages += pages
        count.allocations += heads
        if order < NR_ORDERS:
            count.order_pages[order] += pages

    def alloc(self, pfn: int, order: int, row: int, pid: int = 0) -> None:
        """kmem:mm_page_alloc (pfn -1 is a failed allocation)."""
        if pfn == -1:
            self.failed_allocations += 1
            return
        if order >= NR_ORDERS or pfn + (1 << order) > self.pfn_limit:
            self.out_of_range_pages += 1 << order
            return
        for i in range(1 << order):
            old = self.slots[pfn + i]
            if old and old & 0xFFFFFFFF != PRESTART:
                self._add(old & 0xFFFFFFFF, -1, -1 if (old >> 32) & 0xFFFF == 0 else 0, (old >> 48) & 0xFF)
                self.missed_free_pages += 1
            self.slots[pfn + i] = slot_value(row, i, order)
        self._add(row, 1 << order, 1, order)
        self.owners[pfn] = Owner(row, order, pid)

    def free(self, pfn: int, order: int) -> None:
        """kmem:mm_page_free, with the order of the free call."""
        if order >= NR_ORDERS or pfn + (1 << order) > self.pfn_limit:
            self.out_of_range_pages += 1 << order
            return
        for i in range(1 << order):
            value = self.slots[pfn + i]
            if value == 0:
                self.untraced_free_pages += 1
                continue
            self.slots[pfn + i] = 0
            if value & 0xFFFFFFFF == PRESTART:
                self.untracked_free_pages += 1
                continue
            offset = (value >> 32) & 0xFFFF
            slot_order = (value >> 48) & 0xFF
            self._add(value & 0xFFFFFFFF, -1, -1 if offset == 0 else 0, slot_order)
        # owner records are never deleted: owner_of() checks they still apply

    def owner_of(self, pfn: int) -> Owner | None:
        """The owner record of the allocation pfn belongs to, if its record still applies
        (the head's record names the same stack and order as pfn's slot)."""
        value = self.slots[pfn]
        if not value or value & 0xFFFFFFFF == PRESTART:
            return None
        owner = self.owners.get(pfn - ((value >> 32) & 0xFFFF))
        if owner is None or owner.row != value & 0xFFFFFFFF or owner.order != (value >> 48) & 0xFF:
            return None
        return owner

    def untraced_alloc(self, pfn: int, order: int) -> None:
        """An allocation no tracepoint reported (bulk fast path, compaction, CMA): the
        pages' slots are whatever they were; only the later free shows it."""

    def live_pages(self) -> dict[int, int]:
        return {row: count.pages for row, count in self.rows.items() if count.pages}
