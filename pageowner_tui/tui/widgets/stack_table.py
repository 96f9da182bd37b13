"""The stack table: a line-API scroll view over every stack in the view.

Why not DataTable: it paints 10k rows in about 2 s and ``remove_row`` is O(n).  This widget
keeps nothing per row: ``render_line`` builds the few lines on screen from the LiveView
(which looks rows up by stack id on demand), so 100k stacks cost the same as 100.

Low redraw traffic: after a tick, ``refresh_rows`` compares what each screen line would
show with what it last painted and invalidates only the lines that changed, so over SSH an
idle table sends nothing and a busy one sends only its changed rows.

The cursor is a stack id, not a row number: it stays on the same stack across refreshes
and re-sorts.  When its stack leaves the view the cursor stays at the same row position.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from pageowner_tui.model.query import Row
from pageowner_tui.tui import formatting as fmt
from pageowner_tui.tui.live_view import LiveView
from pageowner_tui.tui.safe_text import printable

__all__ = ["Column", "StackTable", "columns_for"]


@dataclass(frozen=True)
class Column:
    key: str  # what the cell shows; also the sort key it stands for, where there is one
    title: str
    width: int  # 0: takes the remaining width
    sort: str | None = None  # SORT_KEYS name this column sorts by
    right: bool = True


_RANK = Column("rank", "#", 6, None)
_PAGES = Column("pages", "Pages", 8, "pages")
_MIB = Column("mib", "MiB", 8, "pages")
_DELTA = Column("delta", "Δ", 7, "delta")
_BASE = Column("baseline", "Δbase", 8, "baseline")
_RATE = Column("rate", "pg/s", 7, "rate")
_PERCENT = Column("percent", "%", 5, "percent")
_TREND = Column("trend", "Trend", 8, None, right=False)
_CALLER = Column("caller", "Caller", 0, "caller", right=False)
_MODULE = Column("module", "Module", 8, "module", right=False)


def columns_for(width: int, *, baseline: bool) -> list[Column]:
    """The columns that fit: below 100 cells MiB and Module go (the module is then shown
    after the caller), so 80x24 keeps every number a leak hunter needs."""
    wide = width >= 100
    columns = [_RANK, _PAGES]
    if wide:
        columns.append(_MIB)
    columns.append(_DELTA)
    if baseline:
        columns.append(_BASE)
    columns += [_RATE, _PERCENT, _TREND, _CALLER]
    if wide:
        columns.append(_MODULE)
    return columns


class StackTable(ScrollView, can_focus=True):
    """Every stack of the LiveView, one per line, under a fixed heading line."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "Top", show=False),
        Binding("end", "jump(-1)", "Bottom", show=False),
    ]

    COMPONENT_CLASSES = {
        "stack-table--heading",
        "stack-table--sorted",
        "stack-table--cursor",
        "stack-table--grow",
        "stack-table--shrink",
        "stack-table--followed",
        "stack-table--dim",
    }

    DEFAULT_CSS = """
    StackTable { height: 1fr; overflow-x: hidden; }
    """

    class Selected(Message):
        """Enter (or a double click) on a stack: open its detail."""

        def __init__(self, stack_id: str) -> None:
            self.stack_id = stack_id
            super().__init__()

    def __init__(self, live: LiveView, *, trend_width: int = 8, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.live = live
        self.trend_width = trend_width
        self.cursor_id: str | None = None
        self._cursor_row = 0
        self._painted: dict[int, tuple] = {}  # screen line -> what it showed
        self.lines_refreshed = 0  # lines invalidated by the last refresh_rows (tests, bench)

    # -- data ------------------------------------------------------------------------
    @property
    def cursor_row(self) -> int:
        return self._cursor_row

    def refresh_rows(self, *, center: bool = False) -> None:
        """A new tick or a new order: keep the cursor on its stack, repaint what changed."""
        live = self.live
        self.virtual_size = Size(0, len(live) + 1)
        index = live.index_of(self.cursor_id, self._cursor_row)
        if index is None:
            # The stack left the view (filtered, freed): stay at the same position.
            index = min(self._cursor_row, len(live) - 1)
            self.cursor_id = live.ids[index] if index >= 0 else None
        self._cursor_row = max(index, 0)
        self._scroll_to_cursor(center=center)
        self._refresh_changed()

    def _refresh_changed(self) -> None:
        height = self.size.height
        changed = 0
        scroll_y = round(self.scroll_offset.y)
        for y in range(height):
            if self._signature(y, scroll_y) != self._painted.get(y):
                self.refresh_lines(scroll_y + y)
                changed += 1
        self.lines_refreshed = changed

    def _scroll_to_cursor(self, *, center: bool = False) -> None:
        visible = max(self.size.height - 1, 1)
        top = round(self.scroll_offset.y)
        row = self._cursor_row
        if center:
            target = max(row - visible // 2, 0)
        elif row < top:
            target = row
        elif row >= top + visible:
            target = row - visible + 1
        else:
            return
        self.scroll_to(y=target, animate=False, immediate=True)

    def forget_painted(self) -> None:
        """The screen was drawn over (resume from Ctrl-Z): every line must be sent again."""
        self._painted.clear()
        self.refresh()

    def move_cursor_to(self, stack_id: str) -> bool:
        index = self.live.index_of(stack_id)
        if index is None:
            return False
        self._set_cursor(index)
        return True

    def _set_cursor(self, index: int) -> None:
        count = len(self.live)
        if not count:
            return
        index = max(0, min(index, count - 1))
        self._cursor_row = index
        self.cursor_id = self.live.ids[index]
        self._scroll_to_cursor()
        self._refresh_changed()

    # -- actions ---------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        self._set_cursor(self._cursor_row + step)

    def action_page(self, direction: int) -> None:
        self._set_cursor(self._cursor_row + direction * max(self.size.height - 2, 1))

    def action_jump(self, where: int) -> None:
        self._set_cursor(0 if where >= 0 else len(self.live) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._set_cursor(round(self.scroll_offset.y) + event.y - 1)
            if event.chain >= 2 and self.cursor_id:
                self.post_message(self.Selected(self.cursor_id))

    def on_resize(self, event: events.Resize) -> None:
        self._painted.clear()
        self.refresh_rows()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._painted.clear()

    # -- rendering -------------------------------------------------------------------
    @property
    def _width(self) -> int:
        """Cells for text: the widget's width less the vertical scrollbar."""
        return self.scrollable_content_region.width

    def _signature(self, y: int, scroll_y: int) -> tuple:
        """What screen line ``y`` shows, as plain values (compared to skip unchanged lines)."""
        width = self._width
        live = self.live
        if y == 0:
            query = live.query
            return ("heading", width, query.sort, query.reverse, live.baseline is not None)
        index = scroll_y + y - 1
        if index >= len(live):
            return ("blank", width)
        stack_id = live.ids[index]
        row = live.row(stack_id)
        trend = fmt.sparkline(live.history.series(stack_id, self.trend_width), self.trend_width)
        return (
            "row",
            width,
            index,
            stack_id,
            row.pages,
            row.delta,
            round(row.rate, 1),
            row.since_baseline,
            round(row.percent, 1),
            trend,
            index == self._cursor_row,
            stack_id == live.follow,
        )

    def render_line(self, y: int) -> Strip:
        scroll_y = round(self.scroll_offset.y)
        signature = self._signature(y, scroll_y)
        self._painted[y] = signature
        width = self._width
        base = self.rich_style
        if signature[0] == "heading":
            return self._heading(width, base)
        if signature[0] == "blank":
            return Strip.blank(width, base)
        index, stack_id = signature[2], signature[3]
        return self._row_line(index, stack_id, signature[9], signature[10], signature[11], width, base)

    def _heading(self, width: int, base: Style) -> Strip:
        live = self.live
        heading = base + self.get_component_rich_style("stack-table--heading")
        sorted_style = heading + self.get_component_rich_style("stack-table--sorted")
        arrow = "▲" if _ascending(live.query.sort, live.query.reverse) else "▼"
        segments = []
        for column, cell_width in _layout(columns_for(width, baseline=live.baseline is not None), width):
            active = column.sort == live.query.sort and column.key not in ("mib", "percent")
            active = active or (column.key == "percent" and live.query.sort == "percent")
            title = column.title + (arrow if active else "")
            segments.append(Segment(_fit(title, cell_width, column.right), sorted_style if active else heading))
        return Strip(segments).adjust_cell_length(width, heading)

    def _row_line(
        self, index: int, stack_id: str, trend: str, is_cursor: bool, followed: bool, width: int, base: Style
    ) -> Strip:
        live = self.live
        row = live.row(stack_id)
        style = base
        if followed:
            style = style + self.get_component_rich_style("stack-table--followed")
        if is_cursor:
            style = style + self.get_component_rich_style("stack-table--cursor")
        grow = style + self.get_component_rich_style("stack-table--grow")
        shrink = style + self.get_component_rich_style("stack-table--shrink")
        dim = style + self.get_component_rich_style("stack-table--dim")
        columns = columns_for(width, baseline=live.baseline is not None)
        segments = []
        for column, cell_width in _layout(columns, width):
            text, tone = _cell(column.key, row, index, trend, wide=width >= 100, followed=followed)
            cell_style = {"grow": grow, "shrink": shrink, "dim": dim}.get(tone, style)
            segments.append(Segment(_fit(text, cell_width, column.right), cell_style))
        return Strip(segments).adjust_cell_length(width, style)


def _ascending(sort: str, reverse: bool) -> bool:
    from pageowner_tui.model.query import SORT_KEYS

    return SORT_KEYS[sort][1] == reverse


def _layout(columns: list[Column], width: int) -> list[tuple[Column, int]]:
    """Column widths: fixed ones as declared plus one space each, the flexible one the rest."""
    fixed = sum(c.width + 1 for c in columns if c.width)
    flex = max(width - fixed - 1, 8)
    return [(c, c.width if c.width else flex) for c in columns]


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: max(width - 1, 0)] + "…" if width > 0 else ""
    cell = text.rjust(width) if right else text.ljust(width)
    return cell + " "


def _cell(key: str, row: Row, index: int, trend: str, *, wide: bool, followed: bool) -> tuple[str, str]:
    """The text of one cell and its tone ("grow", "shrink", "dim" or "")."""
    if key == "rank":
        return (("F" if followed else "") + str(index + 1), "")
    if key == "pages":
        return fmt.compact(row.pages), ""
    if key == "mib":
        return fmt.mib(row.pages), ""
    if key == "delta":
        return fmt.signed(row.delta), _tone(row.delta)
    if key == "baseline":
        change = row.since_baseline or 0
        return fmt.signed(change), _tone(change)
    if key == "rate":
        return fmt.rate(row.rate), _tone(row.rate)
    if key == "percent":
        return f"{row.percent:.1f}", ""
    if key == "trend":
        return trend, "dim"
    if key == "caller":
        stack = row.stat.stack
        return printable(fmt.short_frame(stack.caller, with_module=not wide)), ""
    if key == "module":
        modules = row.stat.stack.modules
        return (printable(modules[0]) if modules else "-"), "" if modules else "dim"
    raise KeyError(key)


def _tone(value: float) -> str:
    return "grow" if value > 0 else "shrink" if value < 0 else "dim"
