#!/usr/bin/env python3
"""atheris harness: a recording that is valid SQLite with our schema but whose contents lie.

A hostile or buggy writer controls every row, and can compute our CRC, so the checksum
proves nothing about meaning.  The fuzzer chooses the metadata, the stack rows and every
frame column (sequence numbers, times incl. NaN/inf, keyframe references, claimed
stacks_known / total_pages / n_stacks, the counts blob — either encode_counts of fuzzed
numbers or raw zlib data claiming any sizes — the breakdowns and the extra JSON) and writes
the matching CRC.  Per input:
- ``Recording(path)`` and ``frame(i)`` for every frame raise nothing but FormatError;
- every decoded snapshot can be exported as JSON (what a user does next).

Run: .venv/bin/python fuzz/fuzz_recording_frames.py -runs=1000000
"""

from __future__ import annotations

import sqlite3
import sys
import zlib

import atheris

from _harness import scratch_file

with atheris.instrument_imports(include=["pageowner_tui"]):
    from pageowner_tui.errors import FormatError
    from pageowner_tui.formats import json_export, recording

_COLUMNS = "(seq, time, key, stacks_known, total_pages, n_stacks, counts, breakdowns, extra, crc)"
# SQLite stores NaN as NULL; None stands for it (and for any missing value).
_FLOATS = [0.0, 1.0, -1.0, 1e300, float("inf"), float("-inf"), None, 1.7e9, "noon", b"\x00"]
# The attacker writes the schema too: without types or NOT NULL any column holds anything.
_LOOSE_SCHEMA = """
CREATE TABLE meta (key, value);
CREATE TABLE stacks (id INTEGER PRIMARY KEY, text, handle);
CREATE TABLE frames (seq INTEGER PRIMARY KEY, time, key, stacks_known, total_pages, n_stacks,
                     counts, breakdowns, extra, crc);
"""


def _int(fdp: atheris.FuzzedDataProvider) -> int:
    choice = fdp.ConsumeIntInRange(0, 3)
    if choice == 0:
        return fdp.ConsumeIntInRange(0, 8)
    if choice == 1:
        return fdp.ConsumeIntInRange(-(1 << 63), (1 << 63) - 1)
    if choice == 2:
        return fdp.ConsumeIntInRange(-1, 1 << 32)
    return fdp.ConsumeIntInRange(0, 100)


def _counts(fdp: atheris.FuzzedDataProvider) -> bytes:
    kind = fdp.ConsumeIntInRange(0, 2)
    if kind == 0:
        n = fdp.ConsumeIntInRange(0, 6)
        ids = sorted({fdp.ConsumeIntInRange(0, 12) for _ in range(n)})
        pages = [_int(fdp) for _ in ids]
        allocs = [_int(fdp) for _ in ids]
        removed = sorted({fdp.ConsumeIntInRange(0, 12) for _ in range(fdp.ConsumeIntInRange(0, 3))})
        return recording.encode_counts(ids, pages, allocs, removed)
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
    return zlib.compress(raw) if kind == 1 else raw


def _json_blob(fdp: atheris.FuzzedDataProvider) -> bytes | None:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return None
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    if kind == 1:
        row = fdp.ConsumeIntInRange(0, 12)
        text = '{"%d":{"order":{"0":%d}}}' % (row, _int(fdp)) if fdp.ConsumeBool() else text
    return zlib.compress(text.encode("utf-8", "surrogatepass")) if kind != 3 else text.encode()


def _extra(fdp: atheris.FuzzedDataProvider) -> str | None:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return None
    if kind == 1:
        return '{"source":"ebpf","kernel":"6.12","counters":{"x":%d},"meta":{"a":"b"}}' % _int(fdp)
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))


def build(fdp: atheris.FuzzedDataProvider) -> str:
    path = scratch_file(b"", "frames.db")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(f"PRAGMA application_id={recording.APPLICATION_ID}")
        version = 1 if fdp.ConsumeProbability() < 0.9 else fdp.ConsumeIntInRange(0, 2)
        db.execute(f"PRAGMA user_version={version}")
        db.execute("BEGIN")
        loose = fdp.ConsumeProbability() < 0.3
        schema = _LOOSE_SCHEMA if loose else recording._SCHEMA
        for statement in filter(str.strip, schema.split(";")):
            db.execute(statement)
        claimed = fdp.ConsumeProbability()
        meta = {"schema_version": "1" if claimed < 0.8 else str(fdp.ConsumeIntInRange(-1, 2))
                if claimed < 0.95 else fdp.ConsumeUnicodeNoSurrogates(4), "source": "ebpf", "kernel": "6.12"}
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        n_stacks = fdp.ConsumeIntInRange(0, 8)
        for i in range(n_stacks):
            row_id = i + 1 if fdp.ConsumeProbability() < 0.9 else fdp.ConsumeIntInRange(-2, 20)
            text = " f+0x1/0x2\n" if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(16)
            if loose and fdp.ConsumeProbability() < 0.2:
                text = fdp.PickValueInList([None, 7, 1.5, text.encode()])
            handle = None if fdp.ConsumeBool() else _int(fdp)
            db.execute("INSERT OR REPLACE INTO stacks VALUES (?, ?, ?)", (row_id, text, handle))
        for seq in range(fdp.ConsumeIntInRange(0, 6)):
            counts = _counts(fdp)
            if loose and fdp.ConsumeProbability() < 0.1:
                counts = fdp.PickValueInList([None, "text", 5])
            breakdowns = _json_blob(fdp)
            extra = _extra(fdp)
            crc = recording._crc(counts, breakdowns, extra) if isinstance(counts, bytes) else 0
            if fdp.ConsumeProbability() < 0.05:
                crc ^= 1
            key = seq if fdp.ConsumeProbability() < 0.5 else fdp.ConsumeIntInRange(-1, 6)
            when = fdp.PickValueInList(_FLOATS) if fdp.ConsumeProbability() < 0.2 else 1000.0 + seq
            if not loose and not isinstance(when, float):
                when = float("inf")
            known = min(fdp.ConsumeIntInRange(0, 12), n_stacks) if fdp.ConsumeProbability() < 0.9 \
                else fdp.ConsumeIntInRange(0, 12)
            row_seq = seq if fdp.ConsumeProbability() < 0.9 else fdp.ConsumeIntInRange(-1, 8)
            db.execute(
                f"INSERT OR REPLACE INTO frames {_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row_seq, when, key, known, _int(fdp), _int(fdp),
                 counts, breakdowns, extra, crc),
            )
        db.execute("COMMIT")
    finally:
        db.close()
    return path


def TestOneInput(data: bytes) -> None:
    path = build(atheris.FuzzedDataProvider(data))
    try:
        rec = recording.Recording(path)
    except FormatError:
        return
    with rec:
        for index in range(len(rec)):
            try:
                snapshot = rec.frame(index)
            except FormatError:
                continue
            json_export.dumps(snapshot)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
