"""`record --source debugfs` on the real thing: Linux 6.12.117 with page_owner=on (run-guest).

The guest records show_stacks every second while a tmpfs file of N pages is written; the
host then reads the recording and finds those pages arriving on shmem stacks between the
first and the last frame, and the metadata naming the guest's kernel.

Run by hand:  ../shared/kernels/run-guest --rw /tmp/out -- .venv/bin/python tests/cli/test_record_guest.py /tmp/out
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
RUN_GUEST = Path(os.environ.get("PAGEOWNER_RUN_GUEST", ROOT.parent / "shared" / "kernels" / "run-guest"))
N = 8192  # pages written to tmpfs (32 MiB)


def guest_main(out_dir: str) -> int:
    """In the guest: record while allocating, then report as one JSON line."""
    from pageowner_tui.formats.recording import Recording

    out = os.path.join(out_dir, "rec.db")
    child = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "pageowner-top"), "record", "--source", "debugfs",
         "-i", "1", "-n", "6", "-q", "-o", out],
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 240
    frames = 0
    while frames < 1 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.2)
        try:
            with Recording(out) as rec:
                frames = len(rec)
        except Exception:
            frames = 0
    with open("/dev/shm/blob", "wb") as f:  # kept until poweroff: the pages stay owned
        f.write(b"\x01" * (N * 4096))
    _, stderr = child.communicate(timeout=240)
    print(json.dumps({"rc": child.returncode, "stderr": stderr, "frames_before_write": frames}))
    return 0


@pytest.mark.guest
@pytest.mark.slow
def test_record_debugfs_in_the_page_owner_kernel(tmp_path):
    if not RUN_GUEST.exists():
        pytest.skip(f"{RUN_GUEST} not found (shared/kernels is part of this project's checkout)")
    proc = subprocess.run(
        [str(RUN_GUEST), "--rw", str(tmp_path), "--timeout", "600", "--",
         str(ROOT / ".venv" / "bin" / "python"), str(Path(__file__).resolve()), str(tmp_path)],
        capture_output=True, text=True, timeout=700, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0, report["stderr"]
    assert report["frames_before_write"] >= 1

    from pageowner_tui.formats.recording import Recording

    with Recording(str(tmp_path / "rec.db")) as rec:
        assert len(rec) == 6 and rec.warnings == []
        assert rec.meta["kernel"] == "6.12.117" and rec.meta["source"] == "debugfs"
        first, last = rec.frame(0), rec.frame(-1)

    def shmem_pages(snapshot):
        return sum(s.pages for s in snapshot.stacks.values() if any("shmem" in f for f in s.stack.frames))

    grown = shmem_pages(last) - shmem_pages(first)
    assert grown >= N * 0.95, (shmem_pages(first), shmem_pages(last))
    assert last.total_pages - first.total_pages >= N * 0.9


if __name__ == "__main__":
    sys.exit(guest_main(sys.argv[1]))
