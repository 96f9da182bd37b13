"""Pure parts of the eBPF source: vmemmap calibration, stack plumbing, preflight lines."""

from __future__ import annotations

from pageowner_tui.kernel.checks import Check
from pageowner_tui.sources.ebpf import _vmemmap_layout, _without_plumbing, preflight


BASE = 0xFFFFEA0000000000


def test_vmemmap_layout_from_pointers_and_pagemap_pfns():
    pfns = {0x1000, 0x1234, 0x55AA0, 0x100001, 0x2000, 0x2001, 0x3000, 0x77777}
    # the probe also saw page-table pages the pagemap does not list
    pointers = [BASE + pfn * 64 for pfn in pfns] + [BASE + 0x999 * 64, BASE + 0x4242 * 64]
    assert _vmemmap_layout(pointers, pfns) == (BASE, 6)


def test_vmemmap_layout_refuses_what_does_not_fit():
    pfns = set(range(100, 140))
    assert _vmemmap_layout([BASE + pfn * 64 + (pfn % 7) * 4096 for pfn in pfns], pfns) is None
    assert _vmemmap_layout([BASE + pfn * 64 for pfn in range(100, 104)], pfns) is None  # too few
    assert _vmemmap_layout([], set(range(5))) is None


def test_raw_tracepoint_plumbing_is_cut_whatever_its_depth():
    one_probe = ("0xffffffffc0001234", "bpf_trace_run4+0xfc/0x1c0",
                 "__alloc_frozen_pages_noprof+0x26b/0x340", "alloc_pages_mpol+0x86/0x180")
    two_probes = ("0xffffffffc0001234", "bpf_trace_run4+0xfc/0x1c0",
                  "__traceiter_mm_page_alloc+0x3a/0x60", *one_probe[2:])
    assert _without_plumbing(one_probe) == one_probe[2:]
    assert _without_plumbing(two_probes) == one_probe[2:]
    perf = ("__alloc_pages_noprof+0x267/0x1060", "alloc_pages_mpol_noprof+0x8a/0x1e0")
    assert _without_plumbing(perf) == perf


def test_preflight_is_one_line_per_check_with_a_fix_when_failing():
    checks = preflight()
    names = [c.name for c in checks]
    assert names[:4] == ["root", "bcc", "kernel headers", "tracefs"]
    assert "kmem:mm_page_alloc" in names and "kmem:mm_page_free" in names
    assert names[-1] == "mode"
    for check in checks:
        assert isinstance(check, Check) and "\n" not in check.line()
        if not check.ok:
            assert check.fix


def test_not_root_is_one_clear_line(tmp_path):
    """As an unprivileged user the source says to run as root, and only that."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    if os.geteuid() != 0:
        import pytest

        pytest.skip("needs root to switch to an unprivileged user")
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from pageowner_tui.sources.ebpf import EbpfSource\n"
        "from pageowner_tui.errors import SourceUnavailable\n"
        "try:\n    EbpfSource()\nexcept SourceUnavailable as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code, str(root)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.stdout == "eBPF source: root: running as uid 65534 -> run with sudo\n", proc.stderr
