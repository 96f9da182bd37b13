"""`pageowner-top [tui]`: the live TUI (the default command).

Opens the source the options ask for (auto: debugfs page_owner, else eBPF, else the bundled
real recording with a banner saying why and how to get live data), then runs the Textual
app until `q`, F10, Ctrl-C or the terminal going away.  The source is closed on every exit.
"""

from __future__ import annotations

import argparse
import os
import sys

from pageowner_tui.commands.common import add_query_options, add_source_options
from pageowner_tui.errors import UserError
from pageowner_tui.model.query import FilterError, Query, StackFilter

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "tui",
        help="the live TUI (default when no command is given)",
        description="Live table of allocation stacks by the pages they own. "
        "Keys: ? help, / filter, t threshold, space pause, Enter detail, p PFN range, q quit.",
        epilog="examples:\n"
        "  sudo pageowner-top                       live: debugfs page_owner if enabled, else eBPF\n"
        "  sudo pageowner-top --source ebpf -d 2    eBPF tracker, a snapshot every 2 s\n"
        "  pageowner-top show_stacks.txt            a saved show_stacks or page_owner file\n"
        "  NO_COLOR=1 pageowner-top rec.db          a recording, without colours",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_options(parser)
    add_query_options(parser)
    try:
        parser.add_argument(
            "--no-color",
            action="store_true",
            help="no colours (as does a NO_COLOR environment variable)",
        )
    except argparse.ArgumentError:
        pass  # common.py may already provide it
    return parser


def _query(args: argparse.Namespace) -> Query:
    try:
        flt = StackFilter.parse(getattr(args, "filter", "") or "", regex=True)
    except FilterError as exc:
        raise UserError(f"--filter: {exc}") from None
    return Query(
        sort=getattr(args, "sort", "pages"),
        reverse=getattr(args, "reverse", False),
        filter=flt,
        threshold=getattr(args, "threshold", 0) or 0,
        limit=getattr(args, "limit", None),
    )


def run(args: argparse.Namespace) -> int:
    from pageowner_tui.sources.detect import open_source

    query = _query(args)
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError(
            "the TUI needs a terminal on stdin and stdout; for scripts use 'pageowner-top top'"
        )
    if getattr(args, "no_color", False):
        os.environ["NO_COLOR"] = "1"  # Textual reads it when the app is created
    opened = open_source(args.source, args.path, debugfs_root=args.debugfs, for_tui=True)
    source = opened.source
    try:
        from pageowner_tui.tui.app import PageOwnerApp

        app = PageOwnerApp(source, interval=args.interval, query=query, banner=opened.banner)
        status = app.run()
        return int(status or 0)
    finally:
        source.close()
