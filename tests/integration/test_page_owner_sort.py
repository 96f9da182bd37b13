"""The kernel's own page_owner_sort agrees with us.

1. Our export (parse the real dump, write the records back) gives byte-identical
   page_owner_sort output to the original, for its sort and cull options: 6.12's tool
   (tools/mm) on the 6.12 capture, 6.1's tool (tools/vm) on a 6.1-dialect variant of it.
2. Our per-stack numbers equal page_owner_sort's own ``--cull=stacktrace`` totals.
3. A counts-only export of the real show_stacks capture makes page_owner_sort total exactly
   the show_stacks counts per stack.

page_owner_sort needs a regular file (it sizes its table from the file size) and prints
progress to stdout; its output file is what we compare.  Pairs of runs go in parallel.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from pageowner_tui.formats import page_owner, show_stacks
from pageowner_tui.model.snapshot import Counters
from pageowner_tui.safe_write import open_output
from tests.conftest import page_owner_sort_binary
from tests.formats.conftest import DIALECTS, as_dialect, dumps

pytestmark = [pytest.mark.page_owner_sort, pytest.mark.slow]

OPTIONS_612 = [
    [], ["-m"], ["-p"], ["-n"], ["-s"], ["--cull=stacktrace"], ["--cull=pid,name"],
    ["--sort=-pid,name"],
]
# 6.1 (tools/vm) also has -r (free time), -f (drop freed), "free" as a cull key, free_ts sort.
OPTIONS_61 = [
    [], ["-m"], ["-n"], ["-r"], ["-f"], ["--cull=stacktrace"], ["--cull=pid,name,free"],
    ["--sort=-free_ts,pid"],
]


def _sort_pair(binary: Path, args: list[str], inputs: list[Path], out_dir: Path) -> list[bytes]:
    """Run page_owner_sort with ``args`` on each input at once; their output files' bytes."""
    runs = []
    for n, src in enumerate(inputs):
        dst = out_dir / f"{src.stem}.{n}.{'_'.join(a.strip('-') for a in args) or 'default'}.out"
        proc = subprocess.Popen(
            [str(binary), *args, str(src), str(dst)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        runs.append((proc, dst))
    outputs = []
    for proc, dst in runs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outputs.append(dst.read_bytes())
        dst.unlink()
    return outputs


def _export(records, path: Path) -> Path:
    with open_output(str(path)) as out:
        page_owner.write_records(out, records)
    return path


def _entries(output: bytes) -> list[tuple[int, int, list[str]]]:
    """page_owner_sort output as (times, pages, lines below the count line)."""
    entries = []
    for block in output.decode("utf-8", "surrogateescape").split("\n\n"):
        if not block.strip():
            continue
        head, *lines = block.split("\n")
        times, pages = head.split(" times, ")
        entries.append((int(times), int(pages.split(" pages")[0]), lines))
    return entries


def _totals_by_frames(output: bytes) -> dict[str, tuple[int, int]]:
    """Sum (pages, times) over entries by their frame lines (trailer lines dropped)."""
    pages: Counter[str] = Counter()
    times: Counter[str] = Counter()
    for n, p, lines in _entries(output):
        frames = "".join(line + "\n" for line in lines if line.startswith(" "))
        pages[frames] += p
        times[frames] += n
    return {k: (pages[k], times[k]) for k in pages}


@pytest.fixture(scope="module")
def sort_612() -> Path:
    return page_owner_sort_binary("6.12")


@pytest.fixture(scope="module")
def sort_61() -> Path:
    return page_owner_sort_binary("6.1")


@pytest.fixture(scope="module")
def real_dump(page_owner_full_text) -> Path:
    return page_owner_full_text


@pytest.fixture(scope="module")
def export_612(real_dump, tmp_path_factory) -> Path:
    with open(real_dump, "rb") as f:
        records = list(page_owner.iter_records(f, str(real_dump)))
    return _export(records, tmp_path_factory.mktemp("export") / "export_612.txt")


@pytest.fixture(scope="module")
def variant_61(real_dump, tmp_path_factory) -> Path:
    """The real capture as a 6.1 kernel prints it: decimal PFN, ts and free_ts."""
    with open(real_dump, "rb") as f:
        records = [as_dialect(r, DIALECTS["6.1"]) for r in page_owner.iter_records(f, str(real_dump))]
    path = tmp_path_factory.mktemp("variant") / "page_owner_6.1.txt"
    path.write_text(dumps(records), encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="module")
def export_61(variant_61, tmp_path_factory) -> Path:
    with open(variant_61, "rb") as f:
        records = list(page_owner.iter_records(f, str(variant_61)))
    assert {r.dialect for r in records} == {DIALECTS["6.1"]}
    return _export(records, tmp_path_factory.mktemp("export") / "export_61.txt")


@pytest.mark.parametrize("args", OPTIONS_612, ids=lambda a: " ".join(a) or "default")
def test_612_tool_same_output_on_our_export(sort_612, real_dump, export_612, tmp_path, args):
    original, ours = _sort_pair(sort_612, args, [real_dump, export_612], tmp_path)
    assert ours == original
    assert original.count(b" times, ") > 100


@pytest.mark.parametrize("args", OPTIONS_61, ids=lambda a: " ".join(a) or "default")
def test_61_tool_same_output_on_our_export(sort_61, variant_61, export_61, tmp_path, args):
    original, ours = _sort_pair(sort_61, args, [variant_61, export_61], tmp_path)
    assert ours == original
    assert original.count(b" times, ") > 100


def test_61_tool_reads_the_derived_variant_as_61_data(sort_61, variant_61, tmp_path):
    """The variant is real 6.1 input to the 6.1 tool, not just text it passes through:
    -f (drop blocks freed after allocation) only works when its ts and free_ts regexes
    match, and it drops some of the derived records."""
    (everything,) = _sort_pair(sort_61, ["--cull=stacktrace"], [variant_61], tmp_path)
    (unfreed,) = _sort_pair(sort_61, ["-f", "--cull=stacktrace"], [variant_61], tmp_path)
    total = sum(p for _, p, _ in _entries(everything))
    assert 0 < sum(p for _, p, _ in _entries(unfreed)) < total


@pytest.mark.parametrize("tool, which", [("6.12", "real"), ("6.1", "variant")])
def test_our_stack_totals_equal_page_owner_sorts(tool, which, real_dump, variant_61, tmp_path):
    """Our pages and allocations per stack are page_owner_sort's own --cull=stacktrace
    totals (its stacks include trailer lines, so they are summed by frames first)."""
    path = real_dump if which == "real" else variant_61
    (output,) = _sort_pair(page_owner_sort_binary(tool), ["--cull=stacktrace"], [path], tmp_path)
    theirs = _totals_by_frames(output)
    snap = page_owner.read_snapshot(str(path))
    ours = {s.stack.text: (s.pages, s.allocations) for s in snap.stacks.values()}
    early = [k for k in theirs if k.startswith(" register_early_stack+")]
    assert len(early) == 1
    assert theirs.pop(early[0]) == (snap.counters[Counters.EARLY_PAGES],) * 2
    assert ours == theirs
    assert len(ours) == 810


def test_counts_only_export_totals_equal_show_stacks(sort_612, real_612, tmp_path):
    parsed = show_stacks.read(str(real_612 / "show_stacks_1.txt"))
    snapshot = show_stacks.to_snapshot(parsed, time=0)
    path = tmp_path / "counts_only.txt"
    with open_output(str(path)) as out:
        notice = page_owner.write_counts_only(out, snapshot)
    assert "\n" not in notice and "not allocations" in notice
    wanted = {s.stack.text: s.pages for s in snapshot.stacks.values() if s.pages}
    assert sum(wanted.values()) == 55706  # the file's nr_base_pages lines, summed

    culled, default = (
        _sort_pair(sort_612, args, [path], tmp_path)[0] for args in (["--cull=stacktrace"], [])
    )
    by_stack = _totals_by_frames(culled)
    assert {k: pages for k, (pages, _) in by_stack.items()} == wanted
    # "times" are the blocks of the binary decomposition: one per set bit of the count.
    assert {k: times for k, (_, times) in by_stack.items()} == {
        k: bin(n).count("1") for k, n in wanted.items()
    }
    # The default run keeps each block size apart (the order is in its header), but the
    # pages per stack still add up.
    assert {k: p for k, (p, _) in _totals_by_frames(default).items()} == wanted
    for times, pages, lines in _entries(default):
        assert lines[0].startswith("Page allocated via order ")
        assert ", pid 0, tgid 0 (counts-only), ts  ns" in lines[0]  # ts digits cut by the tool
        assert pages == times << int(lines[0].split(" ")[4].rstrip(","))
