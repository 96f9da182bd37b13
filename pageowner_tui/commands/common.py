"""Options shared by the subcommands, so `top`, `export`, `record` and the TUI read alike."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from pageowner_tui.model.query import SORT_KEYS

__all__ = [
    "SOURCE_KINDS",
    "add_source_options",
    "add_query_options",
    "add_output_options",
    "positive_float",
    "non_negative_int",
]

SOURCE_KINDS = ("auto", "ebpf", "debugfs", "file")
DEFAULT_DEBUGFS = "/sys/kernel/debug"


def print_warnings(warnings: Iterable[str]) -> None:
    """What a read left out or repaired (a record cut short, a damaged frame): one line each
    on stderr, never silent."""
    for warning in warnings:
        print(f"pageowner-top: warning: {warning}", file=sys.stderr)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def add_source_options(parser: argparse.ArgumentParser, *, path: bool = True, interval: float = 1.0) -> None:
    """PATH and --source/--debugfs/--interval: where snapshots come from and how often."""
    if path:
        parser.add_argument(
            "path",
            nargs="?",
            metavar="PATH",
            help="a saved file (page_owner, show_stacks, JSON, recording; .gz is fine) "
            "or a folder of snapshot files; omit for a live source",
        )
    group = parser.add_argument_group("source")
    group.add_argument(
        "--source",
        choices=SOURCE_KINDS,
        default="auto",
        help="where owner data comes from: ebpf (tracepoints, no reboot needed), debugfs "
        "(the kernel's page_owner), file (PATH); auto picks debugfs when page_owner is "
        "enabled, else ebpf (default: auto)",
    )
    group.add_argument(
        "--debugfs",
        metavar="DIR",
        default=DEFAULT_DEBUGFS,
        help=f"debugfs mount point, or a copy of one (default: {DEFAULT_DEBUGFS})",
    )
    group.add_argument(
        "-i",
        "--interval",
        "-d",
        "--delay",
        dest="interval",
        type=positive_float,
        default=interval,
        metavar="SECONDS",
        help=f"seconds between snapshots (default: {interval:g})",
    )


def add_query_options(parser: argparse.ArgumentParser) -> None:
    """--sort/--reverse/--filter/--regex/--threshold/--limit: what to show, in what order."""
    group = parser.add_argument_group("view")
    group.add_argument(
        "--sort",
        choices=tuple(SORT_KEYS),
        default="pages",
        help="sort key (default: pages, largest first)",
    )
    group.add_argument("--reverse", action="store_true", help="invert the sort order")
    group.add_argument(
        "--filter",
        metavar="RE",
        default="",
        help="only stacks matching: words are ANDed, each a regular expression over the "
        "frames and comms; prefix a word with frame:, module:, comm:, pid: or id: "
        "to search one field",
    )
    group.add_argument(
        "--threshold",
        type=non_negative_int,
        default=0,
        metavar="PAGES",
        help="only stacks with at least this many pages",
    )
    group.add_argument(
        "--limit",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="show at most N stacks",
    )


def add_output_options(parser: argparse.ArgumentParser, *, what: str, stdout: bool = False) -> None:
    """-o/--output and --force: where a file goes, written safely (see safe_write.py)."""
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help=f"{what}" + (", or - for stdout" if stdout else ""),
    )
    parser.add_argument(
        "--force", action="store_true", help="replace OUT if it exists (never through a symlink)"
    )
