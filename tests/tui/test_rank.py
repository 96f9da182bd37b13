"""model.query.rank (the TUI's fast path) orders exactly as model.query.view, for every sort
key, direction, threshold and filter, with and without previous/baseline snapshots."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pageowner_tui.model.query import SORT_KEYS, Query, StackFilter, rank, row_of, view
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack

CALLERS = ["shmem_alloc_folio+0x97/0x1a0", "ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]", "do_wp_page+0x23f/0x900", "loop_queue_work+0x1/0x10 [loop]"]


def make(pages: dict[int, int], time: float, comm: str = "dd") -> Snapshot:
    stats = [
        StackStat(
            intern_stack(["get_page_from_freelist+0x1071/0x1270", CALLERS[n % len(CALLERS)], f"site_{n}+0x1/0x10"]),
            p,
            allocations=p // 2,
            breakdowns={Breakdown.COMM: {f"{comm}{n % 3}": p}},
        )
        for n, p in pages.items()
    ]
    return Snapshot.from_stats(stats, source="file", time=time)


counts = st.dictionaries(st.integers(0, 40), st.integers(1, 60), min_size=0, max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    before=counts,
    after=counts,
    base=counts,
    sort=st.sampled_from(sorted(SORT_KEYS)),
    reverse=st.booleans(),
    threshold=st.integers(0, 40),
    flt=st.sampled_from(["", "shmem", "module:ext4", "comm:dd1", "ext4 site_1", "frame:do_wp", "dd2"]),
    regex=st.booleans(),
    limit=st.one_of(st.none(), st.integers(0, 10)),
    seconds=st.sampled_from([0.0, 2.5]),
)
def test_rank_equals_view(before, after, base, sort, reverse, threshold, flt, regex, limit, seconds):
    previous = make(before, 100.0)
    current = make(after, 100.0 + seconds)
    baseline = make(base, 50.0)
    query = Query(sort=sort, reverse=reverse, filter=StackFilter.parse(flt, regex=regex), threshold=threshold, limit=limit)
    expected = [r.id for r in view(current, query, previous=previous, baseline=baseline)]
    assert rank(current, query, previous=previous, baseline=baseline) == expected
    # The memo must not change answers on the second use (the live view's case) ...
    assert rank(current, query, previous=previous, baseline=baseline) == expected
    for row in view(current, query, previous=previous, baseline=baseline):
        assert row_of(current, row.id, previous=previous, baseline=baseline) == row


def test_keep_adds_a_filtered_out_stack_in_sorted_place():
    snap = make({1: 10, 2: 20, 3: 30}, 1.0)
    ids = rank(snap)
    hidden = ids[0]  # 30 pages
    query = Query(threshold=25)
    assert rank(snap, query) == [hidden]
    low = ids[-1]
    assert rank(snap, query, keep=low) == [hidden, low]


def test_filter_memo_sees_comm_changes():
    """Comm matches depend on the snapshot, not the stack: the memo must not freeze them."""
    query = Query(filter=StackFilter.parse("comm:cat"))
    first = make({1: 5}, 1.0, comm="dd")
    second = make({1: 5}, 2.0, comm="cat")
    assert rank(first, query) == []
    assert rank(second, query) == list(second.stacks)


def test_filter_memo_stays_bounded_when_stacks_churn():
    flt = StackFilter.parse("shmem")
    query = Query(filter=flt)
    for tick in range(40):
        # 1,000 new stacks every tick, none kept: a live source with heavy churn
        snap = make({n: 1 for n in range(1000 * tick, 1000 * tick + 1000)}, float(tick))
        rank(snap, query)
    assert len(flt._memo) <= 4 * 1000 + 10_000 + 1000


def test_large_snapshots_take_the_sliced_sort_and_still_equal_view():
    from .fakes import synthetic_series

    before, after = synthetic_series(40_000, 2)  # > 2 slices of 16384
    for query in (Query(), Query(sort="delta"), Query(reverse=True), Query(sort="allocations", threshold=100)):
        assert rank(after, query, previous=before) == [r.id for r in view(after, query, previous=before)]
