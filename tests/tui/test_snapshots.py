"""Screen snapshots (pytest-textual-snapshot) at 80x24, 120x40 and 200x50, on the real
6.12 captures, with every time on screen fixed (snapshot times from fakes.T0, TZ=UTC).

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs in __snapshots__/ before committing them.
"""

from __future__ import annotations

import time

import pytest

from pageowner_tui.tui.app import PageOwnerApp

from .fakes import T0, ScriptedSource, wait_for

SIZES = [(80, 24), (120, 40), (200, 50)]


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def two_ticks_app(real_snaps) -> PageOwnerApp:
    """show_stacks_1 then show_stacks_2, so Δ, pg/s and the trend have something to show."""
    source = ScriptedSource(real_snaps, advance=True)
    return PageOwnerApp(source, interval=3600, clock=lambda: T0)


async def second_tick(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.live.current is not None and not app._sampling)
    app._tick()
    await wait_for(pilot, lambda: app.live.current is app.source._snapshots[1])
    await pilot.pause()


def steady_cursor(pilot) -> None:
    """A blinking text cursor would make the picture depend on the moment it is taken."""
    from textual.widgets import Input

    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_view(snap_compare, real_snaps, size):
    async def run_before(pilot):
        await second_tick(pilot)
        await pilot.press("D", "down", "down")

    assert snap_compare(two_ticks_app(real_snaps), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_pane(snap_compare, real_snaps, size):
    async def run_before(pilot):
        await second_tick(pilot)
        await pilot.press("down", "enter")
        await pilot.pause()

    assert snap_compare(two_ticks_app(real_snaps), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare, real_snaps, size):
    async def run_before(pilot):
        await second_tick(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(two_ticks_app(real_snaps), terminal_size=size, run_before=run_before)


def test_filter_prompt_and_threshold_80x24(snap_compare, real_snaps):
    async def run_before(pilot):
        await second_tick(pilot)
        await pilot.press("t", *"100", "enter", "slash", *"shmem")
        steady_cursor(pilot)
        await pilot.pause()

    assert snap_compare(two_ticks_app(real_snaps), terminal_size=(80, 24), run_before=run_before)


def test_pfn_pane_120x40(snap_compare, page_owner_full_text):
    from pageowner_tui.sources.file import FileSource

    app = PageOwnerApp(FileSource(str(page_owner_full_text)), interval=3600, clock=lambda: T0)

    async def run_before(pilot):
        await wait_for(pilot, lambda: app.live.current is not None)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen.id == "pfn")
        await pilot.press(*"0x2000-0x6000", "enter")
        await wait_for(pilot, lambda: app.screen.report is not None, timeout=60)
        steady_cursor(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
