"""The PFN range pane's widgets: the pageblock map (one cell per pageblock, coloured by its
dominant owner or its migratetype, so fragmentation shows at a glance) and the rows of the
allocations table, including runs of untracked pages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from pageowner_tui.kernel.pageflags import BUDDY, NOPAGE, decode
from pageowner_tui.tui import formatting as fmt
from pageowner_tui.tui.pfn_map import PfnReport
from pageowner_tui.tui.pfn_range import PAGEBLOCK_PAGES
from pageowner_tui.tui.safe_text import printable

__all__ = ["PageblockMap", "map_text", "table_rows", "TableRow"]

_PALETTE = (
    "red", "green", "blue", "magenta", "cyan", "yellow",
    "bright_red", "bright_green", "bright_blue", "bright_magenta", "bright_cyan", "bright_yellow",
)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# page_owner's migratetype names (mm/page_alloc.c migratetype_names)
_MIGRATETYPE_STYLE = {
    "Unmovable": ("U", "red"),
    "Movable": ("M", "green"),
    "Reclaimable": ("R", "yellow"),
    "HighAtomic": ("H", "magenta"),
    "CMA": ("C", "cyan"),
    "Isolate": ("I", "blue"),
}


def map_text(report: PfnReport, mode: str, width: int, name_of: Callable[[str], str]) -> Text:
    """The map and its legend.  ``mode`` is "owner" or "migratetype"."""
    text = Text(no_wrap=False)
    per_line = max(width - 2, 8)
    legend: dict[str, tuple[str, str]] = {}
    if mode == "owner":
        owners = Counter(b.owner for b in report.blocks if b.owner)
        ranked = [owner for owner, _ in owners.most_common()]
        letter_of = {
            owner: (_LETTERS[n] if n < len(_LETTERS) else "*", _PALETTE[n % len(_PALETTE)] if n < len(_LETTERS) else "white")
            for n, owner in enumerate(ranked)
        }
    cells = 0
    for block in report.blocks:
        if mode == "owner":
            if block.owner:
                letter, colour = letter_of[block.owner]
                if letter not in legend:
                    stack = report.stack_of(block.owner)
                    name = fmt.short_frame(stack.caller) if stack is not None else name_of(block.owner)
                    legend[letter] = (name, colour)
                cell, style = letter, f"black on {colour}"
            elif block.untracked:
                cell, style = "?", "bold red"
            elif block.free is not None and block.free:
                cell, style = ".", "dim"
            else:
                cell, style = "·", "dim"
        else:
            letter, colour = _MIGRATETYPE_STYLE.get(block.migratetype, ("·", ""))
            if block.migratetype and block.migratetype not in _MIGRATETYPE_STYLE:
                letter, colour = block.migratetype[:1].upper(), "white"
            if block.migratetype:
                legend.setdefault(letter, (block.migratetype, colour))
            cell, style = letter, (f"black on {colour}" if colour else "dim")
        text.append(cell, style=style)
        cells += 1
        if cells % per_line == 0:
            text.append("\n")
    text.append("\n")
    for letter, (name, colour) in sorted(legend.items()):
        text.append(f" {letter} ", style=f"black on {colour}")
        text.append(f" {printable(name)}  ")
    if mode == "owner":
        text.append(" ? ", style="bold red")
        text.append(" untracked pages  ")
        text.append(" · ", style="dim")
        text.append(" nothing tracked")
    text.append(f"\n(one cell = one pageblock of {PAGEBLOCK_PAGES} pages; m switches owner/migratetype)", style="dim")
    return text


@dataclass(frozen=True)
class TableRow:
    pfn: str
    order: str
    pages: str
    migratetype: str
    flags: str
    caller: str
    comm: str
    untracked: bool = False


def _flag_names(word: int | None, fallback: str) -> str:
    if word is None:
        # page_owner's own "Flags 0x...(a|b|node=0|zone=1)" when kpageflags is not usable
        inside = fallback[fallback.find("(") + 1 : fallback.rfind(")")] if "(" in fallback else fallback
        names = [p for p in inside.split("|") if p and not p.startswith(("node=", "zone="))]
        return ",".join(names) or "-"
    if word & BUDDY:
        return "free(buddy)"
    return ",".join(decode(word)) or "-"


def table_rows(report: PfnReport, limit: int) -> Iterator[TableRow]:
    """Allocations in PFN order with runs of untracked pages between them, at most ``limit``."""
    emitted = 0
    runs = list(_untracked_runs(report))
    run_index = 0
    for record in report.records:
        while run_index < len(runs) and runs[run_index][0] < record.pfn and emitted < limit:
            yield _run_row(report, *runs[run_index])
            run_index += 1
            emitted += 1
        if emitted >= limit:
            return
        yield TableRow(
            f"{record.pfn:#x}",
            str(record.order),
            str(record.pages),
            printable(record.migratetype) or "-",
            printable(_flag_names(report.flags_at(record.pfn), record.flags)),
            printable(fmt.short_frame(record.stack.caller)),
            printable(record.comm) or "-",
        )
        emitted += 1
    for start, end in runs[run_index:]:
        if emitted >= limit:
            return
        yield _run_row(report, start, end)
        emitted += 1


def _run_row(report: PfnReport, start: int, end: int) -> TableRow:
    word = report.flags_at(start)
    return TableRow(f"{start:#x}", "-", str(end - start), "-", _flag_names(word, ""), "(untracked)", "-", True)


def _untracked_runs(report: PfnReport) -> Iterator[tuple[int, int]]:
    """[start, end) runs of pages flagged in use that no tracked allocation covers."""
    if report.flags is None:
        return
    base = report.pfn_range.start
    covered = bytearray(len(report.flags))
    for record in report.records:
        for pfn in range(max(record.pfn, base), min(record.pfn + record.pages, report.pfn_range.end)):
            covered[pfn - base] = 1
    run_start = None
    for offset, word in enumerate(report.flags):
        in_use = word and not word & (BUDDY | NOPAGE) and not covered[offset]
        if in_use and run_start is None:
            run_start = offset
        elif not in_use and run_start is not None:
            yield base + run_start, base + offset
            run_start = None
    if run_start is not None:
        yield base + run_start, base + len(report.flags)


class PageblockMap(Static):
    def show(self, report: PfnReport, mode: str, name_of: Callable[[str], str]) -> None:
        self.update(map_text(report, mode, self.size.width or 80, name_of))
