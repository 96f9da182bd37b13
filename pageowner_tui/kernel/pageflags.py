"""``/proc/kpageflags``: the kernel's page flags for a PFN range, decoded.

The file holds one little-endian u64 per PFN at offset 8 * pfn (root only; without
CAP_SYS_ADMIN the kernel returns zeros).  Bit numbers are include/uapi/linux/
kernel-page-flags.h (0-26, stable ABI) and include/linux/kernel-page-flags.h (32-41, the
kernel's "hacking assistances": may change, shown as they are).  The PFN pane uses them to
tell free pages (BUDDY) from slab, LRU and anonymous ones, and to find pages that are in
use but that no tracked allocation covers.
"""

from __future__ import annotations

import os
import struct

from pageowner_tui.errors import UserError

__all__ = ["FLAG_BITS", "KPAGEFLAGS", "decode", "read_flags", "BUDDY", "NOPAGE", "COMPOUND_TAIL"]

KPAGEFLAGS = "/proc/kpageflags"

FLAG_BITS: dict[int, str] = {
    0: "locked",
    1: "error",
    2: "referenced",
    3: "uptodate",
    4: "dirty",
    5: "lru",
    6: "active",
    7: "slab",
    8: "writeback",
    9: "reclaim",
    10: "buddy",
    11: "mmap",
    12: "anon",
    13: "swapcache",
    14: "swapbacked",
    15: "compound_head",
    16: "compound_tail",
    17: "huge",
    18: "unevictable",
    19: "hwpoison",
    20: "nopage",
    21: "ksm",
    22: "thp",
    23: "offline",
    24: "zero_page",
    25: "idle",
    26: "pgtable",
    32: "reserved",
    33: "mlocked",
    34: "mappedtodisk",
    35: "private",
    36: "private_2",
    37: "owner_private",
    38: "arch",
    39: "uncached",
    40: "softdirty",
    41: "arch_2",
}

BUDDY = 1 << 10  # free: in the buddy allocator
COMPOUND_TAIL = 1 << 16
NOPAGE = 1 << 20  # no struct page at this PFN (a hole)

# The kernel copies at most this many entries per read; reading in chunks keeps a zone-sized
# range (hundreds of thousands of PFNs) from needing one huge buffer.
_CHUNK = 65536


def decode(value: int) -> tuple[str, ...]:
    """Flag names set in one kpageflags word, in bit order."""
    return tuple(name for bit, name in FLAG_BITS.items() if value >> bit & 1)


def read_flags(pfn_start: int, pfn_end: int, path: str = KPAGEFLAGS) -> list[int]:
    """The flag word of every PFN in [pfn_start, pfn_end).

    Raises UserError with what to do when the file cannot be read (not root, no
    CONFIG_PROC_PAGE_MONITOR).  PFNs past the end of memory come back as NOPAGE.
    """
    if pfn_start < 0 or pfn_end < pfn_start:
        raise ValueError(f"bad PFN range {pfn_start:#x}-{pfn_end:#x}")
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist (kernel without CONFIG_PROC_PAGE_MONITOR): no page flags") from None
    except PermissionError:
        raise UserError(f"{path}: permission denied; run as root to see page flags") from None
    words: list[int] = []
    try:
        pfn = pfn_start
        while pfn < pfn_end:
            count = min(_CHUNK, pfn_end - pfn)
            try:
                data = os.pread(fd, 8 * count, 8 * pfn)
            except OSError as exc:
                raise UserError(f"{path}: cannot read PFN {pfn:#x}: {exc.strerror}") from None
            got = len(data) // 8
            words.extend(struct.unpack(f"<{got}Q", data[: 8 * got]))
            if got < count:  # past the last PFN the kernel knows
                words.extend([NOPAGE] * (pfn_end - pfn - got))
                break
            pfn += count
    finally:
        os.close(fd)
    return words
