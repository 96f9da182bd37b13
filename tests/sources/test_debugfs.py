"""The debugfs source against a machine with the kernel's file semantics, fed with the
real 6.12 captures: polling, thresholds, the handles path, the slow path, PFN ranges.

Every number asserted here is computed from the captures (or from the fake kernel's own
accounting), never typed in from a previous run.
"""

from __future__ import annotations

import errno
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_debugfs import FakeMachine, load_page_owner_records, load_show_stacks  # noqa: E402

from pageowner_tui.errors import Cancelled, FormatError, SourceUnavailable, UserError  # noqa: E402
from pageowner_tui.formats import page_owner, show_stacks  # noqa: E402
from pageowner_tui.model.delta import diff  # noqa: E402
from pageowner_tui.model.snapshot import Counters  # noqa: E402
from pageowner_tui.sources.base import Source  # noqa: E402
from pageowner_tui.sources.debugfs import (  # noqa: E402
    MODE_FULL_FILE,
    MODE_HANDLES,
    MODE_SHOW_STACKS,
    SLOW_PATH_MIN_INTERVAL,
    DebugfsSource,
)


@pytest.fixture(scope="module")
def records(real_612):
    return load_page_owner_records(real_612 / "page_owner_full.txt.gz")


@pytest.fixture(scope="module")
def stacks_1(real_612):
    return load_show_stacks(real_612 / "show_stacks_1.txt")


@pytest.fixture(scope="module")
def stacks_2(real_612):
    return load_show_stacks(real_612 / "show_stacks_2.txt")


@pytest.fixture
def machine(real_612, records, stacks_1):
    return FakeMachine(records=list(records), stacks=list(stacks_1), zoneinfo=(real_612 / "zoneinfo.txt").read_text())


def _pages_by_frames(stacks, threshold=0):
    return {frames: n for frames, n in stacks if n >= max(1, threshold)}


def _snapshot_by_frames(snap):
    return {stat.stack.text: stat.pages for stat in snap.stacks.values()}


# --- show_stacks polling ------------------------------------------------------------------


def test_polls_show_stacks_and_sees_it_change(machine, stacks_1, stacks_2):
    source = DebugfsSource(files=machine)
    assert isinstance(source, Source) and source.kind == "debugfs"
    first = source.snapshot()
    assert first.source == "debugfs" and first.meta["mode"] == MODE_SHOW_STACKS == source.mode
    assert first.kernel == "6.12.117"
    assert _snapshot_by_frames(first) == _pages_by_frames(stacks_1)
    assert len(first) == 784  # fixtures/README.md

    machine.stacks = list(stacks_2)  # more workload ran in the guest
    second = source.snapshot()
    assert _snapshot_by_frames(second) == _pages_by_frames(stacks_2)
    assert len(second) == 809
    delta = diff(first, second)
    expected = {
        frames: n - dict(stacks_1).get(frames, 0)
        for frames, n in stacks_2
        if n != dict(stacks_1).get(frames, 0)
    }
    assert {d.stack.text: d.change for d in delta.changed() if d.after} == {k: v for k, v in expected.items()}
    # changed() skips unchanged stacks by identity; it must equal the brute-force answer.
    brute = sorted((d for d in delta.stacks.values() if d.change), key=lambda d: (-d.change, d.id))
    assert delta.changed() == brute and any(d.after == 0 for d in brute)
    # Unchanged stacks keep their StackStat object between polls (cheap diffs, less garbage);
    # changed ones get a new one.
    same = [sid for sid, stat in second.stacks.items() if first.get(sid) and first.get(sid).pages == stat.pages]
    changed = [sid for sid, stat in second.stacks.items() if first.get(sid) and first.get(sid).pages != stat.pages]
    assert same and changed
    assert all(second.stacks[sid] is first.stacks[sid] for sid in same)
    assert not any(second.stacks[sid] is first.stacks[sid] for sid in changed)


def test_polls_never_touch_the_page_owner_file(machine):
    source = DebugfsSource(files=machine)
    for _ in range(3):
        source.snapshot()
    source.capabilities()
    source.set_threshold(10)
    source.close()
    assert machine.page_owner_reads == 0
    assert machine.open_fds == 0


