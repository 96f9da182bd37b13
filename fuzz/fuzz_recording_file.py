#!/usr/bin/env python3
"""atheris harness: formats/recording.py opening arbitrary files as recordings.

The seeds are real recordings (fuzz/make_seeds.py writes small ones with RecordingWriter),
so the mutations are damaged recordings: flipped header bytes, cut pages, corrupted
b-tree pages, wrong schema versions.  Per input:
- ``Recording(path)`` raises nothing but FormatError (UserError only for I/O);
- every frame it lists decodes (``frame(i)``) or raises FormatError, forwards and back.

Run: .venv/bin/python fuzz/fuzz_recording_file.py fuzz/corpus/recording -runs=1000000
"""

from __future__ import annotations

import sys

import atheris

from _harness import scratch_file

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.errors import FormatError
    from pageowner_tui.formats.recording import Recording


def TestOneInput(data: bytes) -> None:
    path = scratch_file(data, "input.db")
    try:
        recording = Recording(path)
    except FormatError:
        return
    with recording:
        n = len(recording)
        for index in list(range(n)) + list(range(n - 1, -1, -1)):
            try:
                snapshot = recording.frame(index)
            except FormatError:
                continue
            snapshot.total_pages  # noqa: B018 - must be computable


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
