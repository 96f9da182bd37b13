"""Malformed page_owner files: one FormatError line naming file, line and what was expected.

Every case runs through both bulk readers (the fast aggregate and iter_records), which must
report the same line as the reference parser, including deep inside a file read in many
chunks."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest

from pageowner_tui.errors import FormatError, TruncatedError, UserError
from pageowner_tui.formats import page_owner

GOOD = (
    "Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 1, tgid 1 (init), ts 5 ns\n"
    "PFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0x0()\n"
    " get_page_from_freelist+0x1071/0x1270\n"
    " __alloc_pages_noprof+0x193/0x1060\n"
    "\n"
)


def _both_readers(path: Path) -> list[FormatError]:
    """The error each bulk reader raises for this file."""
    errors = []
    with pytest.raises(FormatError) as info:
        page_owner.read_snapshot(str(path))
    errors.append(info.value)
    with open(path, "rb") as f, pytest.raises(FormatError) as info:
        list(page_owner.iter_records(f, str(path)))
    errors.append(info.value)
    return errors


def _check(path: Path, line: int, expected_part: str) -> FormatError:
    errors = _both_readers(path)
    for error in errors:
        message = str(error)
        assert "\n" not in message
        assert message.startswith(f"{path}:{line}: expected ")
        assert expected_part in error.expected
        assert isinstance(error, UserError) and error.exit_status == 2
    assert str(errors[0]) == str(errors[1])
    return errors[0]


def _write(tmp_path: Path, text: str | bytes, name: str = "dump.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
    return path


def test_garbage_first_line(tmp_path):
    error = _check(_write(tmp_path, "hello world\n\n" + GOOD), 1, "record header")
    assert error.found == "hello world"


def test_garbage_without_any_empty_line_is_not_a_truncation(tmp_path):
    path = _write(tmp_path, "hello world\nmore\n")
    for error in _both_readers(path):
        assert not isinstance(error, TruncatedError)
        assert str(error).startswith(f"{path}:1: expected a record header")


def test_bad_pfn_line(tmp_path):
    text = GOOD + GOOD.replace("PFN 0x1000 type", "PFN 0xZZ type")
    error = _check(_write(tmp_path, text), 7, "'PFN <pfn> type")
    assert error.found.startswith("PFN 0xZZ")


def test_missing_pfn_line(tmp_path):
    text = GOOD + GOOD.replace("PFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0x0()\n", "")
    _check(_write(tmp_path, text), 7, "'PFN <pfn> type")


def test_non_numeric_order(tmp_path):
    error = _check(_write(tmp_path, GOOD.replace("order 0,", "order x,") + GOOD), 1, "decimal allocation order")
    assert error.found.startswith("Page allocated via order x")


def test_frame_without_leading_space(tmp_path):
    text = GOOD + GOOD.replace(" get_page_from_freelist", "get_page_from_freelist")
    error = _check(_write(tmp_path, text), 8, "stack frame with one leading space")
    assert error.found == "get_page_from_freelist+0x1071/0x1270"


def test_later_frame_without_leading_space(tmp_path):
    text = GOOD.replace(" __alloc_pages_noprof", "__alloc_pages_noprof") + GOOD
    _check(_write(tmp_path, text), 4, "a stack frame (' sym+0xoff/0xsize')")


def test_unknown_trailer_line(tmp_path):
    text = GOOD.replace("\n\n", "\nSomething new\n\n") + GOOD
    _check(_write(tmp_path, text), 5, "'Slab cache page'")


def test_extra_empty_line_between_records(tmp_path):
    _check(_write(tmp_path, GOOD + "\n" + GOOD), 6, "record header")


def test_header_of_another_kernel_in_the_middle(tmp_path):
    old = GOOD.replace(", ts 5 ns", ", ts 5 ns, free_ts 6 ns")
    error = _check(_write(tmp_path, GOOD + old), 6, "a record like the first one")
    assert "free_ts" in error.found


def test_binary_garbage(tmp_path):
    data = random.Random(2).randbytes(8192)
    for error in _both_readers(_write(tmp_path, data)):
        assert "\n" not in str(error)
        assert str(error).startswith(f"{tmp_path / 'dump.txt'}:1: expected")


def test_binary_garbage_after_good_records(tmp_path):
    data = (GOOD * 3).encode() + random.Random(3).randbytes(4096).replace(b"\n", b"") + b"\n\n"
    _check(_write(tmp_path, data), 16, "record header")


def test_empty_file(tmp_path):
    error = _check(_write(tmp_path, ""), 1, "a page_owner record")
    assert error.found == "an empty file"


def test_truncated_mid_record_is_a_warning_or_truncated_error(tmp_path):
    cut = GOOD * 3 + GOOD[:100]  # the 4th record stops inside its PFN line
    path = _write(tmp_path, cut)
    warnings: list[str] = []
    snap = page_owner.read_snapshot(str(path), warnings=warnings)
    assert sum(s.allocations for s in snap.stacks.values()) == 3
    assert warnings == [
        f"{path}:16: the last record is incomplete (no empty line after it: the file was cut "
        "short?); it was left out, as page_owner_sort does"
    ]
    more: list[str] = []
    with open(path, "rb") as f:
        assert len(list(page_owner.iter_records(f, str(path), warnings=more))) == 3
    assert more == warnings
    for error in _both_readers(path):
        assert isinstance(error, TruncatedError)
        assert str(error).startswith(f"{path}:16: expected an empty line after the last record")


def test_last_record_without_its_empty_line(tmp_path):
    path = _write(tmp_path, GOOD * 2 + GOOD[:-1])
    warnings: list[str] = []
    snap = page_owner.read_snapshot(str(path), warnings=warnings)
    assert sum(s.allocations for s in snap.stacks.values()) == 2  # as page_owner_sort: dropped
    assert len(warnings) == 1 and warnings[0].startswith(f"{path}:11: the last record is incomplete")


def test_truncated_tail_that_is_garbage_is_a_format_error(tmp_path):
    path = _write(tmp_path, GOOD + "PFN 0x1 type\n")
    for error in _both_readers(path):
        assert not isinstance(error, TruncatedError)
        assert str(error).startswith(f"{path}:6: expected")


def test_corrupt_gzip(tmp_path):
    data = gzip.compress((GOOD * 2000).encode())
    path = _write(tmp_path, data[: len(data) // 2], "dump.txt.gz")
    with pytest.raises(FormatError, match="expected a complete gzip stream"):
        page_owner.read_snapshot(str(path))


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (lambda r: r.replace("PFN 0x", "PFN 0y", 1), "'PFN <pfn> type"),
        (lambda r: r.replace(" ns\n", " ms\n", 1), "header fields"),
        (lambda r: r.replace("\n ", "\n  ", 1), "stack frame with one leading space"),
        (lambda r: r.replace("Flags 0x", "Flags ", 1), "'PFN <pfn> type"),
        (lambda r: r.replace("Block ", "Block -", 1), "'PFN <pfn> type"),
    ],
)
def test_error_deep_in_a_many_chunk_file_names_the_right_line(
    real_text, tmp_path, monkeypatch, mutation, expected
):
    """Line numbers survive chunking: break one real record near the end of the 38 MB dump
    and read it in 256 KiB chunks."""
    monkeypatch.setattr(page_owner, "CHUNK_BYTES", 256 * 1024)
    start = real_text.index("\n\nPage allocated via order", len(real_text) - 1_500_000) + 2
    end = real_text.index("\n\n", start) + 2
    line = real_text.count("\n", 0, start) + 1
    broken = mutation(real_text[start:end])
    assert broken != real_text[start:end]
    reference_line = None
    try:
        page_owner.parse_record(broken, "ref", line)
    except FormatError as error:
        reference_line = error.line
    path = _write(tmp_path, real_text[:start] + broken + real_text[end:])
    _check(path, reference_line, expected)


def test_parse_record_reports_lines_relative_to_its_argument():
    with pytest.raises(FormatError) as info:
        page_owner.parse_record(GOOD.replace("PFN", "PNF"), "debugfs", 40)
    assert str(info.value).startswith("debugfs:41: expected a 'PFN <pfn> type")
    with pytest.raises(FormatError, match=r"^<string>:5: expected one record"):
        page_owner.parse_record(GOOD + GOOD)


def test_text_stream_input():
    records = list(page_owner.iter_records(io.StringIO(GOOD * 4), "stream"))
    assert len(records) == 4 and records[0].comm == "init"


def test_counts_only_export_is_refused_with_a_pointer(tmp_path):
    from pageowner_tui.formats import show_stacks

    snapshot = show_stacks.to_snapshot(show_stacks.parse(" a+0x1/0x2\nnr_base_pages: 5\n\n"), time=0)
    buf = io.StringIO()
    page_owner.write_counts_only(buf, snapshot)
    path = _write(tmp_path, buf.getvalue())
    for error in _both_readers(path):
        assert str(error) == (
            f"{path}:2: expected per-allocation records with PFN lines; this is a counts-only "
            "export for page_owner_sort: open the show_stacks file it was made from instead"
        )


def test_frame_that_is_only_a_space(tmp_path):
    _check(_write(tmp_path, GOOD + GOOD.replace(" __alloc_pages_noprof+0x193/0x1060", " ")), 9,
           "stack frame with one leading space")


def test_large_binary_garbage_reports_the_first_line(tmp_path):
    data = random.Random(4).randbytes(3 << 20).replace(b"\n\n", b"\n.")
    for error in _both_readers(_write(tmp_path, data)):
        assert "record header" in error.expected and error.line == 1


def test_good_start_then_megabytes_without_an_empty_line(tmp_path):
    path = _write(tmp_path, GOOD + GOOD[:-1] + "Slab cache page\n" * 200_000)
    for error in _both_readers(path):
        assert error.line == 6 and "an empty line after each record" in error.expected
