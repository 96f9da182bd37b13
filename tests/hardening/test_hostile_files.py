"""Hostile files from bug reports, given to the real command (`pageowner-top top FILE`) as
root: each gets a one-line error (or is read correctly when it is legitimate kernel
output), never a traceback or a hang, and memory stays bounded.

"Bounded" is measured, not assumed: the command's peak RSS on the hostile file is
compared with its peak RSS on a small real capture measured in the same session
(``cli_baseline_rss``), and every hostile file is made larger than the allowance, so
reading it whole would fail the test.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import zlib
from pathlib import Path

import pytest

from pageowner_tui.formats import recording as rec_format
from pageowner_tui.formats.recording import RecordingWriter
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack

from .conftest import assert_one_line_error, run_cli

ALLOWANCE_KIB = 96 << 10  # what a hostile file may add over the baseline: 96 MiB
BIG = 160 << 20  # hostile files are bigger than the allowance: reading one whole fails the test

HEADER = b"Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 1, tgid 1 (%s), ts 5 ns\n"
PFN = b"PFN 0x1000 type Movable Block 8 type Movable Flags 0x0()\n"


def record(frames: list[bytes], comm: bytes = b"dd") -> bytes:
    return HEADER % comm + PFN + b"".join(b" " + f + b"\n" for f in frames) + b"\n"


GOOD = record([b"good_alloc+0x1/0x2", b"do_syscall_64+0x5/0x10"]) * 3


def _deflate(unit: bytes, size: int, wbits: int = 15) -> bytes:
    """``unit`` repeated to ``size`` bytes, compressed, without holding ``size`` bytes."""
    block = unit * ((1 << 20) // len(unit))
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [compressor.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + compressor.flush()


def bounded(run, baseline: int) -> None:
    assert run.max_rss_kib <= baseline + ALLOWANCE_KIB, (
        f"peak RSS {run.max_rss_kib >> 10} MiB vs {baseline >> 10} MiB for a small file"
    )


# ---------------------------------------------------------------------------------------
# Huge lines


def test_page_owner_with_a_huge_line_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    path = tmp_path / "huge_line.txt"
    with open(path, "wb") as f:
        f.write(GOOD + HEADER[:-1] % b"dd")
        f.write(b"x" * BIG)
    run = run_cli("top", str(path))
    assert_one_line_error(run, mentions=f"{path}:16")
    bounded(run, cli_baseline_rss)


def test_show_stacks_with_a_huge_line_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    path = tmp_path / "huge_line_stacks.txt"
    with open(path, "wb") as f:
        f.write(b" good+0x1/0x2\nnr_base_pages: 5\n\n a")
        f.write(b"b" * BIG)
    run = run_cli("top", str(path))
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


def test_json_bigger_than_any_snapshot_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.write(b'{"schema": "pageowner-top/snapshot", "version": 1, "time": 1, "source": "x", "stacks": [], "pad": "')
        f.write(b"p" * (300 << 20))
        f.write(b'"}')
    run = run_cli("top", str(path))
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


# ---------------------------------------------------------------------------------------
# NUL bytes and invalid UTF-8


@pytest.mark.parametrize("where", ["frame", "comm", "pfn line"])
def test_page_owner_with_a_nul_byte_is_refused_naming_the_line(tmp_path, where):
    bad = {
        "frame": record([b"evil\x00+0x1/0x2"]),
        "comm": record([b"f+0x1/0x2"], comm=b"d\x00d"),
        "pfn line": record([b"f+0x1/0x2"]).replace(b"Movable Flags", b"Mov\x00able Flags"),
    }[where]
    line = 16 + {"frame": 2, "comm": 0, "pfn line": 1}[where]
    path = tmp_path / "nul.txt"
    path.write_bytes(GOOD + bad)
    message = assert_one_line_error(run_cli("top", str(path)), mentions=f"{path}:{line}")
    assert "NUL" in message


def test_show_stacks_with_a_nul_byte_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "nul_stacks.txt"
    path.write_bytes(b" good+0x1/0x2\nnr_base_pages: 5\n\n evil\x00+0x1/0x2\nnr_base_pages: 5\n\n")
    message = assert_one_line_error(run_cli("top", str(path)), mentions=f"{path}:4")
    assert "NUL" in message


def test_sparse_file_claiming_10_gb_is_refused_at_once(tmp_path, cli_baseline_rss):
    """A 10 GiB file that is one hole: NUL bytes from the first byte."""
    path = tmp_path / "ten_gb.txt"
    with open(path, "wb") as f:
        f.truncate(10 << 30)
    run = run_cli("top", str(path), timeout=60)
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


@pytest.mark.parametrize("kind", ["page_owner", "show_stacks"])
def test_valid_start_then_10_gb_hole_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss, kind):
    """Real records, then a 10 GiB hole (a copy that was cut, or a lie about the size)."""
    path = tmp_path / f"hole_{kind}.txt"
    start = GOOD if kind == "page_owner" else b" good+0x1/0x2\nnr_base_pages: 5\n\n"
    with open(path, "wb") as f:
        f.write(start)
        f.truncate(10 << 30)
    run = run_cli("top", str(path), timeout=120)
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


def test_gzip_bomb_of_show_stacks_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    """256 MiB of repeated records in a small gzip file: the decompressed size is the
    attacker's choice, so it must be limited while decompressing."""
    path = tmp_path / "bomb.txt.gz"
    path.write_bytes(_deflate(b" good+0x1/0x2\nnr_base_pages: 5\n\n", 256 << 20, wbits=31))
    assert path.stat().st_size < 8 << 20
    run = run_cli("top", str(path), timeout=180)
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


