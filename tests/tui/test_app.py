"""Pilot tests: every binding and pane of the app, on the real 6.12 captures.

The source is scripted (tests/tui/fakes.py): show_stacks_1 then show_stacks_2, parsed by
formats/show_stacks.py, so the numbers on screen are the kernel's.  Intervals are long and
ticks are driven by the test (``tick``), so nothing depends on timing.
"""

from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable, Input

from pageowner_tui.errors import UserError
from pageowner_tui.formats import show_stacks
from pageowner_tui.model.query import Query, StackFilter, rank
from pageowner_tui.sources.base import Capabilities
from pageowner_tui.tui.app import PageOwnerApp, threshold_step
from pageowner_tui.tui.screens.detail import DetailScreen
from pageowner_tui.tui.screens.help import HelpScreen, key_label
from pageowner_tui.tui.screens.pfn import PfnScreen
from pageowner_tui.tui.screens.prompt import PromptScreen
from pageowner_tui.tui.widgets.stack_detail import StackDetail

from .fakes import T0, FakeReplay, ScriptedSource, wait_for

SIZE = (120, 40)


def make_app(snaps, **kwargs) -> PageOwnerApp:
    source = kwargs.pop("source", None) or ScriptedSource(snaps, advance=False)
    return PageOwnerApp(source, interval=kwargs.pop("interval", 3600), clock=lambda: T0, **kwargs)


async def started(pilot, app) -> None:
    await wait_for(pilot, lambda: app.live.current is not None, what="the first snapshot")


async def tick(pilot, app, position: int | None = None) -> None:
    """Move the scripted source on (optionally) and take one snapshot, as the timer would."""
    if position is not None:
        app.source.advance_to(position)
    await wait_for(pilot, lambda: not app._sampling, what="the previous sample to finish")
    before = app.live.latest
    calls = app.source.calls
    app._tick()
    await wait_for(pilot, lambda: app.source.calls > calls and not app._sampling, what="a tick")
    await pilot.pause()
    if app.live.latest is not before and not app.live.paused:
        await wait_for(pilot, lambda: app.live.current is app.live.latest, what="the commit")


async def type_prompt(pilot, text: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), what="a prompt")
    prompt_input = pilot.app.screen.query_one(Input)
    prompt_input.value = ""
    await pilot.press(*text) if text else None
    await pilot.press("enter")
    await pilot.pause()


