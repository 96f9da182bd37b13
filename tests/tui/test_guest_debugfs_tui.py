"""The TUI on the real thing: Linux 6.12.117 with page_owner=on (run-guest), debugfs source.

One boot runs ``guest_main`` (this file as a module): the app runs headless on the live
DebugfsSource while a workload writes a tmpfs file of N pages; the test asserts on the
host, from the JSON it prints, that

- the table shows the workload's stack (shmem) grown by at least N pages, and the header
  the kernel release;
- `t` pushes the threshold into the kernel's count_threshold (read back from the file)
  and the view obeys it;
- the PFN pane reads a range from the kernel's page_owner (lseek to the PFN) and decodes
  /proc/kpageflags for it (a live source on that machine).

Run by hand:  ../shared/kernels/run-guest -- .venv/bin/python -m tests.tui.test_guest_debugfs_tui
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N = 8192  # pages in the tmpfs file (32 MiB)
DEBUGFS = "/sys/kernel/debug"


async def _drive() -> dict:
    from textual.widgets import Input

    from pageowner_tui.sources.debugfs import DebugfsSource
    from pageowner_tui.tui.app import PageOwnerApp
    from pageowner_tui.tui.screens.pfn import PfnScreen
    from pageowner_tui.tui.screens.prompt import PromptScreen

    from .fakes import wait_for

    out: dict = {}
    source = DebugfsSource(DEBUGFS)
    app = PageOwnerApp(source, interval=3600)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.live.current is not None and not app._sampling, 120)
            out["header"] = app.query_one("#header").content.plain
            out["caps"] = {"kernel_threshold": app.caps.kernel_threshold, "pfn_ranges": app.caps.pfn_ranges}
            subprocess.run(
                ["dd", "if=/dev/zero", "of=/dev/shm/tui-workload", "bs=4096", f"count={N}"],
                check=True,
                capture_output=True,
            )
            first = app.live.current
            app._tick()
            await wait_for(pilot, lambda: app.live.current is not first, 120)
            await pilot.press("D")  # sort by growth
            top = app.live.row(app.live.ids[0])
            out["top_delta"] = top.delta
            out["top_frames"] = list(top.stat.stack.frames)
            out["first_line"] = app.table.render_line(1).text

            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
            app.screen.query_one(Input).value = ""
            await pilot.press(*"1000", "enter")
            await wait_for(pilot, lambda: app.kernel_threshold == 1000, 60)
            with open(f"{DEBUGFS}/page_owner_stacks/count_threshold") as f:
                out["count_threshold"] = f.read().strip()
            app._tick()
            await wait_for(pilot, lambda: not app._sampling, 60)
            await pilot.pause(0.5)
            out["min_pages_shown"] = min(app.live.current.stacks[i].pages for i in app.live.ids)

            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, PfnScreen))
            screen = app.screen
            out["zones"] = list(screen.zones)
            await pilot.press(*"0x1000+4096", "enter")
            await wait_for(pilot, lambda: screen.report is not None, 300)
            report = screen.report
            out["pfn_records"] = len(report.records)
            out["pfn_flags"] = report.flags is not None
            out["pfn_free"] = report.free
            out["pfn_untracked"] = report.untracked
            out["pfn_summary"] = str(screen.query_one("#pfn-summary").content)
            await pilot.press("escape", "q")
    finally:
        source.close()
    with open(f"{DEBUGFS}/page_owner_stacks/count_threshold") as f:
        out["threshold_after_close"] = f.read().strip()
    return out


def guest_main() -> int:
    print(json.dumps(asyncio.run(_drive())))
    return 0


@pytest.mark.guest
@pytest.mark.slow
def test_tui_on_a_real_page_owner_kernel():
    run_guest = Path(os.environ.get("PAGEOWNER_RUN_GUEST", ROOT.parent / "shared" / "kernels" / "run-guest"))
    if not run_guest.exists():
        pytest.skip(f"{run_guest} not found (set PAGEOWNER_RUN_GUEST)")
    done = subprocess.run(
        [str(run_guest), "--timeout", "600", "--", sys.executable, "-m", "tests.tui.test_guest_debugfs_tui"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=700,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "debugfs" in result["header"] and "kernel 6.12.117" in result["header"]
    assert result["caps"] == {"kernel_threshold": True, "pfn_ranges": True}
    assert result["top_delta"] >= N, result
    assert any(frame.startswith("shmem_") for frame in result["top_frames"]), result["top_frames"]
    assert result["count_threshold"] == "1000"
    assert result["min_pages_shown"] >= 1000
    assert "DMA32" in result["zones"]
    assert result["pfn_records"] > 0 and result["pfn_flags"] is True
    assert result["pfn_free"] is not None and result["pfn_untracked"] is not None
    assert f"{result['pfn_records']:,} allocations" in result["pfn_summary"]
    # the source gives count_threshold back when it closes
    assert result["threshold_after_close"] == "0"


if __name__ == "__main__":
    sys.exit(guest_main())
