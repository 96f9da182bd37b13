"""A hostile file must not drive the terminal of the root user reading it.

Terminal control sequences hidden in a file's frames, task names or metadata (OSC 0 sets
the window title, CSI 2J clears the screen, OSC 52 writes the clipboard on some
terminals) are shown as visible text.  Checked in a real terminal: the TUI runs in tmux,
and tmux reports whether anything retitled the pane.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import ROOT
from .ebpf_helpers import wait_for

pytestmark = [pytest.mark.tmux]

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"


def _page_owner_file(path) -> None:
    header = "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 1, tgid 1 (%s), ts 5 ns\n"
    pfn = "PFN 0x1000 type Movable Block 8 type Movable Flags 0x0()\n"
    good = header % "dd" + pfn + " good_alloc+0x1/0x2\n\n"
    evil = header % (TITLE + "comm") + pfn + f" {TITLE}{CLEAR}evil_alloc+0x1/0x2\n\n"
    path.write_text(good * 3 + evil * 5)


def _json_file(path) -> None:
    path.write_text(json.dumps({
        "schema": "pageowner-top/snapshot", "version": 1, "time": 1764115200.0,
        "source": f"debugfs{TITLE}", "kernel": f"6.12{TITLE}{CLEAR}",
        "meta": {"format": f"x{TITLE}", "mode": f"m{TITLE}"},
        "counters": {f"drops{TITLE}": 3},
        "stacks": [{"frames": [f"{TITLE}evil_alloc+0x1/0x2"], "pages": 5,
                    "breakdowns": {"comm": {f"{TITLE}c": 5}}}],
    }))


@pytest.mark.parametrize("kind", ["page_owner", "json"])
def test_tui_shows_escapes_from_a_file_as_text(tmp_path, kind):
    path = tmp_path / f"hostile.{'txt' if kind == 'page_owner' else 'json'}"
    (_page_owner_file if kind == "page_owner" else _json_file)(path)
    session = f"pot-esc-{uuid.uuid4().hex[:8]}"
    command = f"cd {tmp_path} && PYTHONPATH={ROOT} {sys.executable} -m pageowner_tui.cli {path}; sleep 600"
    socket = str(tmp_path / "tmux.sock")  # a server of its own: no race with other tests' servers
    subprocess.run(["tmux", "-S", socket, "new-session", "-d", "-s", session, "-x", "160", "-y", "45", command],
                   check=True)

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-S", socket, *args], capture_output=True, text=True, check=True).stdout

    try:
        title_before = tmux("display", "-p", "-t", session, "#{pane_title}").strip()
        try:
            wait_for(lambda: "0;pwned" in tmux("capture-pane", "-p", "-t", session), 60, "the stack on screen")
        except AssertionError:
            raise AssertionError(tmux("capture-pane", "-p", "-t", session)) from None
        time.sleep(1)
        tmux("send-keys", "-t", session, "Enter")  # the detail view: frames, comm breakdown
        wait_for(lambda: "Frames" in tmux("capture-pane", "-p", "-t", session), 30, "the detail view")
        time.sleep(1)
        screen = tmux("capture-pane", "-p", "-t", session)
        title = tmux("display", "-p", "-t", session, "#{pane_title}").strip()
        assert "pwned" not in title, (title, screen)
        assert title == title_before
        assert "\\x1b]0;pwned" in screen  # shown, as text
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)

