"""``--debugfs DIR`` pointing at a copy of the tree: real files, real system calls.

The copy's show_stacks changes between polls (rewritten as a user or a script would), its
page_owner is read as an ordinary file, and nothing in it is ever written.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_debugfs import FakeMachine, load_page_owner_records, load_show_stacks  # noqa: E402

from pageowner_tui.errors import FormatError  # noqa: E402
from pageowner_tui.sources.debugfs import MODE_HANDLES, MODE_SHOW_STACKS, DebugfsSource  # noqa: E402


def _tree(tmp_path: Path, real_612: Path, *, page_owner: bool = True) -> Path:
    root = tmp_path / "debug"
    stacks = root / "page_owner_stacks"
    stacks.mkdir(parents=True)
    shutil.copy(real_612 / "show_stacks_1.txt", stacks / "show_stacks")
    (stacks / "count_threshold").write_text("0\n")
    if page_owner:
        with gzip.open(real_612 / "page_owner_full.txt.gz", "rb") as src, open(root / "page_owner", "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def _by_frames(snap):
    return {s.stack.text: s.pages for s in snap.stacks.values()}


def test_copy_whose_show_stacks_changes_between_polls(tmp_path, real_612):
    root = _tree(tmp_path, real_612)
    source = DebugfsSource(str(root))
    assert source.mode == MODE_SHOW_STACKS
    first = source.snapshot()
    assert first.kernel == ""  # a copy is not the running kernel
    assert _by_frames(first) == dict(load_show_stacks(real_612 / "show_stacks_1.txt"))
    shutil.copy(real_612 / "show_stacks_2.txt", root / "page_owner_stacks" / "show_stacks")
    second = source.snapshot()
    assert _by_frames(second) == dict(load_show_stacks(real_612 / "show_stacks_2.txt"))
    (root / "page_owner_stacks" / "show_stacks").write_text(" a+0x1/0x2\nnr_base_pages: many\n\n")
    with pytest.raises(FormatError, match=r"show_stacks:2: expected a decimal number"):
        source.snapshot()


def test_threshold_on_a_copy_is_never_written(tmp_path, real_612):
    root = _tree(tmp_path, real_612)
    threshold_file = root / "page_owner_stacks" / "count_threshold"
    before = (threshold_file.read_bytes(), threshold_file.stat().st_mtime_ns)
    source = DebugfsSource(str(root))
    assert not source.capabilities().kernel_threshold
    assert source.set_threshold(1000) is False
    snap = source.snapshot()
    assert "not a debugfs mount" in snap.meta["notice"]
    assert min(s.pages for s in snap.stacks.values()) >= 1000
    source.close()
    assert (threshold_file.read_bytes(), threshold_file.stat().st_mtime_ns) == before


def test_copy_page_owner_ranges_match_the_kernel_semantics(tmp_path, real_612):
    """The same range read from a copy (stream) and from the fake kernel (lseek) agree."""
    root = _tree(tmp_path, real_612)
    copy = DebugfsSource(str(root))
    records = load_page_owner_records(real_612 / "page_owner_full.txt.gz")
    kernel = DebugfsSource(files=FakeMachine(records=records, stacks=load_show_stacks(real_612 / "show_stacks_1.txt")))
    start, end = records[20000][0], records[20600][0]
    from_copy = [(r.pfn, r.stack.id, r.ts_ns) for r in copy.pages(start, end)]
    from_kernel = [(r.pfn, r.stack.id, r.ts_ns) for r in kernel.pages(start, end)]
    assert len(from_copy) == 600 and from_copy == from_kernel
    progress = []
    assert sum(1 for _ in copy.records(progress=lambda d, t: progress.append((d, t)))) == 61051
    size = os.path.getsize(root / "page_owner")
    assert progress and progress[-1] == (size, size)


def test_copy_without_page_owner_polls_but_has_no_ranges(tmp_path, real_612):
    root = _tree(tmp_path, real_612, page_owner=False)
    source = DebugfsSource(str(root))
    caps = source.capabilities()
    assert not caps.pfn_ranges and not caps.records
    assert any("no page_owner records" in n for n in caps.notes)
    assert len(source.snapshot()) == 784


def test_copy_of_a_6_19_tree_uses_handles(tmp_path, real_612):
    machine = FakeMachine(stacks=load_show_stacks(real_612 / "show_stacks_1.txt"), handles=True)
    root = tmp_path / "debug"
    (root / "page_owner_stacks").mkdir(parents=True)
    for name, make in (("show_handles", machine._show_handles), ("show_stacks_handles", machine._show_stacks_handles)):
        (root / "page_owner_stacks" / name).write_bytes(make())
    shutil.copy(real_612 / "show_stacks_1.txt", root / "page_owner_stacks" / "show_stacks")
    source = DebugfsSource(str(root))
    assert source.mode == MODE_HANDLES
    assert _by_frames(source.snapshot()) == dict(load_show_stacks(real_612 / "show_stacks_1.txt"))


def test_truncated_copy_is_read_with_a_warning(tmp_path, real_612):
    root = _tree(tmp_path, real_612, page_owner=False)
    text = (real_612 / "show_stacks_1.txt").read_text()
    source = DebugfsSource(str(root))
    source.snapshot()
    (root / "page_owner_stacks" / "show_stacks").write_text(text[: text.rfind("nr_base_pages:")])
    snap = source.snapshot()
    assert len(snap) == 783
    assert len(source.warnings) == 1 and "truncated" in source.warnings[0]