def test_stack_count_variant_of_6_9_rc1(machine, stacks_1):
    machine.variant = "stack_count"
    snap = DebugfsSource(files=machine).snapshot()
    assert _snapshot_by_frames(snap) == _pages_by_frames(stacks_1)


def test_unknown_format_names_file_and_line(machine, stacks_1):
    machine.stacks = list(stacks_1[:3]) + [(" not a frame\nbogus\n", 5)]
    with pytest.raises(FormatError) as err:
        DebugfsSource(files=machine)
    text = str(err.value)
    lines_before = sum(frames.count("\n") + 2 for frames, _ in stacks_1[:3])
    assert text.startswith(f"/sys/kernel/debug/page_owner_stacks/show_stacks:{lines_before + 2}: expected")


# --- count_threshold ---------------------------------------------------------------------


def test_threshold_is_written_to_the_kernel_and_read_back(machine, stacks_2, real_612):
    machine.stacks = list(stacks_2)
    source = DebugfsSource(files=machine)
    assert source.threshold == 0 and source.capabilities().kernel_threshold
    assert source.set_threshold(1000) is True
    assert machine.threshold == 1000 and machine.threshold_writes == [b"1000\n"]
    assert source.threshold == 1000 and source.threshold_in_kernel
    snap = source.snapshot()
    # The kernel now prints only stacks of 1000+ pages: exactly the real capture taken
    # after `echo 1000 > count_threshold`.
    expected = show_stacks.parse((real_612 / "show_stacks_threshold_1000.txt").read_text())
    assert _snapshot_by_frames(snap) == {e.stack.text: e.pages for e in expected.entries}
    assert snap.meta["threshold"] == "1000 pages, applied by kernel"
    assert "notice" not in snap.meta
    source.close()
    assert machine.threshold == 0  # the kernel's own value is given back


def test_threshold_already_set_in_the_kernel_is_read(machine):
    machine.threshold = 1000
    source = DebugfsSource(files=machine)
    assert source.threshold == 1000 and source.threshold_in_kernel
    snap = source.snapshot()
    assert min(s.pages for s in snap.stacks.values()) >= 1000
    assert "1000" in snap.meta["kernel_threshold"]
    source.close()
    assert machine.threshold == 1000  # we never changed it, so we leave it alone


@pytest.mark.parametrize(
    "knobs, reason",
    [
        ({"lockdown": "integrity"}, "EPERM: lockdown is integrity"),
        ({"refuse_threshold_write": errno.EACCES}, "EACCES"),
    ],
)
def test_refused_threshold_is_applied_here_and_said_once(machine, stacks_1, knobs, reason):
    for name, value in knobs.items():
        setattr(machine, name, value)
    source = DebugfsSource(files=machine)
    caps = source.capabilities()
    assert caps.kernel_threshold is False
    assert any(reason in note for note in caps.notes)
    assert source.set_threshold(500) is False
    assert machine.threshold == 0 and machine.threshold_writes == []
    first = source.snapshot()
    assert _snapshot_by_frames(first) == _pages_by_frames(stacks_1, 500)
    assert first.counters[Counters.BELOW_THRESHOLD] == sum(1 for _, n in stacks_1 if n < 500)
    assert reason in first.meta["notice"] and "pageowner-top" in first.meta["notice"]
    assert first.meta["threshold"] == "500 pages, applied by pageowner-top"
    second = source.snapshot()
    assert "notice" not in second.meta  # said once
    assert source.set_threshold(50) is False
    assert "notice" not in source.snapshot().meta
    assert _snapshot_by_frames(source.snapshot()) == _pages_by_frames(stacks_1, 50)


def test_write_that_the_kernel_rejects_falls_back(machine, monkeypatch):
    source = DebugfsSource(files=machine)
    monkeypatch.setattr(machine, "refuse_threshold_write", errno.EROFS)
    assert source.set_threshold(7) is False
    assert "EROFS" in source.snapshot().meta["notice"]


def test_lockdown_hides_the_kernel_threshold_but_show_stacks_still_works(machine, stacks_1):
    machine.lockdown = "integrity"
    machine.threshold = 3
    snap = DebugfsSource(files=machine).snapshot()
    assert "unknown" in snap.meta["kernel_threshold"]
    assert _snapshot_by_frames(snap) == _pages_by_frames(stacks_1, 3)


