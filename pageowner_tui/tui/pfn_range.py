"""What the user types into the PFN pane: a range of page frame numbers, or a zone.

``0x13e00-0x14000`` (end exclusive), ``0x13e00+512`` (start and count), ``81408``
(one pageblock from there), ``DMA32`` or ``Normal`` (a zone's span from /proc/zoneinfo,
optionally ``node1:Normal``).  Hex needs ``0x``; plain digits are decimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pageowner_tui.errors import UserError

__all__ = ["PfnRange", "parse_range", "zone_spans", "PAGEBLOCK_PAGES", "MAX_RANGE_PAGES"]

PAGEBLOCK_PAGES = 512  # x86-64 pageblock_order 9: 2 MiB
MAX_RANGE_PAGES = 1 << 22  # 16 GiB of 4 KiB pages: more is not readable on one screen


@dataclass(frozen=True)
class PfnRange:
    start: int
    end: int  # exclusive
    label: str = ""

    @property
    def pages(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        text = f"{self.start:#x}-{self.end:#x}"
        return f"{self.label} {text}" if self.label else text


class RangeError(UserError):
    """A PFN range that cannot be used; the message says what to type instead."""


_HINT = "type START-END, START+COUNT, START (hex with 0x) or a zone name like DMA32"


def _number(text: str) -> int:
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise RangeError(f"{text!r} is not a PFN; {_HINT}") from None


def zone_spans(zoneinfo_text: str) -> dict[str, tuple[int, int]]:
    """Zone name -> (start_pfn, start_pfn + spanned), from /proc/zoneinfo's text.

    Names are ``Normal`` for node 0 and ``node1:Normal`` for other nodes; zones that span
    nothing are left out."""
    spans: dict[str, tuple[int, int]] = {}
    name: str | None = None
    spanned = 0
    for line in zoneinfo_text.splitlines():
        match = re.match(r"Node (\d+), zone\s+(\S+)", line)
        if match:
            node, zone = match.groups()
            name = zone if node == "0" else f"node{node}:{zone}"
            spanned = 0
            continue
        parts = line.split()
        if name and parts[:1] == ["spanned"]:
            spanned = int(parts[1])
        elif name and parts[:1] == ["start_pfn:"]:
            if spanned:
                start = int(parts[1])
                spans[name] = (start, start + spanned)
            name = None
    return spans


def parse_range(text: str, zones: dict[str, tuple[int, int]] | None = None) -> PfnRange:
    text = text.strip()
    if not text:
        raise RangeError(f"empty range; {_HINT}")
    for name, (start, end) in (zones or {}).items():
        if text.lower() == name.lower():
            return _checked(PfnRange(start, end, name))
    if re.fullmatch(r"[A-Za-z][\w:]*", text) and not text.lower().startswith("0x"):
        known = ", ".join(zones or {}) or "none known for this source"
        raise RangeError(f"no zone named {text!r} (zones: {known}); {_HINT}")
    if "+" in text:
        first, _, count = text.partition("+")
        start = _number(first.strip())
        return _checked(PfnRange(start, start + _number(count.strip())))
    separator = ".." if ".." in text else "-" if "-" in text else None
    if separator:
        first, _, last = text.partition(separator)
        return _checked(PfnRange(_number(first.strip()), _number(last.strip())))
    start = _number(text)
    return _checked(PfnRange(start, start + PAGEBLOCK_PAGES))


def _checked(pfn_range: PfnRange) -> PfnRange:
    if pfn_range.start < 0 or pfn_range.end <= pfn_range.start:
        raise RangeError(f"range {pfn_range} is empty: the end must be after the start")
    if pfn_range.pages > MAX_RANGE_PAGES:
        raise RangeError(
            f"range {pfn_range} is {pfn_range.pages:,} pages; at most {MAX_RANGE_PAGES:,} at a time"
        )
    return pfn_range
