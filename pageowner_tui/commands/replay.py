"""`pageowner-top replay [PATH]`: the TUI over a recording, a saved snapshot file or a
folder (watched: new snapshot files become new frames).  Without PATH, a bundled real
recording from a 6.12 kernel, so the tool can be seen working on any machine.

``--list`` prints the frames instead of starting the TUI (for scripts and for checking a
recording: it also reports damage found on opening).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys

from pageowner_tui.commands.common import positive_float, print_warnings
from pageowner_tui.errors import UserError

__all__ = ["add_parser", "run", "open_replay"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from pageowner_tui.sources.replay import TIME_SYNTAX

    parser = subparsers.add_parser(
        "replay",
        help="the TUI over a recording, a saved snapshot, or a watched folder of snapshots",
        description="Replay a recording, a show_stacks/page_owner/JSON file, or a folder of "
        "them (new files appear as new frames as they land). Without PATH: a bundled "
        "recording from a real 6.12 kernel.",
        epilog="examples:\n"
        "  pageowner-top replay                          the bundled real recording\n"
        "  pageowner-top replay leak.db --at 10:05\n"
        "  pageowner-top replay /var/log/show_stacks/    watch a cron job's captures\n"
        "  pageowner-top replay leak.db --list           frames as text, no TUI\n"
        "\nkeys: space plays/pauses, [ and ] step one frame, Home/End go to the first/last\n"
        "frame, j jumps to a TIME, d sets the seconds per frame; ? lists every key.\n"
        f"\nTIME: {TIME_SYNTAX}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="a recording, a snapshot file, or a folder of snapshot files (default: the bundled recording)",
    )
    parser.add_argument("--at", metavar="TIME", default=None, help="start at this frame (see TIME below)")
    parser.add_argument("--list", action="store_true", help="print the frames and exit (no TUI)")
    parser.add_argument("--no-watch", action="store_true", help="a folder: read what is there, do not watch it")
    parser.add_argument(
        "--settle",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="a folder: read a file once it has not changed for this long (default: 0.5)",
    )
    parser.add_argument(
        "-i",
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="seconds per frame when playing (default: 1; d in the TUI changes it live)",
    )
    return parser


def open_replay(args: argparse.Namespace):
    """(source, banner) for the arguments: the bundled recording when PATH is omitted."""
    from pageowner_tui.sources.replay import DEFAULT_SETTLE, ReplaySource, bundled_recording_path

    banner = None
    path = args.path
    if path is None:
        path = str(bundled_recording_path())
        banner = (
            "Replaying the bundled recording: real show_stacks captures from a 6.12 kernel "
            "(page_owner=on, 512 MiB guest). Give a PATH, or run 'sudo pageowner-top' for live data."
        )
    settle = args.settle if args.settle is not None else DEFAULT_SETTLE
    source = ReplaySource(path, watch=not (args.no_watch or args.list), settle=settle)
    return source, banner


def _fmt(seconds: float) -> str:
    return _dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def print_frames(source, out=sys.stdout) -> None:
    times = source.frame_times()
    out.write(f"# {source.path}: {len(times)} frames\n")
    out.write(f"  {'frame':>6}  {'time':<23}  {'stacks':>7}  {'pages':>10}  source\n")
    for index in range(len(times)):
        snapshot = source.frame(index)
        mark = ">" if index == source.position else " "
        out.write(
            f"{mark} {index:>6}  {_fmt(snapshot.time):<23}  {len(snapshot.stacks):>7}  "
            f"{snapshot.total_pages:>10}  {snapshot.source}\n"
        )


def run(args: argparse.Namespace) -> int:
    from pageowner_tui.sources.replay import resolve_time

    source, banner = open_replay(args)
    try:
        print_warnings(source.warnings)
        if args.at is not None:
            source.seek_index(resolve_time(args.at, source.frame_times(), what=source.path))
        if args.list:
            print_frames(source)
            return 0
        if not sys.stdout.isatty() or not sys.stdin.isatty():
            raise UserError(
                "replay's TUI needs a terminal on stdin and stdout; use --list to print the frames, "
                "or 'pageowner-top top PATH -n N' for text"
            )
        return _run_tui(source, banner, args.interval)
    finally:
        source.close()


def _run_tui(source, banner: str | None, interval: float) -> int:
    """The TUI over the replay: ``run_app`` when the TUI provides it, else its App class."""
    try:
        from pageowner_tui.tui import app as tui_app
    except ImportError as exc:
        raise UserError(f"the TUI cannot start ({exc}); use --list to print the frames") from None
    run_app = getattr(tui_app, "run_app", None)
    if run_app is not None:
        return int(run_app(source, banner=banner, interval=interval) or 0)
    return int(tui_app.PageOwnerApp(source, interval=interval, banner=banner).run() or 0)