def test_negative_threshold_is_a_user_error(machine):
    with pytest.raises(UserError, match="0 or more"):
        DebugfsSource(files=machine).set_threshold(-1)


# --- 6.19 handles ----------------------------------------------------------------------------


def test_handles_resolve_only_new_stacks(machine, stacks_1, stacks_2):
    machine.handles = True
    source = DebugfsSource(files=machine)
    assert source.mode == MODE_HANDLES
    first = source.snapshot()
    assert first.meta["mode"] == MODE_HANDLES
    assert _snapshot_by_frames(first) == _pages_by_frames(stacks_1)
    assert all(stat.handle == machine.handle_of(stat.stack.text) for stat in first.stacks.values())
    handles_file = "/sys/kernel/debug/page_owner_stacks/show_stacks_handles"
    assert machine.opened[handles_file] == 1

    # Counts change, no new stack: show_stacks_handles is not read again.
    machine.stacks = [(f, n + 1) for f, n in stacks_1]
    again = source.snapshot()
    assert machine.opened[handles_file] == 1
    assert _snapshot_by_frames(again) == {f: n + 1 for f, n in stacks_1}
    assert "show_stacks_handles" not in again.meta["poll"]

    # New stacks appear: one read of show_stacks_handles resolves exactly those.
    machine.stacks = list(stacks_2)
    third = source.snapshot()
    assert machine.opened[handles_file] == 2
    new = {f for f, _ in stacks_2} - {f for f, _ in stacks_1}
    assert f"for {len(new)} new handles" in third.meta["poll"]
    assert _snapshot_by_frames(third) == _pages_by_frames(stacks_2)
    # Never the full-text show_stacks.
    assert machine.opened["/sys/kernel/debug/page_owner_stacks/show_stacks"] == 0


def test_handle_listed_before_its_stack_is_counted_as_unlisted(machine, stacks_1, monkeypatch):
    machine.handles = True
    source = DebugfsSource(files=machine)
    source.snapshot()
    # A stack that show_handles lists but show_stacks_handles does not (yet): the race
    # between the two reads.
    newcomer = (" brand_new+0x1/0x10\n", 42)
    machine.stacks = [newcomer] + list(stacks_1)
    real = machine._show_stacks_handles
    monkeypatch.setattr(machine, "_show_stacks_handles", lambda: _without(real(), newcomer[0]))
    snap = source.snapshot()
    assert snap.counters[Counters.UNLISTED_STACKS] == 1
    assert _snapshot_by_frames(snap) == _pages_by_frames(stacks_1)
    monkeypatch.undo()
    later = source.snapshot()
    assert Counters.UNLISTED_STACKS not in later.counters
    assert later.get(next(iter(s.id for s in later.stacks.values() if s.stack.text == newcomer[0]))).pages == 42


def _without(text: bytes, frames: str) -> bytes:
    blocks = text.decode().split("\n\n")
    return "\n\n".join(b for b in blocks if not b.startswith(frames)).encode()


# --- the page_owner file: ranges, full reads, the slow path -------------------------------