def test_invalid_utf8_from_a_truncated_comm_is_read_and_exported_byte_for_byte(tmp_path):
    """The kernel prints comm as raw bytes and cuts it at 15: a multi-byte character cut
    in half is real kernel output, so it is read (shown as U+FFFD) and written back as the
    same bytes, not refused."""
    cut = "データベース".encode()[:14]  # 14 bytes: the last character cut in half
    data = GOOD + record([b"f+0x1/0x2"], comm=cut)
    path = tmp_path / "utf8.txt"
    path.write_bytes(data)
    shown = run_cli("top", str(path), "--frames")
    assert shown.status == 0 and "Traceback" not in shown.stderr, shown.stderr
    out = tmp_path / "out.txt"
    exported = run_cli("export", str(path), "-f", "page_owner", "-o", str(out))
    assert exported.status == 0, exported.stderr
    assert out.read_bytes() == data


def test_invalid_utf8_json_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"schema": "pageowner-top/snapshot", "source": "\xff\xfe", "stacks": []}')
    assert_one_line_error(run_cli("top", str(path)), mentions="UTF-8")


# ---------------------------------------------------------------------------------------
# Terminal escapes: a hostile file must not drive the user's terminal


def test_escape_sequences_in_frames_are_not_sent_to_the_terminal(tmp_path):
    title = b"\x1b]0;pwned\x07"
    path = tmp_path / "escapes.txt"
    path.write_bytes(GOOD + record([title + b"\x1b[2Jevil+0x1/0x2"], comm=b"\x1b[41m"))
    before = tmp_path / "before.txt"
    before.write_bytes(GOOD)
    for args in (("top", str(path), "--frames"), ("diff", str(before), str(path), "--frames")):
        run = run_cli(*args)
        assert run.status == 0, run.stderr
        assert "\x1b" not in run.stdout and "\x07" not in run.stdout, run.stdout[-500:]
        assert "evil+0x1/0x2" in run.stdout


# ---------------------------------------------------------------------------------------
# Deeply repeated stacks


def test_one_stack_repeated_in_100k_records_reads_in_bounded_memory(tmp_path, cli_baseline_rss):
    path = tmp_path / "repeated.txt"
    one = record([b"same_alloc+0x1/0x2"] * 16)
    with open(path, "wb") as f:
        for _ in range(100):
            f.write(one * 1000)
    assert path.stat().st_size > ALLOWANCE_KIB * 1024 // 4
    run = run_cli("top", str(path))
    assert run.status == 0, run.stderr
    assert "Pages: 100000 " in run.stdout, run.stdout[:400]
    bounded(run, cli_baseline_rss)


