"""LiveView (the per-tick state) and PagesHistory, without a terminal."""

from __future__ import annotations

from pageowner_tui.model.query import Query, StackFilter, rank
from pageowner_tui.tui.history import PagesHistory
from pageowner_tui.tui.live_view import LiveView

from .fakes import synthetic_series


def test_commit_adopts_the_sampled_ranking(real_snaps):
    live = LiveView()
    first, second = real_snaps
    assert live.commit(live.sample(first))
    assert live.ids == rank(first)
    assert live.commit(live.sample(second))
    assert live.current is second and live.previous is first
    assert live.ids == rank(second, previous=first)
    assert live.row(live.ids[0]).delta == second.stacks[live.ids[0]].pages - (
        first.stacks[live.ids[0]].pages if live.ids[0] in first.stacks else 0
    )


def test_query_changed_between_sample_and_commit_is_reranked(real_snaps):
    live = LiveView()
    first, second = real_snaps
    live.commit(live.sample(first))
    prepared = live.sample(second)
    live.query = Query(sort="delta")  # the user pressed D while the worker ran
    live.commit(prepared)
    assert live.ids == rank(second, Query(sort="delta"), previous=first)


def test_pause_freezes_the_view_but_keeps_sampling(real_snaps):
    live = LiveView()
    first, second = real_snaps
    live.commit(live.sample(first))
    live.set_paused(True)
    assert not live.commit(live.sample(second))
    assert live.current is first and live.latest is second
    assert len(live.history) == 2  # sampling went on
    live.set_paused(False)
    assert live.current is second and live.ids == rank(second, previous=first)


def test_baseline_and_follow(real_snaps):
    first, second = real_snaps
    live = LiveView(Query(threshold=1000))
    live.commit(live.sample(first))
    live.mark_baseline()
    live.commit(live.sample(second))
    assert all(live.row(i).since_baseline is not None for i in live.ids)
    small = min(second.stacks, key=lambda i: second.stacks[i].pages)
    assert live.index_of(small) is None
    live.set_follow(small)
    assert live.index_of(small) is not None  # kept although below the threshold
    live.set_follow(None)
    assert live.index_of(small) is None


def test_same_snapshot_twice_is_one_history_entry(real_snaps):
    live = LiveView()
    live.commit(live.sample(real_snaps[0]))
    live.commit(live.sample(real_snaps[0]))
    assert len(live.history) == 1


def test_history_series_and_churn_compaction():
    snaps = synthetic_series(200, 40, churn=0.2)
    history = PagesHistory(length=10)
    for snap in snaps:
        history.add(snap)
    assert len(history) == 10
    last = snaps[-1]
    some_id = next(iter(last.stacks))
    series = history.series(some_id)
    assert len(series) == 10 and series[-1] == last.stacks[some_id].pages
    # 40 ticks replacing 20% each time would index 1,800 ids; compaction keeps it bounded
    # by what the 10 retained columns still hold.
    assert history.tracked_ids() <= 2 * 200 + 4096
    assert history.series("no-such-stack") == [None] * 10


def test_history_records_only_the_given_ids_and_says_unknown_elsewhere():
    first, second = synthetic_series(50, 2)
    history = PagesHistory(length=5)
    ids = list(first.stacks)
    history.add(first, ids[:10])
    history.add(second, ids[5:20])
    assert history.series(ids[0]) == [first.stacks[ids[0]].pages, None]
    assert history.series(ids[7]) == [first.stacks[ids[7]].pages, second.stacks[ids[7]].pages]
    assert history.series(ids[15]) == [None, second.stacks[ids[15]].pages]


def test_filter_memo_is_kept_across_ticks():
    snaps = synthetic_series(500, 3)
    flt = StackFilter.parse("shmem")
    live = LiveView(Query(filter=flt))
    for snap in snaps:
        live.commit(live.sample(snap))
    assert flt._memo  # the same filter object carries its per-stack results
    assert all("shmem" in snaps[-1].stacks[i].stack.text for i in live.ids)
