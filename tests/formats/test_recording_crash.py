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
    while True:
        writer.append(frame_for(base, seq))
        print(seq, flush=True)
        seq += 1
    """
)


def frame_for(base, seq):
    """Frame ``seq``: the real capture with counts that change every frame."""
    from pageowner_tui.model.snapshot import Snapshot, StackStat

    stats = [
        StackStat(stat.stack, stat.pages + (seq * (i % 7)) % 97)
        for i, stat in enumerate(base.stacks.values())
        if (i + seq) % 11  # a different tenth of the stacks is absent each frame
    ]
    return Snapshot.from_stats(stats, source="debugfs", time=1000.0 + seq, kernel="6.12.117")


@pytest.mark.parametrize("frames_before_kill", [1, 7, 30])
def test_kill_9_mid_recording(tmp_path, real_612, frames_before_kill):
    capture = str(real_612 / "show_stacks_2.txt")
    out = tmp_path / "rec.db"
    script = CHILD.format(tests=str(Path(__file__).parent), capture=capture, out=str(out))
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
