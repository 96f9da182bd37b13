#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/ from the real 6.12 captures (shared/fixtures).

Seeds are small slices of real kernel output (a few records each, in every page_owner
dialect), so the fuzzer starts from the real grammar instead of discovering it byte by
byte; recordings are written by the real RecordingWriter.  Re-run it any time: it
replaces the generated seeds and leaves the fuzzers' own finds alone.
"""

from __future__ import annotations

import copy
import gzip
import io
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = Path(os.environ.get("PAGEOWNER_FIXTURES", ROOT.parent / "shared" / "fixtures")) / "real-kernel-6.12-512m"

from pageowner_tui.formats import json_export, page_owner, show_stacks  # noqa: E402
from pageowner_tui.formats.recording import RecordingWriter  # noqa: E402
from pageowner_tui.model.snapshot import PageOwnerDialect, Snapshot, StackStat  # noqa: E402

CORPUS = ROOT / "fuzz" / "corpus"
DIALECTS = {
    "5.10": PageOwnerDialect(pid=False, tgid=False, ts=False, free_ts=False, pfn_hex=False),
    "5.13": PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False),
    "5.18": PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False, pid_comm=True),
    "6.1": PageOwnerDialect(pid=True, tgid=True, ts=True, free_ts=True, pfn_hex=False),
    "6.12": PageOwnerDialect(),
}


def _write(kind: str, name: str, data: bytes) -> None:
    folder = CORPUS / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def main() -> None:
    with gzip.open(FIXTURES / "page_owner_full.txt.gz", "rb") as f:
        records = list(page_owner.iter_records(f, "page_owner_full.txt.gz"))
    picks = [records[i] for i in (0, 1, 2, 500, 2500, 30000, 61000)]
    picks += [r for r in records if r.trailer][:3]
    for version, dialect in DIALECTS.items():
        for n in (1, 3):
            out = io.StringIO()
            for record in picks[:n] if n == 1 else picks:
                derived = copy.copy(record)
                derived.dialect = dialect
                derived.free_ts_ns = record.ts_ns + 17 if dialect.free_ts else 0
                page_owner.write_record(out, derived)
            text = out.getvalue().encode("utf-8", "surrogateescape")
            _write("page_owner", f"{version}-{n}", b"\x08" + text)  # first byte: chunk size
            _write("load_file", f"po-{version}-{n}", b"\x00" + text)
            _write("load_file", f"po-{version}-{n}-gz", b"\x01" + text)
    stacks = show_stacks.read(str(FIXTURES / "show_stacks_1.txt"))
    threshold = (FIXTURES / "show_stacks_threshold_1000.txt").read_bytes()
    variants = {
        "stacks": threshold,
        "stack_count": threshold.replace(b"nr_base_pages:", b"stack_count:"),
        "stacks_handles": show_stacks.dumps(
            "stacks_handles",
            [show_stacks.Entry(e.stack, 1000 + i, None) for i, e in enumerate(stacks.entries[:5])],
        ).encode(),
        "handles": b"handle: 1001\nnr_base_pages: 12\n\nhandle: 1002\nnr_base_pages: 3\n\n",
    }
    for name, data in variants.items():
        _write("show_stacks", name, data)
        _write("load_file", f"ss-{name}", b"\x00" + data)
    _write("show_stacks", "cut", threshold[: len(threshold) // 2])
    snapshot = show_stacks.to_snapshot(
        show_stacks.parse(threshold.decode(), "t"), source="debugfs", time=1764115200.5, kernel="6.12.117"
    )
    doc = json_export.dumps(snapshot).encode()
    lines = b"".join(json_export.dumps(snapshot, indent=None).encode() for _ in range(2))
    for name, data in (("doc", doc), ("lines", lines)):
        _write("json", name, b"\x00" + data)
        _write("json", name + "-gz", b"\x01" + data)
        _write("load_file", f"json-{name}", b"\x00" + data)
    rec_dir = CORPUS / "recording"
    rec_dir.mkdir(parents=True, exist_ok=True)
    for name, n_frames, keyframe_every in (("one", 1, 60), ("deltas", 5, 3)):
        path = rec_dir / f"seed-{name}"
        for suffix in ("", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        base = list(snapshot.stacks.values())[:4]
        with RecordingWriter(str(path), source="debugfs", interval=1.0, kernel="6.12.117",
                             hostname="seed", keyframe_every=keyframe_every) as writer:
            for seq in range(n_frames):
                stats = [StackStat(s.stack, s.pages + seq * i, breakdowns={"order": {"0": s.pages}})
                         for i, s in enumerate(base) if (i + seq) % 3]
                writer.append(Snapshot.from_stats(stats, source="debugfs", time=1000.0 + seq,
                                                  counters={"early_pages": seq}))
    print(f"seeds written under {CORPUS}")


if __name__ == "__main__":
    main()
