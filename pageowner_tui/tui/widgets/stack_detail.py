"""The stack detail pane's content: every frame, pages over time, the breakdowns the source
knows (order, gfp flags, migratetype, pid/comm, cgroup) and the PFN spread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pageowner_tui.model.query import Row
from pageowner_tui.model.snapshot import Breakdown, PageRecord
from pageowner_tui.model.stack import is_allocator_frame
from pageowner_tui.tui import formatting as fmt
from pageowner_tui.tui.pfn_range import PAGEBLOCK_PAGES
from pageowner_tui.tui.safe_text import printable

__all__ = ["DetailState", "PfnSpread", "StackDetail", "detail_renderable", "pfn_spread"]

_BREAKDOWN_TITLES = {
    Breakdown.ORDER: "order",
    Breakdown.GFP: "gfp flags",
    Breakdown.MIGRATETYPE: "migratetype",
    Breakdown.COMM: "comm",
    Breakdown.PID: "pid",
    Breakdown.CGROUP: "cgroup",
}


@dataclass(frozen=True)
class PfnSpread:
    allocations: int
    pages: int
    lowest: int
    highest: int
    pageblocks: int  # distinct pageblocks holding this stack's allocations
    histogram: tuple[int, ...]  # pages per equal slice of [lowest, highest]


def pfn_spread(records: Sequence[PageRecord], stack_id: str, buckets: int = 48) -> PfnSpread | None:
    mine = [r for r in records if r.stack.id == stack_id]
    if not mine:
        return None
    lowest = min(r.pfn for r in mine)
    highest = max(r.pfn + r.pages - 1 for r in mine)
    span = highest - lowest + 1
    histogram = [0] * buckets
    for record in mine:
        histogram[min((record.pfn - lowest) * buckets // span, buckets - 1)] += record.pages
    blocks = {r.pfn // PAGEBLOCK_PAGES for r in mine}
    return PfnSpread(len(mine), sum(r.pages for r in mine), lowest, highest, len(blocks), tuple(histogram))


@dataclass(frozen=True)
class DetailState:
    row: Row | None  # None: the stack has no pages in the current snapshot
    stack_frames: tuple[str, ...]
    stack_id: str
    caller: str
    series: tuple[int | None, ...]  # pages per retained snapshot, oldest first; None: not recorded
    breakdowns_known: tuple[str, ...]  # Breakdown names the source fills
    spread: PfnSpread | None
    spread_note: str  # why there is no spread, or how to get one
    chart_width: int = 60


def _breakdown_table(name: str, values: Mapping[str, int], total: int) -> Table:
    table = Table(title=_BREAKDOWN_TITLES.get(name, name), title_justify="left", box=None, padding=(0, 1))
    table.add_column(_BREAKDOWN_TITLES.get(name, name), no_wrap=True, max_width=40)
    table.add_column("pages", justify="right")
    table.add_column("%", justify="right")
    ordered = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    for key, pages in ordered[:8]:
        # Text, not str: a key like "[red]x" from a file is a name, not Rich markup
        table.add_row(Text(printable(key) or "-"), fmt.compact(pages), f"{100 * pages / (total or 1):.0f}")
    if len(ordered) > 8:
        rest = sum(p for _, p in ordered[8:])
        table.add_row(f"({len(ordered) - 8} more)", fmt.compact(rest), f"{100 * rest / (total or 1):.0f}")
    return table


def detail_renderable(state: DetailState) -> RenderableType:
    parts: list[RenderableType] = []
    title = Text(printable(state.caller), style="bold")
    title.append(f"   stack {state.stack_id}", style="dim")
    parts.append(title)
    row = state.row
    if row is None:
        parts.append(Text("No pages in the current snapshot (freed, or below the kernel's threshold)."))
    else:
        line = f"{row.pages:,} pages ({fmt.mib(row.pages)} MiB, {row.percent:.1f}% of tracked)"
        line += f"   Δ {fmt.signed(row.delta)}   {fmt.rate(row.rate)} pages/s"
        if row.since_baseline is not None:
            line += f"   since baseline {fmt.signed(row.since_baseline)}"
        if row.stat.allocations:
            line += f"   {row.stat.allocations:,} allocations"
        parts.append(Text(line))
    parts.append(Text("\nFrames", style="bold underline"))
    for number, frame in enumerate(state.stack_frames):
        style = "dim" if is_allocator_frame(frame) else ("bold" if frame == state.caller else "")
        parts.append(Text(f"{number:2} {printable(frame)}", style=style, no_wrap=True, overflow="ellipsis"))
    parts.append(Text(f"\nPages over the last {len(state.series)} snapshots", style="bold underline"))
    if len(state.series) >= 2:
        parts.append(Text("\n".join(fmt.chart_lines(list(state.series), state.chart_width, 6))))
    else:
        parts.append(Text("(one snapshot so far: the chart fills in as ticks arrive)", style="dim"))
    parts.append(Text("\nBreakdowns", style="bold underline"))
    known = [name for name in Breakdown.ALL if row is not None and row.stat.breakdown(name)]
    if known and row is not None:
        grid = Table.grid(padding=(0, 3))
        tables = [_breakdown_table(name, row.stat.breakdown(name), row.pages) for name in known]
        for start in range(0, len(tables), 2):
            grid.add_row(*tables[start : start + 2])
        parts.append(grid)
    missing = [_BREAKDOWN_TITLES[n] for n in Breakdown.ALL if n not in known]
    if missing:
        parts.append(
            Text(
                f"not known for this stack from this source: {', '.join(missing)}",
                style="dim",
            )
        )
    parts.append(Text("\nPFN spread", style="bold underline"))
    spread = state.spread
    if spread is None:
        parts.append(Text(state.spread_note, style="dim"))
    else:
        parts.append(
            Text(
                f"{spread.allocations:,} allocations, {spread.pages:,} pages between PFN "
                f"{spread.lowest:#x} and {spread.highest:#x}, in {spread.pageblocks:,} pageblocks"
            )
        )
        parts.append(Text(f"{spread.lowest:#x} " + fmt.sparkline(list(spread.histogram), 48) + f" {spread.highest:#x}"))
    return Group(*parts)


class StackDetail(Static):
    def show(self, state: DetailState) -> None:
        self.update(detail_renderable(state))