async def test_starts_with_every_stack_ranked_by_pages(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        first = real_snaps[0]
        assert app.live.ids == rank(first)
        assert app.table.cursor_id == app.live.ids[0]
        header = app.query_one("#header").content.plain
        assert "debugfs (page_owner)" in header and "kernel 6.12.117" in header
        assert f"{first.total_pages:,} pages" in header and f"{len(first):,} stacks" in header


async def test_cursor_stays_on_its_stack_across_refresh_and_resort(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("down", "down", "down")
        chosen = app.table.cursor_id
        assert chosen == app.live.ids[3]
        await tick(pilot, app, 1)  # new data: show_stacks_2
        assert app.live.current is real_snaps[1]
        assert app.table.cursor_id == chosen
        assert app.live.ids[app.table.cursor_row] == chosen
        for keys in (["D"], ["I"], ["C"], ["M"], ["T"], ["greater_than_sign"], ["less_than_sign"], ["P"]):
            await pilot.press(*keys)
            assert app.table.cursor_id == chosen, keys
            assert app.live.ids[app.table.cursor_row] == chosen, keys
            # the cursor's row is on screen
            top = round(app.table.scroll_offset.y)
            assert top <= app.table.cursor_row < top + app.table.size.height - 1


async def test_sort_keys_and_invert(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await tick(pilot, app, 1)
        first, second = real_snaps
        for key, sort in (("D", "delta"), ("T", "rate"), ("C", "caller"), ("M", "module"), ("P", "pages")):
            await pilot.press(key)
            assert app.live.query.sort == sort
            assert app.live.ids == rank(second, Query(sort=sort), previous=first)
        await pilot.press("I")
        assert app.live.ids == rank(second, Query(reverse=True), previous=first)
        await pilot.press("I", "greater_than_sign")
        assert app.live.query.sort == "delta"
        await pilot.press("less_than_sign", "less_than_sign")
        assert app.live.query.sort == "frames"  # wraps around
        await pilot.press("B")  # no baseline yet: refused with a message
        assert app.live.query.sort == "frames" and "press b" in app.message


async def test_filter_regex_substring_bad_regex_and_clear(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        snap = real_snaps[0]
        await pilot.press("slash")
        await type_prompt(pilot, "shmem_alloc_folio")
        assert app.live.ids and all("shmem_alloc_folio" in snap.stacks[i].stack.text for i in app.live.ids)
        assert app.live.ids == rank(snap, Query(filter=StackFilter.parse("shmem_alloc_folio", regex=True)))
        await pilot.press("slash")
        await type_prompt(pilot, "[unclosed")
        assert isinstance(app.screen, PromptScreen)  # still asking
        assert "bad regular expression" in str(app.screen.query_one("#prompt-hint").content)
        await pilot.press("escape")
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("backslash")
        await type_prompt(pilot, "+0x97")  # a substring: '+' is literal here
        assert app.live.query.filter.regex is False
        assert app.live.ids and all("+0x97" in snap.stacks[i].stack.text for i in app.live.ids)
        await pilot.press("escape")  # clears the filter
        assert not app.live.query.filter and len(app.live.ids) == len(snap)


async def test_threshold_typed_stepped_and_pushed_to_the_kernel(real_snaps):
    source = ScriptedSource(real_snaps, advance=False, caps=Capabilities(live=True, kernel_threshold=True))
    app = make_app(real_snaps, source=source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("t")
        await type_prompt(pilot, "1000")
        snap = real_snaps[0]
        assert app.live.ids == rank(snap, Query(threshold=1000))
        assert all(snap.stacks[i].pages >= 1000 for i in app.live.ids)
        await wait_for(pilot, lambda: source.thresholds == [1000], what="the kernel threshold")
        await wait_for(pilot, lambda: app.kernel_threshold == 1000)
        await pilot.press("plus")
        assert app.live.query.threshold == 2000
        await pilot.press("minus", "minus")
        assert app.live.query.threshold == 500
        source.accept_threshold = False
        await pilot.press("minus")
        await wait_for(pilot, lambda: "filtering at 200 pages here instead" in app.message)
        assert app.kernel_threshold is None
        await pilot.press("t")
        await type_prompt(pilot, "lots")
        assert "not a whole number" in str(app.screen.query_one("#prompt-hint").content)


async def test_threshold_from_the_command_line_goes_to_the_kernel(real_snaps):
    source = ScriptedSource(real_snaps, advance=False, caps=Capabilities(live=True, kernel_threshold=True))
    app = make_app(real_snaps, source=source, query=Query(threshold=1000))
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await wait_for(pilot, lambda: app.kernel_threshold == 1000)
        assert source.thresholds == [1000]
        assert "≥1000 pages in kernel" in str(app.query_one("#status").content)


def test_threshold_steps():
    assert [threshold_step(n, 1) for n in (0, 1, 2, 5, 10, 999)] == [1, 2, 5, 10, 20, 1000]
    assert [threshold_step(n, -1) for n in (0, 1, 7, 1000)] == [0, 0, 5, 500]


async def test_pause_freezes_the_view_while_sampling_goes_on(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        shown = list(app.live.ids)
        await pilot.press("space")
        assert "PAUSED" in app.query_one("#header").content.plain
        await tick(pilot, app, 1)
        assert app.live.latest is real_snaps[1]  # sampled
        assert app.live.current is real_snaps[0] and app.live.ids == shown  # not shown
        await pilot.press("space")
        assert app.live.current is real_snaps[1]
        assert "PAUSED" not in app.query_one("#header").content.plain


async def test_interval_key(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("d")
        await type_prompt(pilot, "0.05")
        assert "at least 0.1" in str(app.screen.query_one("#prompt-hint").content)
        await type_prompt(pilot, "0.2")
        assert app.interval == 0.2
        calls = app.source.calls
        await wait_for(pilot, lambda: app.source.calls >= calls + 2, what="timer ticks at the new interval")
        assert "every 0.2s" in app.query_one("#header").content.plain


async def test_follow_keeps_a_stack_through_filters(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("end")
        followed = app.table.cursor_id
        await pilot.press("F")
        assert app.live.follow == followed and "FOLLOW" in app.query_one("#header").content.plain
        await pilot.press("t")
        await type_prompt(pilot, "1000")
        assert followed in app.live.ids and app.table.cursor_id == followed
        await tick(pilot, app, 1)
        assert app.table.cursor_id == followed
        await pilot.press("F")
        assert app.live.follow is None and followed not in app.live.ids


async def test_baseline_shows_change_since_mark(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        assert app.live.baseline is real_snaps[0]
        await tick(pilot, app, 1)
        await pilot.press("B")
        first, second = real_snaps
        assert app.live.query.sort == "baseline"
        assert app.live.ids == rank(second, Query(sort="baseline"), previous=first, baseline=first)
        heading = app.table.render_line(0).text
        assert "Δbase" in heading
        await pilot.press("b")
        assert app.live.baseline is None and app.live.query.sort == "pages"
        assert "Δbase" not in app.table.render_line(0).text


async def test_export_writes_the_view_and_never_overwrites(real_snaps, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("t")
        await type_prompt(pilot, "100")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        default = app.screen.query_one(Input).value
        assert default.startswith("pageowner-top-") and default.endswith(".show_stacks.txt")
        await pilot.press("enter")
        await pilot.pause()
        written = tmp_path / default
        parsed = show_stacks.read(str(written))
        assert [e.stack.id for e in parsed.entries] == app.live.ids
        assert all(e.pages >= 100 for e in parsed.entries)
        assert oct(written.stat().st_mode & 0o777) == "0o600"
        before = written.read_bytes()
        await pilot.press("e")
        await type_prompt(pilot, default)
        assert isinstance(app.screen, PromptScreen)
        assert "exists; choose another name" in str(app.screen.query_one("#prompt-hint").content)
        await pilot.press("escape")
        assert written.read_bytes() == before


async def test_export_page_owner_counts_only_totals_exactly(real_snaps, tmp_path, monkeypatch):
    from pageowner_tui.formats import page_owner

    monkeypatch.chdir(tmp_path)
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("t")
        await type_prompt(pilot, "1000")
        await pilot.press("e")
        await type_prompt(pilot, "view.page_owner.txt")
        await wait_for(pilot, lambda: "counts-only export" in app.message)
        shown = {i: app.live.current.stacks[i].pages for i in app.live.ids}
    # The format page_owner_sort reads: blocks of "order K" header + frames; K sums to pages.
    from pageowner_tui.model.stack import intern_stack_text

    totals: dict[str, int] = {}
    text = (tmp_path / "view.page_owner.txt").read_text()
    for block in filter(None, text.split("\n\n")):
        header, _, frames = block.partition("\n")
        assert header.startswith(page_owner.HEADER_START)
        order = int(header[len(page_owner.HEADER_START) :].split(",")[0])
        stack_id = intern_stack_text(frames + "\n").id
        totals[stack_id] = totals.get(stack_id, 0) + (1 << order)
    assert totals == shown


@pytest.mark.parametrize("key", ["q", "f10"])
async def test_quit_keys(real_snaps, key):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code in (0, None)
    assert not app.is_running


async def test_help_lists_every_binding(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one("#help-table").content
        keys = list(table.columns[0]._cells)
        texts = list(table.columns[1]._cells)
        for binding in app._active_bindings():
            assert key_label(binding.key) in keys
            assert binding.tooltip in texts
        assert "[ ]" not in keys and "[" not in keys  # no replay keys for a live source
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_has_every_action(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for binding in app._active_bindings():
            assert binding.description in titles
        assert "Freeze the view; sampling and recording go on (key: space)" in {
            c.help for c in app.get_system_commands(app.screen)
        }
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Sort delta")
        await command.callback()
        assert app.live.query.sort == "delta"


async def test_ctrl_z_is_bound_to_suspend(real_snaps):
    app = make_app(real_snaps)
    assert any(b.key == "ctrl+z" and b.action == "suspend_process" for b in app.BINDINGS)


async def test_detail_pane_shows_frames_chart_and_breakdowns(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await tick(pilot, app, 1)
        await pilot.press("down")
        chosen = app.table.cursor_id
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = _plain(app.screen.query_one(StackDetail))
        stack = real_snaps[1].stacks[chosen].stack
        for frame in stack.frames:
            assert frame in text
        assert f"{real_snaps[1].stacks[chosen].pages:,} pages" in text
        assert "Pages over the last 2 snapshots" in text
        assert "not known for this stack from this source" in text  # show_stacks has no breakdowns
        assert "no PFN spread" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


def _plain(widget) -> str:
    from rich.console import Console

    console = Console(width=150, record=True, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


@pytest.fixture(scope="module")
def page_owner_source(page_owner_full_text):
    from pageowner_tui.sources.file import FileSource

    return FileSource(str(page_owner_full_text))


async def test_export_page_owner_records_of_the_view(page_owner_source, tmp_path, monkeypatch):
    from pageowner_tui.formats import page_owner

    monkeypatch.chdir(tmp_path)
    app = PageOwnerApp(page_owner_source, interval=3600, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("backslash")
        await type_prompt(pilot, "shmem")
        await pilot.press("e")
        await type_prompt(pilot, "shmem.page_owner.txt")
        await wait_for(pilot, lambda: "page_owner format" in app.message, timeout=60)
        shown = {i: app.live.current.stacks[i].pages for i in app.live.ids}
    snapshot = page_owner.read_snapshot(str(tmp_path / "shmem.page_owner.txt"))
    assert {i: s.pages for i, s in snapshot.stacks.items()} == shown


async def test_detail_breakdowns_and_spread_from_page_owner_file(page_owner_source):
    app = PageOwnerApp(page_owner_source, interval=3600, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        top = app.table.cursor_id
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = _plain(app.screen.query_one(StackDetail))
        stat = app.live.current.stacks[top]
        for name in ("order", "gfp flags", "migratetype", "comm"):
            assert name in text
        assert next(iter(stat.breakdown("comm"))) in text
        assert "press s" in text
        await pilot.press("s")
        await wait_for(pilot, lambda: "allocations," in _plain(app.screen.query_one(StackDetail)), timeout=60)
        text = _plain(app.screen.query_one(StackDetail))
        assert f"{stat.pages:,} pages between PFN" in text


async def test_pfn_pane_on_real_page_owner_records(page_owner_source):
    app = PageOwnerApp(page_owner_source, interval=3600, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PfnScreen))
        screen = app.screen
        await pilot.press(*"0x2000-0x3000", "enter")
        await wait_for(pilot, lambda: screen.report is not None, timeout=60, what="the PFN range")
        report = screen.report
        expected = [r for r in page_owner_source.records() if 0x2000 <= r.pfn < 0x3000]
        assert len(report.records) == len(expected)
        table = screen.query_one(DataTable)
        assert table.row_count == min(len(expected), 500)
        assert str(table.get_row_at(0)[0]) == f"{min(r.pfn for r in expected):#x}"
        summary = str(screen.query_one("#pfn-summary").content)
        assert f"{len(expected):,} allocations" in summary
        assert "page flags need a live source" in summary  # a file is another boot's PFNs
        owner_map = str(screen.query_one("#pfn-map").content)
        assert "one pageblock of 512 pages" in owner_map
        table.focus()
        await pilot.press("m")
        assert screen.mode == "migratetype"
        migratetype_map = str(screen.query_one("#pfn-map").content)
        assert migratetype_map != owner_map and "Unmovable" in migratetype_map
        await pilot.press("r")  # back to the range input
        assert app.focused is screen.query_one(Input)
        await pilot.press("escape")
        assert not isinstance(app.screen, PfnScreen)


async def test_pfn_pane_says_why_when_the_source_has_no_pages(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PfnScreen))
        summary = str(app.screen.query_one("#pfn-summary").content)
        assert summary.startswith("PFN ranges are not available: ")
        assert app.screen.query_one(Input).disabled


async def test_bad_pfn_range_is_one_line(page_owner_source):
    app = PageOwnerApp(page_owner_source, interval=3600, clock=lambda: T0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PfnScreen))
        await pilot.press(*"0x3000-0x2000", "enter")
        summary = str(app.screen.query_one("#pfn-summary").content)
        assert "is empty" in summary and "\n" not in summary


async def test_replay_frames_step_with_brackets(real_snaps):
    source = FakeReplay(real_snaps)
    app = make_app(real_snaps, source=source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert "frame 1/2" in app.query_one("#header").content.plain
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: app.live.current is real_snaps[1])
        assert "frame 2/2" in app.query_one("#header").content.plain
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: app.live.current is real_snaps[0])
        await pilot.press("left_square_bracket")  # already at the first frame
        await pilot.pause(0.2)
        assert app.live.current is real_snaps[0] and app.live.previous is real_snaps[1]


async def test_replay_home_end_and_jump_move_through_time_even_while_paused(real_snaps):
    source = FakeReplay(real_snaps)
    app = make_app(real_snaps, source=source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("space")  # playback paused: moving by hand still shows the frame
        assert app.live.paused
        await pilot.press("end")
        await wait_for(pilot, lambda: app.live.current is real_snaps[1], what="the last frame")
        assert "frame 2/2" in app.query_one("#header").content.plain
        await pilot.press("home")
        await wait_for(pilot, lambda: app.live.current is real_snaps[0], what="the first frame")
        assert "frame 1/2" in app.query_one("#header").content.plain
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: app.live.current is real_snaps[1], what="a step while paused")

        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), what="the jump prompt")
        await pilot.press(*"#5", "enter")  # not a frame: the prompt stays, saying why
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        assert "frames #0 to #1" in str(app.screen.query_one("#prompt-hint").content)
        app.screen.query_one(Input).value = ""
        await pilot.press(*"#0", "enter")
        await wait_for(pilot, lambda: app.live.current is real_snaps[0], what="the jump to #0")
        assert not isinstance(app.screen, PromptScreen)

        await pilot.press("slash", "j")  # in a prompt, j and End are typing, not time travel
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), what="the filter prompt")
        await pilot.press("end", "escape")
        assert app.live.current is real_snaps[0]


async def test_home_end_and_j_move_the_table_on_a_live_source(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        first = app.table.cursor_id
        await pilot.press("j")
        await pilot.pause()
        second = app.table.cursor_id
        assert second is not None and second != first
        await pilot.press("end")
        await pilot.pause()
        assert app.table.cursor_id == app.live.ids[len(app.live) - 1]
        await pilot.press("home")
        await pilot.pause()
        assert app.table.cursor_id == first


async def test_frame_keys_do_nothing_on_a_live_source(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        calls = app.source.calls
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.source.calls == calls


async def test_record_key_writes_a_recording(real_snaps, tmp_path, monkeypatch):
    from pageowner_tui.formats.recording import Recording

    monkeypatch.chdir(tmp_path)
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.press("R")
        await type_prompt(pilot, "rec.db")
        assert "REC rec.db" in app.query_one("#header").content.plain
        await pilot.press("space")  # paused: recording goes on
        await tick(pilot, app, 1)
        await pilot.press("R")
        assert app.recorder is None
        before = (tmp_path / "rec.db").read_bytes()
        await pilot.press("R")  # the same name again: refused, the recording kept
        await type_prompt(pilot, "rec.db")
        assert isinstance(app.screen, PromptScreen)
        assert "exists; choose another name" in str(app.screen.query_one("#prompt-hint").content)
        app.screen.query_one(Input).value = "  "
        await pilot.press("enter")
        await pilot.pause()
        assert "type a file name" in str(app.screen.query_one("#prompt-hint").content)
        await pilot.press("escape")
        assert app.recorder is None and (tmp_path / "rec.db").read_bytes() == before
    recording = Recording(str(tmp_path / "rec.db"))
    assert len(recording) == 1
    assert set(recording.frame(0).stacks) == set(real_snaps[1].stacks)


@pytest.mark.parametrize(
    "error,shown",
    [
        (UserError("/sys/kernel/debug/page_owner_stacks/show_stacks: permission denied; run as root"), "permission denied"),
        (KeyError("c0ffee"), "KeyError: 'c0ffee' (a bug"),
    ],
)
async def test_source_errors_are_one_line_and_the_app_goes_on(real_snaps, error, shown):
    class Failing(ScriptedSource):
        fail = False

        def snapshot(self):
            if self.fail:
                self.calls += 1
                raise error
            return super().snapshot()

    source = Failing(real_snaps, advance=False)
    app = make_app(real_snaps, source=source)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        source.fail = True
        await tick(pilot, app)
        await wait_for(pilot, lambda: shown in app.message)
        assert "\n" not in app.message
        assert app.is_running and app.live.current is real_snaps[0]


async def test_banner_when_not_live(real_snaps):
    banner = "Not live: showing a bundled recording from a real 6.12 kernel. Run as root."
    app = make_app(real_snaps, banner=banner)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        assert str(app.query_one("#banner").content) == banner


async def test_only_changed_lines_are_repainted(real_snaps):
    app = make_app(real_snaps)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        await pilot.pause()
        await tick(pilot, app)  # the same snapshot again: nothing changed
        assert app.table.lines_refreshed == 0
        await pilot.press("down")  # the cursor moves: its old and new line
        assert app.table.lines_refreshed == 2
        await tick(pilot, app, 1)  # new data: many lines, but not more than the screen
        assert 0 < app.table.lines_refreshed <= app.table.size.height


async def test_no_color_env(real_snaps, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(real_snaps)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        assert app.no_color
        svg = app.export_screenshot()
    # Monochrome: no growth-red anywhere on screen.
    assert "#ff0000" not in svg.lower()


@pytest.fixture(scope="module")
def snaps_100k():
    from .fakes import synthetic_series

    return synthetic_series(100_000, 2)


async def test_100k_stacks_scroll_sort_and_keep_the_cursor(snaps_100k):
    app = make_app(snaps_100k)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        assert len(app.live) == 100_000
        await pilot.press("end")
        assert app.table.cursor_row == 99_999
        last = app.table.cursor_id
        assert app.table.render_line(app.table.size.height - 1).text.lstrip().startswith("100000")
        await pilot.press("pageup", "up")
        chosen = app.table.cursor_id
        await tick(pilot, app, 1)
        await pilot.press("D")
        assert app.table.cursor_id == chosen
        assert app.live.ids[app.table.cursor_row] == chosen
        assert last in app.live.ids
        # only what is on screen was built
        assert len(app.live._rows) <= app.table.size.height


async def test_hostile_text_is_shown_not_obeyed(tmp_path):
    """Escapes and Rich markup from a file appear as text in every pane."""
    from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat
    from pageowner_tui.model.stack import intern_stack

    evil = "\x1b]0;pwned\x07"
    stack = intern_stack(["get_page_from_freelist+0x1/0x2", f"{evil}[bold]evil_alloc+0x1/0x2 [mod]"])
    stat = StackStat(stack, 7, breakdowns={Breakdown.COMM: {f"{evil}[red]comm": 7}})
    snap = Snapshot.from_stats([stat], source="file", time=T0, kernel=f"6.12{evil}", meta={"mode": "[blink]m"})
    app = make_app([snap])
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot, app)
        header = app.query_one("#header").content.plain
        assert "6.12\\x1b]0;pwned\\x07" in header and "[blink]m" in header
        line = app.table.render_line(1).text
        assert "\\x1b]0;pwned\\x07[bold]evil_alloc" in line and "\x1b" not in line
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        text = _plain(app.screen.query_one(StackDetail))
        assert "\\x1b]0;pwned\\x07[red]comm" in text and "\x1b" not in text
        await pilot.press("escape", "slash")
        await type_prompt(pilot, "[red]x")
        assert "[red]x" in str(app.query_one("#status").content)
