"""``/sys/kernel/debug/page_owner_stacks/show_stacks`` and its relatives: parse and write.

Variants (see KERNEL-FACTS.md), each a list of blocks ended by an empty line:

- ``stacks`` (6.9+): frames (one leading space each), ``nr_base_pages: N``
- ``stack_count`` (6.9-rc1): frames, ``stack_count: N``
- ``handles`` (6.19+ ``show_handles``): ``handle: H``, ``nr_base_pages: N``
- ``stacks_handles`` (6.19+ ``show_stacks_handles``): frames, ``handle: H``

``parse`` keeps the file's order, so ``write(parse(text)) == text`` for kernel output.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

from pageowner_tui.errors import FormatError
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import Stack, intern_stack_text

__all__ = ["Entry", "ShowStacks", "VARIANTS", "parse", "read", "write", "to_snapshot", "dumps"]

VARIANTS = ("stacks", "stack_count", "handles", "stacks_handles")

_COUNT_LABEL = {"stacks": "nr_base_pages", "stack_count": "stack_count", "handles": "nr_base_pages"}


@dataclass(frozen=True, slots=True)
class Entry:
    stack: Stack | None  # None in the ``handles`` variant
    handle: int | None = None
    pages: int | None = None  # None in the ``stacks_handles`` variant


@dataclass
class ShowStacks:
    variant: str
    entries: list[Entry]
    path: str = "<string>"
    warnings: list[str] = field(default_factory=list)


def _int(value: str, path: str, line: int, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise FormatError(path, line, f"a decimal number after '{what}:'", value) from None
    if number < 0:
        raise FormatError(path, line, f"a count of 0 or more after '{what}:'", value)
    return number


def parse(text: str, path: str = "<string>") -> ShowStacks:
    """Parse one show_stacks-family file.  Raises FormatError on anything unexpected."""
    nul = text.find("\x00")
    if nul >= 0:  # the kernel never prints one: a damaged copy or not a show_stacks file
        line = text.count("\n", 0, nul) + 1
        raise FormatError(
            path, line, "a frame or count line as text (show_stacks never holds a NUL byte)", "a NUL byte"
        )
    fast = _parse_fast(text, path)
    if fast is not None:
        return fast
    return _parse_checked(text, path)


# The live debugfs source parses show_stacks every tick (10k stacks in well under 50 ms is
# the goal, bench/debugfs_poll).  Kernel output is regular, so a first pass handles the
# common case with a few string operations per record; anything unusual (an error, a
# truncated file, handles-only records) returns None and the line-by-line parser below
# runs from the start, so errors and warnings are exactly the same either way.
_MAX_DIGITS = 20  # a u64; longer runs go to the checked parser, which names the line
_FAST_LABELS = {"nr_base_pages: ": "stacks", "stack_count: ": "stack_count", "handle: ": "stacks_handles"}


def _parse_fast(text: str, path: str) -> ShowStacks | None:
    if not text:
        return ShowStacks("stacks", [], path, [])
    if not text.endswith("\n\n") or "\n\n\n" in text:
        return None
    if text.startswith("handle: "):
        return _parse_fast_handles(text, path)
    if text[0] != " ":
        return None
    blocks = text[:-2].split("\n\n")
    first = blocks[0]
    tail = first[first.rfind("\n") + 1 :]
    label = tail[: tail.find(" ") + 1]
    variant = _FAST_LABELS.get(label)
    if variant is None:
        return None
    skip = len(label)
    intern = intern_stack_text
    is_handle = variant == "stacks_handles"
    entries: list[Entry] = []
    append = entries.append
    for block in blocks:
        cut = block.rfind("\n")
        # Frames: every line starts with one space (the first, and each after a newline).
        if cut <= 0 or block[0] != " " or block.count("\n ") != block.count("\n") - 1:
            return None
        if not block.startswith(label, cut + 1):
            return None
        value = block[cut + 1 + skip :]
        if not (value.isdigit() and value.isascii() and len(value) <= _MAX_DIGITS):
            return None
        stack = intern(block[: cut + 1])
        number = int(value)
        append(Entry(stack, number, None) if is_handle else Entry(stack, None, number))
    return ShowStacks(variant, entries, path, [])


def _parse_fast_handles(text: str, path: str) -> ShowStacks | None:
    """6.19 ``show_handles``: ``handle: H`` / ``nr_base_pages: N`` records."""
    entries: list[Entry] = []
    append = entries.append
    for block in text[:-2].split("\n\n"):
        first, sep, second = block.partition("\nnr_base_pages: ")
        if not sep or not first.startswith("handle: "):
            return None
        handle = first[8:]
        if not (handle.isdigit() and handle.isascii() and second.isdigit() and second.isascii()
                and len(handle) <= _MAX_DIGITS and len(second) <= _MAX_DIGITS):
            return None
        append(Entry(None, int(handle), int(second)))
    return ShowStacks("handles", entries, path, [])


def _parse_checked(text: str, path: str) -> ShowStacks:
    """Line by line, checking everything: names the line of any problem."""
    variant: str | None = None
    entries: list[Entry] = []
    warnings: list[str] = []
    line_no = 0
    pos = 0
    end = len(text)
    while pos < end:
        block_end = text.find("\n\n", pos)
        complete = block_end >= 0
        if not complete:
            block_end = end
        block = text[pos:block_end]
        start_line = line_no + 1
        lines = block.split("\n")
        if not complete and lines and lines[-1] == "":
            lines.pop()  # the block's own final newline, without the empty line after it
        line_no += len(lines) + (1 if complete else 0)
        pos = block_end + 2
        if not block.strip("\n"):
            raise FormatError(path, start_line, "a stack frame or 'handle:' line", "an empty line")
        # Frames come first; then one or two "label: N" lines.
        n_frames = 0
        while n_frames < len(lines) and lines[n_frames].startswith(" "):
            n_frames += 1
        tail = lines[n_frames:]
        labels = []
        for offset, line in enumerate(tail):
            label, sep, value = line.partition(": ")
            if not sep or label not in ("nr_base_pages", "stack_count", "handle"):
                raise FormatError(
                    path,
                    start_line + n_frames + offset,
                    "a frame (' sym+0xoff/0xsize') or 'nr_base_pages: N' / 'handle: H'",
                    line if line else "an empty line (records are separated by exactly one)",
                )
            labels.append((label, value, start_line + n_frames + offset))
        kind = _variant_of(n_frames, [label for label, _, _ in labels])
        if kind is None:
            if not complete:
                warnings.append(
                    f"{path}:{start_line}: last record is truncated (no count line); ignored"
                )
                break
            shape = " + ".join(["frames"] * bool(n_frames) + [label for label, _, _ in labels])
            raise FormatError(
                path,
                start_line,
                "frames then 'nr_base_pages: N', or 'handle: H' then 'nr_base_pages: N'",
                shape or "nothing",
            )
        if variant is None:
            variant = kind
        elif kind != variant:
            raise FormatError(path, start_line, f"a record like the first ({variant})", kind)
        stack = intern_stack_text("\n".join(lines[:n_frames]) + "\n") if n_frames else None
        handle = pages = None
        for label, value, at in labels:
            if label == "handle":
                handle = _int(value, path, at, label)
            else:
                pages = _int(value, path, at, label)
        entries.append(Entry(stack, handle, pages))
    return ShowStacks(variant or "stacks", entries, path, warnings)


def _variant_of(n_frames: int, labels: list[str]) -> str | None:
    if n_frames and labels == ["nr_base_pages"]:
        return "stacks"
    if n_frames and labels == ["stack_count"]:
        return "stack_count"
    if n_frames and labels == ["handle"]:
        return "stacks_handles"
    if not n_frames and labels == ["handle", "nr_base_pages"]:
        return "handles"
    return None


def read(path: str) -> ShowStacks:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return parse(f.read(), path)


def write(out: TextIO, variant: str, entries: Iterable[Entry]) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown show_stacks variant {variant!r}")
    label = _COUNT_LABEL.get(variant)
    for entry in entries:
        if variant != "handles":
            if entry.stack is None:
                raise ValueError("this variant needs frames for every entry")
            out.write(entry.stack.text)
        if variant in ("handles", "stacks_handles"):
            out.write(f"handle: {entry.handle}\n")
        if label is not None:
            out.write(f"{label}: {entry.pages}\n")
        out.write("\n")


def dumps(variant: str, entries: Iterable[Entry]) -> str:
    import io

    buf = io.StringIO()
    write(buf, variant, entries)
    return buf.getvalue()


def to_snapshot(
    parsed: ShowStacks,
    *,
    source: str = "file",
    time: float | None = None,
    kernel: str = "",
    handles: Mapping[int, Stack] | None = None,
    meta: Mapping[str, str] | None = None,
) -> Snapshot:
    """Turn a parsed file into a Snapshot.  ``handles`` resolves the ``handles`` variant."""
    if parsed.variant == "stacks_handles":
        raise ValueError("show_stacks_handles has no counts: pair it with show_handles")
    stats = []
    for entry in parsed.entries:
        stack = entry.stack
        if stack is None:
            stack = (handles or {}).get(entry.handle)  # type: ignore[arg-type]
            if stack is None:
                raise KeyError(entry.handle)
        stats.append(StackStat(stack=stack, pages=entry.pages or 0, handle=entry.handle))
    info = {"format": f"show_stacks:{parsed.variant}", "origin": parsed.path}
    info.update(meta or {})
    return Snapshot.from_stats(
        stats, source=source, time=_time.time() if time is None else time, kernel=kernel, meta=info
    )


def from_snapshot(snapshot: Snapshot) -> list[Entry]:
    """Entries for writing a snapshot as ``stacks`` text, in the snapshot's order."""
    return [Entry(stat.stack, stat.handle, stat.pages) for stat in snapshot.stacks.values()]
