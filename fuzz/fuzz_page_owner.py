#!/usr/bin/env python3
"""atheris harness: formats/page_owner.py on arbitrary bytes (every kernel dialect).

Checks, per input:
- ``iter_records`` (the bulk reader: chunked regex fast path with the line-by-line walker
  as fallback) raises nothing but FormatError;
- the same bytes read in tiny chunks (the first byte picks 1..256 bytes) give the same
  records or the same error as one big chunk: chunk boundaries must not change results;
- ``aggregate`` of the records works, and writing the records and reading them back gives
  the same records (the writer produces what the reader accepts);
- ``parse_record`` (the reference grammar) on the decoded text raises only FormatError.

Run: .venv/bin/python fuzz/fuzz_page_owner.py fuzz/corpus/page_owner -runs=1000000
"""

from __future__ import annotations

import io
import sys

import atheris

import _harness  # noqa: F401 - puts the repository on sys.path

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.errors import FormatError
    from pageowner_tui.formats import page_owner

DEFAULT_CHUNK = page_owner.CHUNK_BYTES


def _read(data: bytes, chunk: int):
    """(records, warnings) or ("error", message) for ``data`` read ``chunk`` bytes at a time."""
    page_owner.CHUNK_BYTES = chunk
    warnings: list[str] = []
    try:
        return list(page_owner.iter_records(io.BytesIO(data), "fuzz", warnings=warnings)), warnings
    except FormatError as exc:
        return "error", str(exc)
    finally:
        page_owner.CHUNK_BYTES = DEFAULT_CHUNK


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    small = 1 + data[0] % 256
    body = data[1:]
    whole = _read(body, DEFAULT_CHUNK)
    pieces = _read(body, small)
    if whole != pieces:
        raise AssertionError(f"chunk size {small} changed the result: {whole!r} != {pieces!r}")
    if whole[0] != "error":
        records = whole[0]
        page_owner.aggregate(records)
        out = io.StringIO()
        page_owner.write_records(out, records)
        again = _read(out.getvalue().encode("utf-8", "surrogateescape"), DEFAULT_CHUNK)
        if records and again[0] != records:
            raise AssertionError(f"write/read changed the records: {records!r} -> {again!r}")
    text = body.decode("utf-8", "surrogateescape")
    try:
        page_owner.parse_record(text, "fuzz")
    except FormatError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