def test_a_stack_of_20000_repeated_frames_is_read(tmp_path):
    path = tmp_path / "deep.txt"
    path.write_bytes(GOOD + record([b"recurse+0x10/0x40"] * 20000))
    run = run_cli("top", str(path))
    assert run.status == 0, run.stderr
    assert "Pages: 4 " in run.stdout


def test_a_stack_of_200000_frames_is_read_in_bounded_memory(tmp_path, cli_baseline_rss):
    """Far beyond the kernel's 16 frames, but well-formed: read (memory is bounded by the
    reader's chunk, whatever the record), not refused."""
    path = tmp_path / "very_deep.txt"
    path.write_bytes(GOOD + record([b"recurse+0x10/0x40"] * 200_000))
    run = run_cli("top", str(path))
    assert run.status == 0, run.stderr
    assert "Pages: 4 " in run.stdout
    bounded(run, cli_baseline_rss)


def test_show_stacks_listing_one_stack_100k_times_is_merged(tmp_path, cli_baseline_rss):
    path = tmp_path / "same_stack.txt"
    path.write_bytes(b" same+0x1/0x2\n do_syscall_64+0x5/0x10\nnr_base_pages: 3\n\n" * 100_000)
    run = run_cli("top", str(path))
    assert run.status == 0, run.stderr
    assert "Stacks: 1 total" in run.stdout and "Pages: 300000 " in run.stdout
    bounded(run, cli_baseline_rss)


# ---------------------------------------------------------------------------------------
# Recordings whose metadata lies


def _recording(path: Path, frames: int = 3) -> None:
    with RecordingWriter(str(path), source="ebpf", interval=1.0, kernel="6.12", keyframe_every=2) as writer:
        for i in range(frames):
            stats = [StackStat(intern_stack([f"f{j}+0x1/0x2"]), 10 * (j + 1) + i) for j in range(3)]
            writer.append(Snapshot.from_stats(stats, source="ebpf", time=100.0 + i))


def _rewrite_frame(path: Path, seq: int, **columns) -> None:
    """Change frame ``seq``'s columns and write the CRC that matches them (a hostile
    writer can compute our checksum, so it proves nothing about meaning)."""
    db = sqlite3.connect(path)
    counts, breakdowns, extra = db.execute(
        "SELECT counts, breakdowns, extra FROM frames WHERE seq = ?", (seq,)).fetchone()
    counts = columns.pop("counts", counts)
    breakdowns = columns.pop("breakdowns", breakdowns)
    extra = columns.pop("extra", extra)
    crc = rec_format._crc(counts, breakdowns, extra) if isinstance(counts, bytes) else 0
    assignments = ", ".join(f"{name} = ?" for name in columns)
    db.execute(
        f"UPDATE frames SET counts = ?, breakdowns = ?, extra = ?, crc = ?{', ' if columns else ''}{assignments} WHERE seq = ?",
        (counts, breakdowns, extra, crc, *columns.values(), seq),
    )
    db.commit()
    db.close()


def test_recording_claiming_other_totals_shows_the_counts_it_holds(tmp_path):
    path = tmp_path / "lies.db"
    _recording(path)
    _rewrite_frame(path, 0, total_pages=10**12, n_stacks=999)
    run = run_cli("top", str(path))
    assert run.status == 0, run.stderr
    assert "Pages: 60 " in run.stdout and "Stacks: 3 total" in run.stdout, run.stdout[:300]


def test_recording_with_a_counts_blob_claiming_a_billion_entries_is_refused(tmp_path, cli_baseline_rss):
    path = tmp_path / "billion.db"
    _recording(path, frames=1)
    raw = bytearray(zlib.decompress(rec_format.encode_counts([1], [5], [1], [])))
    raw[0:4] = (10**9).to_bytes(4, "little")  # the number of entries, first in the blob
    _rewrite_frame(path, 0, counts=zlib.compress(bytes(raw)))
    run = run_cli("top", str(path))
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


