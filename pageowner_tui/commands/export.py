"""`pageowner-top export`: write a snapshot as page_owner text, show_stacks text, JSON or
collapsed stacks.

The page_owner export is what the kernel's `page_owner_sort` reads.  From a source with
per-allocation data (a page_owner file, the debugfs source, the eBPF tracker) it has one
record per live allocation; from counts only (a show_stacks file) it is a counts-only
export, said on stderr, whose page totals per stack are exact and whose "times" are not
allocation counts.
"""

from __future__ import annotations

import argparse
import sys
import time

from pageowner_tui.commands.common import add_output_options, add_source_options, positive_float, print_warnings
from pageowner_tui.errors import UserError
from pageowner_tui.safe_write import check_output_path, open_output

__all__ = ["add_parser", "run", "FORMATS"]

FORMATS = ("page_owner", "show_stacks", "json", "collapsed")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a snapshot for a bug report (page_owner_sort text, show_stacks, JSON, collapsed)",
        description="Write one snapshot of a file or live source to OUT.",
        epilog="examples:\n"
        "  pageowner-top export page_owner.txt.gz -f show_stacks -o stacks.txt\n"
        "  pageowner-top export show_stacks.txt -f page_owner -o for_page_owner_sort.txt\n"
        "  sudo pageowner-top export --source ebpf --duration 30 -f page_owner -o owners.txt\n"
        "  sudo pageowner-top export --source debugfs -f json -o - | jq .totals",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_source_options(parser)
    parser.add_argument("-f", "--format", choices=FORMATS, default="page_owner", help="default: page_owner")
    add_output_options(parser, what="output file", stdout=True)
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="live sources: track for this long before writing (the eBPF tracker only knows "
        "allocations made since it started)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from pageowner_tui.sources.detect import open_source

    # Refuse a bad OUT before tracking for minutes.
    check_output_path(args.output, args.force)
    if args.path and _names_a_frame(args.path):
        # RECORDING[@TIME], or a multi-frame JSON capture: one frame of it (the last
        # without @TIME), as `diff` reads them.
        from pageowner_tui.sources.replay import snapshot_at

        return _write_snapshot(args, snapshot_at(args.path))
    opened = open_source(args.source, args.path, debugfs_root=args.debugfs)
    source = opened.source
    try:
        caps = source.capabilities()
        if args.duration:
            if not caps.live:
                raise UserError("--duration is for live sources (--source ebpf or debugfs)")
            _say(f"tracking for {args.duration:g} s ...")
            time.sleep(args.duration)
        fmt = args.format
        per_allocation = fmt == "page_owner" and caps.records
        # A per-allocation export streams records; it never needs the aggregated snapshot.
        snapshot = None if per_allocation else source.snapshot()
        written = _Tally()
        with open_output(args.output, force=args.force) as out:
            if per_allocation:
                from pageowner_tui.formats import page_owner

                if source.kind == "debugfs":
                    _say("reading the full page_owner file (walks every PFN; may take a while)")
                page_owner.write_records(out, written.count(source.records(progress=_progress())))
            else:
                _write_from_snapshot(out, fmt, snapshot)
        if fmt in ("page_owner", "show_stacks"):
            # These kernel formats have no room for comments: say where the data came from here.
            if snapshot is not None:
                origin = snapshot.meta.get("origin", "")
                what = f"{snapshot.source}{' ' + origin if origin else ''} at {_when(snapshot.time)}"
                amount = f"{len(snapshot.stacks)} stacks, {snapshot.total_pages} pages"
            else:
                what = f"{source.kind} {getattr(source, 'path', '')}".rstrip() + f" at {_when(time.time())}"
                amount = f"{written.records} allocations, {written.pages} pages"
            _say(f"wrote {args.output}: {fmt} of {what}, {amount}")
        print_warnings(getattr(source, "warnings", ()))
    finally:
        source.close()
    return 0


def _names_a_frame(spec: str) -> bool:
    import os

    from pageowner_tui.formats import input as inputs

    if not os.path.exists(spec):
        return "@" in spec  # RECORDING@TIME; snapshot_at says what is wrong otherwise
    return os.path.isfile(spec) and inputs.sniff(spec) in ("recording", "json")


def _write_from_snapshot(out, fmt: str, snapshot) -> None:
    """Every format that is written from per-stack counts."""
    if fmt == "page_owner":
        from pageowner_tui.formats import page_owner

        _say(page_owner.write_counts_only(out, snapshot))
    elif fmt == "show_stacks":
        from pageowner_tui.formats import show_stacks

        show_stacks.write(out, "stacks", show_stacks.from_snapshot(snapshot))
    elif fmt == "json":
        from pageowner_tui.formats import json_export

        json_export.write(out, snapshot)
    else:
        from pageowner_tui.formats import collapsed

        collapsed.write(out, snapshot)


def _write_snapshot(args: argparse.Namespace, snapshot) -> int:
    with open_output(args.output, force=args.force) as out:
        _write_from_snapshot(out, args.format, snapshot)
    _say(
        f"wrote {args.output}: {args.format} of {snapshot.source} {snapshot.meta.get('origin', '')} "
        f"frame {snapshot.meta.get('frame', '?')} at {_when(snapshot.time)}, "
        f"{len(snapshot.stacks)} stacks, {snapshot.total_pages} pages"
    )
    return 0


class _Tally:
    """Counts records as they stream past, for the closing message."""

    def __init__(self) -> None:
        self.records = 0
        self.pages = 0

    def count(self, records):
        for record in records:
            self.records += 1
            self.pages += record.pages
            yield record


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _say(message: str) -> None:
    print(f"pageowner-top: {message}", file=sys.stderr)


def _progress():
    """Progress on stderr for long reads, only when a person is watching."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5:
            return None
        last[0] = now
        text = f"{done / total:.0%}" if total else f"{done >> 20} MiB"
        sys.stderr.write(f"\rpageowner-top: reading page_owner ... {text}")
        sys.stderr.flush()
        return None

    return report
