"""Sources for the TUI tests: the real 6.12 show_stacks captures, and synthetic snapshots
of any size, behind the same Source protocol as the real sources."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from pageowner_tui.formats import show_stacks
from pageowner_tui.model.snapshot import Breakdown, PageRecord, Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack
from pageowner_tui.sources.base import Capabilities

T0 = 1_764_115_200.0  # 2025-11-26 00:00:00 UTC: every fake snapshot's time counts from here


def fixture_snapshots(real_612: Path) -> list[Snapshot]:
    """show_stacks_1 then show_stacks_2, 5 s apart, as the debugfs source would give them."""
    snaps = []
    for n, name in enumerate(("show_stacks_1.txt", "show_stacks_2.txt")):
        parsed = show_stacks.read(str(real_612 / name))
        snaps.append(
            show_stacks.to_snapshot(
                parsed, source="debugfs", time=T0 + 5 * n, kernel="6.12.117", meta={"mode": "page_owner"}
            )
        )
    return snaps


class ScriptedSource:
    """Returns the given snapshots in turn, then the last one forever.

    ``advance=False`` holds the current snapshot until ``advance_to`` is called, so a
    test decides exactly when the data changes."""

    def __init__(
        self,
        snapshots: Sequence[Snapshot],
        *,
        kind: str = "debugfs",
        caps: Capabilities | None = None,
        records: Sequence[PageRecord] = (),
        advance: bool = True,
    ) -> None:
        self.kind = kind
        self._snapshots = list(snapshots)
        self._records = list(records)
        self._caps = caps or Capabilities(live=True, kernel_threshold=False)
        self._advance = advance
        self.position = 0
        self.calls = 0
        self.thresholds: list[int] = []
        self.accept_threshold = True
        self.closed = False

    def capabilities(self) -> Capabilities:
        return self._caps

    def snapshot(self) -> Snapshot:
        self.calls += 1
        snap = self._snapshots[self.position]
        if self._advance and self.position < len(self._snapshots) - 1:
            self.position += 1
        return snap

    def advance_to(self, position: int) -> None:
        self.position = position

    def pages(self, pfn_start: int, pfn_end: int) -> Iterable[PageRecord]:
        return [r for r in self._records if pfn_start <= r.pfn < pfn_end]

    def records(self, progress=None) -> Iterable[PageRecord]:
        return list(self._records)

    def set_threshold(self, pages: int) -> bool:
        self.thresholds.append(pages)
        return self.accept_threshold

    def close(self) -> None:
        self.closed = True


def synthetic_stacks(count: int, seed: int = 1) -> list:
    """``count`` distinct stacks shaped like real ones (allocator frames, then callers)."""
    rng = random.Random(seed)
    callers = ["shmem_alloc_folio", "ext4_mb_load_buddy_gfp", "__handle_mm_fault", "do_wp_page", "alloc_skb_with_frags"]
    stacks = []
    for n in range(count):
        caller = rng.choice(callers)
        module = " [ext4]" if caller.startswith("ext4") else ""
        stacks.append(
            intern_stack(
                [
                    "get_page_from_freelist+0x1071/0x1270",
                    "__alloc_pages_noprof+0x193/0x1060",
                    f"{caller}+0x{n:x}/0x{n + 0x100:x}{module}",
                    f"site_{n}+0x{rng.randrange(1, 0x400):x}/0x400",
                    "do_syscall_64+0x9e/0x1c0",
                    "entry_SYSCALL_64_after_hwframe+0x77/0x7f",
                ]
            )
        )
    return stacks


def synthetic_series(count: int, ticks: int, *, seed: int = 1, churn: float = 0.01) -> list[Snapshot]:
    """``ticks`` snapshots of ``count`` stacks, 1 s apart: every stack's pages move a little
    each tick and ``churn`` of them are replaced by new stacks, as on a busy machine."""
    rng = random.Random(seed)
    stacks = synthetic_stacks(count + int(count * churn * ticks) + 1, seed)
    live = list(range(count))
    next_new = count
    pages = {i: rng.randint(1, 5000) for i in live}
    snaps = []
    for tick in range(ticks):
        stats = [
            StackStat(
                stacks[i],
                pages[i],
                breakdowns={Breakdown.COMM: {"dd": pages[i]}, Breakdown.ORDER: {"0": pages[i]}},
            )
            for i in live
        ]
        snaps.append(Snapshot.from_stats(stats, source="ebpf", time=T0 + tick, kernel="6.12.117"))
        for i in live:
            pages[i] = max(1, pages[i] + rng.randint(-3, 5))
        for _ in range(int(count * churn)):
            gone = live.pop(rng.randrange(len(live)))
            pages.pop(gone)
            live.append(next_new)
            pages[next_new] = rng.randint(1, 100)
            next_new += 1
    return snaps


class FakeReplay(ScriptedSource):
    """A TimeTravel source over fixed frames (what sources/replay.py offers the TUI)."""

    def __init__(self, snapshots: Sequence[Snapshot]) -> None:
        super().__init__(snapshots, kind="replay", caps=Capabilities(time_travel=True), advance=False)

    def frame_times(self) -> Sequence[float]:
        return [s.time for s in self._snapshots]

    def seek(self, when: float) -> Snapshot:
        times = self.frame_times()
        self.position = max((n for n, t in enumerate(times) if t <= when), default=0)
        return self._snapshots[self.position]

    def seek_index(self, index: int) -> Snapshot:
        self.position = max(0, min(index, len(self._snapshots) - 1))
        return self._snapshots[self.position]

    def step(self, n: int) -> Snapshot:
        return self.seek_index(self.position + n)


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds (workers post from threads)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.02)
