"""Shared helpers for the hardening tests: real seed texts to mutate, and a way to run the
CLI the way a user does (a separate process) while measuring its peak memory.

Why a subprocess for hostile files: "bounded memory" and "one line, no traceback" are
properties of the installed command, so they are checked on the command, with a hard
address-space limit so a runaway allocation fails the test instead of the machine.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A hostile input may make the command allocate; this caps it so a bug fails fast.
ADDRESS_SPACE_LIMIT = 2 << 30


@dataclass
class CliRun:
    status: int
    stdout: str
    stderr: str
    max_rss_kib: int


def run_cli(*args: str, timeout: float = 120) -> CliRun:
    """``python -m pageowner_tui.cli ARGS`` under an address-space limit, with its own peak RSS.

    A small wrapper process starts the command and reads RUSAGE_CHILDREN once it ended:
    with exactly one child, that is the command's own peak, not a maximum over the session.
    """
    wrapper = (
        "import resource, subprocess, sys, json\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_LIMIT}, {ADDRESS_SPACE_LIMIT}))\n"
        "p = subprocess.run([sys.executable, '-m', 'pageowner_tui.cli', *sys.argv[1:]],"
        " capture_output=True, text=True, errors='replace', stdin=subprocess.DEVNULL)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([p.returncode, p.stdout[-20000:], p.stderr[-20000:], rss]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120")
    try:
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"pageowner-top {' '.join(args)} hung for {timeout} s") from None
    assert done.returncode == 0, done.stderr
    status, out, err, rss = json.loads(done.stdout)
    return CliRun(status, out, err, rss)


def assert_one_line_error(run: CliRun, *, status: int = 2, mentions: str = "") -> str:
    """A user error: the given exit status, one line on stderr, no traceback."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.status == status, (run.status, run.stderr[-2000:])
    assert len(lines) == 1, run.stderr[-2000:]
    assert lines[0].startswith("pageowner-top: "), lines[0]
    assert mentions in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def cli_baseline_rss(tmp_path_factory, real_612) -> int:
    """Peak RSS (KiB) of ``top`` on the real 7-stack show_stacks capture: the memory a
    small, well-formed file costs, measured in this run as the yardstick for hostile ones."""
    run = run_cli("top", str(real_612 / "show_stacks_threshold_1000.txt"))
    assert run.status == 0, run.stderr
    return run.max_rss_kib


@pytest.fixture(scope="session")
def real_records_text(real_612) -> str:
    """The first records (6 KB) of the real 6.12 page_owner dump, as text."""
    with gzip.open(real_612 / "page_owner_full.txt.gz", "rt", encoding="utf-8", errors="surrogateescape") as f:
        head = f.read(6_000)
    return head[: head.rfind("\n\n") + 2]
