"""`pageowner-top record` through the installed command: files, folders, safety, live eBPF."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pageowner_tui.formats import show_stacks
from pageowner_tui.formats.recording import Recording

from .command import BIN, run


def one_line_error(proc, status):
    assert proc.returncode == status, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pageowner-top: ")
    assert "Traceback" not in proc.stderr


def test_record_a_file(tmp_path, real_612):
    out = tmp_path / "one.db"
    proc = run("record", "-o", out, real_612 / "show_stacks_1.txt")
    assert "wrote" in proc.stderr and "1 frames" in proc.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with Recording(str(out)) as rec:
        expected = show_stacks.to_snapshot(show_stacks.read(str(real_612 / "show_stacks_1.txt")))
        assert dict(rec.frame(0).stacks) == dict(expected.stacks)
        assert rec.meta["origin"] == str(real_612 / "show_stacks_1.txt")


def test_record_converts_a_folder_of_captures(tmp_path, real_612):
    folder = tmp_path / "caps"
    folder.mkdir()
    for i in (1, 2):
        target = folder / f"show_stacks_{i}.txt"
        target.write_bytes((real_612 / f"show_stacks_{i}.txt").read_bytes())
        os.utime(target, (1_700_000_000 + i, 1_700_000_000 + i))
    out = tmp_path / "caps.db"
    run("record", "-o", out, folder)
    with Recording(str(out)) as rec:
        assert rec.times() == [1_700_000_001.0, 1_700_000_002.0]
        assert len(rec.frame(1).stacks) == 809


def test_record_refuses_to_overwrite_or_follow_a_symlink(tmp_path, real_612):
    capture = real_612 / "show_stacks_1.txt"
    mine = tmp_path / "mine.db"
    mine.write_text("precious\n")
    one_line_error(run("record", "-o", mine, capture, check=False), 1)
    assert mine.read_text() == "precious\n"
    link = tmp_path / "link.db"
    link.symlink_to(mine)
    proc = run("record", "-o", link, capture, "--force", check=False)
    one_line_error(proc, 1)
    assert "symbolic link" in proc.stderr and mine.read_text() == "precious\n"
    run("record", "-o", mine, capture, "--force")
    with Recording(str(mine)) as rec:
        assert len(rec) == 1
    one_line_error(run("record", "-o", "-", capture, check=False), 1)
    one_line_error(run("record", "-o", tmp_path / "no" / "dir.db", capture, check=False), 1)


def _ebpf_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    return None


@pytest.mark.ebpf
@pytest.mark.slow
def test_record_live_ebpf_then_kill_9(tmp_path):
    """A live eBPF recording killed with SIGKILL: every committed frame reads back."""
    reason = _ebpf_available()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "live.db"
    child = subprocess.Popen(
        [str(BIN), "record", "--source", "ebpf", "-i", "0.3", "-o", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        frames = 0
        while frames < 4:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "no frames recorded in time"
            time.sleep(0.3)
            if out.exists():
                try:
                    with Recording(str(out)) as rec:
                        frames = len(rec)
                except Exception:
                    frames = 0  # not even the first frame yet
        # Allocate while it records, then kill it without warning.
        subprocess.run(["dd", "if=/dev/zero", f"of={tmp_path / 'blob'}", "bs=1M", "count=8"], capture_output=True)
        time.sleep(0.7)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with Recording(str(out)) as rec:
        assert len(rec) >= frames and rec.warnings == []
        assert rec.meta["source"] == "ebpf" and rec.meta["kernel"] == os.uname().release
        last = rec.frame(-1)
        assert last.source == "ebpf" and len(last.stacks) > 0
        assert all(s.stack.frames for s in last.stacks.values())
        times = rec.times()
        assert all(b > a for a, b in zip(times, times[1:]))


@pytest.mark.ebpf
def test_record_live_ebpf_count(tmp_path):
    reason = _ebpf_available()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "three.db"
    proc = run("record", "--source", "ebpf", "-n", "3", "-i", "0.5", "-o", out)
    assert "3 frames" in proc.stderr
    with Recording(str(out)) as rec:
        assert len(rec) == 3
        gaps = [b - a for a, b in zip(rec.times(), rec.times()[1:])]
        assert all(0.3 < g < 3 for g in gaps)
