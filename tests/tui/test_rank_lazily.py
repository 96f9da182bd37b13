"""model.query.rank_lazily (the live view's ranking) gives exactly rank's ids, whether the
reader stays in the sorted head or reads past it, and sorts only the head until then."""

from __future__ import annotations

import random

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from pageowner_tui.model.query import SORT_KEYS, Query, Ranking, StackFilter, rank, rank_lazily
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack
from pageowner_tui.tui.live_view import LiveView

from .fakes import synthetic_series


def make(pages: dict[int, int], time: float) -> Snapshot:
    stats = [StackStat(intern_stack([f"lazy_site_{n}+0x1/0x10"]), p, allocations=p // 3) for n, p in pages.items()]
    return Snapshot.from_stats(stats, source="file", time=time)


counts = st.dictionaries(st.integers(0, 400), st.integers(-5, 400), min_size=0, max_size=200)
# big enough that the head is a real part of the ranking (rank_lazily ranks <= 4*head fully)
big_counts = st.dictionaries(st.integers(0, 400), st.integers(-5, 400), min_size=60, max_size=200)


@settings(max_examples=150, deadline=None)
@given(
    before=counts,
    after=big_counts,
    sort=st.sampled_from(sorted(SORT_KEYS)),
    reverse=st.booleans(),
    threshold=st.sampled_from([0, 0, 0, 20, 200]),
    flt=st.sampled_from(["", "", "site_1", "id:a"]),
    limit=st.one_of(st.none(), st.none(), st.integers(0, 60)),
    head=st.integers(1, 12),
    probe=st.integers(-250, 250),
)
def test_rank_lazily_equals_rank(before, after, sort, reverse, threshold, flt, limit, head, probe):
    previous, current = make(before, 1.0), make(after, 3.0)
    query = Query(sort=sort, reverse=reverse, filter=StackFilter.parse(flt), threshold=threshold, limit=limit)
    expected = rank(current, query, previous=previous, baseline=previous)
    lazy = rank_lazily(current, query, previous=previous, baseline=previous, head=head)
    assert len(lazy) == len(expected)
    if isinstance(lazy, Ranking):
        assert not lazy.complete and len(lazy.head) >= head
        assert lazy.head == expected[: len(lazy.head)]
        assert lazy[:head] == expected[:head]
        assert lazy[0] == expected[0] and lazy[-1] == expected[-1]
    if -len(expected) <= probe < len(expected):
        assert lazy[probe] == expected[probe]
    for stack_id in expected[:3] + expected[-3:] + ["0" * 16]:
        assert (stack_id in lazy) == (stack_id in expected)
        if stack_id in expected:
            assert lazy.index(stack_id) == expected.index(stack_id)
    assert list(lazy) == expected and lazy == expected


def test_head_only_is_sorted_until_read_past():
    snaps = synthetic_series(3000, 2, seed=7)
    query = Query()
    ranking = rank_lazily(snaps[1], query, previous=snaps[0], head=100)
    assert isinstance(ranking, Ranking)
    expected = rank(snaps[1], query, previous=snaps[0])
    assert 100 <= len(ranking.head) < 1500
    assert ranking[:100] == expected[:100] and ranking.index(expected[50]) == 50
    assert not ranking.complete  # reading the head sorted nothing more
    assert "f" * 16 not in ranking and not ranking.complete  # unknown id: no full sort
    assert ranking[2500] == expected[2500] and ranking.complete
    assert ranking[-len(expected)] == expected[0]
    with pytest.raises(IndexError):
        ranking[-len(expected) - 1]


def test_keys_too_equal_for_a_cut_off_rank_everything():
    snap = make({n: 1 for n in range(400)}, 1.0)
    ranking = rank_lazily(snap, head=10)
    assert not isinstance(ranking, Ranking) and ranking == rank(snap)


def test_live_view_sorts_everything_on_the_worker_once_the_ui_read_past_the_top():
    snaps = synthetic_series(30_000, 5, seed=3)
    live = LiveView()
    live.commit(live.sample(snaps[0]))
    assert isinstance(live.ids, Ranking) and not live.ids.complete
    assert live.ids[:5] == rank(snaps[0])[:5]
    live.commit(live.sample(snaps[1]))
    assert isinstance(live.ids, Ranking) and not live.ids.complete
    far = live.ids[len(live.ids) - 1]  # the user pressed End
    assert live.ids.complete and far == rank(snaps[1], previous=snaps[0])[-1]
    prepared = live.sample(snaps[2])
    assert isinstance(prepared.ids, Ranking) and prepared.ids.complete
    live.commit(prepared)
    expected = rank(snaps[2], previous=snaps[1])
    assert live.index_of(expected[-1]) == len(expected) - 1  # by value: not a positional read
    assert live.ids[:5] == expected[:5]  # the user went back to the top (Home)
    again = live.sample(snaps[3])
    assert isinstance(again.ids, Ranking) and not again.ids.complete  # lazy again: not sticky
    live.commit(again)
    assert live.index_of("f" * 16) is None  # a stack that went away: no full sort either
    assert not live.sample(snaps[4]).ids.complete
    assert live.ids == rank(snaps[3], previous=snaps[2])  # comparing reads everything


def test_rank_lazily_order_does_not_depend_on_snapshot_order():
    pages = {n: random.Random(n).randint(1, 50) for n in range(200)}
    forward = make(pages, 1.0)
    backward = make(dict(reversed(list(pages.items()))), 1.0)
    assert list(rank_lazily(forward, head=5)) == list(rank_lazily(backward, head=5)) == rank(forward)
