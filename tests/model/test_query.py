"""The model's queries: sort (every key, both ways), filter, threshold, top N, deltas."""

import pytest

from pageowner_tui.model.delta import diff
from pageowner_tui.model.query import SORT_KEYS, FilterError, Query, StackFilter, view
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack


def stat(frames, pages, comm=None, pid=None):
    breakdowns = {}
    if comm:
        breakdowns[Breakdown.COMM] = {comm: pages}
    if pid:
        breakdowns[Breakdown.PID] = {str(pid): pages}
    return StackStat(intern_stack(frames), pages, breakdowns=breakdowns)


A = ["get_page_from_freelist+0x1/0x10", "__alloc_pages_noprof+0x1/0x10", "shmem_alloc_folio+0x1/0x10", "vfs_write+0x1/0x10"]
B = ["get_page_from_freelist+0x1/0x10", "__alloc_pages_noprof+0x1/0x10", "ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]"]
C = ["get_page_from_freelist+0x1/0x10", "new_slab+0x364/0x430", "kmem_cache_alloc_noprof+0x1/0x10", "anon_vma_fork+0x51/0x140"]


@pytest.fixture
def snaps():
    before = Snapshot.from_stats([stat(A, 100, "dd", 10), stat(B, 50, "kworker", 2), stat(C, 7)], source="file", time=100.0)
    after = Snapshot.from_stats([stat(A, 160, "dd", 10), stat(B, 40, "kworker", 2), stat(C, 7)], source="file", time=110.0)
    return before, after


def test_default_sort_is_pages_descending(snaps):
    _, after = snaps
    assert [r.pages for r in view(after)] == [160, 40, 7]


def test_reverse_inverts(snaps):
    _, after = snaps
    assert [r.pages for r in view(after, Query(reverse=True))] == [7, 40, 160]


def test_delta_and_rate(snaps):
    before, after = snaps
    rows = view(after, Query(sort="delta"), previous=before)
    assert [(r.delta, r.rate) for r in rows] == [(60, 6.0), (0, 0.0), (-10, -1.0)]


@pytest.mark.parametrize("key", list(SORT_KEYS))
def test_every_sort_key_orders_both_ways(snaps, key):
    before, after = snaps
    keyfn, natural_descending = SORT_KEYS[key]
    down = view(after, Query(sort=key), previous=before, baseline=before)
    up = view(after, Query(sort=key, reverse=True), previous=before, baseline=before)
    assert {r.id for r in down} == {r.id for r in up} == set(after.stacks)
    values = [keyfn(r) for r in down]
    inverted = [keyfn(r) for r in up]
    assert values == sorted(values, reverse=natural_descending)
    assert inverted == sorted(inverted, reverse=not natural_descending)


def test_ties_break_by_id_so_order_is_stable():
    s = Snapshot.from_stats([stat(A, 5), stat(B, 5), stat(C, 5)], source="file")
    ids = [r.id for r in view(s)]
    assert ids == sorted(ids)
    assert ids == [r.id for r in view(s)]


def test_threshold_and_limit(snaps):
    _, after = snaps
    assert [r.pages for r in view(after, Query(threshold=40))] == [160, 40]
    assert [r.pages for r in view(after, Query(limit=1))] == [160]
    assert view(after, Query(limit=0)) == []


def test_percent_of_total(snaps):
    _, after = snaps
    rows = view(after)
    assert sum(r.percent for r in rows) == pytest.approx(100.0)
    assert rows[0].percent == pytest.approx(100 * 160 / 207)


def test_baseline(snaps):
    before, after = snaps
    rows = {r.id: r.since_baseline for r in view(after, baseline=before)}
    assert sorted(rows.values()) == [-10, 0, 60]


@pytest.mark.parametrize(
    "text, regex, expected",
    [
        ("shmem", False, [160]),
        ("SHMEM", False, [160]),
        ("module:ext4", False, [40]),
        ("comm:kworker", False, [40]),
        ("pid:10", False, [160]),
        ("new_slab anon_vma", False, [7]),
        ("alloc_pages", False, [160, 40]),
        (r"ext4_mb_\w+\+0x1f3", True, [40]),
        ("frame:vfs_write|anon_vma_fork", True, [160, 7]),
        ("+0x1f3/", False, [40]),
        ("nothing-matches-this", False, []),
    ],
)
def test_filter(snaps, text, regex, expected):
    _, after = snaps
    rows = view(after, Query(filter=StackFilter.parse(text, regex=regex)))
    assert [r.pages for r in rows] == expected


def test_bad_regex_is_a_filter_error():
    with pytest.raises(FilterError, match="bad regular expression"):
        StackFilter.parse("(unclosed", regex=True)


def test_query_validates():
    with pytest.raises(ValueError, match="unknown sort key"):
        Query(sort="nope")
    with pytest.raises(ValueError):
        Query(threshold=-1)


def test_diff_statuses(snaps):
    before, after = snaps
    gone = Snapshot.from_stats([stat(A, 1)], source="file", time=120.0)
    d = diff(after, gone)
    statuses = {x.stack.caller_function: x.status for x in d.stacks.values()}
    assert statuses == {"shmem_alloc_folio": "changed", "ext4_mb_load_buddy_gfp": "gone", "anon_vma_fork": "gone"}
    assert [x.change for x in diff(before, after).changed()] == [60, -10]
    assert diff(before, after).total_change == 50
