#!/usr/bin/env python3
"""atheris harness: formats/json_export.py reading arbitrary files (JSON and JSON Lines).

Checks, per input:
- ``read_all`` raises nothing but FormatError (deep nesting, huge numbers, NaN, wrong
  types, invalid UTF-8 and gzip included: the first byte chooses whether the input is
  gzip-compressed first, so the decompression path is fuzzed too);
- every snapshot read can be written again (``dumps``) and reads back equal: a file we
  accept must never crash a later export.

Run: .venv/bin/python fuzz/fuzz_json_import.py fuzz/corpus/json -runs=1000000
"""

from __future__ import annotations

import gzip
import json
import sys

import atheris

from _harness import scratch_file

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.errors import FormatError
    from pageowner_tui.formats import json_export


def _same(a, b) -> bool:
    return (
        a.time == b.time and a.source == b.source and a.kernel == b.kernel
        and dict(a.counters) == dict(b.counters) and dict(a.meta) == dict(b.meta)
        and {k: (s.pages, s.allocations, s.handle, {n: dict(v) for n, v in s.breakdowns.items()})
             for k, s in a.stacks.items()}
        == {k: (s.pages, s.allocations, s.handle, {n: dict(v) for n, v in s.breakdowns.items()})
            for k, s in b.stacks.items()}
    )


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    body = data[1:]
    if data[0] & 1:
        body = gzip.compress(body, compresslevel=1)
        if data[0] & 2:
            body = body[: len(body) // 2]  # a gzip file cut short
    path = scratch_file(body, "input.json")
    try:
        snapshots = json_export.read_all(path)
    except FormatError:
        return
    for snapshot in snapshots:
        text = json_export.dumps(snapshot)
        again = json_export.parse_object(json.loads(text), "fuzz")
        if not _same(snapshot, again):
            raise AssertionError(f"dumps/parse_object changed the snapshot: {text[:500]}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
