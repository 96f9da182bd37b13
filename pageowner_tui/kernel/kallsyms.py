"""Kernel addresses to frames exactly as the kernel's ``%pS`` prints them.

page_owner prints each frame with ``%pS``: ``sym+0xoff/0xsize`` plus `` [module]`` for
module code.  eBPF stack maps give raw addresses, so to make an eBPF stack look (and
compare, and export) exactly like a page_owner stack we resolve addresses the way the
kernel does:

- the symbol is the one with the highest address at or below the address;
- when several names share that address (``__do_sys_vfork``, ``__ia32_sys_vfork``,
  ``__x64_sys_vfork``), the kernel's ``get_symbol_pos()`` walks back to the *first* of
  them in its table, and ``find_kallsyms_symbol()`` keeps the first one it meets in a
  module's table; ``/proc/kallsyms`` lists both tables in that order, so the first name
  listed at an address is the one ``%pS`` prints (BCC's ``ksym()`` may pick another);
- the size is the distance to the next *higher* symbol address.

An address with no symbol prints as ``0x...`` like ``%pS`` does.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from pageowner_tui.errors import UserError

__all__ = ["Kallsyms", "KallsymsUnavailable", "format_frame"]

KALLSYMS = "/proc/kallsyms"
_MAX_SYMBOL_SIZE = 1 << 20  # a "symbol" spanning more is the gap after a text region


class KallsymsUnavailable(UserError):
    """/proc/kallsyms cannot be read or shows no addresses (kptr_restrict, not root)."""


def format_frame(name: str, offset: int, size: int, module: str = "") -> str:
    """One frame as ``%pS`` prints it (without page_owner's leading space)."""
    text = f"{name}+{offset:#x}/{size:#x}"
    return f"{text} [{module}]" if module else text


@dataclass(frozen=True, slots=True)
class _Symbol:
    address: int
    name: str
    module: str


class Kallsyms:
    """A sorted, alias-canonical view of /proc/kallsyms (read once; call reload() after
    modules come or go)."""

    def __init__(self, lines: Iterable[str] | None = None, path: str = KALLSYMS) -> None:
        self._path = path
        self._addresses: list[int] = []
        self._symbols: list[_Symbol] = []
        self._cache: dict[int, str] = {}
        self._load(lines)

    def reload(self) -> None:
        self._cache.clear()
        self._load(None)

    def _load(self, lines: Iterable[str] | None) -> None:
        if lines is None:
            try:
                with open(self._path, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError as exc:
                raise KallsymsUnavailable(
                    f"{self._path}: cannot read kernel symbols ({exc.strerror}): run as root"
                ) from None
        first: dict[int, _Symbol] = {}
        for line in lines:
            parts = line.split(None, 3)
            if len(parts) < 3:
                continue
            try:
                address = int(parts[0], 16)
            except ValueError:
                continue
            if address == 0:
                continue
            if parts[1] in ("a", "A", "U"):
                continue  # absolute and undefined symbols never name code
            name = parts[2]
            module = parts[3].strip()[1:-1] if len(parts) > 3 else ""
            if name.startswith("$") or name.startswith(".L"):
                continue  # mapping / local labels, which %pS skips as well
            # the first name listed at an address is the one %pS prints
            first.setdefault(address, _Symbol(address, name, module))
        if not first:
            raise KallsymsUnavailable(
                f"{self._path} shows no addresses (kernel.kptr_restrict?): run as root"
            )
        self._addresses = sorted(first)
        self._symbols = [first[a] for a in self._addresses]

    def __len__(self) -> int:
        return len(self._symbols)

    def lookup(self, address: int) -> tuple[str, int, int, str] | None:
        """(name, offset, size, module) of address, or None outside every symbol."""
        index = bisect.bisect_right(self._addresses, address) - 1
        if index < 0:
            return None
        symbol = self._symbols[index]
        if index + 1 < len(self._symbols):
            size = self._symbols[index + 1].address - symbol.address
        else:
            size = 0
        offset = address - symbol.address
        if (size and offset >= size) or size > _MAX_SYMBOL_SIZE:
            return None  # past the end of the last symbol of a region (kernel text, a module)
        return symbol.name, offset, size, symbol.module

    def frame(self, address: int) -> str:
        """``sym+0xoff/0xsize [module]`` for a return address, cached."""
        text = self._cache.get(address)
        if text is None:
            found = self.lookup(address)
            text = format_frame(*found) if found else f"{address:#x}"
            self._cache[address] = text
        return text

    def frames(self, addresses: Iterable[int]) -> tuple[str, ...]:
        return tuple(self.frame(a) for a in addresses)

    def address_of(self, name: str) -> int | None:
        """The address of a symbol by its canonical name (first listed), or None."""
        for symbol in self._symbols:
            if symbol.name == name:
                return symbol.address
        return None
