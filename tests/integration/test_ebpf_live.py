"""The eBPF source on this machine's real kernel: known allocations, stale owners, export.

One loaded source is shared by the module (loading compiles the BPF program, ~2 s).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from pageowner_tui.formats import page_owner
from pageowner_tui.kernel.kpageflags import KPF, read_flags
from pageowner_tui.model.snapshot import Counters, Snapshot
from pageowner_tui.sources.ebpf import ROW_PRESTART, EbpfSource, preflight
from tests.conftest import page_owner_sort_binary
from tests.integration.workloads import hold_anonymous, mixed_churn, tmpfs_file

pytestmark = [pytest.mark.ebpf]

N = 16384  # 64 MiB of 4 KiB pages


@pytest.fixture(scope="module")
def source():
    failed = [c.line() for c in preflight() if not c.ok]
    if failed:
        pytest.skip("eBPF not available here: " + "; ".join(failed))
    with EbpfSource() as src:
        yield src


def _pages(snapshot: Snapshot) -> dict[str, int]:
    return {sid: stat.pages for sid, stat in snapshot.stacks.items()}


def _growth(before: Snapshot, after: Snapshot, stack_ids) -> int:
    a, b = _pages(before), _pages(after)
    return sum(b.get(sid, 0) - a.get(sid, 0) for sid in stack_ids)


def _stacks_with(snapshot: Snapshot, *functions: str) -> set[str]:
    return {
        sid
        for sid, stat in snapshot.stacks.items()
        if all(any(f"{fn}+" in frame for frame in stat.stack.frames) for fn in functions)
    }


def _pages_of_tgid(source: EbpfSource, tgid: int) -> int:
    return sum(r.pages for r in source.records() if r.tgid == tgid)


def test_snapshot_shape(source):
    with hold_anonymous(256, "readzero"):
        snap = source.snapshot()
    assert snap.source == "ebpf"
    assert snap.kernel == os.uname().release
    assert snap.meta["mode"] == "tracepoint"
    for name in (Counters.UNTRACKED_FREES, Counters.STACK_FAILURES, Counters.STACK_TABLE_DROPS,
                 Counters.OWNER_TABLE_DROPS, Counters.FAILED_ALLOCATIONS, Counters.NO_STACK_PAGES,
                 Counters.UNTRACED_ALLOC_FREES, Counters.MISSED_FREES, Counters.BPF_MISSED_EVENTS):
        assert name in snap.counters
    # frames look like page_owner's %pS: sym+0xoff/0xsize
    some = max(snap.stacks.values(), key=lambda stat: stat.pages)
    assert all("+0x" in frame and "/0x" in frame for frame in some.stack.frames)
    assert sum(int(v) for v in some.breakdown("order").values()) == some.pages


def _read_zero_stacks(snapshot: Snapshot) -> set[str]:
    """Stacks of pages faulted in by read(2) from /dev/zero (read_zero, read_iter_zero)."""
    return _stacks_with(snapshot, "read_zero") | _stacks_with(snapshot, "read_iter_zero")


def test_anonymous_memory_is_counted_on_its_stack_and_freed(source):
    """The child faults its pages in from read(/dev/zero): a call path of its own, so the
    stack's growth is the child's even with other work running on the machine."""
    before = source.snapshot()
    with hold_anonymous(N, "readzero") as child:
        held = source.snapshot()
        stacks = _read_zero_stacks(held)
        grown = _growth(before, held, stacks)
        assert abs(grown - N) <= N * 0.01, (grown, len(stacks))
        mine = sum(r.pages for r in source.records() if r.tgid == child.pid and r.stack.id in stacks)
        assert abs(mine - N) <= N * 0.01, mine
    after = source.snapshot()
    assert abs(_growth(before, after, stacks)) <= N * 0.01


def test_touched_anonymous_memory_is_owned_by_the_child_and_freed(source):
    # The interpreter itself allocates pages (its heap, page tables, page cache it reads
    # first): measured in the same run with a child that holds one page.
    with hold_anonymous(1, "touch") as small:
        interpreter = _pages_of_tgid(source, small.pid)
    with hold_anonymous(N, "touch") as child:
        owned = _pages_of_tgid(source, child.pid) - interpreter
        assert abs(owned - N) <= N * 0.01, (owned, interpreter)
        held = source.snapshot()
        fault_stacks = {
            r.stack.id for r in source.records() if r.tgid == child.pid and any(
                "handle_mm_fault+" in f for f in r.stack.frames)
        }
        assert sum(held.stacks[s].pages for s in fault_stacks) >= N * 0.99
        pid = child.pid
    time.sleep(0.1)
    assert _pages_of_tgid(source, pid) <= N * 0.01


def test_tmpfs_file_pages_are_counted_and_freed(source, tmp_path):
    before = source.snapshot()
    with tmpfs_file(N, str(tmp_path)) as (_path, writer):
        held = source.snapshot()
        stacks = _stacks_with(held, "shmem_alloc_folio", "vfs_write")
        grown = _growth(before, held, stacks)
        assert abs(grown - N) <= N * 0.01, grown
    after = source.snapshot()
    assert abs(_growth(before, after, stacks)) <= N * 0.01


def test_stale_owners_are_rare_after_a_mixed_workload(source):
    mixed_churn()
    with hold_anonymous(N // 2, "touch", hugepages=True):
        pass
    with hold_anonymous(N, "touch"):  # and some memory still owned while we look
        tracked, stale = _stale_scan(source)
    counters = source.counters()
    print(f"stale owners: {stale} of {tracked} tracked pages are free in /proc/kpageflags; "
          f"{counters[Counters.BPF_MISSED_EVENTS]} events missed (recursion)")
    assert tracked > N, "the workload should leave tracked pages"
    assert stale <= tracked * 0.005, (stale, tracked, counters)


def _stale_scan(source: EbpfSource) -> tuple[int, int]:
    """(tracked pages, of them free per /proc/kpageflags), counting only slots that did
    not change while the kernel's flags were read."""
    span = source.pfn_limit
    tracked = stale = 0
    chunk = 1 << 18
    for start in range(0, span, chunk):
        end = min(span, start + chunk)
        first = source.slots(start, end)
        flags = read_flags(start, end)
        second = source.slots(start, end)
        for i, value in enumerate(first):
            if value == 0 or value & 0xFFFFFFFF == ROW_PRESTART:
                continue
            if second[i] != value:
                continue  # changed while we looked: not a stable owner
            tracked += 1
            if i < len(flags) and flags[i] >> KPF.BUDDY & 1:
                stale += 1
    return tracked, stale


