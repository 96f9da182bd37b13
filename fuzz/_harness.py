"""Shared plumbing for the atheris harnesses: one policy for what counts as a crash.

Why a shared module: every harness must apply the same rule the issue states ("arbitrary
bytes never raise anything but our own format error"), and must find the package the same
way whether it is run from the repository or from fuzz/.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Inputs that must be files (sniffing, gzip, SQLite) go to memory-backed storage: a
# million writes to a disk shared with other engineers would be slow and rude.
_SCRATCH_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") else None
SCRATCH = tempfile.mkdtemp(prefix="pageowner-fuzz.", dir=_SCRATCH_ROOT)


def scratch_file(data: bytes, name: str = "input") -> str:
    """Write ``data`` to a fresh scratch file and return its path (old one replaced)."""
    path = os.path.join(SCRATCH, name)
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass
    with open(path, "wb") as f:
        f.write(data)
    return path


def seeds_dir(name: str) -> str:
    """fuzz/corpus/<name>: seed inputs made by fuzz/make_seeds.py."""
    return str(ROOT / "fuzz" / "corpus" / name)
