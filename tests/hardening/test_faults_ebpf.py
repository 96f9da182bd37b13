"""Faults while the eBPF source runs, on this machine's real kernel: SIGINT, SIGTERM,
SIGHUP and terminal loss detach every BPF program of ours, restore the terminal and close
the recording cleanly; kill -9 leaves a readable recording.

Each test starts the installed command the way a user does (`record`, or the TUI in a real
terminal under tmux), waits until it has attached its programs and committed frames, then
delivers the fault and checks from outside: the process ended, the kernel no longer has
the programs it held (ebpf_helpers), the recording opens with every frame committed
before the fault, and the terminal is back in its normal mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pageowner_tui.formats.recording import Recording
from pageowner_tui.sources.ebpf import preflight

from .conftest import ROOT
from .ebpf_helpers import prog_exists, prog_ids_of, recording_frames, wait_for, wait_gone

pytestmark = [pytest.mark.ebpf, pytest.mark.slow]

LOAD_TIMEOUT = 120  # BCC compiles the program at start: seconds on a busy 2-core machine


@pytest.fixture(scope="module", autouse=True)
def ebpf_available():
    failed = [c.line() for c in preflight() if not c.ok]
    if failed:
        pytest.skip("eBPF not available here: " + "; ".join(failed))


def _record(path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pageowner_tui.cli", "record", "--source", "ebpf", "-i", "0.3", "-q", "-o", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def _started(proc_pid: int, path: Path, frames: int = 3) -> tuple[set[int], int]:
    ids = wait_for(lambda: prog_ids_of(proc_pid), LOAD_TIMEOUT, "the BPF programs to load")
    count = wait_for(lambda: recording_frames(str(path)) >= frames and recording_frames(str(path)),
                     LOAD_TIMEOUT, f"{frames} committed frames")
    ids |= prog_ids_of(proc_pid)
    assert len(ids) >= 2, ids  # mm_page_alloc and mm_page_free
    assert all(prog_exists(i) for i in ids)
    return ids, count


def _assert_detached(ids: set[int]) -> None:
    still = [i for i in ids if prog_exists(i)]
    assert not still, f"BPF programs still loaded after exit: {still}"


def _assert_closed_recording(path: Path, at_least: int) -> None:
    assert not os.path.exists(str(path) + "-journal"), "the recording was left mid-transaction"
    with Recording(str(path)) as recording:
        assert recording.warnings == []
        assert len(recording) >= at_least
        recording.frame(len(recording) - 1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_record_stops_cleanly_on_signal(tmp_path, signum):
    path = tmp_path / "rec.db"
    proc = _record(path)
    try:
        ids, committed = _started(proc.pid, path)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 128 + signum), (proc.returncode, err)
    _assert_detached(ids)
    _assert_closed_recording(path, committed)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_top_batch_mode_detaches_on_signal(signum):
    proc = subprocess.Popen(
        [sys.executable, "-m", "pageowner_tui.cli", "top", "--source", "ebpf", "-i", "0.3", "--limit", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        ids = wait_for(lambda: prog_ids_of(proc.pid), LOAD_TIMEOUT, "the BPF programs to load")
        assert proc.stdout.readline().startswith("pageowner-top - ")  # a first frame was printed
        ids |= prog_ids_of(proc.pid)
        assert all(prog_exists(i) for i in ids)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 130, 128 + signum), (proc.returncode, err)
    _assert_detached(ids)


def test_record_killed_with_sigkill_leaves_a_readable_recording(tmp_path):
    path = tmp_path / "rec.db"
    proc = _record(path)
    try:
        ids, committed = _started(proc.pid, path, frames=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_detached(ids)  # the kernel drops a dead process's programs
    with Recording(str(path)) as recording:
        assert len(recording) >= committed
        last = recording.frame(len(recording) - 1)
        assert last.source == "ebpf" and last.total_pages > 0


# ---------------------------------------------------------------------------------------
# The TUI in a real terminal (tmux)


class Pane:
    """The TUI running in a detached tmux session, with a shell line after it that reports
    its exit status and the terminal's modes once it has ended."""

    def __init__(self, workdir: Path) -> None:
        self.session = f"pot-{uuid.uuid4().hex[:8]}"
        command = (
            f"cd {workdir} && PYTHONPATH={ROOT} {sys.executable} -m pageowner_tui.cli --source ebpf -i 0.5; "
            "echo EXITED $?; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo "
            "| tr '\\n' ' '; echo; echo DONE; sleep 600"
        )
        self.socket = str(workdir / "tmux.sock")  # a server of its own: no race with other tests' servers
        self.tmux("new-session", "-d", "-s", self.session, "-x", "160", "-y", "45", command)
        shell = int(self.display("#{pane_pid}"))
        self.pid = wait_for(lambda: _python_child(shell), 30, "the TUI process")

    def tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args],
                              capture_output=True, text=True, check=check).stdout

    def display(self, fmt: str) -> str:
        return self.tmux("display", "-p", "-t", self.session, fmt).strip()

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def kill_session(self) -> None:
        self.tmux("kill-session", "-t", self.session, check=False)

    def kill_server(self) -> None:
        self.tmux("kill-server", check=False)


