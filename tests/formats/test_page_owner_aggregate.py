"""read_snapshot / aggregate: per-stack pages, allocations, breakdowns and early pages,
checked against independent counts of the real dump."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from pageowner_tui.errors import Cancelled
from pageowner_tui.formats import page_owner
from pageowner_tui.model.snapshot import Breakdown, Counters, PageRecord
from pageowner_tui.model.stack import intern_stack
from tests.formats.conftest import DIALECTS


def _numbers(snapshot):
    """Everything a snapshot says per stack, as plain data (order-independent)."""
    return {
        sid: (s.pages, s.allocations, {k: dict(v) for k, v in s.breakdowns.items()})
        for sid, s in snapshot.stacks.items()
    }


@pytest.fixture(scope="module")
def real_snapshot(real_dump):
    return page_owner.read_snapshot(str(real_dump))


def test_fast_path_equals_aggregating_records(real_dump, real_snapshot):
    slow = page_owner.read_snapshot(str(real_dump), keep_records=True)
    assert _numbers(real_snapshot) == _numbers(slow)
    assert list(real_snapshot.stacks) == list(slow.stacks)  # first appearance order
    assert dict(real_snapshot.counters) == dict(slow.counters)
    assert real_snapshot.records is None and len(slow.records) == 61051


def test_early_pages_match_the_kernels_boot_message(real_612, real_snapshot):
    dmesg = (real_612 / "dmesg.txt").read_text()
    logged = sum(int(n) for n in re.findall(r"page owner found early allocated (\d+) pages", dmesg))
    assert logged == 2389
    assert real_snapshot.counters[Counters.EARLY_PAGES] == logged
    assert not any(page_owner.is_early_stack(s.stack) for s in real_snapshot.stacks.values())


def test_totals_match_an_independent_count_of_the_text(real_text, real_snapshot):
    orders = [int(o) for o in re.findall(r"^Page allocated via order (\d+),", real_text, re.M)]
    early_records = real_text.count(" register_early_stack+")
    assert real_snapshot.total_pages + real_snapshot.counters[Counters.EARLY_PAGES] == sum(
        1 << o for o in orders
    )
    allocations = sum(s.allocations for s in real_snapshot.stacks.values())
    assert allocations == len(orders) - early_records


def test_per_stack_numbers_match_an_independent_grouping(real_text, real_snapshot):
    """Group the raw text by frames with plain string operations and compare."""
    pages: Counter[str] = Counter()
    for block in real_text[:-2].split("\n\n"):
        lines = block.split("\n")
        frames = "".join(line + "\n" for line in lines[2:] if line.startswith(" "))
        if " register_early_stack+" not in frames:
            pages[frames] += 1 << int(lines[0].split(" ")[4].rstrip(","))
    assert {s.stack.text: s.pages for s in real_snapshot.stacks.values()} == dict(pages)


def test_breakdowns_add_up_to_the_stack_pages(real_snapshot):
    for stat in real_snapshot.stacks.values():
        assert set(stat.breakdowns) == {
            Breakdown.ORDER, Breakdown.GFP, Breakdown.MIGRATETYPE, Breakdown.COMM, Breakdown.PID
        }
        for values in stat.breakdowns.values():
            assert sum(values.values()) == stat.pages


def test_a_known_stack_breakdown(real_snapshot):
    """The 6.12 capture's biggest stack: user page faults, mostly dd (pid 143: 10240 pages,
    page_owner_sort's top entry)."""
    top = max(real_snapshot.stacks.values(), key=lambda s: s.pages)
    assert top.stack.frames[-1] == "asm_exc_page_fault+0x26/0x30"
    assert top.pages == top.allocations == 18496
    assert top.breakdown(Breakdown.ORDER) == {"0": 18496}
    assert top.breakdown(Breakdown.GFP) == {"GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO": 18496}
    assert top.breakdown(Breakdown.MIGRATETYPE) == {"Movable": 18496}
    assert top.breakdown(Breakdown.COMM) == {"dd": 18432, "exe": 62, "cat": 1, "init": 1}
    assert top.breakdown(Breakdown.PID)["143"] == 10240