def test_recording_with_a_zlib_bomb_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    path = tmp_path / "bomb.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, counts=_deflate(b"\x00", 256 << 20))
    run = run_cli("top", str(path), timeout=180)
    assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


def test_recording_with_a_breakdowns_bomb_is_refused_in_bounded_memory(tmp_path, cli_baseline_rss):
    """Breakdowns JSON may take 4 KiB per stack the file holds: 3 stacks here, so a blob
    that inflates to 256 MiB of (valid-looking) JSON is refused while inflating."""
    path = tmp_path / "breakdowns-bomb.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, breakdowns=_deflate(b" ", 256 << 20))
    run = run_cli("top", str(path), timeout=180)
    assert "breakdowns expands beyond" in assert_one_line_error(run, mentions=str(path))
    bounded(run, cli_baseline_rss)


@pytest.mark.parametrize("row", ["9" * 5000, "007", "-1", "1e3"], ids=["5000 digits", "007", "-1", "1e3"])
def test_recording_with_breakdowns_of_a_row_that_cannot_be_is_refused(tmp_path, row):
    """A 5000-digit row once escaped as int()'s digit-limit ValueError."""
    path = tmp_path / "rows.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, breakdowns=zlib.compress(json.dumps({row: {"order": {"0": 1}}}).encode()))
    message = assert_one_line_error(run_cli("top", str(path)), mentions=str(path))
    assert "breakdowns name" in message


@pytest.mark.parametrize("value", [None, 42, b"\x00binary", 1.5])
def test_recording_with_a_stack_that_is_not_text_is_refused(tmp_path, value):
    path = tmp_path / "stack_type.db"
    _recording(path, frames=1)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE s2 (id INTEGER PRIMARY KEY, text, handle)")  # no NOT NULL, no type
    db.execute("INSERT INTO s2 SELECT * FROM stacks")
    db.execute("DROP TABLE stacks")
    db.execute("ALTER TABLE s2 RENAME TO stacks")
    db.execute("UPDATE stacks SET text = ? WHERE id = 2", (value,))
    db.commit()
    db.close()
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


@pytest.mark.parametrize("when", [1e300, float("inf"), -1e300])
def test_recording_with_an_impossible_frame_time_is_refused(tmp_path, when):
    path = tmp_path / "time.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, time=when)
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


def test_recording_with_negative_page_counts_is_refused(tmp_path):
    path = tmp_path / "negative.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, counts=rec_format.encode_counts([1, 2, 3], [5, -7, 1], [1, 1, 1], []))
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


@pytest.mark.parametrize("counts", [["99999999999999999999"], [str((1 << 62) - 1)] * 3])
def test_recording_a_file_with_counts_beyond_64_bits_is_a_one_line_error(tmp_path, counts):
    """`record FILE` of a show_stacks file whose counts (or their sum) no 64-bit column holds."""
    path = tmp_path / "huge_counts.txt"
    path.write_text("".join(f" f{i}+0x1/0x2\nnr_base_pages: {n}\n\n" for i, n in enumerate(counts)))
    out = tmp_path / "out.db"
    assert_one_line_error(run_cli("record", str(path), "-o", str(out)), status=1, mentions=str(out))


@pytest.mark.parametrize("found", ["recording-invalid-utf8-schema.db", "recording-sqlite-nomem.db"])
def test_damaged_recordings_found_by_the_fuzzer_are_refused(tmp_path, found):
    """Found by fuzz/fuzz_recording_file.py: sqlite3 raised UnicodeDecodeError (a schema
    that is not UTF-8) and MemoryError (SQLITE_NOMEM for a record claiming an absurd size)."""
    path = tmp_path / "found.db"
    path.write_bytes((Path(__file__).parent / "data" / found).read_bytes())
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


