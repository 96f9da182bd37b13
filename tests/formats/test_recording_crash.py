"""kill -9 a process in the middle of recording: every frame it reported committed reads
back exactly, and the file opens without complaint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pageowner_tui.formats import show_stacks
from pageowner_tui.formats.recording import Recording

ROOT = Path(__file__).resolve().parents[2]

# The child records frames derived deterministically from a real capture as fast as it
# can, printing each frame number after append() returned (i.e. after COMMIT).
CHILD = textwrap.dedent(
    """
    import sys
    from pageowner_tui.formats import show_stacks
    from pageowner_tui.formats.recording import RecordingWriter
    sys.path.insert(0, {tests!r})
    from test_recording_crash import frame_for

    base = show_stacks.to_snapshot(show_stacks.read({capture!r}), source="debugfs", time=0.0)
    writer = RecordingWriter({out!r}, source="debugfs", interval=1.0, keyframe_every=8)
    seq = 0
    stop_at = {stop_at!r}
    if stop_at is not None:
        import time
        # A tiny page cache makes SQLite spill changed pages into the file (and the old
        # ones into the journal) before COMMIT; then stop inside frame stop_at's
        # transaction, after its rows went out, so the parent kills it mid-write.
        writer._db.execute("PRAGMA cache_size = 2")
        def pause(statement):
            if statement.startswith("INSERT INTO frames") and seq == stop_at:
                print("inside", flush=True)
                time.sleep(600)
        writer._db.set_trace_callback(pause)
    while True:
        writer.append(frame_for(base, seq))
        print(seq, flush=True)
        seq += 1
    """
)


def frame_for(base, seq):
    """Frame ``seq``: the real capture with counts that change every frame; frames 1, 5,
    9, ... also bring 50 stacks never seen before (so their write spans many pages)."""
    from pageowner_tui.model.snapshot import Snapshot, StackStat
    from pageowner_tui.model.stack import intern_stack_text

    stats = [
        StackStat(stat.stack, stat.pages + (seq * (i % 7)) % 97)
        for i, stat in enumerate(base.stacks.values())
        if (i + seq) % 11  # a different tenth of the stacks is absent each frame
    ]
    if seq % 4 == 1:
        for i, stat in enumerate(list(base.stacks.values())[:50]):
            text = stat.stack.text + f" crash_test_{seq}_{i}+0x0/0x10\n"
            stats.append(StackStat(intern_stack_text(text), 1 + i))
    return Snapshot.from_stats(stats, source="debugfs", time=1000.0 + seq, kernel="6.12.117")


def start_child(capture: str, out: Path, stop_at: int | None) -> subprocess.Popen:
    script = CHILD.format(tests=str(Path(__file__).parent), capture=capture, out=str(out), stop_at=stop_at)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)


def check_frames(out: Path, capture: str, frames: int) -> None:
    base = show_stacks.to_snapshot(show_stacks.read(capture), source="debugfs", time=0.0)
    with Recording(str(out)) as rec:
        assert rec.warnings == []
        assert len(rec) == frames
        for seq in sorted({0, frames // 2, frames - 1}):
            expected = frame_for(base, seq)
            got = rec.frame(seq)
            assert got.time == expected.time
            assert dict(got.stacks) == dict(expected.stacks)


@pytest.mark.parametrize("stop_at", [1, 9, 21])
def test_kill_9_inside_a_frames_transaction(tmp_path, real_612, stop_at):
    """Killed with the transaction open and pages already spilled to the file: SQLite
    rolls the half-written frame back (a hot journal), the frames before it all read."""
    capture = str(real_612 / "show_stacks_2.txt")
    out = tmp_path / "rec.db"
    child = start_child(capture, out, stop_at)
    try:
        lines = []
        while not lines or lines[-1] != "inside":
            line = child.stdout.readline().strip()
            assert line, f"recorder exited early with {child.poll()}"
            lines.append(line)
        assert lines[-2] == str(stop_at - 1)
        assert (tmp_path / "rec.db-journal").exists()  # really mid-write: a hot journal
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
        child.wait()
    check_frames(out, capture, stop_at)
    assert not (tmp_path / "rec.db-journal").exists()  # rolled back by the reader's open


@pytest.mark.parametrize("frames_before_kill", [1, 7, 30])
def test_kill_9_mid_recording(tmp_path, real_612, frames_before_kill):
    capture = str(real_612 / "show_stacks_2.txt")
    out = tmp_path / "rec.db"
    script = CHILD.format(tests=str(Path(__file__).parent), capture=capture, out=str(out), stop_at=None)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    committed = -1
    deadline = time.monotonic() + 60
    try:
        while committed < frames_before_kill:
            line = child.stdout.readline()
            assert line, f"recorder exited early with {child.poll()}"
            committed = int(line)
            assert time.monotonic() < deadline
        # The child is busy writing the next frame (it never sleeps): kill it mid-write.
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    base = show_stacks.to_snapshot(show_stacks.read(capture), source="debugfs", time=0.0)
    with Recording(str(out)) as rec:
        assert rec.warnings == []
        # Every frame reported committed is there; at most the one in flight may be too.
        assert committed + 1 <= len(rec) <= committed + 2
        for seq in sorted({0, committed // 2, committed, len(rec) - 1}):
            expected = frame_for(base, seq)
            got = rec.frame(seq)
            assert got.time == expected.time
            assert dict(got.stacks) == dict(expected.stacks)
