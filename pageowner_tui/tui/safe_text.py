"""Text from files and the kernel, made safe to put on a terminal.

A frame, a task name or a JSON field can carry terminal control sequences (OSC 0 retitles
the window, CSI 2J clears it, OSC 52 writes the clipboard on some terminals).  Rich passes
them through, so every string that did not come from this program goes through
``printable`` before a widget shows it: control characters become visible ``\\xNN``.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
