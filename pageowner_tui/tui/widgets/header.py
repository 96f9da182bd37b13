"""The header: what is being watched (source, mode, kernel, since when, how often), the
totals, the source's gap counters (what the table leaves out) and the app's state."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from pageowner_tui.model.snapshot import Counters, Snapshot
from pageowner_tui.tui import formatting as fmt
from pageowner_tui.tui.safe_text import printable

__all__ = ["HeaderBar", "HeaderState", "header_text"]

# Short labels for the counters sources report (model/snapshot.py Counters).
_COUNTER_LABELS = {
    Counters.EARLY_PAGES: "early",
    Counters.UNTRACKED_FREES: "untracked frees",
    Counters.STACK_FAILURES: "stack failures",
    Counters.OWNER_TABLE_DROPS: "owner drops",
    Counters.STACK_TABLE_DROPS: "stack drops",
    Counters.FAILED_ALLOCATIONS: "failed allocs",
    Counters.UNLISTED_STACKS: "unlisted stacks",
    Counters.BELOW_THRESHOLD: "below threshold",
}


@dataclass(frozen=True)
class HeaderState:
    """Everything the header shows; built by the app each tick."""

    snapshot: Snapshot | None
    source_kind: str
    interval: float
    since: float | None  # first snapshot's time
    shown: int = 0  # stacks in the view after filter and threshold
    paused: bool = False
    recording: str | None = None  # file being recorded to
    baseline_time: float | None = None
    follow: str | None = None  # caller of the followed stack
    frame: str | None = None  # "12/40" for a replay


def header_text(state: HeaderState) -> Text:
    snap = state.snapshot
    text = Text(no_wrap=True, overflow="ellipsis")
    # State flags first: at 80 columns the end of the line is what gets cut.
    flags = []
    if state.paused:
        flags.append(("PAUSED", "reverse bold"))
    if state.recording:
        flags.append((f"REC {printable(state.recording)}", "reverse bold"))
    if state.baseline_time is not None:
        flags.append((f"BASE {fmt.clock(state.baseline_time)}", "bold"))
    if state.follow:
        flags.append((f"FOLLOW {printable(state.follow)}", "bold"))
    for label, style in flags:
        text.append(label, style=style)
        text.append("  ")
    mode = ""
    if snap is not None:
        mode = snap.meta.get("mode") or snap.meta.get("format") or ""
    text.append(printable(state.source_kind + (f" ({mode})" if mode else "")), style="bold")
    if snap is not None and snap.kernel:
        text.append(f"  kernel {printable(snap.kernel)}")
    if state.since is not None:
        text.append(f"  since {fmt.clock(state.since)}")
    if snap is not None:
        text.append(f"  at {fmt.clock(snap.time)}")
    text.append(f"  every {state.interval:g}s")
    if state.frame:
        text.append(f"  frame {state.frame}")
    text.append("\n")
    if snap is None:
        text.append("waiting for the first snapshot...")
        return text
    total = snap.total_pages
    text.append(f"{total:,} pages ({fmt.mib(total)} MiB) in {len(snap.stacks):,} stacks")
    if state.shown != len(snap.stacks):
        text.append(f", {state.shown:,} shown")
    gaps = [
        f"{printable(_COUNTER_LABELS.get(name, name.replace('_', ' ')))} {value:,}"
        for name, value in snap.counters.items()
        if value
    ]
    if gaps:
        text.append("  |  ")
        text.append(", ".join(gaps))
    return text


class HeaderBar(Static):
    """Two lines at the top; ``show`` repaints only when the text changed."""

    DEFAULT_CSS = """
    HeaderBar { height: 2; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._shown: str | None = None

    def show(self, state: HeaderState) -> None:
        text = header_text(state)
        if text.plain != self._shown or self._shown is None:
            self._shown = text.plain
            self.update(text)