def test_pfn_range_costs_the_range_and_equals_a_cut_of_the_full_read(machine, records):
    source = DebugfsSource(files=machine)
    full = list(source.records())
    assert len(full) == len(records) == 61051
    walked_full, reads_full = machine.pfns_walked, machine.page_owner_reads
    assert reads_full == len(records) + 1  # one record per read(), then end of file

    span = records[-1][0] - records[0][0]
    start = records[len(records) // 2][0]
    end = start + span // 100  # a 1 % range
    machine.pfns_walked = machine.page_owner_reads = 0
    ranged = list(source.pages(start, end))
    cut = [r for r in full if start <= r.pfn < end]
    assert cut and [(r.pfn, r.order, r.stack.id, r.ts_ns) for r in ranged] == [
        (r.pfn, r.order, r.stack.id, r.ts_ns) for r in cut
    ]
    # The kernel walked the range and one record past it, not all of memory.
    assert machine.pfns_walked <= (end - start) + (records[-1][0] - records[0][0]) // 1000
    assert machine.pfns_walked < walked_full / 50
    assert machine.page_owner_reads == len(cut) + 1
    assert source.last_read.records == len(cut)
    assert machine.open_fds == 0


def test_range_read_on_a_kernel_before_6_1_scans_from_the_start(real_612, records):
    # Offsets relative to min_low_pfn: an lseek to the PFN would start in the wrong place.
    machine = FakeMachine(release="5.15.0", records=list(records), stacks=None, min_low_pfn=0x1000)
    source = DebugfsSource(files=machine)
    start, end = records[3000][0], records[3100][0]
    ranged = list(source.pages(start, end))
    assert [r.pfn for r in ranged] == [pfn for pfn, _ in records if start <= pfn < end]
    assert any("scan" in note for note in source.capabilities().notes)


def test_record_longer_than_a_page_is_skipped_with_a_warning(real_612, records):
    machine = FakeMachine(records=list(records[:2000]), stacks=[], page_size=700)
    source = DebugfsSource(files=machine)
    got = list(source.records())
    fits = [pfn for pfn, text in records[:2000] if len(text) < 700]
    # Every record that fits is read, none twice, in order.
    assert [r.pfn for r in got] == fits and len(fits) < 2000
    # Each run of records too long for a page is stepped over and reported once, naming
    # the run's last PFN (consecutive ones are indistinguishable through read()).
    long = [len(text) >= 700 for _, text in records[:2000]]
    run_ends = [records[i][0] for i in range(2000) if long[i] and (i == 1999 or not long[i + 1])]
    assert source.last_read.skipped == len(run_ends)
    assert [int(w.split(" to PFN ")[1].split()[0], 16) for w in source.warnings] == run_ends
    assert "ENOMEM" in source.warnings[0]


def test_full_read_counts_early_pages_apart(machine, records, page_owner_full_text):
    source = DebugfsSource(files=machine)
    before = source.snapshot()
    assert Counters.EARLY_PAGES not in before.counters
    full = list(source.records())
    early = [r for r in full if page_owner.is_early(r)]
    assert early and all(r.order == 0 and r.gfp_mask == 0 for r in early)
    assert all(r.stack.frames[0].startswith("register_early_stack") for r in early)
    after = source.snapshot()
    # The kernel logged "page owner found early allocated 2389 pages" (dmesg.txt).
    assert after.counters[Counters.EARLY_PAGES] == sum(r.pages for r in early) == 2389
    assert "full page_owner read" in after.meta["early_pages"]
    assert not any(s.stack.frames[0].startswith("register_early_stack") for s in after.stacks.values())


def test_slow_path_before_6_9_builds_stacks_from_the_full_file(real_612, records, page_owner_full_text):
    machine = FakeMachine(
        release="6.6.0", records=list(records), stacks=None, zoneinfo=(real_612 / "zoneinfo.txt").read_text()
    )
    source = DebugfsSource(files=machine)
    assert source.mode == MODE_FULL_FILE
    assert machine.page_owner_reads == 0  # not at start-up
    assert source.min_interval >= SLOW_PATH_MIN_INTERVAL
    caps = source.capabilities()
    assert not caps.kernel_threshold and any("slow path" in n for n in caps.notes)
    assert set(caps.breakdowns) == {"order", "gfp", "migratetype", "comm", "pid"}
    calls = []
    snap = source.snapshot(progress=lambda done, total: calls.append((done, total)))
    # Progress in PFNs, up to the end of the last zone (past the last allocated page).
    assert len(calls) > 100 and calls[-1][0] == calls[-1][1] > records[-1][0]
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert snap.meta["mode"] == MODE_FULL_FILE and "slow path" in snap.meta["notice"]
    expected = page_owner.read_snapshot(str(page_owner_full_text))
    assert {s.stack.text: s.pages for s in snap.stacks.values()} == {
        s.stack.text: s.pages for s in expected.stacks.values()
    }
    some = max(expected.stacks.values(), key=lambda s: s.pages)
    assert snap.stacks[some.id].breakdowns == some.breakdowns
    assert snap.counters[Counters.EARLY_PAGES] == expected.counters[Counters.EARLY_PAGES] == 2389
    reads = machine.page_owner_reads
    again = source.snapshot()  # sooner than min_interval: no second full read
    assert "notice" not in again.meta and machine.page_owner_reads == reads
    assert _snapshot_by_frames(again) == _snapshot_by_frames(snap)
    assert source.set_threshold(1000) is False
    big = source.snapshot()
    assert machine.page_owner_reads == reads
    assert _snapshot_by_frames(big) == {f: n for f, n in _snapshot_by_frames(snap).items() if n >= 1000}
    assert big.meta["threshold"] == "1000 pages, applied by pageowner-top"
    # Once min_interval has passed, the next snapshot reads the file again.
    source._last_slow = replace(source._last_slow, time=source._last_slow.time - source.min_interval)
    source.snapshot()
    assert machine.page_owner_reads == 2 * reads


def test_full_read_can_be_cancelled(machine):
    source = DebugfsSource(files=machine)
    seen = []

    def progress(done, total):
        seen.append(done)
        return len(seen) >= 3

    with pytest.raises(Cancelled):
        list(source.records(progress=progress))
    assert machine.page_owner_reads < 61051 // 10
    assert machine.open_fds == 0
    # total is the highest PFN from /proc/zoneinfo: DMA32 starts at 4096 and spans 126941.
    assert source.full_read_warning().startswith("reads /sys/kernel/debug/page_owner: the kernel walks every PFN (131,037 PFNs")


def test_einval_on_read_means_page_owner_is_not_enabled(machine, monkeypatch):
    source = DebugfsSource(files=machine)

    def refuse(handle, count):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(machine, "_read_page_owner", refuse)
    with pytest.raises(SourceUnavailable, match="boot with page_owner=on"):
        list(source.records())


def test_bad_range_is_a_user_error(machine):
    with pytest.raises(UserError, match="bad PFN range"):
        DebugfsSource(files=machine).pages(10, 5)


def test_error_after_some_polls_names_the_line_in_the_whole_file(machine, stacks_1):
    """Unchanged records are looked up, not re-parsed; a bad one still gets its exact line."""
    source = DebugfsSource(files=machine)
    source.snapshot()
    bad = list(stacks_1)
    frames, pages = bad[100]
    bad[100] = (frames.replace(" ", "", 1), pages)  # a frame line without its leading space
    machine.stacks = bad
    with pytest.raises(FormatError) as err:
        source.snapshot()
    line = sum(f.count("\n") + 2 for f, _ in stacks_1[:100]) + 1
    assert str(err.value).startswith(f"/sys/kernel/debug/page_owner_stacks/show_stacks:{line}: expected")


def test_repeated_polls_reuse_parsed_records_but_follow_every_change(machine, stacks_1):
    source = DebugfsSource(files=machine)
    source.snapshot()
    current = list(stacks_1)
    for round_ in range(5):
        current = [(f, n + (i % 7 == round_)) for i, (f, n) in enumerate(current)]
        current.insert(0, (f" new_stack_{round_}+0x1/0x2\n", round_ + 1))
        machine.stacks = current
        assert _snapshot_by_frames(source.snapshot()) == _pages_by_frames(current)


def test_per_allocation_export_is_the_kernels_file_byte_for_byte(machine, page_owner_full_text):
    """What `export --source debugfs -f page_owner` writes: every record read one per
    read() and written back is exactly the dump `cat page_owner` gave on the real kernel,
    so page_owner_sort reads it as it would the original."""
    import io

    out = io.StringIO()
    page_owner.write_records(out, DebugfsSource(files=machine).records())
    assert out.getvalue() == page_owner_full_text.read_text()


def test_bad_record_in_show_stacks_handles_names_its_line(machine, stacks_1):
    machine.handles = True
    source = DebugfsSource(files=machine)
    source.snapshot()
    machine.stacks = list(stacks_1) + [(" fine+0x1/0x2\nnot a frame\n", 3)]  # the oldest: last in the file
    with pytest.raises(FormatError) as err:
        source.snapshot()
    line = sum(frames.count("\n") + 2 for frames, _ in stacks_1) + 2
    assert str(err.value).startswith(f"/sys/kernel/debug/page_owner_stacks/show_stacks_handles:{line}: expected")
