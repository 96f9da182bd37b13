"""The installed `pageowner-top` command, as the CLI tests run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin" / "pageowner-top"


def run(*args, check: bool = True, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    """Run the command with ``args``; unless ``check`` is false, a non-zero exit fails."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc
