"""Writing the view to a file (the `e` key): the view's stacks in the view's order.

A name containing ``page_owner`` asks for page_owner text (what page_owner_sort reads):
the allocations themselves when the source has per-allocation records, else counts-only
blocks that page_owner_sort totals exactly.  Anything else is show_stacks text.  Files go
through safe_write.open_output: never over an existing file, never through a symlink.
"""

from __future__ import annotations

import os

from pageowner_tui.model.snapshot import Snapshot
from pageowner_tui.safe_write import open_output
from pageowner_tui.sources.base import Source

__all__ = ["wants_page_owner", "write_show_stacks", "write_page_owner"]


def wants_page_owner(path: str) -> bool:
    return "page_owner" in os.path.basename(path)


def write_show_stacks(path: str, snapshot: Snapshot, ids: list[str]) -> str:
    """Returns the line to tell the user."""
    from pageowner_tui.formats import show_stacks

    entries = [show_stacks.Entry(stat.stack, stat.handle, stat.pages) for stat in (snapshot.stacks[i] for i in ids)]
    with open_output(path) as out:
        show_stacks.write(out, "stacks", entries)
    return f"wrote {len(entries):,} stacks to {path}"


def write_page_owner(path: str, snapshot: Snapshot, ids: list[str], source: Source) -> str:
    """May read every record of the source (slow on debugfs): call it off the UI thread."""
    from pageowner_tui.formats import page_owner

    wanted = set(ids)
    with open_output(path) as out:
        if source.capabilities().records:
            page_owner.write_records(out, (r for r in source.records() if r.stack.id in wanted))
            return f"wrote the allocations of {len(ids):,} stacks to {path} (page_owner format)"
        view_only = Snapshot.from_stats((snapshot.stacks[i] for i in ids), source=snapshot.source, time=snapshot.time)
        return f"{path}: " + page_owner.write_counts_only(out, view_only)