def _python_child(shell_pid: int) -> int | None:
    children = subprocess.run(["pgrep", "-P", str(shell_pid)], capture_output=True, text=True).stdout.split()
    for child in children:
        try:
            if "pageowner_tui.cli" in Path(f"/proc/{child}/cmdline").read_text():
                return int(child)
        except OSError:
            continue
    return None


def _recording_in(folder: Path) -> Path | None:
    found = [p for p in folder.iterdir() if p.suffix == ".db"]
    return found[0] if found else None


@pytest.mark.tmux
@pytest.mark.parametrize("fault", ["SIGTERM", "SIGINT", "SIGHUP", "terminal lost"])
def test_tui_leaves_cleanly_on_fault(tmp_path, fault):
    pane = Pane(tmp_path)
    try:
        ids = wait_for(lambda: prog_ids_of(pane.pid), LOAD_TIMEOUT, "the BPF programs to load")
        wait_for(lambda: "pages" in pane.screen(), LOAD_TIMEOUT, "the first snapshot on screen")
        ids |= prog_ids_of(pane.pid)
        pane.keys("R")  # start recording: the prompt offers a file name in the working folder
        wait_for(lambda: "ecord" in pane.screen(), 30, "the record prompt")
        time.sleep(0.5)
        pane.keys("Enter")
        path = wait_for(lambda: _recording_in(tmp_path), 30, "the recording file")
        committed = wait_for(lambda: recording_frames(str(path)) >= 3 and recording_frames(str(path)),
                             60, "3 recorded frames")
        assert pane.display("#{alternate_on}") == "1"  # the TUI is on the alternate screen
        assert ids and all(prog_exists(i) for i in ids)
        if fault == "terminal lost":
            pane.kill_session()  # the terminal goes away: the kernel sends SIGHUP
        else:
            os.kill(pane.pid, getattr(signal, fault))
        wait_gone(pane.pid, 60)
        if fault != "terminal lost":
            screen = wait_for(lambda: "DONE" in pane.screen() and pane.screen(), 30, "the shell after the TUI")
            assert pane.display("#{alternate_on}") == "0", screen
            modes = screen.split("EXITED", 1)[1].splitlines()[1].split()
            assert "icanon" in modes and "echo" in modes, screen  # cooked mode, echo on
            assert "Traceback" not in screen, screen
        _assert_detached(ids)
        _assert_closed_recording(path, committed)
    finally:
        pane.kill_server()
        if os.path.exists(f"/proc/{pane.pid}"):
            os.kill(pane.pid, signal.SIGKILL)
