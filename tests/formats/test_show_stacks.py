"""show_stacks: byte-identical round trips on the real captures, every variant, clear errors."""

import pytest

from pageowner_tui.errors import FormatError
from pageowner_tui.formats import show_stacks


@pytest.mark.parametrize("name", ["show_stacks_1.txt", "show_stacks_2.txt", "show_stacks_threshold_1000.txt"])
def test_round_trip_real_captures(real_612, name):
    text = (real_612 / name).read_text()
    parsed = show_stacks.parse(text, name)
    assert parsed.variant == "stacks"
    assert show_stacks.dumps(parsed.variant, parsed.entries) == text
    assert parsed.warnings == []


def test_real_capture_counts(real_612):
    parsed = show_stacks.parse((real_612 / "show_stacks_1.txt").read_text())
    assert len(parsed.entries) == 784  # fixtures/README.md
    snap = show_stacks.to_snapshot(parsed, time=0.0)
    assert snap.total_pages == sum(e.pages for e in parsed.entries)
    first = sorted(s.stack.frames[0].split("+")[0] for s in snap.stacks.values())
    # 783 stacks from the allocator, and page_owner's own dummy stack (recursion/failure).
    assert first.count("get_page_from_freelist") == 783 and first.count("register_dummy_stack") == 1
    threshold = show_stacks.parse((real_612 / "show_stacks_threshold_1000.txt").read_text())
    assert len(threshold.entries) == 7 and min(e.pages for e in threshold.entries) >= 1000


def _as_variant(text, variant):
    """Derive the other kernels' variants from a real capture (never edit the fixture)."""
    parsed = show_stacks.parse(text)
    entries = [show_stacks.Entry(e.stack, 1000 + i, e.pages) for i, e in enumerate(parsed.entries)]
    return entries, show_stacks.dumps(variant, entries)


@pytest.mark.parametrize("variant", ["stack_count", "handles", "stacks_handles"])
def test_round_trip_variants(real_612, variant):
    entries, text = _as_variant((real_612 / "show_stacks_1.txt").read_text(), variant)
    parsed = show_stacks.parse(text)
    assert parsed.variant == variant
    assert show_stacks.dumps(variant, parsed.entries) == text
    if variant == "handles":
        assert [e.handle for e in parsed.entries] == [e.handle for e in entries]
        assert all(e.stack is None for e in parsed.entries)
        resolved = show_stacks.to_snapshot(parsed, handles={e.handle: e.stack for e in entries})
        assert resolved.total_pages == sum(e.pages for e in entries)
    if variant == "stack_count":
        assert text.count("stack_count: ") == len(entries)


@pytest.mark.parametrize(
    "text, line, expected",
    [
        ("garbage\n\n", 1, "a frame"),
        (" a+0x1/0x2\nnr_base_pages: x\n\n", 2, "decimal number"),
        (" a+0x1/0x2\nnr_base_pages: -4\n\n", 2, "0 or more"),
        (" a+0x1/0x2\nnr_base_pages: 1\n\n\n a+0x1/0x2\nnr_base_pages: 1\n\n", 4, "an empty line"),
        (" a+0x1/0x2\nnr_base_pages: 1\n\n b+0x1/0x2\nhandle: 7\n\n", 4, "a record like the first"),
        (" a+0x1/0x2\n\n", 1, "frames then 'nr_base_pages: N'"),
        ("\x00\x01\x02binary\n\n", 1, "a frame"),
    ],
)
def test_errors_name_line_and_expectation(text, line, expected):
    with pytest.raises(FormatError) as err:
        show_stacks.parse(text, "cap.txt")
    assert err.value.line == line
    assert str(err.value).startswith(f"cap.txt:{line}: expected")
    assert expected in str(err.value)


def test_truncated_last_record_is_reported_not_dropped_silently(real_612):
    text = (real_612 / "show_stacks_1.txt").read_text()
    cut = text[: text.rfind("nr_base_pages:")]  # the last record loses its count line
    parsed = show_stacks.parse(cut, "cut.txt")
    assert len(parsed.entries) == 783
    assert len(parsed.warnings) == 1 and "cut.txt:" in parsed.warnings[0] and "truncated" in parsed.warnings[0]


def test_missing_final_empty_line_keeps_a_complete_record():
    parsed = show_stacks.parse(" a+0x1/0x2\nnr_base_pages: 3\n")
    assert [e.pages for e in parsed.entries] == [3] and parsed.warnings == []


def test_empty_file_is_an_empty_snapshot():
    parsed = show_stacks.parse("")
    assert parsed.entries == [] and show_stacks.to_snapshot(parsed).total_pages == 0
