"""Collapsed ("folded") stacks for flame graphs: ``root;caller;...;leaf count`` per line,
the input of Brendan Gregg's flamegraph.pl, speedscope, inferno and friends.

Decisions (docs/json-schema.md has the JSON side; this is the whole collapsed format):

- Outermost frame first: the kernel prints the allocator first, so frames are reversed.
  The leaf is the allocator (``get_page_from_freelist``); the syscall entry is near the root.
- Count = base pages owned by the stack (not allocations, not bytes).
- Frames are function names: ``sym+0xoff/0xsize`` becomes ``sym`` so one function is one
  box, as every flame graph tool expects; a module frame keeps its module
  (``ext4_mb_load_buddy_gfp [ext4]``).  ``offsets=True`` keeps the kernel's text instead,
  for telling call sites apart.  Stacks that become equal are merged (counts added).
- Source and time: the format has no comments (flamegraph.pl counts any other line as
  invalid and warns), so they go in one root frame,
  ``pageowner-top <source> <kernel> <UTC time>``, which both tools draw as the base of
  the graph.  ``root=False`` leaves it out.
- Neither tool can read a ``;`` inside a frame or a frame ending in `` <digits>``
  (flamegraph.pl takes it for a second count column); kernel symbols have neither, and the
  root frame is built so it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

from pageowner_tui.model.snapshot import Snapshot
from pageowner_tui.model.stack import Stack, frame_function, frame_module

__all__ = ["root_frame", "stack_frames", "lines", "write", "dumps", "parse", "totals_by_function"]

_UNSAFE = re.compile(r"[;\s]+")


def _safe(text: str) -> str:
    """A frame both readers keep intact: no ';', no newline, single spaces."""
    return _UNSAFE.sub(" ", text.replace(";", ",")).strip() or "?"


def root_frame(snapshot: Snapshot) -> str:
    from pageowner_tui.formats.json_export import iso_time

    parts = ["pageowner-top", snapshot.source or "unknown", snapshot.kernel or "kernel-unknown"]
    parts.append(iso_time(snapshot.time))
    # iso_time ends in "Z": the frame never ends in " <digits>", so flamegraph.pl's
    # second-column rule cannot take it for a count.
    return _safe(" ".join(_safe(p) for p in parts))


def _frame_name(frame: str, offsets: bool) -> str:
    if offsets:
        return _safe(frame)
    module = frame_module(frame)
    name = frame_function(frame)
    return _safe(f"{name} [{module}]" if module else name)


def stack_frames(stack: Stack, *, offsets: bool = False) -> tuple[str, ...]:
    """The stack's frames root first, as collapsed output names them."""
    return tuple(_frame_name(frame, offsets) for frame in reversed(stack.frames))


def lines(snapshot: Snapshot, *, root: bool = True, offsets: bool = False) -> list[str]:
    """One ``frame;frame;... count`` line per distinct folded stack, sorted by text (as
    flamegraph.pl sorts its input); stacks with no pages are left out."""
    merged: dict[tuple[str, ...], int] = {}
    prefix = (root_frame(snapshot),) if root else ()
    for stat in snapshot.stacks.values():
        if stat.pages <= 0 or not stat.stack.frames:
            continue
        key = prefix + stack_frames(stat.stack, offsets=offsets)
        merged[key] = merged.get(key, 0) + stat.pages
    return sorted(f"{';'.join(frames)} {count}" for frames, count in merged.items())


def write(out: TextIO, snapshot: Snapshot, *, root: bool = True, offsets: bool = False) -> None:
    for line in lines(snapshot, root=root, offsets=offsets):
        out.write(line + "\n")


def dumps(snapshot: Snapshot, *, root: bool = True, offsets: bool = False) -> str:
    return "".join(line + "\n" for line in lines(snapshot, root=root, offsets=offsets))


_LINE = re.compile(r"^(.*) (\d{1,20})$")  # longer counts are not numbers int() takes: skipped


def parse(text: str) -> list[tuple[tuple[str, ...], int]]:
    """Read collapsed stacks back (our own output or any tool's): (frames root first,
    count) per line; lines that are not ``stack count`` are skipped, as the tools do."""
    out = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            out.append((tuple(match.group(1).split(";")), int(match.group(2))))
    return out


def totals_by_function(entries: Iterable[tuple[tuple[str, ...], int]]) -> dict[str, int]:
    """Inclusive count per frame name (each frame counted once per line): what a flame
    graph's box widths show, for checking a file against a snapshot."""
    totals: dict[str, int] = {}
    for frames, count in entries:
        for name in set(frames):
            totals[name] = totals.get(name, 0) + count
    return totals
