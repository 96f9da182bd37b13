"""How numbers and frames look in the TUI: fixed-width text for narrow columns.

Pure functions so the table, the detail pane and the tests agree on one spelling.
"""

from __future__ import annotations

import time as _time

from pageowner_tui.model.snapshot import PAGE_SIZE
from pageowner_tui.model.stack import frame_module

__all__ = ["compact", "mib", "signed", "rate", "sparkline", "short_frame", "clock", "duration"]

_BARS = "▁▂▃▄▅▆▇█"


def compact(value: float) -> str:
    """At most 6 characters: 999999, 1.23M, 45.6G."""
    magnitude = abs(value)
    if magnitude < 1_000_000:
        return f"{value:.0f}" if isinstance(value, int) or value == int(value) else f"{value:.1f}"
    for limit, suffix in ((1e9, "M"), (1e12, "G"), (1e15, "T")):
        if magnitude < limit:
            return f"{value / (limit / 1000):.3g}{suffix}"
    return f"{value:.2g}"


def mib(pages: int) -> str:
    value = pages * PAGE_SIZE / (1 << 20)
    if value >= 10000:
        return compact(round(value))
    return f"{value:.1f}"


def signed(value: int) -> str:
    """+12 / -3 / 0: growth is what a leak hunter looks for, so the sign is always shown."""
    if value == 0:
        return "0"
    text = compact(value)
    return text if value < 0 else "+" + text


def rate(pages_per_second: float) -> str:
    if pages_per_second == 0:
        return "0"
    if abs(pages_per_second) >= 100:
        return signed(round(pages_per_second))
    sign = "+" if pages_per_second > 0 else ""
    return f"{sign}{pages_per_second:.1f}"


def sparkline(values: list[int | None], width: int) -> str:
    """The last ``width`` values as block characters, scaled between their min and max.

    Flat series draw as a low line so "no change" is visible; None (not recorded) is a gap.
    """
    values = values[-width:]
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    top = len(_BARS) - 1
    return "".join(
        " " if v is None else _BARS[round((v - low) * top / span) if span else 0] for v in values
    )


def short_frame(frame: str, *, with_module: bool = True) -> str:
    """``sym+0xoff/0xsize [mod]`` as ``sym+0xoff`` (plus `` [mod]`` if asked)."""
    text = frame.strip()
    module = frame_module(text)
    if module:
        text = text[: -(len(module) + 3)]
    slash = text.find("/")
    if slash > 0:
        text = text[:slash]
    if with_module and module:
        text += f" [{module}]"
    return text


def clock(seconds: float) -> str:
    return _time.strftime("%H:%M:%S", _time.localtime(seconds))


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def chart_lines(values: list[int | None], width: int, height: int) -> list[str]:
    """A block chart of ``values`` (last ``width`` of them), ``height`` rows, top row first,
    with the max and min written at the left; eighths of a cell give the resolution.
    None (not recorded) leaves its column empty."""
    values = values[-width:]
    known = [v for v in values if v is not None]
    if not known or height < 1:
        return []
    low, high = min(known), max(known)
    span = high - low
    levels = height * 8
    heights = [
        0 if v is None else levels // 2 if span == 0 else 1 + round((v - low) * (levels - 1) / span)
        for v in values
    ]
    label_width = max(len(compact(high)), len(compact(low)))
    rows = []
    for row in range(height):
        floor = (height - row - 1) * 8
        cells = []
        for level in heights:
            fill = level - floor
            cells.append(" " if fill <= 0 else "█" if fill >= 8 else _BARS[fill - 1])
        label = compact(high) if row == 0 else compact(low) if row == height - 1 else ""
        rows.append(f"{label:>{label_width}} ┤" + "".join(cells))
    return rows
