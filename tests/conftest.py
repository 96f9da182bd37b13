"""Shared test setup.

In CI (``CI`` set to anything but ``false``/``0``) a skipped test is a failure: the eBPF,
guest-kernel, page_owner_sort and tmux tests must run there, not quietly skip.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("PAGEOWNER_FIXTURES", ROOT.parent / "shared" / "fixtures"))
REAL_612 = FIXTURES / "real-kernel-6.12-512m"
RUN_GUEST = Path(os.environ.get("PAGEOWNER_RUN_GUEST", ROOT.parent / "shared" / "kernels" / "run-guest"))
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def pytest_configure(config):
    # Started in the background by a non-interactive shell (`pytest &`, nohup), this process
    # inherits SIGINT ignored, and so would every command the tests start: the tests that
    # send SIGINT then wait forever. They test what a user's Ctrl-C does, so give SIGINT
    # back its default meaning here; children then start with SIGINT at its default.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure here: {reason}"


@pytest.fixture(scope="session")
def real_612() -> Path:
    if not REAL_612.is_dir():
        pytest.skip(f"real kernel captures not found at {REAL_612} (set PAGEOWNER_FIXTURES)")
    return REAL_612


@pytest.fixture(scope="session")
def page_owner_full_text(real_612: Path, tmp_path_factory) -> Path:
    """The real 6.12 page_owner dump, decompressed once per session."""
    import gzip

    out = tmp_path_factory.mktemp("real") / "page_owner_full.txt"
    with gzip.open(real_612 / "page_owner_full.txt.gz", "rb") as src, open(out, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    return out


def page_owner_sort_binary(version: str = "6.12") -> Path:
    path = ROOT / ".cache" / "page_owner_sort" / version / "page_owner_sort"
    if not path.exists():
        pytest.skip(f"{path} not built: run scripts/build-page-owner-sort")
    return path
