"""The free-attribution reference model against the truth, driven by random event sequences.

The truth is a list of live allocations and which of their pages are still live; the
events are what the kernel would fire: mm_page_alloc per allocation, mm_page_free per free
call with *that call's* order (whole frees, split pages freed one by one, aligned chunks),
failed allocations, frees of pages allocated before the tracker started and of pages whose
allocation fired no tracepoint.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pageowner_tui.sources.free_attribution import PRESTART, FreeAttribution

LIMIT = 64


def test_split_page_freed_one_by_one_goes_back_to_its_stack():
    model = FreeAttribution(LIMIT)
    model.alloc(32, 3, row=7)  # 8 pages
    assert model.live_pages() == {7: 8}
    for pfn in range(32, 40):  # split_page(): each freed at order 0, head first
        model.free(pfn, 0)
    assert model.live_pages() == {}
    assert model.rows[7].allocations == 0
    assert model.untracked_free_pages == model.untraced_free_pages == 0


def test_alloc_pages_exact_tail_free_keeps_the_rest():
    model = FreeAttribution(LIMIT)
    model.alloc(16, 4, row=3)  # 16 pages, alloc_pages_exact(12 pages)
    for pfn in range(28, 32):  # make_alloc_exact frees the 4-page tail one by one
        model.free(pfn, 0)
    assert model.live_pages() == {3: 12}
    assert model.rows[3].order_pages[4] == 12


def test_high_order_page_freed_in_chunks():
    model = FreeAttribution(LIMIT)
    model.alloc(0, 5, row=1)  # 32 pages
    model.free(16, 4)
    model.free(0, 3)
    assert model.live_pages() == {1: 8}
    assert model.owner_of(8).row == 1  # the remaining pages keep their owner
    model.free(8, 3)
    assert model.live_pages() == {}
    assert model.owner_of(8) is None


def test_failed_and_prestart_and_untraced_are_counted_not_owned():
    model = FreeAttribution(LIMIT)
    model.alloc(-1, 0, row=2)
    model.free(48, 2)  # four pages allocated before the tracker started
    model.free(48, 2)  # the same pages again: now allocated since by an untraced path
    assert model.failed_allocations == 1
    assert model.untracked_free_pages == 4
    assert model.untraced_free_pages == 4
    assert model.live_pages() == {}


def test_reallocation_without_a_seen_free_moves_the_page():
    model = FreeAttribution(LIMIT)
    model.alloc(10, 0, row=1)
    model.alloc(10, 0, row=2)  # its free fired no tracepoint
    assert model.live_pages() == {2: 1}
    assert model.missed_free_pages == 1


@st.composite
def event_sequences(draw):
    """(events, truth) where truth is per-row live pages after the events."""
    free_pages = set(range(LIMIT))
    prestart = set(draw(st.sets(st.integers(0, LIMIT - 1), max_size=40)))
    free_pages -= prestart
    live: dict[int, tuple[int, int, int, set[int]]] = {}  # id -> (head, row, order, live pages)
    events = []
    untracked = 0
    untraced_live: set[int] = set()
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.sampled_from(["alloc", "alloc", "free", "split", "chunk", "prestart", "untraced", "fail"]))
        if kind == "alloc":
            order = draw(st.integers(0, 4))
            size = 1 << order
            candidates = [p for p in range(0, LIMIT, size) if all(q in free_pages for q in range(p, p + size))]
            if not candidates:
                continue
            pfn = draw(st.sampled_from(candidates))
            row = draw(st.integers(1, 5))
            free_pages -= set(range(pfn, pfn + size))
            live[len(events)] = (pfn, row, order, set(range(pfn, pfn + size)))
            events.append(("alloc", pfn, order, row, len(events)))
        elif kind == "free" and live:
            key = draw(st.sampled_from(sorted(live)))
            head, row, order, pages = live[key]
            if len(pages) != 1 << order:
                continue  # partly freed: use split/chunk frees for the rest
            del live[key]
            free_pages |= pages
            events.append(("free", head, order))
        elif kind == "split" and live:
            key = draw(st.sampled_from(sorted(live)))
            head, row, order, pages = live[key]
            page = draw(st.sampled_from(sorted(pages)))
            pages.discard(page)
            free_pages.add(page)
            if not pages:
                del live[key]
            events.append(("free", page, 0))
        elif kind == "chunk" and live:
            key = draw(st.sampled_from(sorted(live)))
            head, row, order, pages = live[key]
            if order == 0 or len(pages) != 1 << order:
                continue
            sub = draw(st.integers(0, order - 1))
            start = head + draw(st.integers(0, (1 << (order - sub)) - 1)) * (1 << sub)
            chunk = set(range(start, start + (1 << sub)))
            pages -= chunk
            free_pages |= chunk
            events.append(("free", start, sub))
        elif kind == "prestart" and prestart:
            page = draw(st.sampled_from(sorted(prestart)))
            prestart.discard(page)
            free_pages.add(page)
            untracked += 1
            events.append(("free", page, 0))
        elif kind == "untraced":
            candidates = sorted(p for p in free_pages)
            if not candidates:
                continue
            page = draw(st.sampled_from(candidates))
            free_pages.discard(page)
            untraced_live.add(page)
            events.append(("untraced_alloc", page))
        elif kind == "fail":
            events.append(("alloc", -1, 0, 1, 0))
    # free everything allocated behind our back, then report
    for page in sorted(untraced_live):
        events.append(("free", page, 0))
    truth: dict[int, int] = {}
    for _head, row, order, pages in live.values():
        truth[row] = truth.get(row, 0) + len(pages)
    owners_truth = [(head, row, order, pages, key) for key, (head, row, order, pages) in live.items()]
    return events, truth, untracked, untraced_live, owners_truth


@settings(max_examples=100, deadline=None)
@given(event_sequences())
def test_model_counts_equal_the_truth(case):
    events, truth, untracked, untraced_live, owners_truth = case
    model = FreeAttribution(LIMIT)
    for event in events:
        if event[0] == "alloc":
            model.alloc(event[1], event[2], event[3], pid=event[4])
        elif event[0] == "free":
            model.free(event[1], event[2])
        else:
            model.untraced_alloc(event[1], 0)
    assert model.live_pages() == {row: pages for row, pages in truth.items() if pages}
    assert model.untracked_free_pages >= untracked
    # a page allocated behind our back was either free-since-start (then its free counts
    # as untraced) or never seen (PRESTART: counted as allocated before start)
    assert model.untraced_free_pages + model.untracked_free_pages == untracked + len(untraced_live)
    assert model.missed_free_pages == 0
    assert all(value == 0 or value & 0xFFFFFFFF == PRESTART or (value & 0xFFFFFFFF) in truth
               for value in model.slots)
    # a live page finds its own allocation's owner record, or none when a newer allocation
    # reused the head page (split page freed from the front): never someone else's
    for head, row, order, pages, pid in owners_truth:
        for page in pages:
            owner = model.owner_of(page)
            if head in pages:
                assert owner is not None
            if owner is not None:
                assert (owner.row, owner.order, owner.pid) == (row, order, pid)