@pytest.mark.page_owner_sort
def test_export_is_read_by_page_owner_sort_with_our_totals(source, tmp_path):
    binary = page_owner_sort_binary("6.12")
    with hold_anonymous(N // 4, "readzero"):
        # Every live allocation, including split pages whose head was reused (no owner
        # metadata: pid -1, empty comm): the product writer must keep them readable.
        records = list(source.records())
    assert records and any(r.pid >= 0 for r in records)
    ours: dict[str, int] = {}
    for r in records:
        ours[r.stack.text] = ours.get(r.stack.text, 0) + r.pages
    dump = tmp_path / "page_owner.txt"
    with open(dump, "w") as f:
        page_owner.write_records(f, records)
    out = tmp_path / "sorted.txt"
    proc = subprocess.run(
        [str(binary), "--cull", "stacktrace", str(dump), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    theirs: dict[str, int] = {}
    text = out.read_text()
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        header, _, frames = block.partition("\n")
        pages = int(header.split(" pages")[0].split(", ")[-1])
        theirs[frames + "\n"] = theirs.get(frames + "\n", 0) + pages
    assert sum(theirs.values()) == sum(ours.values())
    assert theirs == ours


def test_raw_tracepoint_mode_counts_the_same(source):
    """EbpfConfig(raw_tracepoints=True), next to the shared perf-tracepoint source, so both
    see the same allocations: same counts, same stacks."""
    from pageowner_tui.sources.ebpf import EbpfConfig

    assert source.attach == "perf_tracepoint"
    with EbpfSource(EbpfConfig(raw_tracepoints=True)) as raw:
        assert raw.attach == "raw_tracepoint", raw.calibration
        before_raw, before_perf = raw.snapshot(), source.snapshot()
        with hold_anonymous(N // 4, "readzero"):
            raw_snap, perf_snap = raw.snapshot(), source.snapshot()
            raw_stacks, perf_stacks = _read_zero_stacks(raw_snap), _read_zero_stacks(perf_snap)
            raw_grown = _growth(before_raw, raw_snap, raw_stacks)
            perf_grown = _growth(before_perf, perf_snap, perf_stacks)
    assert abs(raw_grown - N // 4) <= N // 400 and abs(perf_grown - N // 4) <= N // 400
    # the same stacks, whichever way they were captured
    assert raw_stacks == perf_stacks
