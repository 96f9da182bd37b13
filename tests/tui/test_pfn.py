"""The PFN pane's pure parts: range parsing, zones from the real zoneinfo capture, kpageflags
decoding and reading, the pageblock report and the table's untracked runs."""

from __future__ import annotations

import os
import struct

import pytest

from pageowner_tui.errors import UserError
from pageowner_tui.formats import page_owner
from pageowner_tui.kernel import pageflags
from pageowner_tui.tui.pfn_map import build_report
from pageowner_tui.tui.pfn_range import PAGEBLOCK_PAGES, PfnRange, parse_range, zone_spans
from pageowner_tui.tui.widgets.pfn_pane import map_text, table_rows


@pytest.fixture(scope="module")
def zones(real_612):
    return zone_spans((real_612 / "zoneinfo.txt").read_text())


def test_zone_spans_from_real_zoneinfo(zones):
    # Node 0, zone DMA: start_pfn 1, spanned 4095; DMA32 starts at 4096 (the capture).
    assert zones["DMA"] == (1, 4096)
    assert zones["DMA32"][0] == 4096 and zones["DMA32"][1] == 4096 + 126941


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0x1000-0x2000", (0x1000, 0x2000)),
        ("4096..8192", (4096, 8192)),
        ("0x1000+512", (0x1000, 0x1200)),
        ("0x1000", (0x1000, 0x1000 + PAGEBLOCK_PAGES)),
        ("dma", (1, 4096)),
    ],
)
def test_parse_range(text, expected, zones):
    got = parse_range(text, zones)
    assert (got.start, got.end) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty range"),
        ("0x2000-0x1000", "is empty"),
        ("zz-0x10", "not a PFN"),
        ("Highmem", "no zone named 'Highmem'"),
        ("0-0x10000000", "at most"),
    ],
)
def test_bad_ranges_say_what_to_type(text, message, zones):
    with pytest.raises(UserError, match=message) as info:
        parse_range(text, zones)
    assert "\n" not in str(info.value)


def test_decode_known_bits():
    assert pageflags.decode((1 << 10) | (1 << 7)) == ("slab", "buddy")
    assert pageflags.decode(1 << 26) == ("pgtable",)


def test_read_flags_from_a_file_like_kpageflags(tmp_path):
    path = tmp_path / "kpageflags"
    words = [1 << 10, 0, (1 << 5) | (1 << 12), 1 << 7]
    path.write_bytes(struct.pack("<4Q", *words))
    assert pageflags.read_flags(1, 3, str(path)) == words[1:3]
    # past the end: NOPAGE, as the kernel has no struct page there
    assert pageflags.read_flags(3, 6, str(path)) == [words[3], pageflags.NOPAGE, pageflags.NOPAGE]
    with pytest.raises(UserError, match="does not exist"):
        pageflags.read_flags(0, 1, str(tmp_path / "missing"))


@pytest.mark.skipif(os.geteuid() != 0, reason="/proc/kpageflags needs root")
def test_read_real_kpageflags():
    words = pageflags.read_flags(0x1000, 0x1000 + 4096)
    assert len(words) == 4096
    assert any(words), "a running kernel has flagged pages in its first 16 MiB"


@pytest.fixture(scope="module")
def real_records(page_owner_full_text):
    with open(page_owner_full_text, "rb") as raw:
        return [r for r in page_owner.iter_records(raw, str(page_owner_full_text)) if 0x2000 <= r.pfn < 0x3000]


def test_report_on_real_records(real_records):
    report = build_report(PfnRange(0x2000, 0x3000), real_records)
    assert len(report.blocks) == 0x1000 // PAGEBLOCK_PAGES
    assert report.owned == sum(
        min(r.pfn + r.pages, 0x3000) - r.pfn for r in real_records
    )
    for block in report.blocks:
        mine = [r for r in real_records if block.start <= r.pfn < block.start + PAGEBLOCK_PAGES]
        if mine:
            pages_by_owner = {}
            for r in mine:
                pages_by_owner[r.stack.id] = pages_by_owner.get(r.stack.id, 0) + r.pages
            assert pages_by_owner[block.owner] == max(pages_by_owner.values())
            assert block.migratetype in {r.block_type for r in mine}
        else:
            assert block.owner is None
    text = map_text(report, "owner", 80, lambda i: i).plain
    assert "one pageblock of 512 pages" in text
    assert "register_early_stack" in text or any(
        r.stack.caller.split("+")[0] in text for r in real_records
    )
    migratetypes = map_text(report, "migratetype", 80, lambda i: i).plain
    assert "Unmovable" in migratetypes or "Movable" in migratetypes


def test_untracked_runs_are_marked(real_records):
    first = real_records[0]
    start = first.pfn - 8  # 8 pages before the first allocation
    flags = [1 << 5] * (first.pfn + first.pages - start)  # all "lru": in use
    flags[0] = 1 << 10  # a free head
    report = build_report(PfnRange(start, first.pfn + first.pages), [first], flags)
    assert report.free == 1
    assert report.untracked == 7
    rows = list(table_rows(report, 10))
    assert rows[0].untracked and rows[0].pfn == f"{start + 1:#x}" and rows[0].pages == "7"
    assert rows[1].pfn == f"{first.pfn:#x}" and rows[1].flags == "lru"
    assert not rows[1].untracked
    assert report.blocks[0].untracked == 7 or sum(b.untracked for b in report.blocks) == 7
