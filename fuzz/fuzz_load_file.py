#!/usr/bin/env python3
"""atheris harness: the file entry point a bug-report file goes through (``pageowner-top
top FILE``): formats/input.sniff picks a reader, sources/file.load_snapshot runs it.

Covers gzip detection and corrupt gzip streams, format sniffing and every text reader
behind it.  The first input byte chooses plain, gzip, or gzip cut short.  Per input:
``load_snapshot`` raises nothing but UserError (FormatError is one).

Run: .venv/bin/python fuzz/fuzz_load_file.py fuzz/corpus/load_file -runs=1000000
"""

from __future__ import annotations

import gzip
import sys

import atheris

from _harness import scratch_file

with atheris.instrument_imports(include=["pageowner_tui"]):
    # The readers load_snapshot imports lazily, imported here so they are instrumented.
    from pageowner_tui.errors import UserError
    from pageowner_tui.formats import input, json_export, page_owner, show_stacks  # noqa: F401
    from pageowner_tui.sources.file import load_snapshot


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    if data[0] % 3 == 1:
        body = gzip.compress(body, compresslevel=1)
    elif data[0] % 3 == 2:
        body = gzip.compress(body, compresslevel=1)[: max(2, len(body) // 2)]
    path = scratch_file(body, "input.txt")
    try:
        load_snapshot(path, warnings=[])
    except UserError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
