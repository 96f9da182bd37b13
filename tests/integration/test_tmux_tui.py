"""The installed `pageowner-top` in a real terminal (tmux): start, sort, filter, detail, PFN
pane, suspend/resume, quit; the terminal is restored after quit and after a hang-up.

Runs the console script from the project's virtualenv on the real 6.12 page_owner capture,
so no root or live source is needed.  Screens are read with `tmux capture-pane`.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.tmux

BINARY = Path(sys.executable).parent / "pageowner-top"


@pytest.fixture(scope="module")
def tmux():
    path = shutil.which("tmux")
    if path is None:
        pytest.skip("tmux is not installed (Debian: apt-get install tmux)")
    if not BINARY.exists():
        pytest.skip(f"{BINARY} not installed: pip install -e . into this virtualenv")
    return path


class Terminal:
    """One detached tmux session running a shell at a fixed size."""

    def __init__(self, tmux: str, name: str, tmp: Path, width: int = 80, height: int = 24) -> None:
        self.tmux = tmux
        self.name = name
        self.socket = str(tmp / "tmux.sock")
        env_cmd = f"env -i PATH=/usr/bin:/bin HOME={tmp} TERM=xterm-256color TZ=UTC PS1='$ ' bash --norc --noprofile"
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), env_cmd)

    def run(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-S", self.socket, *args], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.name, "-l", text)

    def key(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def screen(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name)

    def wait_for(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on screen after {timeout:g}s:\n{screen}")
            time.sleep(0.1)

    def flag(self, name: str) -> str:
        return self.run("display-message", "-p", "-t", self.name, f"#{{{name}}}").strip()

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def terminal(tmux, tmp_path):
    term = Terminal(tmux, "pot", tmp_path)
    yield term
    term.close()


@pytest.fixture(scope="module")
def page_owner_file(real_612, tmp_path_factory) -> Path:
    # The .gz works too; a plain copy keeps each start fast.
    out = tmp_path_factory.mktemp("tmux") / "page_owner_full.txt"
    with gzip.open(real_612 / "page_owner_full.txt.gz", "rb") as src:
        out.write_bytes(src.read())
    return out


def test_start_sort_filter_detail_pfn_quit(terminal, page_owner_file):
    terminal.type(f"{BINARY} {page_owner_file}; echo EXIT=$?\n")
    screen = terminal.wait_for(r"810 stacks")
    assert "59,963 pages" in screen and "early 2,389" in screen
    assert terminal.flag("alternate_on") == "1"

    terminal.type("D")
    terminal.wait_for(r"sort delta▼")
    terminal.type("P")
    terminal.wait_for(r"sort pages▼")

    terminal.type("/")
    terminal.wait_for(r"Filter \(regular expressions")
    terminal.type("shmem_alloc_folio")
    terminal.key("Enter")
    screen = terminal.wait_for(r"filter\(re\) shmem_alloc_folio")
    rows = [line for line in screen.splitlines() if re.match(r"\s+\d+\s+\d", line)]
    assert rows and all("shmem_alloc_folio" in row for row in rows)
    assert re.search(r"810 stacks, \d+ shown", screen)

    terminal.key("Enter")
    screen = terminal.wait_for(r"Frames")
    assert "shmem_alloc_folio+0x" in screen and "Pages over the last" in screen
    terminal.key("Escape")
    terminal.wait_for(r"sort pages▼")
    terminal.key("Escape")  # clears the filter
    terminal.wait_for(r"810 stacks\s*$|810 stacks\s+\|", timeout=10)

    terminal.type("p")
    terminal.wait_for(r"PFN range")
    terminal.type("0x2000-0x3000")
    terminal.key("Enter")
    screen = terminal.wait_for(r"\d[\d,]* allocations", timeout=60)
    assert "0x2000" in screen and "register_early_stack" in screen
    terminal.key("Escape")
    terminal.wait_for(r"sort pages▼")

    terminal.type("q")
    screen = terminal.wait_for(r"EXIT=0")
    assert terminal.flag("alternate_on") == "0", "the alternate screen was left on"
    assert terminal.flag("mouse_any_flag") == "0", "mouse reporting was left on"


def test_suspend_and_resume(terminal, page_owner_file):
    terminal.type(f"{BINARY} {page_owner_file}\n")
    terminal.wait_for(r"810 stacks")
    terminal.key("C-z")
    terminal.wait_for(r"Stopped")
    assert terminal.flag("alternate_on") == "0"
    terminal.type("fg\n")
    terminal.wait_for(r"810 stacks")
    terminal.type("q")
    terminal.wait_for(r"(?m)^\$\s*\Z")  # back at the shell's prompt
    assert terminal.flag("alternate_on") == "0"


def test_no_color_is_monochrome(terminal, page_owner_file):
    terminal.type(f"{BINARY} --no-color {page_owner_file}\n")
    terminal.wait_for(r"810 stacks")
    terminal.type("D")
    terminal.wait_for(r"sort delta▼")
    colours = re.findall(r"\x1b\[[0-9;]*?(?:38|48);2;(\d+);(\d+);(\d+)", terminal.screen(escapes=True))
    assert all(r == g == b for r, g, b in colours), "a colour other than grey was drawn"
    terminal.type("q")


def test_exits_when_the_terminal_goes_away(terminal, page_owner_file, tmp_path):
    pid_file = tmp_path / "pid"
    terminal.type(f"sh -c 'echo $$ > {pid_file}; exec {BINARY} {page_owner_file}'\n")
    terminal.wait_for(r"810 stacks")
    pid = int(pid_file.read_text())
    terminal.close()  # the pty closes: SIGHUP
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)
    raise AssertionError("pageowner-top kept running after its terminal went away")
