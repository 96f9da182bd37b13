"""Collapsed stacks: what flamegraph.pl and speedscope read, checked with their own grammars.

speedscope: src/import/bg-flamegraph.ts (``/^(.*) (\\d+)$/`` per line, frames split on
``;``) is reached only after src/import/index.ts has tried ``importFromLinuxPerf`` on the
same text, so the output must also *not* look like ``perf script`` output; both are ported
below line for line.  flamegraph.pl (Debian ships no package of it) is exercised through
perl itself, running its input loop's regular expressions, including the one that takes a
trailing `` <number>`` of the stack for a second (differential) sample column.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pageowner_tui.formats import collapsed, show_stacks
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack


@pytest.fixture(scope="module")
def snapshot(real_612):
    return show_stacks.to_snapshot(
        show_stacks.read(str(real_612 / "show_stacks_2.txt")), source="debugfs", time=1795640432.69, kernel="6.12.117"
    )


# --- speedscope, ported from src/import/linux-tools-perf.ts and bg-flamegraph.ts --------


def speedscope_perf_events(text: str) -> list[dict]:
    """importFromLinuxPerf's events that count (those with a time): must be none."""
    blocks, pending = [], ""
    for line in text.split("\n"):
        if line == "":
            if pending:
                blocks.append(pending)
            pending = line
        else:
            pending = pending + "\n" + line if pending else line
    if pending:
        blocks.append(pending)
    events = []
    for block in blocks:
        lines = [l for l in block.split("\n") if not re.match(r"^\s*#", l)]
        if not lines:
            continue
        first = lines[0]
        if not re.match(r"^(\S.+?)\s+(\d+)(?:\/?(\d+))?\s+", first):
            continue
        time_match = re.search(r"\s+(\d+\.\d+):\s+", first)
        if time_match:
            events.append({"first": first, "time": float(time_match.group(1))})
    return events


def speedscope_bg_samples(text: str) -> list[tuple[list[str], int]]:
    samples = []
    for line in text.split("\n"):
        match = re.match(r"^(.*) (\d+)$", line)
        if not match:
            continue
        samples.append((match.group(1).split(";"), int(match.group(2))))
    return samples


def test_speedscope_detects_and_reads_it_as_collapsed(snapshot):
    text = collapsed.dumps(snapshot)
    assert speedscope_perf_events(text) == []  # not mistaken for `perf script` output
    samples = speedscope_bg_samples(text)
    assert len(samples) == len(text.splitlines())  # every line is a sample
    assert sum(n for _, n in samples) == snapshot.total_pages
    roots = {stack[0] for stack, _ in samples}
    assert roots == {"pageowner-top debugfs 6.12.117 2026-11-25T21:00:32.690000Z"}
    assert all(len(stack) >= 2 and all(stack) for stack, _ in samples)


def test_speedscope_port_can_fail():
    """The ported grammar rejects what speedscope rejects (so the test above can fail)."""
    assert speedscope_bg_samples("a;b\na;b 1.5\n") == []
    perf = "swapper     0 [000] 12345.678901: cycles:\n\tffffffff8100 func+0x1 ([kernel.kallsyms])\n"
    assert len(speedscope_perf_events(perf)) == 1


# --- flamegraph.pl, its input loop run by perl -------------------------------------------

FLAMEGRAPH_LOOP = r"""
my ($ignored, $total, $differential, %frames) = (0, 0, 0);
foreach (<STDIN>) {
    chomp;
    my ($stack, $samples) = (/^(.*)\s+?(\d+(?:\.\d*)?)$/);
    unless (defined $samples and defined $stack) { ++$ignored; next; }
    if ($stack =~ /^(.*)\s+?(\d+(?:\.\d*)?)$/) { ++$differential; }
    $stack =~ tr/<>/()/;
    $total += $samples;
    $frames{$_} = 1 for split ";", $stack;
}
print "ignored=$ignored total=$total differential=$differential frames=", scalar(keys %frames), "\n";
"""