def test_recording_a_stack_that_is_not_utf8_keeps_it_visible(tmp_path):
    """A frame with a byte that is not UTF-8 (read as a surrogate) made the writer raise
    UnicodeEncodeError; it is stored as \\xNN text."""
    source = tmp_path / "latin1.txt"
    source.write_bytes(record([b"caf\xe9_alloc+0x1/0x2"]))
    out = tmp_path / "out.db"
    assert run_cli("record", str(source), "-o", str(out)).status == 0
    shown = run_cli("top", str(out))
    assert shown.status == 0 and "caf\\xe9_alloc+0x1/0x2" in shown.stdout, shown.stdout + shown.stderr


def test_recording_claiming_a_newer_schema_says_to_upgrade(tmp_path):
    path = tmp_path / "newer.db"
    _recording(path, frames=1)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    assert_one_line_error(run_cli("top", str(path)), mentions="upgrade")


@pytest.mark.parametrize("extra", ['["not", "an", "object"]', '{"counters": [1, 2]}', '{"meta": 5}', "nul\x00"])
def test_recording_with_malformed_frame_extras_is_refused(tmp_path, extra):
    path = tmp_path / "extra.db"
    _recording(path, frames=1)
    _rewrite_frame(path, 0, extra=extra)
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


def test_json_nested_100k_deep_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


@pytest.mark.parametrize("time", ["1e300", "NaN", "-Infinity", "1" + "0" * 5000])
def test_json_with_an_impossible_time_is_refused(tmp_path, time):
    path = tmp_path / "time.json"
    path.write_text('{"schema": "pageowner-top/snapshot", "version": 1, "time": %s, "source": "x", "stacks": []}' % time)
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_of_one_record_cut_short_is_a_one_line_error(tmp_path, compressed):
    """A truncated copy holding no complete record (found by fuzz/fuzz_load_file.py)."""
    path = tmp_path / ("cut.txt.gz" if compressed else "cut.txt")
    data = GOOD[: GOOD.index(b"\n\n")]
    path.write_bytes(gzip.compress(data) if compressed else data)
    assert_one_line_error(run_cli("top", str(path)), mentions=f"{path}:1")


@pytest.mark.parametrize("keep_records", [False, True])
def test_one_record_cut_short_is_the_same_error_with_or_without_records(tmp_path, keep_records):
    """`export` keeps records, `top` does not: both refuse the file the same way (with
    records kept it used to give an empty snapshot and a warning)."""
    from pageowner_tui.errors import TruncatedError
    from pageowner_tui.formats import page_owner

    path = tmp_path / "cut.txt"
    path.write_bytes(GOOD[: GOOD.index(b"\n\n")])
    warnings: list[str] = []
    with pytest.raises(TruncatedError, match="only a record cut short"):
        page_owner.read_snapshot(str(path), keep_records=keep_records, warnings=warnings)
    assert run_cli("export", str(path), "-f", "page_owner", "-o", str(tmp_path / "out.txt")).status == 2


@pytest.mark.parametrize("fmt", ["page_owner", "show_stacks", "json"])
def test_export_reports_a_last_record_cut_short(tmp_path, fmt):
    """Every export of a cut copy says what it left out (it used to say nothing)."""
    path = tmp_path / "cut.txt"
    path.write_bytes(GOOD + GOOD[: GOOD.index(b"\n\n")])
    run = run_cli("export", str(path), "-f", fmt, "-o", str(tmp_path / "out"))
    assert run.status == 0, run.stderr
    assert "warning:" in run.stderr and "the last record is incomplete" in run.stderr, run.stderr


def test_gzip_cut_short_is_a_one_line_error(tmp_path):
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(gzip.compress(GOOD * 100)[:300])
    assert_one_line_error(run_cli("top", str(path)), mentions=str(path))


def test_every_hostile_file_left_no_temporary_files(tmp_path):
    """Reading never writes: the folder holds only what the test itself made."""
    path = tmp_path / "x.txt"
    path.write_bytes(GOOD + b"\x00")
    run_cli("top", str(path))
    assert sorted(os.listdir(tmp_path)) == ["x.txt"]
