"""The pageowner-top TUI: a live table of allocation stacks by the pages they own.

The app wires a Source to the widgets and nothing more: a thread worker takes a snapshot
each interval and ranks it (LiveView.sample), the UI thread shows it (LiveView.commit,
then the table repaints the lines that changed).  Every control is an action bound to a
key, listed in the footer, the `?` screen and the command palette.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from pageowner_tui.errors import UserError
from pageowner_tui.model.query import SORT_KEYS, FilterError, Query, StackFilter
from pageowner_tui.model.snapshot import Snapshot
from pageowner_tui.safe_write import check_output_path
from pageowner_tui.sources.base import Capabilities, Source, TimeTravel
from pageowner_tui.sources.replay import resolve_time
from pageowner_tui.tui import export
from pageowner_tui.tui import formatting as fmt
from pageowner_tui.tui.live_view import LiveView, Prepared
from pageowner_tui.tui.safe_text import printable
from pageowner_tui.tui.screens.detail import DetailScreen
from pageowner_tui.tui.screens.help import HelpScreen, key_label
from pageowner_tui.tui.screens.pfn import PfnScreen
from pageowner_tui.tui.screens.prompt import PromptScreen
from pageowner_tui.tui.widgets.header import HeaderBar, HeaderState
from pageowner_tui.tui.widgets.stack_detail import DetailState, PfnSpread, pfn_spread
from pageowner_tui.tui.widgets.stack_table import StackTable

__all__ = ["PageOwnerApp", "SORT_CYCLE", "threshold_step"]

# `<` and `>` walk the sort keys in the table's column order.
SORT_CYCLE = ("pages", "delta", "baseline", "rate", "caller", "module", "allocations", "frames")


def threshold_step(current: int, direction: int) -> int:
    """The next threshold in 0, 1, 2, 5, 10, 20, 50, ... (`+` and `-`)."""
    steps = [0]
    magnitude = 1
    while steps[-1] < max(current, 1) * 10:
        steps += [magnitude, 2 * magnitude, 5 * magnitude]
        magnitude *= 10
    if direction > 0:
        return next(s for s in steps if s > current)
    lower = [s for s in steps if s < current]
    return lower[-1] if lower else 0


def _recording_writer() -> type | None:
    """formats/recording.py's RecordingWriter (issue 6), when that module is present."""
    try:
        from pageowner_tui.formats.recording import RecordingWriter
    except ImportError:
        return None
    return RecordingWriter


