"""Pick and open a source from what the user asked for and what the machine offers.

``auto`` prefers the kernel's own page_owner (debugfs) when it is enabled, since it is the
ground truth and costs nothing to keep running; otherwise the eBPF tracker.  When neither
can run, the TUI falls back to the bundled real recording with a banner saying why;
batch commands fail with one line per reason instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pageowner_tui.errors import SourceUnavailable, UserError
from pageowner_tui.sources.base import Source

__all__ = ["Opened", "open_source", "page_owner_stacks_available"]


@dataclass
class Opened:
    source: Source
    banner: str | None = None  # why the TUI is not showing live data, and how to get it


def page_owner_stacks_available(debugfs_root: str) -> bool:
    """page_owner is on and has page_owner_stacks (6.9+): cheap to poll every tick.

    Older kernels only have the full per-page file, whose read walks every PFN: ``auto``
    never picks that slow path by itself; ``--source debugfs`` asks for it explicitly.
    """
    from pageowner_tui.sources.debugfs import stacks_available

    return stacks_available(debugfs_root)


def _open_path(path: str) -> Source:
    from pageowner_tui.formats import input as inputs

    if os.path.isdir(path):
        from pageowner_tui.sources.replay import ReplaySource

        return ReplaySource(path)
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file or directory")
    if inputs.sniff(path) in ("recording", "json"):
        # Recordings and JSON (Lines) captures may hold many frames: replay them.
        from pageowner_tui.sources.replay import ReplaySource

        return ReplaySource(path)
    from pageowner_tui.sources.file import FileSource

    return FileSource(path)


def _open_debugfs(root: str) -> Source:
    from pageowner_tui.sources.debugfs import DebugfsSource

    return DebugfsSource(root)


def _open_ebpf() -> Source:
    from pageowner_tui.sources.ebpf import EbpfSource

    return EbpfSource()


def open_source(
    kind: str = "auto",
    path: str | None = None,
    *,
    debugfs_root: str = "/sys/kernel/debug",
    for_tui: bool = False,
) -> Opened:
    if path is not None:
        if kind not in ("auto", "file"):
            raise UserError(f"PATH {path!r} and --source {kind} both given: choose one")
        return Opened(_open_path(path))
    if kind == "file":
        raise UserError("--source file needs a PATH")
    if kind == "debugfs":
        return Opened(_open_debugfs(debugfs_root))
    if kind == "ebpf":
        return Opened(_open_ebpf())

    reasons: list[str] = []
    attempts = [_open_ebpf]
    if page_owner_stacks_available(debugfs_root):
        attempts.insert(0, lambda: _open_debugfs(debugfs_root))
    elif os.path.exists(os.path.join(debugfs_root, "page_owner")):
        reasons.append(
            "page_owner: no page_owner_stacks (kernel before 6.9); --source debugfs reads the "
            "full page_owner file instead (slow)"
        )
    else:
        reasons.append(f"page_owner: {debugfs_root}/page_owner not found (boot with page_owner=on)")
    for attempt in attempts:
        try:
            return Opened(attempt())
        except SourceUnavailable as exc:
            reasons.append(str(exc))
    if not for_tui:
        raise SourceUnavailable("no live source: " + "; ".join(reasons))
    from pageowner_tui.sources.replay import ReplaySource, bundled_recording_path

    banner = (
        "Not live: showing a bundled recording from a real 6.12 kernel. "
        + " ".join(reasons)
        + " Run as root on a kernel with BPF (or booted with page_owner=on) for live data;"
        " 'pageowner-top doctor' checks this machine."
    )
    return Opened(ReplaySource(str(bundled_recording_path())), banner=banner)
