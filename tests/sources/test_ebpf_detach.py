"""Nothing of ours stays in the kernel: after close(), and when a process using the
source ends by SIGINT, SIGTERM or SIGHUP (handled the way the CLI does, or not at all)."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pageowner_tui.sources.ebpf import EbpfSource, preflight

pytestmark = [pytest.mark.ebpf]

ROOT = Path(__file__).resolve().parents[2]
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14


def _exists(kind: str, object_id: int) -> bool:
    """Ask the kernel for an fd to the program/map with this id (as bpftool does)."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<I", attr, 0, object_id)
    cmd = BPF_PROG_GET_FD_BY_ID if kind == "prog" else BPF_MAP_GET_FD_BY_ID
    fd = libc.syscall(321, cmd, attr, 128)
    if fd >= 0:
        os.close(fd)
        return True
    assert ctypes.get_errno() == errno.ENOENT, os.strerror(ctypes.get_errno())
    return False


def _gone(ids: dict[str, list[int]], timeout: float = 10.0) -> list[str]:
    """Objects still present after timeout (freeing is deferred through RCU)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [f"{kind} {i}" for kind, numbers in ids.items() for i in numbers if _exists(kind, i)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture(scope="module", autouse=True)
def _needs_ebpf():
    failed = [c.line() for c in preflight() if not c.ok]
    if failed:
        pytest.skip("eBPF not available here: " + "; ".join(failed))


def test_close_detaches_programs_and_frees_maps_and_is_idempotent():
    source = EbpfSource()
    ids = source.bpf_object_ids()
    assert len(ids["prog"]) >= 2 and len(ids["map"]) == 5
    assert all(_exists(kind, i) for kind, numbers in ids.items() for i in numbers)
    source.close()
    source.close()
    assert _gone(ids) == []


_HOLDER = r"""
import json, signal, sys, time
sys.path.insert(0, sys.argv[2])
from pageowner_tui.sources.ebpf import EbpfSource
mode = sys.argv[1]
if mode == "handled":
    def stop(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
source = EbpfSource()
try:
    print(json.dumps(source.bpf_object_ids()), flush=True)
    while True:
        time.sleep(0.2)
        source.snapshot()
finally:
    if mode != "killed":
        source.close()
"""


@pytest.mark.parametrize(
    "signum,mode",
    [(signal.SIGINT, "handled"), (signal.SIGTERM, "handled"), (signal.SIGHUP, "handled"),
     (signal.SIGTERM, "default"), (signal.SIGKILL, "killed")],
    ids=["SIGINT", "SIGTERM-handled", "SIGHUP-handled", "SIGTERM-default", "SIGKILL"],
)
def test_nothing_outlives_a_process_ended_by_a_signal(signum, mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, mode, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        ids = json.loads(line)
        assert ids["prog"] and _exists("prog", ids["prog"][0])
        proc.send_signal(signum)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(ids) == []
