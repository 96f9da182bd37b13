"""Full eBPF tables, on this machine's real kernel, under a real workload: the stack map is
shrunk to 16 entries and the per-PFN tables (slots and owner records) to a quarter of the
machine's PFN span, so both overflow.  The tracker keeps running, counts what it drops,
the views show the drops, and no count is wrong while looking right: every page whose
stack could not be stored sits on the "stack table full" row (reported as no_stack_pages,
never on a real stack), pages beyond the tables are counted as out_of_range_pages, and
each real stack's count equals the pages its row owns in the per-PFN table.
"""

from __future__ import annotations

import collections
import time

import pytest

from pageowner_tui.kernel.kpageflags import pfn_span
from pageowner_tui.model.query import Query, view
from pageowner_tui.model.snapshot import Counters
from pageowner_tui.sources.ebpf import ROW_PRESTART, EbpfConfig, EbpfSource, preflight
from pageowner_tui.tui.widgets.header import HeaderState, header_text
from pageowner_tui.views.batch import format_frame
from tests.integration.workloads import hold_anonymous, mixed_churn, tmpfs_file

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]

STACK_ENTRIES = 16


@pytest.fixture(scope="module")
def small_source():
    failed = [c.line() for c in preflight() if not c.ok]
    if failed:
        pytest.skip("eBPF not available here: " + "; ".join(failed))
    config = EbpfConfig(stack_entries=STACK_ENTRIES, pfn_limit=pfn_span() // 4)
    with EbpfSource(config) as source:
        yield source


def _paused(source: EbpfSource):
    """(snapshot, pages per row from the per-stack counts, pages per row in the per-PFN
    slot table, pages of the per-allocation records), read while the BPF programs are not
    counting, so all of them describe the same instant."""
    control = source._bpf[b"control"]
    key = control.Key(0)
    state = control[key].value
    assert state != 0, "the source should be counting"
    control[key] = control.Leaf(0)
    try:
        time.sleep(0.02)  # programs past the control check finish in microseconds
        snapshot = source.snapshot()
        counted = {row: source._row_pages(row) for row in range(1, source._rows)}
        slots = source.slots(0, source.pfn_limit)
        owned = collections.Counter(v & 0xFFFFFFFF for v in slots if v and v & 0xFFFFFFFF != ROW_PRESTART)
        record_pages = sum(record.pages for record in source.records())
    finally:
        control[key] = control.Leaf(state)
    return snapshot, {r: n for r, n in counted.items() if n}, dict(owned), record_pages


def test_full_tables_keep_running_count_drops_and_never_misattribute(small_source, tmp_path):
    source = small_source
    snapshots = []
    with hold_anonymous(4096, "populate"), tmpfs_file(2048, str(tmp_path)):
        for _ in range(3):
            mixed_churn(2048)
            snapshots.append(source.snapshot())  # keeps working with the tables full
        held, counted, owned, record_pages = _paused(source)

    counters = held.counters
    assert counters[Counters.STACK_TABLE_DROPS] > 0  # allocations whose stack was not stored
    assert counters[Counters.OUT_OF_RANGE] > 0  # pages beyond the shrunk per-PFN tables
    assert len(held.stacks) <= STACK_ENTRIES

    # Exact, row by row: what each row counts is what the per-page table says it owns,
    # for the real stacks and for the rows that collect what could not be attributed.
    assert counted == owned
    full_row, no_stack_row = source._row_stack_full, source._row_no_stack
    assert counted.get(full_row, 0) > 0
    assert counters[Counters.NO_STACK_PAGES] == counted.get(full_row, 0) + counted.get(no_stack_row, 0)
    by_stack: collections.Counter[str] = collections.Counter()
    for row, pages in counted.items():
        if row not in (full_row, no_stack_row):
            by_stack[source.stack_of_row(row).id] += pages
    assert {sid: stat.pages for sid, stat in held.stacks.items()} == {s: n for s, n in by_stack.items() if n > 0}
    assert held.total_pages + counters[Counters.NO_STACK_PAGES] == sum(owned.values()) == record_pages

    # The views say how much the table leaves out.
    rows = view(held, Query())
    frame = format_frame(held, rows)
    assert Counters.NO_STACK_PAGES in frame and Counters.OUT_OF_RANGE in frame
    header = header_text(HeaderState(snapshot=held, source_kind="ebpf", interval=1.0, since=None,
                                     shown=len(rows))).plain
    assert "stack drops" in header or Counters.STACK_TABLE_DROPS.replace("_", " ") in header
    for snapshot in snapshots:
        assert all(stat.pages > 0 for stat in snapshot.stacks.values())
