"""/proc/kpageflags (what the kernel says each PFN is) and the machine's PFN span.

Used to size the eBPF per-page table (the PFN span from /proc/zoneinfo) and to check the
tracker against the kernel: a page we think is owned but the kernel has on its free
lists (KPF_BUDDY) is a stale owner.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

__all__ = ["KPF", "pfn_span", "read_flags", "iter_flags"]

KPAGEFLAGS = "/proc/kpageflags"
ZONEINFO = "/proc/zoneinfo"


class KPF:
    """Bit numbers from include/uapi/linux/kernel-page-flags.h."""

    LOCKED = 0
    ERROR = 1
    REFERENCED = 2
    UPTODATE = 3
    DIRTY = 4
    LRU = 5
    ACTIVE = 6
    SLAB = 7
    WRITEBACK = 8
    RECLAIM = 9
    BUDDY = 10  # head page of a free block in the buddy allocator
    MMAP = 11
    ANON = 12
    SWAPCACHE = 13
    SWAPBACKED = 14
    COMPOUND_HEAD = 15
    COMPOUND_TAIL = 16
    HUGE = 17
    UNEVICTABLE = 18
    HWPOISON = 19
    NOPAGE = 20
    KSM = 21
    THP = 22
    OFFLINE = 23
    ZERO_PAGE = 24
    IDLE = 25
    PGTABLE = 26


_ZONE_RE = re.compile(r"^\s*(spanned|start_pfn:?)\s+(\d+)", re.M)


def pfn_span(zoneinfo_text: str | None = None) -> int:
    """One past the highest PFN of any zone (start_pfn + spanned), from /proc/zoneinfo."""
    if zoneinfo_text is None:
        with open(ZONEINFO, encoding="utf-8") as f:
            zoneinfo_text = f.read()
    end = 0
    for zone in re.split(r"^Node\s+\d+,\s+zone\s+", zoneinfo_text, flags=re.M)[1:]:
        spanned = start = None
        for key, value in _ZONE_RE.findall(zone):
            if key == "spanned":
                spanned = int(value)
            else:
                start = int(value)
        if spanned and start is not None:
            end = max(end, start + spanned)
    if end == 0:
        raise ValueError("no zone with start_pfn and spanned in /proc/zoneinfo")
    return end


def read_flags(pfn_start: int, pfn_end: int, path: str = KPAGEFLAGS) -> list[int]:
    """Flags of every PFN in [pfn_start, pfn_end); shorter if the file ends first."""
    with open(path, "rb", buffering=0) as f:
        f.seek(8 * pfn_start)
        data = bytearray()
        want = 8 * (pfn_end - pfn_start)
        while len(data) < want:
            chunk = f.read(min(want - len(data), 1 << 22))
            if not chunk:
                break
            data += chunk
    usable = len(data) - len(data) % 8
    return list(struct.unpack_from(f"<{usable // 8}Q", data)) if usable else []


def iter_flags(pfn_start: int, pfn_end: int, chunk: int = 1 << 18, path: str = KPAGEFLAGS) -> Iterator[tuple[int, list[int]]]:
    """(first pfn, flags) chunks over a range, so a whole machine is read in bounded memory."""
    pfn = pfn_start
    while pfn < pfn_end:
        stop = min(pfn + chunk, pfn_end)
        flags = read_flags(pfn, stop, path)
        if not flags:
            return
        yield pfn, flags
        pfn += len(flags)
