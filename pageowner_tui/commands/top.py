"""`pageowner-top top`: the batch view a bug report wants, like `top -b`.

Text frames (or JSON Lines with ``--json``: one object per frame with ``time``,
``source`` and ``stacks`` in the view's order, each with ``id``, ``pages`` and
``frames``).  Reads only; never changes kernel state (a threshold is applied on our side).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pageowner_tui.commands.common import add_query_options, add_source_options, non_negative_int, print_warnings
from pageowner_tui.errors import UserError
from pageowner_tui.model.query import FilterError, Query, StackFilter, view

__all__ = ["add_parser", "run", "query_from_args"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "top",
        help="print the top stacks as text or JSON Lines (batch mode, for scripts and bug reports)",
        description="Print the top stacks, repeated COUNT times every SECONDS, like `top -b`.",
        epilog="examples:\n"
        "  pageowner-top top show_stacks.txt --limit 10\n"
        "  sudo pageowner-top top --source ebpf -n 10 -i 1 --sort delta\n"
        "  sudo pageowner-top top --source debugfs -n 3 --json | jq '.stacks[0]'\n"
        "  pageowner-top top page_owner.txt.gz --filter 'module:ext4' --frames",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_options(parser)
    parser.add_argument(
        "-n",
        "--count",
        type=non_negative_int,
        default=None,
        metavar="COUNT",
        help="number of frames (default: 1 for a file, until interrupted for a live source)",
    )
    add_query_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON Lines, one object per frame")
    parser.add_argument("--frames", action="store_true", help="print every stack's frames under its row")
    return parser


def query_from_args(args: argparse.Namespace, *, default_limit: int | None = None) -> Query:
    try:
        flt = StackFilter.parse(args.filter, regex=True)
    except FilterError as exc:
        raise UserError(f"--filter: {exc}") from None
    limit = args.limit if args.limit is not None else default_limit
    return Query(sort=args.sort, reverse=args.reverse, filter=flt, threshold=args.threshold, limit=limit)


def run(args: argparse.Namespace) -> int:
    from pageowner_tui.sources.detect import open_source

    query = query_from_args(args, default_limit=None if args.json else 25)
    opened = open_source(args.source, args.path, debugfs_root=args.debugfs)
    source = opened.source
    try:
        live = source.capabilities().live
        count = args.count if args.count is not None else (None if live else 1)
        previous = None
        frame = 0
        # The debugfs slow path (full page_owner reads) sets a longer minimum interval.
        interval = max(args.interval, getattr(source, "min_interval", 0.0) or 0.0)
        if interval > args.interval and (count is None or count > 1):
            print(f"pageowner-top: interval raised to {interval:g} s: this source is slow to read", file=sys.stderr)
        next_tick = time.monotonic()
        while count is None or frame < count:
            if frame:
                next_tick += interval
                time.sleep(max(0.0, next_tick - time.monotonic()))
                if not live and hasattr(source, "step"):
                    source.step(1)
            snapshot = source.snapshot()
            if not frame:
                print_warnings(getattr(source, "warnings", ()))
            rows = view(snapshot, query, previous=previous)
            if args.json:
                sys.stdout.write(json.dumps(_json_frame(snapshot, rows), separators=(",", ":")) + "\n")
            else:
                from pageowner_tui.views.batch import format_frame

                if frame:
                    sys.stdout.write("\n")
                sys.stdout.write(format_frame(snapshot, rows, frames=args.frames))
            sys.stdout.flush()
            previous = snapshot
            frame += 1
    finally:
        source.close()
    return 0


def _json_frame(snapshot, rows) -> dict:
    from pageowner_tui.formats import json_export

    return json_export.snapshot_object(snapshot, rows)

