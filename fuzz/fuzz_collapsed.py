#!/usr/bin/env python3
"""atheris harness: formats/collapsed.py reading folded stacks (ours or any tool's).

``parse`` skips what is not ``frames count``; per input it must raise nothing at all, and
``totals_by_function`` of what it read must be computable.

Run: .venv/bin/python fuzz/fuzz_collapsed.py -runs=1000000
"""

from __future__ import annotations

import sys

import atheris

import _harness  # noqa: F401

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.formats import collapsed


def TestOneInput(data: bytes) -> None:
    entries = collapsed.parse(data.decode("utf-8", "surrogateescape"))
    collapsed.totals_by_function(entries)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
