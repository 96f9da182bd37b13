"""The eBPF source against the kernel's own page_owner, on the real 6.12 guest kernel.

In the guest (run-guest, page_owner=on, BPF): read show_stacks, start the eBPF source,
read show_stacks again, run a workload (a tmpfs file and anonymous memory held by a
child), read show_stacks again with everything held, and compare per normalised stack:
page_owner's growth since the tracker started against the tracker's growth.  One boot.

Run by hand:  ../shared/kernels/run-guest --rw OUT -- .venv/bin/python -m \
    tests.integration.test_guest_ebpf_vs_page_owner OUT
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N = 16384  # 64 MiB each: the tmpfs file and the anonymous memory
SHOW_STACKS = "/sys/kernel/debug/page_owner_stacks/show_stacks"


def _read_show_stacks():
    from pageowner_tui.formats import show_stacks
    from pageowner_tui.model.normalize import group_by_key

    parsed = show_stacks.read(SHOW_STACKS)
    return group_by_key((e.stack, e.pages or 0) for e in parsed.entries if e.stack is not None)


def guest_main(out_dir: str) -> int:
    """Runs inside the guest; writes result.json into out_dir."""
    sys.path.insert(0, str(ROOT))
    from pageowner_tui.model.normalize import group_by_key
    from pageowner_tui.sources.ebpf import EbpfSource
    from tests.integration.workloads import hold_anonymous, tmpfs_file

    # khugepaged would move memory between stacks during the run (see kernels/README.md)
    with open("/sys/kernel/mm/transparent_hugepage/enabled", "w") as f:
        f.write("never")
    t0 = time.monotonic()
    with EbpfSource() as source:
        load_seconds = time.monotonic() - t0
        before_po = _read_show_stacks()
        before_bpf = group_by_key((s.stack, s.pages) for s in source.snapshot().stacks.values())
        with tmpfs_file(N, "/tmp"):
            with hold_anonymous(N, "touch"):
                after_po = _read_show_stacks()
                snap = source.snapshot()
                after_bpf = group_by_key((s.stack, s.pages) for s in snap.stacks.values())
        keys = set(before_po) | set(after_po) | set(before_bpf) | set(after_bpf)
        rows = [
            {
                "key": list(key),
                "page_owner": after_po.get(key, 0) - before_po.get(key, 0),
                "ebpf": after_bpf.get(key, 0) - before_bpf.get(key, 0),
            }
            for key in keys
        ]
        result = {
            "kernel": os.uname().release,
            "load_seconds": load_seconds,
            "counters": dict(snap.counters),
            "meta": dict(snap.meta),
            "rows": rows,
        }
    Path(out_dir, "result.json").write_text(json.dumps(result))
    return 0


@pytest.mark.guest
@pytest.mark.slow
def test_ebpf_counts_agree_with_page_owner_in_the_guest(tmp_path):
    from tests.conftest import RUN_GUEST

    if not RUN_GUEST.exists():
        pytest.skip(f"{RUN_GUEST} not found")
    proc = subprocess.run(
        [str(RUN_GUEST), "--timeout", "600", "--rw", str(tmp_path), "--",
         sys.executable, "-m", "tests.integration.test_guest_ebpf_vs_page_owner", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=700,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["kernel"].startswith("6.12")
    rows = sorted(result["rows"], key=lambda r: -r["page_owner"])
    top = [r for r in rows[:5] if r["page_owner"] >= 200]
    report = f"attach={result['meta'].get('attach')} counters={result['counters']}\n" + "\n".join(
        f"{r['page_owner']:>7} {r['ebpf']:>7}  {' < '.join(r['key'][:4])}" for r in rows[:8]
    )
    print(report)
    assert len(top) >= 2, report
    for row in top:
        assert abs(row["ebpf"] - row["page_owner"]) <= 0.02 * row["page_owner"], report
    # the workload's own stacks are among them, at about N pages each
    shmem = [r for r in top if any("shmem_alloc_folio" in k for k in r["key"])]
    anon = [r for r in top if any("do_anonymous_page" in k or "__handle_mm_fault" in k for k in r["key"])]
    assert shmem and sum(r["page_owner"] for r in shmem) >= N * 0.99, report
    assert anon and sum(r["page_owner"] for r in anon) >= N * 0.99, report


if __name__ == "__main__":
    sys.exit(guest_main(sys.argv[1]))