def flamegraph_pl(text: str) -> dict[str, int]:
    perl = shutil.which("perl")
    if perl is None:
        pytest.skip("perl is not installed (Debian's perl-base is essential: this cannot happen there)")
    out = subprocess.run([perl, "-e", FLAMEGRAPH_LOOP], input=text, capture_output=True, text=True, check=True)
    return {k: int(v) for k, v in (item.split("=") for item in out.stdout.split())}


def test_flamegraph_pl_reads_every_line(snapshot):
    text = collapsed.dumps(snapshot)
    result = flamegraph_pl(text)
    assert result["ignored"] == 0 and result["differential"] == 0
    assert result["total"] == snapshot.total_pages
    names = {name for line in collapsed.parse(text) for name in line[0]}
    assert result["frames"] == len(names)


def test_flamegraph_pl_loop_can_fail():
    result = flamegraph_pl("a;b\na;b 1 2\nc 3\n")
    assert result == {"ignored": 1, "total": 5, "differential": 1, "frames": 3}


# --- the content ----------------------------------------------------------------------


def fold_independently(snapshot: Snapshot) -> dict[tuple[str, ...], int]:
    """What the file should say, computed without the module: reverse the kernel's frames,
    cut '+0xoff/0xsize' off, keep ' [module]'."""
    expected: dict[tuple[str, ...], int] = {}
    for stat in snapshot.stacks.values():
        names = tuple(re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+", "", f) for f in reversed(stat.stack.frames))
        expected[names] = expected.get(names, 0) + stat.pages
    return expected


def test_content_round_trips(snapshot):
    parsed = collapsed.parse(collapsed.dumps(snapshot, root=False))
    assert dict(parsed) == fold_independently(snapshot)
    assert len(parsed) == len(set(stack for stack, _ in parsed))  # merged, one line each


def test_root_first_leaf_is_the_allocator(snapshot):
    parsed = collapsed.parse(collapsed.dumps(snapshot, root=False))
    leaves = {frames[-1] for frames, _ in parsed}
    roots = {frames[0] for frames, _ in parsed}
    name = lambda frame: re.sub(r"\+0x[0-9a-f]+/0x[0-9a-f]+", "", frame)  # noqa: E731
    assert leaves == {name(s.stack.frames[0]) for s in snapshot.stacks.values()}
    assert "get_page_from_freelist" in leaves
    assert roots == {name(s.stack.frames[-1]) for s in snapshot.stacks.values()}
    assert "entry_SYSCALL_64_after_hwframe" in roots


def test_module_frames_keep_their_module(snapshot):
    text = collapsed.dumps(snapshot)
    assert "ext4_mb_load_buddy_gfp [ext4];" in text
    assert "+0x" not in text


def test_offsets_option_keeps_kernel_text(snapshot):
    parsed = collapsed.parse(collapsed.dumps(snapshot, root=False, offsets=True))
    expected = {tuple(reversed(s.stack.frames)): s.pages for s in snapshot.stacks.values()}
    assert dict(parsed) == expected


def test_zero_page_stacks_and_unsafe_text_are_handled():
    a = intern_stack(["get_page_from_freelist+0x1/0x2", "evil;frame+0x3/0x4"])
    b = intern_stack(["get_page_from_freelist+0x1/0x2", "other+0x3/0x4"])
    snap = Snapshot.from_stats(
        [StackStat(a, 5), StackStat(b, 0)], source="ebpf;x", time=0.0, kernel=""
    )
    lines = collapsed.lines(snap)
    assert lines == ["pageowner-top ebpf,x kernel-unknown 1970-01-01T00:00:00Z;evil,frame;get_page_from_freelist 5"]
    assert flamegraph_pl("\n".join(lines) + "\n")["ignored"] == 0


def test_totals_by_function_match_the_snapshot(snapshot):
    totals = collapsed.totals_by_function(collapsed.parse(collapsed.dumps(snapshot)))
    root = collapsed.root_frame(snapshot)
    assert totals[root] == snapshot.total_pages
    expected = sum(
        s.pages for s in snapshot.stacks.values() if any(f.startswith("ext4_mb_load_buddy_gfp+") for f in s.stack.frames)
    )
    assert expected > 0 and totals["ext4_mb_load_buddy_gfp [ext4]"] == expected
