#!/usr/bin/env python3
"""atheris harness: formats/show_stacks.py on arbitrary text (all four variants).

Checks, per input:
- ``parse`` raises nothing but FormatError (and refuses any NUL byte);
- the fast path agrees with the line-by-line parser (same entries, warnings and variant,
  or the same error message): the fast path is only allowed to be faster;
- ``dumps`` of what was parsed parses back to the same entries, and for the counted
  variants ``to_snapshot`` sums the pages of every entry.

Run: .venv/bin/python fuzz/fuzz_show_stacks.py fuzz/corpus/show_stacks -runs=1000000
"""

from __future__ import annotations

import sys

import atheris

import _harness  # noqa: F401

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.errors import FormatError
    from pageowner_tui.formats import show_stacks


def _outcome(parse, text: str):
    try:
        parsed = parse(text, "fuzz")
    except FormatError as exc:
        return ("error", str(exc))
    return (parsed.variant, parsed.entries, parsed.warnings)


def TestOneInput(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    if "\x00" in text:  # refused by parse() before either path runs
        try:
            show_stacks.parse(text, "fuzz")
        except FormatError:
            return
        raise AssertionError("a NUL byte was accepted")
    public = _outcome(show_stacks.parse, text)
    checked = _outcome(show_stacks._parse_checked, text)
    if public != checked:
        raise AssertionError(f"fast path disagrees with the checked parser: {public!r} != {checked!r}")
    if public[0] == "error":
        return
    variant, entries, _ = public
    again = show_stacks.parse(show_stacks.dumps(variant, entries), "fuzz")
    if entries and (again.variant, again.entries) != (variant, entries):
        raise AssertionError(f"dumps/parse changed the entries: {entries!r} -> {again.entries!r}")
    if variant in ("stacks", "stack_count"):
        parsed = show_stacks.parse(text, "fuzz")
        snapshot = show_stacks.to_snapshot(parsed, time=0.0)
        expected = sum(entry.pages or 0 for entry in entries)
        if snapshot.total_pages != expected:
            raise AssertionError(f"to_snapshot lost pages: {snapshot.total_pages} != {expected}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
