"""`pageowner-top doctor`: what this machine supports and what to do about each gap.

Cheap checks only: it never compiles a BPF program and never reads the full page_owner
file (which walks every PFN).  Exit status 0 when at least one live source can run.
"""

from __future__ import annotations

import argparse
import sys

from pageowner_tui.commands.common import DEFAULT_DEBUGFS
from pageowner_tui.kernel.checks import Check, kernel_release, lockdown_check, root_check

__all__ = ["add_parser", "run", "collect"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor",
        help="check what this machine supports (root, bcc, headers, tracefs, debugfs, page_owner)",
        description="Check what this machine supports and say what to do about each gap.",
    )
    parser.add_argument("--debugfs", metavar="DIR", default=DEFAULT_DEBUGFS, help="debugfs mount point")
    return parser


def collect(debugfs_root: str) -> dict[str, list[Check]]:
    """Checks grouped by section: system, ebpf, debugfs."""
    system = [
        Check("kernel", True, kernel_release()),
        root_check(),
        lockdown_check(),
    ]
    from pageowner_tui.sources import debugfs, ebpf

    return {
        "system": system,
        "ebpf source": ebpf.preflight(),
        "debugfs source": debugfs.preflight(debugfs_root),
    }


def run(args: argparse.Namespace) -> int:
    sections = collect(args.debugfs)
    for title, checks in sections.items():
        print(f"{title}:")
        for check in checks:
            print(f"  {check.line()}")
    usable = [
        name for name in ("ebpf source", "debugfs source") if all(c.ok for c in sections[name])
    ]
    if usable:
        print("live sources available: " + ", ".join(name.split()[0] for name in usable))
        return 0
    print(
        "no live source can run here: fix a FAIL line above, or explore a recording "
        "with 'pageowner-top replay'",
        file=sys.stderr,
    )
    return 1
