"""The batch view: `pageowner-top top` frames and `diff` tables as plain text.

One frame is a header line with the time and source, a totals line, the gap counters the
source reports, then one row per stack.  Frames are separated by an empty line, like
`top -b`, so `grep`/`awk` can pick them apart.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Sequence

from pageowner_tui.model.delta import StackDelta
from pageowner_tui.model.query import Row
from pageowner_tui.model.snapshot import PAGE_SIZE, Snapshot
from pageowner_tui.model.stack import printable  # text from files reaches a terminal here

__all__ = ["format_frame", "format_diff", "mib", "timestamp"]


def mib(pages: int) -> float:
    return pages * PAGE_SIZE / (1 << 20)


def timestamp(seconds: float) -> str:
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(seconds))


def _caller(frame: str, width: int) -> str:
    return frame if len(frame) <= width else frame[: width - 1] + "~"


def format_frame(
    snapshot: Snapshot,
    rows: Sequence[Row],
    *,
    frames: bool = False,
    width: int = 100,
    shown_of: int | None = None,
) -> str:
    """One `top -b` style frame.  ``frames`` prints every stack's frames under its row."""
    mode = snapshot.meta.get("mode") or snapshot.meta.get("format") or ""
    source = f"{snapshot.source} ({mode})" if mode else snapshot.source
    kernel = f" kernel {snapshot.kernel}" if snapshot.kernel else ""
    lines = [
        f"pageowner-top - {timestamp(snapshot.time)}  source {source}{kernel}",
        f"Stacks: {len(snapshot.stacks)} total, {len(rows)} shown"
        + (f" of {shown_of} matching" if shown_of is not None and shown_of != len(rows) else "")
        + f"   Pages: {snapshot.total_pages} ({mib(snapshot.total_pages):.1f} MiB)",
    ]
    counters = {k: v for k, v in snapshot.counters.items() if v}
    if counters:
        lines.append("Not in the table: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    caller_width = max(20, width - 56)
    lines.append(
        f"{'PAGES':>9} {'MiB':>8} {'DELTA':>8} {'RATE/s':>8} {'%':>5}  {'ID':16}  CALLER"
    )
    for row in rows:
        stack = row.stat.stack
        module = stack.modules
        caller = stack.caller + (f" [{module[0]}]" if module and module[0] not in stack.caller else "")
        lines.append(
            f"{row.pages:>9} {mib(row.pages):>8.1f} {row.delta:>+8} {row.rate:>8.1f} "
            f"{row.percent:>5.1f}  {stack.id:16}  {_caller(caller, caller_width)}"
        )
        if row.since_baseline is not None:
            lines[-1] += f"  (since baseline {row.since_baseline:+})"
        if frames:
            lines.extend(f"{'':>10}{frame}" for frame in stack.frames)
    return printable("\n".join(lines)) + "\n"


def format_diff(before: Snapshot, after: Snapshot, deltas: Iterable[StackDelta], *, frames: bool = False) -> str:
    lines = [
        f"before: {timestamp(before.time)} {before.source} {before.meta.get('origin', '')}".rstrip(),
        f"after:  {timestamp(after.time)} {after.source} {after.meta.get('origin', '')}".rstrip(),
        f"total: {before.total_pages} -> {after.total_pages} pages "
        f"({after.total_pages - before.total_pages:+}, {mib(after.total_pages - before.total_pages):+.1f} MiB)",
        f"{'CHANGE':>9} {'BEFORE':>9} {'AFTER':>9}  {'STATUS':7}  {'ID':16}  CALLER",
    ]
    for d in deltas:
        lines.append(
            f"{d.change:>+9} {d.before:>9} {d.after:>9}  {d.status:7}  {d.stack.id:16}  {d.stack.caller}"
        )
        if frames:
            lines.extend(f"{'':>10}{frame}" for frame in d.stack.frames)
    return printable("\n".join(lines)) + "\n"