@pytest.mark.parametrize("kernel", sorted(DIALECTS))
def test_every_dialect_gives_the_same_pages(kernel, variant_files, real_snapshot):
    snap = page_owner.read_snapshot(str(variant_files[kernel]))
    assert {k: (s.pages, s.allocations) for k, s in snap.stacks.items()} == {
        k: (s.pages, s.allocations) for k, s in real_snapshot.stacks.items()
    }
    assert snap.counters[Counters.EARLY_PAGES] == 2389
    dialect = DIALECTS[kernel]
    some = next(iter(snap.stacks.values()))
    assert (Breakdown.PID in some.breakdowns) == dialect.pid
    assert (Breakdown.COMM in some.breakdowns) == (dialect.tgid or dialect.pid_comm)
    slow = page_owner.read_snapshot(str(variant_files[kernel]), keep_records=True)
    assert _numbers(slow) == _numbers(snap)
    assert snap.meta["dialect"] == page_owner.describe_dialect(dialect)


def test_gzip_input_reads_the_same(real_612, real_snapshot):
    snap = page_owner.read_snapshot(str(real_612 / "page_owner_full.txt.gz"))
    assert _numbers(snap) == _numbers(real_snapshot)


@pytest.mark.parametrize("keep_records", [False, True])
def test_small_chunks_give_the_same_result(real_dump, real_snapshot, monkeypatch, keep_records):
    """Many chunk boundaries (64 KiB chunks): nothing lost or doubled between chunks."""
    monkeypatch.setattr(page_owner, "CHUNK_BYTES", 64 * 1024)
    snap = page_owner.read_snapshot(str(real_dump), keep_records=keep_records)
    assert _numbers(snap) == _numbers(real_snapshot)


def test_snapshot_arguments_and_meta(real_dump):
    snap = page_owner.read_snapshot(
        str(real_dump), source="debugfs", time=12.5, kernel="6.12.117", meta={"mode": "x"}
    )
    assert (snap.source, snap.time, snap.kernel) == ("debugfs", 12.5, "6.12.117")
    assert snap.meta["format"] == "page_owner" and snap.meta["origin"] == str(real_dump)
    assert snap.meta["mode"] == "x"


def test_progress_reaches_the_end_and_can_cancel(real_dump, monkeypatch):
    monkeypatch.setattr(page_owner, "CHUNK_BYTES", 4 << 20)
    seen = []
    page_owner.read_snapshot(str(real_dump), progress=lambda done, total: seen.append((done, total)))
    size = real_dump.stat().st_size
    assert len(seen) >= 9 and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(Cancelled):
        page_owner.read_snapshot(str(real_dump), progress=lambda done, total: done > size // 2)
    with open(real_dump, "rb") as f, pytest.raises(Cancelled):
        for _ in page_owner.iter_records(f, str(real_dump), progress=lambda d, t: True):
            pass


def test_aggregate_of_hand_made_records():
    stack_a, stack_b = intern_stack(["a+0x1/0x10"]), intern_stack(["b+0x1/0x10"])
    early = intern_stack(["register_early_stack+0x46/0x80", "init_page_owner+0x2f/0x290"])

    def rec(stack, order, comm, pid, gfp="GFP_KERNEL", mt="Unmovable"):
        return PageRecord(pfn=0, order=order, gfp_mask=0xCC0, gfp_names=gfp, stack=stack,
                          pid=pid, tgid=pid, comm=comm, ts_ns=1, migratetype=mt)

    records = [
        rec(stack_a, 0, "dd", 5), rec(stack_a, 2, "dd", 5), rec(stack_a, 1, "cat", 6, mt="Movable"),
        rec(stack_b, 3, "x", 7, gfp=""),
        PageRecord(pfn=1, order=0, gfp_mask=0, gfp_names="", stack=early, pid=0, tgid=0, comm="swapper"),
    ]
    snap = page_owner.aggregate(records, keep_records=True, time=1.0)
    a, b = snap.stacks[stack_a.id], snap.stacks[stack_b.id]
    assert (a.pages, a.allocations, b.pages, b.allocations) == (7, 3, 8, 1)
    assert a.breakdown(Breakdown.ORDER) == {"0": 1, "2": 4, "1": 2}
    assert a.breakdown(Breakdown.COMM) == {"dd": 5, "cat": 2}
    assert a.breakdown(Breakdown.PID) == {"5": 5, "6": 2}
    assert a.breakdown(Breakdown.MIGRATETYPE) == {"Unmovable": 5, "Movable": 2}
    assert b.breakdown(Breakdown.GFP) == {"0xcc0": 8}  # no names printed: the mask
    assert snap.counters[Counters.EARLY_PAGES] == 1 and early.id not in snap.stacks
    assert snap.records == tuple(records) and snap.time == 1.0
