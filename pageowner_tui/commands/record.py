"""`pageowner-top record -o FILE`: sample a source every interval into a recording.

Each frame is committed as it is taken, so stopping in any way (Ctrl-C, SIGTERM,
``kill -9``, a crash) leaves every completed frame readable.  From a folder, a JSON Lines
file or another recording, ``record`` converts every frame there is into one file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pageowner_tui.commands.common import add_output_options, add_source_options, non_negative_int, positive_float
from pageowner_tui.errors import UserError
from pageowner_tui.safe_write import check_output_path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "record",
        help="record snapshots every interval into one file, to replay or diff later",
        description="Sample a live source (or convert saved snapshots) into a recording: one "
        "SQLite file with the metadata, each stack's text once and per-tick counts as "
        "changes. Every frame is committed as it is taken: after Ctrl-C, kill -9 or a crash "
        "all completed frames are readable.",
        epilog="examples:\n"
        "  sudo pageowner-top record -o leak.db                     every second until Ctrl-C\n"
        "  sudo pageowner-top record -o leak.db -i 5 --duration 3600\n"
        "  sudo pageowner-top record -o leak.db --source ebpf -n 60\n"
        "  pageowner-top record -o captures.db /var/log/show_stacks/  convert a folder of captures\n"
        "  pageowner-top replay leak.db\n"
        "  pageowner-top diff leak.db@10:00 leak.db@10:05",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_options(parser)
    add_output_options(parser, what="the recording to create")
    parser.add_argument(
        "--duration", type=positive_float, default=None, metavar="SECONDS", help="stop after this long"
    )
    parser.add_argument(
        "-n", "--count", type=non_negative_int, default=None, metavar="COUNT", help="stop after COUNT frames"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")
    return parser


def _say(message: str) -> None:
    print(f"pageowner-top: {message}", file=sys.stderr)


class _Progress:
    """One status line on stderr, rewritten in place when a person is watching."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from pageowner_tui.formats.recording import RecordingWriter
    from pageowner_tui.kernel.checks import kernel_release
    from pageowner_tui.sources.detect import open_source

    # Refuse a bad FILE before sampling anything.
    check_output_path(args.output, args.force)
    if args.output == "-":
        raise UserError("a recording cannot go to stdout (it is an SQLite file): give -o FILE")
    opened = open_source(args.source, args.path, debugfs_root=args.debugfs)
    source = opened.source
    writer = None
    progress = _Progress(args.quiet)
    started = time.monotonic()
    try:
        for warning in getattr(source, "warnings", ()):
            _say(f"warning: {warning}")
        live = source.capabilities().live and not hasattr(source, "frame_times")
        replay = hasattr(source, "frame_times")
        first = source.seek_index(0) if replay else source.snapshot()
        writer = RecordingWriter(
            args.output,
            source=first.source,
            interval=args.interval,
            kernel=first.kernel or (kernel_release() if live else ""),
            force=args.force,
            extra_meta={"origin": args.path} if args.path else None,
        )
        writer.append(first)
        limit = args.count
        if replay:
            total = len(source.frame_times())
            if limit is not None:
                total = min(total, limit)
            for index in range(1, total):
                writer.append(source.seek_index(index))
        elif live:
            deadline = started + args.duration if args.duration else None
            next_tick = started
            while limit is None or writer.frames < limit:
                next_tick += args.interval
                if deadline is not None and next_tick > deadline:
                    break
                time.sleep(max(0.0, next_tick - time.monotonic()))
                snapshot = source.snapshot()
                writer.append(snapshot)
                size = os.path.getsize(args.output)
                progress.show(
                    f"recording {args.output}: {writer.frames} frames, {len(snapshot.stacks)} stacks, "
                    f"{size / 1e6:.1f} MB (Ctrl-C stops; every frame so far is saved)"
                )
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM is how a recording normally ends
    finally:
        progress.end()
        if writer is not None:
            writer.close()
        source.close()
    if writer is None:
        return 130
    seconds = time.monotonic() - started
    size = os.path.getsize(args.output)
    _say(
        f"wrote {args.output}: {writer.frames} frames over {seconds:.1f} s, {size} bytes "
        f"(replay it with 'pageowner-top replay {args.output}')"
    )
    if writer.breakdowns_dropped:
        print(
            f"pageowner-top: warning: {writer.breakdowns_dropped} frames were recorded without their "
            "per-stack breakdowns (order, gfp, pid, comm, ...): they exceeded what a recording "
            "frame holds (4 KiB per stack, 64 MiB); their page counts are complete",
            file=sys.stderr,
        )
    return 0
