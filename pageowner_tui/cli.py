"""The `pageowner-top` command line: the TUI by default, batch subcommands for scripts.

Each subcommand lives in pageowner_tui/commands/<name>.py with ``add_parser`` and ``run``.
User errors (``UserError``) become one line on stderr and the error's exit status; SIGTERM
and SIGHUP unwind like Ctrl-C so every source detaches its probes and every file is closed.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence

from pageowner_tui import __version__
from pageowner_tui.errors import Cancelled, UserError

__all__ = ["main", "build_parser", "COMMANDS"]

# Order is the order of --help.  "tui" is the default when no subcommand is named.
COMMANDS = ("tui", "top", "export", "record", "replay", "diff", "doctor")
DEFAULT_COMMAND = "tui"

EPILOG = """\
examples:
  sudo pageowner-top                      live TUI (debugfs page_owner if enabled, else eBPF)
  sudo pageowner-top --source ebpf -i 2   live TUI on the eBPF tracker, 2 s refresh
  pageowner-top replay                    the TUI on a bundled real recording
  pageowner-top top show_stacks.txt --limit 10
  sudo pageowner-top top --source ebpf -n 5 -i 1 --json > frames.jsonl
  sudo pageowner-top export --source ebpf --duration 30 -f page_owner -o owners.txt
  pageowner-top export page_owner.txt.gz -f show_stacks -o stacks.txt
  pageowner-top diff before.txt after.txt --limit 20
  sudo pageowner-top record -o leak.db -i 1 --duration 600
  pageowner-top doctor                    what this machine supports, and what to do about gaps

'pageowner-top COMMAND --help' describes each command.
"""


class _Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP: unwind like Ctrl-C so finally-blocks detach probes and close files."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pageowner-top",
        description="Who allocated these pages, and which of them keeps growing? "
        "Live per-stack page ownership from eBPF tracepoints or the kernel's page_owner, "
        "recordings, replays and exports for bug reports.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pageowner-top {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"pageowner_tui.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run, command=name)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """`pageowner-top [OPTIONS]` means `pageowner-top tui [OPTIONS]`."""
    if not argv:
        return [DEFAULT_COMMAND]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return [DEFAULT_COMMAND, *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(args_list)
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, _raise_terminated)
        except ValueError:  # not the main thread (tests calling main() from a worker)
            pass
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"pageowner-top: {exc}", file=sys.stderr)
        return exc.exit_status
    except Cancelled:
        print("pageowner-top: cancelled", file=sys.stderr)
        return 130
    except _Terminated as exc:
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `pageowner-top top ... | head`: the reader left; that is not an error.
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