def _new_file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a new export or recording file (None: it can)."""
    if not path.strip():
        return "type a file name"
    try:
        check_output_path(path.strip(), force=False)
    except UserError as exc:
        return str(exc).replace("; use --force to replace it", "; choose another name")
    return None


class SnapshotReady(Message):
    def __init__(self, prepared: Prepared, *, moved: bool = False) -> None:
        self.prepared = prepared
        self.moved = moved  # a replay frame the user moved to: shown even while paused
        super().__init__()


class SourceFailed(Message):
    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__()


@dataclass
class _Spread:
    stack_id: str
    spread: PfnSpread | None
    note: str


class PageOwnerApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "pageowner-top"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", tooltip="Show every key"),
        Binding("enter", "detail", "Detail", tooltip="Frames, chart and breakdowns of the selected stack"),
        Binding("slash", "filter(True)", "Filter", tooltip="Filter by regular expressions over frames, module, comm, pid"),
        Binding("backslash", "filter(False)", "Filter text", show=False, tooltip="Filter by plain substrings (no regex)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, tooltip="Remove the filter"),
        Binding("t", "threshold", "Threshold", tooltip="Type the minimum pages per stack (pushed to the kernel on debugfs)"),
        Binding("plus", "threshold_step(1)", "Threshold up", show=False, tooltip="Raise the threshold (0,1,2,5,10,...)"),
        Binding("minus", "threshold_step(-1)", "Threshold down", show=False, tooltip="Lower the threshold"),
        Binding("space", "pause", "Pause", tooltip="Freeze the view; sampling and recording go on"),
        Binding("less_than_sign", "sort_step(-1)", "Sort left", show=False, tooltip="Sort by the previous column"),
        Binding("greater_than_sign", "sort_step(1)", "Sort right", show=False, tooltip="Sort by the next column"),
        Binding("I", "invert", "Invert", show=False, tooltip="Invert the sort order"),
        Binding("P", "sort('pages')", "Sort pages", show=False, tooltip="Sort by pages"),
        Binding("D", "sort('delta')", "Sort delta", show=False, tooltip="Sort by change since the last tick"),
        Binding("T", "sort('rate')", "Sort rate", show=False, tooltip="Sort by pages per second"),
        Binding("B", "sort('baseline')", "Sort baseline", show=False, tooltip="Sort by change since the baseline"),
        Binding("C", "sort('caller')", "Sort caller", show=False, tooltip="Sort by caller name"),
        Binding("M", "sort('module')", "Sort module", show=False, tooltip="Sort by module"),
        Binding("F", "follow", "Follow", show=False, tooltip="Follow the selected stack (kept in view through filters)"),
        Binding("b", "baseline", "Baseline", show=False, tooltip="Mark this snapshot as the baseline (again: clear it)"),
        Binding("d", "interval", "Interval", show=False, tooltip="Type the seconds between snapshots"),
        Binding("p", "pfn", "PFN", tooltip="Who owns the pages in a PFN range or zone"),
        Binding("e", "export", "Export", show=False, tooltip="Write the current view as show_stacks text"),
        Binding("left_square_bracket", "frame(-1)", "Frame back", show=False, tooltip="Replay: one frame back"),
        Binding("right_square_bracket", "frame(1)", "Frame on", show=False, tooltip="Replay: one frame forward"),
        # Replays only (check_action), and only on the main screen, so that these keys still
        # move the table (Home/End/j) on a live source and type into prompts.
        Binding("home", "frame_to(0)", "First frame", show=False, priority=True, tooltip="Replay: the first frame"),
        Binding("end", "frame_to(-1)", "Last frame", show=False, priority=True,
                tooltip="Replay: the last frame (a watched folder's newest)"),
        Binding("j", "jump", "Jump to time", show=False, priority=True,
                tooltip="Replay: go to a time: 10:05, +5m, -30s, an ISO time, epoch seconds, #N"),
        Binding("R", "record", "Record", show=False, tooltip="Start or stop recording every snapshot to a file"),
        Binding("ctrl+z", "suspend_process", "Suspend", show=False, tooltip="Suspend to the shell (fg resumes)"),
        Binding("q,f10", "quit", "Quit", tooltip="Quit"),
    ]

    def __init__(
        self,
        source: Source,
        *,
        interval: float = 1.0,
        query: Query = Query(),
        banner: str | None = None,
        clock: Callable[[], float] = _time.time,
        history_length: int = 60,
        zoneinfo_path: str = "/proc/zoneinfo",
    ) -> None:
        super().__init__()
        self.source = source
        self.caps: Capabilities = source.capabilities()
        self.interval = interval
        self.banner = banner
        self.clock = clock
        self.zoneinfo_path = zoneinfo_path
        self.live = LiveView(query, history_length=history_length)
        self.time_travel = isinstance(source, TimeTravel)
        self.message = ""  # last status message (kernel threshold refused, errors, ...)
        self.kernel_threshold: int | None = None  # what count_threshold was set to
        self.recorder: object | None = None
        self._recording_writer = _recording_writer()
        self._source_lock = threading.Lock()
        self._sampling = False
        self._timer: Timer | None = None
        self._spread: _Spread | None = None
        self._status_shown: str | None = None

    # -- layout ----------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        if self.banner:
            yield Static(Text(printable(self.banner)), id="banner")
        yield StackTable(self.live, id="stacks")
        yield Static("", id="status")
        yield Footer()

    @property
    def table(self) -> StackTable:
        return self.query_one(StackTable)

    def on_mount(self) -> None:
        self.table.focus()
        if not self.is_headless:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(signum, self._terminal_gone, signum)
        self.app_resume_signal.subscribe(self, self._repaint_after_resume)
        if self.live.query.threshold and self.caps.kernel_threshold and hasattr(self.source, "set_threshold"):
            self._push_threshold(self.live.query.threshold)  # --threshold, like `t`
        self._start_timer()
        self._tick()
        self._show_status()

    def _repaint_after_resume(self, _app: object) -> None:
        """After Ctrl-Z and `fg` the shell has drawn over the screen: paint all of it again
        (Textual resumes application mode on SIGCONT but repaints only what changes)."""
        self.table.forget_painted()
        self.screen.refresh(repaint=True, layout=True)
        for widget in self.screen.walk_children():
            widget.refresh()

    def _terminal_gone(self, signum: int) -> None:
        """SIGHUP (the SSH session or terminal went away) or SIGTERM: leave cleanly."""
        self.exit(128 + signum)

    def on_unmount(self) -> None:
        if not self.is_headless:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGHUP, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        self._stop_recording()

    def _start_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(self.interval, self._tick)

    # -- sampling --------------------------------------------------------------------
    def _tick(self) -> None:
        # A source slower than the interval must not be read by two threads at once.
        if self._sampling:
            return
        if self.time_travel and self.live.paused:
            return  # a paused replay shows the frame the user moved to; nothing to read
        self._sampling = True
        advance = 1 if self.time_travel and not self.live.paused and self.live.latest is not None else 0
        self._sample(advance)

    @work(thread=True, exclusive=True, group="sample", exit_on_error=False)
    def _sample(self, step: int = 0, index: int | None = None, moved: bool = False) -> None:
        """Read the source: its next snapshot, or, in a replay, the frame ``step`` frames
        on or frame ``index`` (negative: from the end); ``moved``: the user asked for it."""
        try:
            with self._source_lock:
                if (step or index is not None) and self.time_travel:
                    source = self.source
                    before = source.position  # type: ignore[attr-defined]
                    if index is not None:
                        count = len(source.frame_times())  # type: ignore[attr-defined]
                        snapshot = source.seek_index(index if index >= 0 else count + index)  # type: ignore[attr-defined]
                    else:
                        snapshot = source.step(step)  # type: ignore[attr-defined]
                    if source.position == before and self.live.current is not None:  # type: ignore[attr-defined]
                        return  # at the first or last frame: nothing new to show
                else:
                    snapshot = self.source.snapshot()
                # Under the lock too: a key's move and a timer tick may run at once, and
                # the recording and the view's history take snapshots in order.
                recorder = self.recorder
                if recorder is not None:
                    recorder.append(snapshot)  # type: ignore[attr-defined]
                prepared = self.live.sample(snapshot)
            self.post_message(SnapshotReady(prepared, moved=moved))
        except (UserError, OSError) as exc:
            self.post_message(SourceFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug must show, not freeze the view silently
            self.post_message(SourceFailed(f"{type(exc).__name__}: {exc} (a bug in the {self.source.kind} source or the TUI; please report it)"))
        finally:
            self._sampling = False

    @on(SnapshotReady)
    def _on_snapshot(self, message: SnapshotReady) -> None:
        try:
            if self.live.commit(message.prepared, even_paused=message.moved):
                self._show_view()
            else:
                self._show_header()
        except NoMatches:
            # A worker's snapshot arrived after the main screen was torn down at exit.
            pass

    @on(SourceFailed)
    def _on_source_failed(self, message: SourceFailed) -> None:
        self._set_message(message.text, error=True)

    def _show_view(self, *, center: bool = False) -> None:
        self.table.refresh_rows(center=center or self.live.follow is not None)
        self._show_header()
        self._show_status()
        screen = self.screen
        if isinstance(screen, DetailScreen):
            screen.refresh_detail()

    def _show_header(self) -> None:
        live = self.live
        follow = None
        if live.follow and live.current is not None and live.follow in live.current.stacks:
            follow = fmt.short_frame(live.current.stacks[live.follow].stack.caller, with_module=False)
        frame = None
        if self.time_travel:
            times = self.source.frame_times()  # type: ignore[attr-defined]
            frame = f"{self.source.position + 1}/{len(times)}"  # type: ignore[attr-defined]
        state = HeaderState(
            snapshot=live.current,
            source_kind=self.source.kind,
            interval=self.interval,
            since=live.first_time,
            shown=len(live),
            paused=live.paused,
            recording=getattr(self.recorder, "path", None),
            baseline_time=live.baseline.time if live.baseline is not None else None,
            follow=follow,
            frame=frame,
        )
        self.query_one(HeaderBar).show(state)

    def _show_status(self) -> None:
        query = self.live.query
        arrow = "▲" if SORT_KEYS[query.sort][1] == query.reverse else "▼"
        parts = [f"sort {query.sort}{arrow}"]
        if query.filter:
            kind = "re" if query.filter.regex else "text"
            parts.append(f"filter({kind}) {printable(query.filter.text)}")
        if query.threshold:
            where = " in kernel" if self.kernel_threshold == query.threshold else ""
            parts.append(f"≥{query.threshold} pages{where}")
        if self.message:
            parts.append(self.message)
        text = " | ".join(parts)
        if text != self._status_shown:  # an unchanged line is not sent again
            self._status_shown = text
            self.query_one("#status", Static).update(Text(text))  # Text: no markup

    def _set_message(self, text: str, *, error: bool = False) -> None:
        text = printable(text)  # error messages quote file contents
        self.message = text
        self._show_status()
        self.notify(text, severity="error" if error else "information", timeout=6, markup=False)

    # -- the view's controls ---------------------------------------------------------
    def _set_query(self, query: Query) -> None:
        self.live.set_query(query)
        self._show_view()

    def action_sort(self, key: str) -> None:
        if key == "baseline" and self.live.baseline is None:
            self._set_message("no baseline: press b to mark one first")
            return
        self._set_query(self.live.query.with_(sort=key))

    def action_sort_step(self, step: int) -> None:
        cycle = [k for k in SORT_CYCLE if k != "baseline" or self.live.baseline is not None]
        current = self.live.query.sort
        position = cycle.index(current) if current in cycle else 0
        self._set_query(self.live.query.with_(sort=cycle[(position + step) % len(cycle)]))

    def action_invert(self) -> None:
        self._set_query(self.live.query.with_(reverse=not self.live.query.reverse))

    def action_filter(self, regex: bool) -> None:
        current = self.live.query.filter
        what = "regular expressions" if regex else "substrings"

        def check(text: str) -> str | None:
            try:
                StackFilter.parse(text, regex=regex)
            except FilterError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is not None:
                self._set_query(self.live.query.with_(filter=StackFilter.parse(text, regex=regex)))

        self.push_screen(
            PromptScreen(
                f"Filter ({what}, words ANDed; frame: module: comm: pid: id: pick a field)",
                current.text if current.regex == regex else "",
                hint="Enter applies, empty clears, Escape cancels",
                check=check,
                prompt_id="filter-prompt",
            ),
            done,
        )

    def action_clear_filter(self) -> None:
        if self.live.query.filter:
            self._set_query(self.live.query.with_(filter=StackFilter()))

    def action_threshold(self) -> None:
        def check(text: str) -> str | None:
            try:
                value = int(text.strip() or "0", 0)
            except ValueError:
                return f"{text!r} is not a whole number of pages"
            return "the threshold must be 0 or more pages" if value < 0 else None

        def done(text: str | None) -> None:
            if text is not None:
                self._apply_threshold(int(text.strip() or "0", 0))

        self.push_screen(
            PromptScreen(
                "Minimum pages per stack",
                str(self.live.query.threshold),
                hint="the debugfs source pushes it to the kernel's count_threshold",
                check=check,
                prompt_id="threshold-prompt",
            ),
            done,
        )

    def action_threshold_step(self, direction: int) -> None:
        self._apply_threshold(threshold_step(self.live.query.threshold, direction))

    def _apply_threshold(self, pages: int) -> None:
        self._set_query(self.live.query.with_(threshold=pages))
        if self.caps.kernel_threshold and hasattr(self.source, "set_threshold"):
            self._push_threshold(pages)

    @work(thread=True, exclusive=True, group="threshold", exit_on_error=False)
    def _push_threshold(self, pages: int) -> None:
        try:
            with self._source_lock:
                accepted = bool(self.source.set_threshold(pages))  # type: ignore[attr-defined]
        except (UserError, OSError) as exc:
            accepted = False
            reason = str(exc)
        else:
            reason = "the kernel refused count_threshold"

        def report() -> None:
            if accepted:
                self.kernel_threshold = pages
                self._set_message(f"count_threshold set to {pages} in the kernel")
            else:
                self.kernel_threshold = None
                self._set_message(f"{reason}; filtering at {pages} pages here instead")

        self.call_from_thread(report)

    def action_pause(self) -> None:
        self.live.set_paused(not self.live.paused)
        self._show_view()

    def action_interval(self) -> None:
        def check(text: str) -> str | None:
            try:
                value = float(text)
            except ValueError:
                return f"{text!r} is not a number of seconds"
            return "the interval must be at least 0.1 seconds" if value < 0.1 else None

        def done(text: str | None) -> None:
            if text is not None:
                self.interval = float(text)
                self._start_timer()
                self._show_header()

        self.push_screen(
            PromptScreen("Seconds between snapshots", f"{self.interval:g}", check=check, prompt_id="interval-prompt"),
            done,
        )

    def action_follow(self) -> None:
        live = self.live
        if live.follow is not None:
            live.set_follow(None)
            self._set_message("follow off")
        elif self.table.cursor_id is not None:
            live.set_follow(self.table.cursor_id)
            self.table.cursor_id = live.follow
            self._set_message("following the selected stack (F again stops)")
        self._show_view()

    def action_baseline(self) -> None:
        live = self.live
        if live.baseline is not None:
            live.clear_baseline()
            if live.query.sort == "baseline":
                live.set_query(live.query.with_(sort="pages"))
            self._set_message("baseline cleared")
        elif live.current is not None:
            live.mark_baseline()
            self._set_message(f"baseline marked at {fmt.clock(live.current.time)}: Δbase counts from here")
        self._show_view()

    def action_frame(self, step: int) -> None:
        if not self.time_travel:
            self._set_message(f"the {self.source.kind} source is live: no frames to step through")
            return
        self._sampling = True
        self._sample(step, moved=True)

    def action_frame_to(self, index: int) -> None:
        self._sampling = True
        self._sample(index=index, moved=True)

    def action_jump(self) -> None:
        times = self.source.frame_times()  # type: ignore[attr-defined]

        def check(text: str) -> str | None:
            try:
                resolve_time(text, times)
            except UserError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is not None:
                self.action_frame_to(resolve_time(text, times))

        self.push_screen(
            PromptScreen("Jump to (10:05, +5m, -30s, 2026-11-26T10:05, epoch seconds, #N)", "",
                         check=check, prompt_id="jump-prompt"),
            done,
        )

    # -- panes -----------------------------------------------------------------------
    def action_help(self) -> None:
        notes = [
            "Filter words: frame:RE module:RE comm:RE pid:RE id:HEX; bare words search frames and comms.",
            "Columns: Δ since the last tick, pg/s its rate, Δbase since the baseline (b), Trend the last ticks.",
            "Ctrl-P opens the command palette: every action by name.",
        ]
        if not self.caps.pfn_ranges:
            notes.append("PFN ranges: " + (" ".join(self.caps.notes) or "not available from this source"))
        self.push_screen(HelpScreen(self._active_bindings(), notes))

    def _active_bindings(self) -> list[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding) and self._binding_available(b.action)]

    def _binding_available(self, action: str) -> bool:
        name = action.split("(", 1)[0]
        if name == "record":
            return self._recording_writer is not None
        if name == "frame":
            return self.time_travel
        if name in ("frame_to", "jump"):  # priority keys: only a replay's main screen
            return self.time_travel and len(self.screen_stack) == 1
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._binding_available(action)

    def action_detail(self) -> None:
        stack_id = self.table.cursor_id
        if stack_id is None:
            self._set_message("no stack selected")
            return
        scan = self._scan_spread if self.caps.records or self.caps.pfn_ranges else None
        self.push_screen(DetailScreen(stack_id, self._detail_state, scan))

    @on(StackTable.Selected)
    def _on_selected(self, message: StackTable.Selected) -> None:
        self.action_detail()

    def _detail_state(self, stack_id: str) -> DetailState:
        live = self.live
        snapshot = live.current or live.latest
        stat = snapshot.stacks.get(stack_id) if snapshot is not None else None
        row = live.row(stack_id) if stat is not None and live.current is snapshot else None
        stack = stat.stack if stat is not None else self._find_stack(stack_id)
        spread, note = self._spread_for(stack_id, snapshot)
        return DetailState(
            row=row,
            stack_frames=stack.frames if stack is not None else (),
            stack_id=stack_id,
            caller=stack.caller if stack is not None else stack_id,
            series=tuple(live.history.series(stack_id)),
            breakdowns_known=self.caps.breakdowns,
            spread=spread,
            spread_note=note,
            chart_width=max(self.size.width - 12, 20),
        )

    def _find_stack(self, stack_id: str):  # noqa: ANN202 - a Stack or None
        for snapshot in (self.live.previous, self.live.baseline):
            if snapshot is not None and stack_id in snapshot.stacks:
                return snapshot.stacks[stack_id].stack
        return None

    def _spread_for(self, stack_id: str, snapshot: Snapshot | None) -> tuple[PfnSpread | None, str]:
        if snapshot is not None and snapshot.records is not None:
            spread = pfn_spread(snapshot.records, stack_id)
            return spread, "" if spread else "no allocation records of this stack in this snapshot"
        if self._spread is not None and self._spread.stack_id == stack_id:
            return self._spread.spread, self._spread.note
        if self.caps.records:
            return None, "press s to read this source's per-allocation records for the PFN spread (reads every record once)"
        why = " ".join(self.caps.notes) or f"the {self.source.kind} source keeps no per-page records"
        return None, f"no PFN spread: {why}"

    def _scan_spread(self, stack_id: str) -> None:
        self._read_spread(stack_id)

    @work(thread=True, exclusive=True, group="spread", exit_on_error=False)
    def _read_spread(self, stack_id: str) -> None:
        try:
            records = [r for r in self.source.records() if r.stack.id == stack_id]
        except (UserError, OSError) as exc:
            result = _Spread(stack_id, None, f"could not read the records: {exc}")
        else:
            spread = pfn_spread(records, stack_id)
            result = _Spread(stack_id, spread, "" if spread else "no live allocation of this stack in the records")

        def show() -> None:
            self._spread = result
            if isinstance(self.screen, DetailScreen):
                self.screen.refresh_detail()

        self.call_from_thread(show)

    def action_pfn(self) -> None:
        zones: dict[str, tuple[int, int]] = {}
        if self.caps.live:
            from pageowner_tui.tui.pfn_range import zone_spans

            try:
                with open(self.zoneinfo_path, encoding="utf-8") as f:
                    zones = zone_spans(f.read())
            except OSError:
                zones = {}
        self.push_screen(
            PfnScreen(
                self.source,
                zones=zones,
                name_of=self._stack_name,
                read_flags=self.caps.live and os.path.exists("/proc/kpageflags"),
            )
        )

    def _stack_name(self, stack_id: str) -> str:
        snapshot = self.live.current
        if snapshot is not None and stack_id in snapshot.stacks:
            return fmt.short_frame(snapshot.stacks[stack_id].stack.caller)
        return stack_id

    # -- files -----------------------------------------------------------------------
    def _default_name(self, suffix: str) -> str:
        return _time.strftime(f"pageowner-top-%Y%m%d-%H%M%S{suffix}", _time.localtime(self.clock()))

    def action_export(self) -> None:
        if self.live.current is None:
            self._set_message("nothing to export yet: no snapshot")
            return

        def done(path: str | None) -> None:
            if path is not None:
                self._export(path.strip())

        self.push_screen(
            PromptScreen(
                "Export the current view (filtered, sorted) to (a name containing 'page_owner' "
                "writes page_owner text for page_owner_sort; anything else show_stacks text)",
                self._default_name(".show_stacks.txt"),
                hint="an existing file is never replaced",
                check=_new_file_problem,
                prompt_id="export-prompt",
            ),
            done,
        )

    def _export(self, path: str) -> None:
        snapshot = self.live.current
        assert snapshot is not None
        ids = list(self.live.ids)
        if export.wants_page_owner(path):
            self._export_page_owner(path, snapshot, ids)
            return
        try:
            self._set_message(export.write_show_stacks(path, snapshot, ids))
        except (UserError, OSError) as exc:
            self._set_message(f"export failed: {exc}", error=True)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export_page_owner(self, path: str, snapshot: Snapshot, ids: list[str]) -> None:
        try:
            note = export.write_page_owner(path, snapshot, ids, self.source)
        except (UserError, OSError) as exc:
            self.call_from_thread(self._set_message, f"export failed: {exc}", error=True)
            return
        self.call_from_thread(self._set_message, note)

    def action_record(self) -> None:
        if self._recording_writer is None:
            return
        if self.recorder is not None:
            path = self._stop_recording()
            self._set_message(f"recording stopped: {path}")
            self._show_header()
            return

        def done(path: str | None) -> None:
            if path is None:
                return
            snapshot = self.live.latest
            try:
                self.recorder = self._recording_writer(  # type: ignore[misc]
                    path.strip(),
                    source=self.source.kind,
                    interval=self.interval,
                    kernel=snapshot.kernel if snapshot is not None else "",
                )
            except (UserError, OSError) as exc:
                self._set_message(f"cannot record: {exc}", error=True)
                return
            self._set_message(f"recording every snapshot to {path.strip()} (R stops)")
            self._show_header()

        self.push_screen(
            PromptScreen("Record every snapshot to", self._default_name(".db"), check=_new_file_problem, prompt_id="record-prompt"),
            done,
        )

    def _stop_recording(self) -> str | None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        recorder.close()  # type: ignore[attr-defined]
        return getattr(recorder, "path", None)

    # -- command palette -------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self._active_bindings():
            action = binding.action
            yield SystemCommand(
                binding.description,
                f"{binding.tooltip} (key: {key_label(binding.key)})",
                lambda action=action: self.run_action(action),
            )
