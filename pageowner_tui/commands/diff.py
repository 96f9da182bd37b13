"""`pageowner-top diff A B`: which stacks grew or shrank between two snapshots.

A and B are any snapshot files (page_owner, show_stacks, JSON; .gz is fine) or a time in a
recording (``rec.db@10:05``, ``rec.db@-1`` for the last frame).  Stacks from different
sources (eBPF and debugfs capture stacks at different points) are matched by their
normalised call path, so the same allocation site lines up.
"""

from __future__ import annotations

import argparse
import json
import sys

from pageowner_tui.commands.common import non_negative_int, print_warnings
from pageowner_tui.model.delta import diff

__all__ = ["add_parser", "run", "load_for_diff"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "diff",
        help="stacks that grew or shrank between two snapshots, largest growth first",
        description="Compare two snapshots: stacks that grew or shrank, sorted by growth.",
        epilog="examples:\n"
        "  pageowner-top diff show_stacks_1.txt show_stacks_2.txt --limit 20\n"
        "  pageowner-top diff leak.db@10:00 leak.db@10:05\n"
        "  pageowner-top diff before.json after.json --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("before", metavar="A", help="the older snapshot (FILE or RECORDING@TIME)")
    parser.add_argument("after", metavar="B", help="the newer snapshot (FILE or RECORDING@TIME)")
    parser.add_argument("--limit", type=non_negative_int, default=None, metavar="N", help="at most N stacks")
    parser.add_argument("--frames", action="store_true", help="print every stack's frames")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def load_for_diff(spec: str):
    """A snapshot file, or RECORDING[@TIME] (a recording's last frame without @TIME)."""
    import os

    from pageowner_tui.formats import input as inputs

    if os.path.isfile(spec) and inputs.sniff(spec) != "recording":
        from pageowner_tui.sources.file import load_snapshot

        warnings: list[str] = []
        snapshot = load_snapshot(spec, warnings=warnings)
        print_warnings(warnings)
        return snapshot
    from pageowner_tui.sources.replay import snapshot_at

    return snapshot_at(spec)


def run(args: argparse.Namespace) -> int:
    before = load_for_diff(args.before)
    after = load_for_diff(args.after)
    if "ebpf" in (before.source, after.source) and before.source != after.source:
        from pageowner_tui.model.align import align_sources

        before, after = align_sources(before, after)
        print("pageowner-top: sources differ; stacks matched by normalised call path", file=sys.stderr)
    delta = diff(before, after)
    changed = delta.changed()
    if args.limit is not None:
        changed = changed[: args.limit]
    if args.json:
        out = {
            "before": {"time": before.time, "source": before.source, "total_pages": before.total_pages},
            "after": {"time": after.time, "source": after.source, "total_pages": after.total_pages},
            "stacks": [
                {
                    "id": d.id,
                    "change": d.change,
                    "before": d.before,
                    "after": d.after,
                    "status": d.status,
                    "frames": list(d.stack.frames),
                }
                for d in changed
            ],
        }
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        from pageowner_tui.views.batch import format_diff

        sys.stdout.write(format_diff(before, after, changed, frames=args.frames))
    return 0
