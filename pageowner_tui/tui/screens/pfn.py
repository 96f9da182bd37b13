"""The PFN range pane (`p`): type a range or a zone, see who owns the pages in it.

Reading a range runs on a worker thread: the debugfs source seeks the kernel's page_owner
file (which walks PFNs in the kernel), a file source scans its records.  Flags come from
/proc/kpageflags only when the source is live on this machine: a saved file's PFNs are
another boot's.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from pageowner_tui.errors import UserError
from pageowner_tui.kernel import pageflags
from pageowner_tui.sources.base import Source
from pageowner_tui.tui.pfn_map import PfnReport, build_report
from pageowner_tui.tui.safe_text import printable
from pageowner_tui.tui.pfn_range import PfnRange, parse_range
from pageowner_tui.tui.widgets.pfn_pane import PageblockMap, table_rows

__all__ = ["PfnScreen", "TABLE_LIMIT"]

TABLE_LIMIT = 500


class PfnScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("m", "toggle_mode", "Owner/migratetype"),
        Binding("r", "focus_range", "Range"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        zones: dict[str, tuple[int, int]],
        name_of: Callable[[str], str],
        initial: str = "",
        read_flags: bool = False,
    ) -> None:
        super().__init__(id="pfn")
        self.source = source
        self.zones = zones
        self.name_of = name_of
        self.initial = initial
        self.read_flags = read_flags
        self.mode = "owner"
        self.report: PfnReport | None = None
        caps = source.capabilities()
        self.unavailable = None
        if not caps.pfn_ranges:
            why = " ".join(caps.notes) or f"the {source.kind} source keeps no per-page records"
            self.unavailable = f"PFN ranges are not available: {why}"

    def compose(self) -> ComposeResult:
        with Vertical(id="pfn-top"):
            zones = ", ".join(self.zones) or "none"
            yield Input(
                value=self.initial,
                placeholder="PFN range: 0x1000-0x2000, 0x1000+512, or a zone",
                id="pfn-input",
                disabled=self.unavailable is not None,
            )
            yield Static(
                Text(printable(self.unavailable or f"Enter reads the range. Zones: {zones}")), id="pfn-summary"
            )
        yield PageblockMap(id="pfn-map")
        yield DataTable(id="pfn-table", cursor_type="row", zebra_stripes=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("PFN", "order", "pages", "migratetype", "flags", "caller", "comm")
        if self.unavailable is None:
            self.query_one(Input).focus()
            if self.initial:
                self.load(self.initial)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.load(event.value)

    def load(self, text: str) -> None:
        try:
            pfn_range = parse_range(text, self.zones)
        except UserError as exc:
            self._summary(str(exc), error=True)
            return
        self._summary(f"reading {pfn_range} ({pfn_range.pages:,} pages)...")
        self._read(pfn_range)

    @work(thread=True, exclusive=True, group="pfn", exit_on_error=False)
    def _read(self, pfn_range: PfnRange) -> None:
        problem = ""
        try:
            records = list(self.source.pages(pfn_range.start, pfn_range.end))
        except (UserError, OSError) as exc:
            self.app.call_from_thread(self._summary, f"cannot read {pfn_range}: {exc}", True)
            return
        except Exception as exc:  # noqa: BLE001 - say so rather than leave "reading..." forever
            self.app.call_from_thread(self._summary, f"cannot read {pfn_range}: {type(exc).__name__}: {exc} (a bug; please report it)", True)
            return
        flags = None
        if self.read_flags:
            try:
                flags = pageflags.read_flags(pfn_range.start, pfn_range.end)
            except UserError as exc:
                problem = f"; no page flags: {exc}"
        else:
            problem = "; page flags need a live source on this machine"
        report = build_report(pfn_range, records, flags)
        self.app.call_from_thread(self._show, report, problem)

    def _show(self, report: PfnReport, problem: str) -> None:
        self.report = report
        parts = [
            f"{report.pfn_range}: {len(report.records):,} allocations, {report.owned:,} of "
            f"{report.pfn_range.pages:,} pages owned"
        ]
        if report.free is not None:
            parts.append(f"{report.free:,} free heads, {report.untracked:,} untracked in use")
        summary = ", ".join(parts) + problem
        rows = list(table_rows(report, TABLE_LIMIT))
        if len(rows) >= TABLE_LIMIT:
            summary += f" (table shows the first {TABLE_LIMIT} rows)"
        self._summary(summary)
        self._render_map()
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            # Text cells: DataTable reads a str as Rich markup, and a comm is not markup
            cells = (row.pfn, row.order, row.pages, row.migratetype, row.flags, row.caller, row.comm)
            table.add_row(*(Text(cell, style="bold" if row.untracked else "") for cell in cells))

    def _render_map(self) -> None:
        if self.report is not None:
            self.query_one(PageblockMap).show(self.report, self.mode, self.name_of)

    def _summary(self, text: str, error: bool = False) -> None:
        summary = self.query_one("#pfn-summary", Static)
        summary.update(Text(printable(text)))  # Text: no markup
        summary.set_class(error, "-error")

    def action_toggle_mode(self) -> None:
        self.mode = "migratetype" if self.mode == "owner" else "owner"
        self._render_map()

    def action_focus_range(self) -> None:
        self.query_one(Input).focus()

    def action_close(self) -> None:
        self.dismiss(None)
