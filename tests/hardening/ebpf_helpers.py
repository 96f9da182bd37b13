"""What the eBPF fault tests need to see from outside a process: which BPF programs it
holds, whether those programs still exist in the kernel, and a recording growing.

A BPF program lives while something references it: the loading process's fds and the
perf-event/link attachments.  So "no program of ours remains attached" is checked by id:
the ids are read from the process's own fdinfo while it runs, and afterwards the kernel
is asked for each id (BPF_PROG_GET_FD_BY_ID): ENOENT means the program is gone, and a
program that does not exist cannot be attached anywhere.
"""

from __future__ import annotations

import ctypes
import errno
import os
import time
from pathlib import Path

BPF_PROG_GET_FD_BY_ID = 13
_SYS_BPF = {"x86_64": 321, "aarch64": 280}


def prog_ids_of(pid: int) -> set[int]:
    """Ids of the BPF programs process ``pid`` holds an fd for (``prog_id:`` in fdinfo)."""
    ids: set[int] = set()
    folder = Path(f"/proc/{pid}/fdinfo")
    try:
        entries = list(folder.iterdir())
    except OSError:
        return ids
    for entry in entries:
        try:
            text = entry.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def prog_exists(prog_id: int) -> bool:
    """Whether the kernel still has BPF program ``prog_id``."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(128)
    ctypes.c_uint32.from_buffer(attr, 0).value = prog_id
    fd = libc.syscall(_SYS_BPF[os.uname().machine], BPF_PROG_GET_FD_BY_ID, attr, 128)
    if fd >= 0:
        os.close(fd)
        return True
    err = ctypes.get_errno()
    if err == errno.ENOENT:
        return False
    raise OSError(err, f"BPF_PROG_GET_FD_BY_ID {prog_id}: {os.strerror(err)}")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def recording_frames(path: str) -> int:
    """Frames readable in a recording being written (0 while it cannot be opened yet)."""
    from pageowner_tui.errors import UserError
    from pageowner_tui.formats.recording import Recording

    if not os.path.exists(path):
        return 0
    try:
        with Recording(path) as recording:
            return len(recording)
    except UserError:
        return 0


def wait_gone(pid: int, timeout: float) -> None:
    """Wait until ``pid`` (not our child: e.g. a process in a tmux pane) has exited."""
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), timeout, f"pid {pid} to exit")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
