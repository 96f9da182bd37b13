"""Writing files safely as root: no symlink following, no silent overwrite, atomic rename.

``open_output(path, force=False)`` is a context manager yielding a file object for a
temporary file in the target's directory (mode 0600: exports hold kernel addresses).  On
success it is renamed over ``path``; on an exception it is removed and ``path`` is
untouched.  ``path`` of ``-`` writes to standard output.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

from pageowner_tui.errors import OutputExistsError, UserError

__all__ = ["open_output", "check_output_path"]

DEFAULT_MODE = 0o600


def check_output_path(path: str, force: bool) -> None:
    """Refuse before any work is done: a symlink at path, or an existing file without force."""
    if path == "-":
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UserError(f"{path}: directory {parent} does not exist") from None
        return
    except OSError as exc:
        raise UserError(f"{path}: cannot check the output path: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise OutputExistsError(
            f"{path} is a symbolic link; refusing to write through it (remove it or choose another path)"
        )
    if not stat.S_ISREG(st.st_mode):
        raise OutputExistsError(f"{path} exists and is not a regular file; choose another path")
    if not force:
        raise OutputExistsError(f"{path} exists; use --force to replace it")


@contextlib.contextmanager
def open_output(
    path: str, *, force: bool = False, binary: bool = False, mode: int = DEFAULT_MODE
) -> Iterator[IO]:
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    check_output_path(path, force)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pageowner-top.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        raw = os.fdopen(fd, "wb")
        f: IO = raw if binary else io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        with f:
            yield f
            f.flush()
            os.fsync(raw.fileno())
        # Re-check at the last moment: something may have appeared at path meanwhile.
        check_output_path(path, force)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
