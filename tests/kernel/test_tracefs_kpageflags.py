"""tracefs formats, gfp names and /proc/kpageflags, on the real kernel and on captures."""

from __future__ import annotations

import re

import pytest

from pageowner_tui.kernel import kpageflags, tracefs


@pytest.mark.ebpf
def test_kmem_events_have_the_fields_the_bpf_program_reads():
    assert tracefs.tracefs_root() is not None
    fields = tracefs.event_fields(tracefs.tracefs_root(), "kmem", "mm_page_alloc")
    assert {"pfn", "order", "gfp_flags", "migratetype"} <= set(fields)
    assert fields["pfn"].size == 8
    assert tracefs.event_check("kmem", "mm_page_free", ("pfn", "order")).ok
    check = tracefs.event_check("kmem", "no_such_event", ("pfn",))
    assert not check.ok and check.fix


@pytest.mark.ebpf
def test_gfp_names_match_page_owner_captures():
    """Masks and names as the real 6.12 capture prints them (page_owner_full.txt.gz) decode
    the same way from this kernel's own tracepoint format (these bits did not move)."""
    table = tracefs.gfp_flag_table()
    assert table
    pairs = {0x40C40: "GFP_NOFS|__GFP_COMP", 0x500CC2: "GFP_HIGHUSER|__GFP_ACCOUNT", 0xCC0: "GFP_KERNEL"}
    for mask, names in pairs.items():
        assert tracefs.gfp_names(mask, table) == names


def test_pfn_span_of_the_real_capture(real_612):
    text = (real_612 / "zoneinfo.txt").read_text()
    starts = [int(x) for x in re.findall(r"start_pfn:\s+(\d+)", text)]
    assert kpageflags.pfn_span(text) > max(starts)


@pytest.mark.ebpf
def test_kpageflags_reads_a_range():
    span = kpageflags.pfn_span()
    flags = kpageflags.read_flags(0, 4096)
    assert len(flags) == 4096
    assert any(f >> kpageflags.KPF.BUDDY & 1 for chunk in kpageflags.iter_flags(0, min(span, 1 << 20)) for f in chunk[1])
