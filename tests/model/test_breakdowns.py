"""Breakdowns (StackStat.breakdowns as one flat tuple) behaves as the dict of dicts it
replaces: same content, equality with dicts, read-only, picklable."""

from __future__ import annotations

import pickle
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pageowner_tui.model.snapshot import NO_BREAKDOWNS, Breakdown, Breakdowns, Snapshot, StackStat, merge_stats
from pageowner_tui.model.stack import intern_stack

STACK = intern_stack(["breakdowns_test+0x1/0x2"])

plain = st.dictionaries(
    st.sampled_from(Breakdown.ALL),
    st.dictionaries(st.text(max_size=6), st.integers(0, 2**40), max_size=5),
    max_size=4,
)


@given(plain)
def test_same_mapping_as_the_dicts(given_dicts):
    b = Breakdowns(given_dicts)
    assert b == given_dicts and given_dicts == b
    assert list(b) == list(given_dicts) and len(b) == len(given_dicts) and bool(b) == bool(given_dicts)
    for name, values in given_dicts.items():
        assert b[name] == values and list(b[name].items()) == list(values.items())
    assert b.plain() == given_dicts
    assert pickle.loads(pickle.dumps(b)) == b
    stat = StackStat(STACK, 1, breakdowns=given_dicts)
    assert stat.breakdowns == given_dicts
    for name in Breakdown.ALL:
        assert stat.breakdown(name) == given_dicts.get(name, {})


def test_not_equal_when_content_differs():
    assert Breakdowns({"comm": {"dd": 1}}) != Breakdowns({"comm": {"dd": 2}})
    assert Breakdowns({"comm": {"dd": 1}}) != {"comm": {"dd": 1}, "pid": {}}
    # Same content in another order: equal, as dicts are
    assert Breakdowns({"comm": {"a": 1, "b": 2}, "pid": {"1": 3}}) == Breakdowns({"pid": {"1": 3}, "comm": {"b": 2, "a": 1}})


def test_read_only():
    b = Breakdowns({"comm": {"dd": 1}})
    with pytest.raises(AttributeError):
        b._flat = ()
    with pytest.raises(TypeError):
        b["comm"]["dd"] = 5  # type: ignore[index]
    with pytest.raises(KeyError):
        b["pid"]


def test_stat_keeps_no_dicts_and_shares_the_empty_one():
    source_dicts = {Breakdown.ORDER: {"0": 4, "3": 8}}
    stat = StackStat(STACK, 12, breakdowns=source_dicts)
    assert type(stat.breakdowns) is Breakdowns
    source_dicts[Breakdown.ORDER]["0"] = 99  # the source reusing its dict changes nothing
    assert stat.breakdown(Breakdown.ORDER) == {"0": 4, "3": 8}
    assert StackStat(STACK, 1).breakdowns is NO_BREAKDOWNS
    assert StackStat(STACK, 1, breakdowns={}).breakdowns is NO_BREAKDOWNS
    again = StackStat(STACK, 12, breakdowns=stat.breakdowns)
    assert again.breakdowns is stat.breakdowns and again == stat


def test_smaller_than_the_dicts():
    dicts = {Breakdown.COMM: {"dd": 1234}, Breakdown.ORDER: {"0": 1234}}
    b = Breakdowns(dicts)
    dict_bytes = sys.getsizeof(dicts) + sum(sys.getsizeof(v) for v in dicts.values())
    assert sys.getsizeof(b) + sys.getsizeof(b._flat) < dict_bytes / 2


def test_merge_and_snapshot_add_breakdowns():
    a = StackStat(STACK, 3, breakdowns={Breakdown.COMM: {"dd": 3}})
    b = StackStat(STACK, 5, breakdowns={Breakdown.COMM: {"dd": 1, "cat": 4}, Breakdown.PID: {"7": 5}})
    merged = merge_stats(a, b)
    assert merged.breakdowns == {Breakdown.COMM: {"dd": 4, "cat": 4}, Breakdown.PID: {"7": 5}}
    snap = Snapshot.from_stats([a, b], source="file", time=0.0)
    assert snap.stacks[STACK.id] == merged


def test_stack_id_number_is_the_id():
    assert STACK.id_number == int(STACK.id, 16)
