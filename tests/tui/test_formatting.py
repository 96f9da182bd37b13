from __future__ import annotations

from pageowner_tui.tui import formatting as fmt


def test_numbers_fit_their_columns():
    assert fmt.compact(999_999) == "999999"
    assert fmt.compact(1_234_567) == "1.23M"
    assert fmt.signed(0) == "0" and fmt.signed(5) == "+5" and fmt.signed(-5) == "-5"
    assert fmt.rate(0.25) == "+0.2" or fmt.rate(0.25) == "+0.3"
    assert fmt.rate(-1500.0) == "-1500"
    assert fmt.mib(256) == "1.0"


def test_sparkline_scales_between_min_and_max():
    assert fmt.sparkline([0, 7], 8) == "▁█"
    assert fmt.sparkline([5, 5, 5], 8) == "▁▁▁"
    assert fmt.sparkline(list(range(20)), 4) == "▁▃▆█"
    assert fmt.sparkline([], 4) == ""
    assert fmt.sparkline([None, 3, None, 9], 4) == " ▁ █"  # not recorded: a gap, not a zero
    assert fmt.sparkline([None, None], 4) == "  "


def test_chart_lines_has_height_rows_and_labels():
    lines = fmt.chart_lines([1, 2, 3, 100], 10, 4)
    assert len(lines) == 4
    assert lines[0].startswith("100 ┤") and lines[-1].startswith("  1 ┤")
    assert lines[0].endswith("█")  # the maximum reaches the top row


def test_short_frame():
    assert fmt.short_frame("ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]") == "ext4_mb_load_buddy_gfp+0x1f3 [ext4]"
    assert fmt.short_frame("ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]", with_module=False) == "ext4_mb_load_buddy_gfp+0x1f3"
    assert fmt.short_frame("start_kernel") == "start_kernel"


def test_printable_makes_control_sequences_visible():
    from pageowner_tui.tui.safe_text import printable

    assert printable("good_alloc+0x1/0x2") == "good_alloc+0x1/0x2"
    assert printable("\x1b]0;pwned\x07x") == "\\x1b]0;pwned\\x07x"
    assert printable("a\x9bb\x7f") == "a\\x9bb\\x7f"  # C1 CSI and DEL too
    assert printable("ext4 [ext4] ünïcode") == "ext4 [ext4] ünïcode"
