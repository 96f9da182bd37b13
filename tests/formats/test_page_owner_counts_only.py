"""write_counts_only: per-stack counts as page_owner_sort input, one block per set bit."""

from __future__ import annotations

import io

from pageowner_tui.formats import page_owner, show_stacks
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack


def _export(stats) -> tuple[str, str]:
    out = io.StringIO()
    notice = page_owner.write_counts_only(out, Snapshot.from_stats(stats, source="file", time=0))
    return out.getvalue(), notice


def test_binary_decomposition_of_each_count():
    a, b = intern_stack(["a+0x1/0x2", "x+0x3/0x4"]), intern_stack(["b+0x1/0x2"])
    text, notice = _export([StackStat(a, 13), StackStat(b, 1), StackStat(intern_stack(["c+0x0/0x1"]), 0)])
    head = "Page allocated via order {}, mask 0x0(), pid 0, tgid 0 (counts-only), ts 0 ns\n"
    assert text == (
        head.format(3) + a.text + "\n"
        + head.format(2) + a.text + "\n"
        + head.format(0) + a.text + "\n"
        + head.format(0) + b.text + "\n"
    )
    assert notice == (
        "counts-only export: 2 stacks, 14 pages as 4 blocks of 2^k pages (no PFN, pid, GFP "
        "or time); page_owner_sort's page totals per stack are exact, its 'times' count these "
        "blocks, not allocations"
    )


def test_pages_add_up_on_the_real_show_stacks(real_612):
    snapshot = show_stacks.to_snapshot(show_stacks.read(str(real_612 / "show_stacks_1.txt")), time=0)
    out = io.StringIO()
    page_owner.write_counts_only(out, snapshot)
    totals: dict[str, int] = {}
    for block in out.getvalue()[:-2].split("\n\n"):
        header, frames = block.split("\n", 1)
        order = int(header.split(" ")[4].rstrip(","))
        totals[frames + "\n"] = totals.get(frames + "\n", 0) + (1 << order)
    assert totals == {s.stack.text: s.pages for s in snapshot.stacks.values() if s.pages}
