"""Root-safe output, end to end through the CLI (`export -o`, `record -o`), run as root:
never through a symlink, never over an existing file without --force, a temporary file in
the same directory renamed into place, mode 0600 whatever the umask.

tests/cli/test_safe_write.py covers safe_write's functions; these check that every command
that writes actually goes through them, with the attacks that matter when root writes
into a directory others can write to (/tmp): a symlink or hard link planted at the output
path, pointing at a file root must not touch.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pageowner_tui.formats.recording import Recording

from .conftest import ROOT, assert_one_line_error, run_cli

# page_owner from a page_owner file streams records; json writes one snapshot (as do
# show_stacks and collapsed, through the same open_output): the two ways export writes.
EXPORT_FORMATS = ("page_owner", "json")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the attacks that matter are against root")


@pytest.fixture
def capture(tmp_path_factory, real_records_text) -> str:
    """Real page_owner records: export -f page_owner streams them one by one."""
    path = tmp_path_factory.mktemp("input") / "page_owner.txt"
    path.write_text(real_records_text)
    return str(path)


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file root must not modify (stands in for /etc/shadow)."""
    path = tmp_path / "victim"
    path.write_bytes(b"root:secret\n")
    os.chmod(path, 0o640)
    return path


def _write(command: str, capture: str, out: Path, *extra: str):
    if command == "export":
        return run_cli("export", capture, "-f", extra[0] if extra else "json", "-o", str(out), *extra[1:])
    return run_cli("record", capture, "-o", str(out), *extra)


COMMANDS = [("export", fmt) for fmt in EXPORT_FORMATS] + [("record", None)]


def _args(fmt):
    return (fmt,) if fmt else ()


@pytest.mark.parametrize("command,fmt", COMMANDS)
@pytest.mark.parametrize("force", [False, True])
def test_a_symlink_at_the_output_path_is_never_followed(tmp_path, capture, victim, command, fmt, force):
    out = tmp_path / "out"
    out.symlink_to(victim)
    extra = _args(fmt) + (("--force",) if force else ())
    run = _write(command, capture, out, *extra)
    assert_one_line_error(run, status=1, mentions="symbolic link")
    assert victim.read_bytes() == b"root:secret\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o640
    assert out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]


@pytest.mark.parametrize("command,fmt", COMMANDS)
def test_a_dangling_symlink_is_not_followed_to_create_a_file(tmp_path, capture, command, fmt):
    target = tmp_path / "created-elsewhere"
    out = tmp_path / "out"
    out.symlink_to(target)
    run = _write(command, capture, out, *(_args(fmt) or ()))
    assert_one_line_error(run, status=1, mentions="symbolic link")
    assert not target.exists()


@pytest.mark.parametrize("command,fmt", COMMANDS)
def test_an_existing_file_is_kept_without_force_and_replaced_with_it(tmp_path, capture, command, fmt):
    out = tmp_path / "out"
    out.write_bytes(b"precious")
    before = out.stat()
    run = _write(command, capture, out, *_args(fmt))
    assert_one_line_error(run, status=1, mentions="--force")
    assert out.read_bytes() == b"precious"
    run = _write(command, capture, out, *_args(fmt), "--force")
    assert run.status == 0, run.stderr
    after = out.stat()
    assert out.read_bytes() != b"precious"
    assert stat.S_IMODE(after.st_mode) == 0o600
    if command == "export":
        # Export writes a temporary file and renames it over the old one.  A recording
        # grows for hours, so it is created anew (O_EXCL|O_NOFOLLOW) after the old one is
        # removed; its inode number may be reused, so the hard-link test below is what
        # shows it never writes into the old inode.
        assert after.st_ino != before.st_ino


@pytest.mark.parametrize("command,fmt", COMMANDS)
def test_a_hard_link_at_the_output_path_never_changes_the_linked_file(tmp_path, capture, victim, command, fmt):
    """--force replaces the directory entry; the other name of the inode keeps its bytes."""
    out = tmp_path / "out"
    os.link(victim, out)
    run = _write(command, capture, out, *_args(fmt), "--force")
    assert run.status == 0, run.stderr
    assert victim.read_bytes() == b"root:secret\n"
    assert victim.stat().st_nlink == 1
    assert out.stat().st_ino != victim.stat().st_ino


@pytest.mark.parametrize("command,fmt", COMMANDS)
def test_output_is_mode_0600_even_with_a_permissive_umask(tmp_path, capture, command, fmt):
    out = tmp_path / "out"
    script = (
        "import os, sys, runpy; os.umask(0); sys.argv = ['pageowner-top', *sys.argv[1:]];"
        "runpy.run_module('pageowner_tui.cli', run_name='__main__')"
    )
    args = (["export", capture, "-f", fmt, "-o", str(out)] if command == "export"
            else ["record", capture, "-o", str(out)])
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out"]
    assert leftovers == [], leftovers
    if command == "record":
        with Recording(str(out)) as recording:
            assert len(recording) == 1


@pytest.mark.parametrize("command,fmt", COMMANDS)
def test_a_fifo_or_directory_at_the_output_path_is_refused(tmp_path, capture, command, fmt):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert_one_line_error(_write(command, capture, fifo, *_args(fmt), "--force"), status=1,
                          mentions="not a regular file")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert_one_line_error(_write(command, capture, folder, *_args(fmt), "--force"), status=1,
                          mentions="not a regular file")


def test_a_failed_export_leaves_neither_output_nor_temporary_file(tmp_path):
    """The input is refused after the output was opened: nothing may be left behind."""
    bad = tmp_path / "bad.txt"
    good = b"Page allocated via order 0, mask 0x0(), pid 1, tgid 1 (a), ts 5 ns\nPFN 0x1 type Movable Block 0 type Movable Flags 0x0()\n f+0x1/0x2\n\n"
    bad.write_bytes(good * 10 + b"garbage\n\n")
    out = tmp_path / "out.txt"
    run = run_cli("export", str(bad), "-f", "page_owner", "-o", str(out))
    assert_one_line_error(run, status=2, mentions=f"{bad}:41")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


def test_output_into_a_missing_directory_is_a_one_line_error(tmp_path, capture):
    out = tmp_path / "missing" / "out.json"
    assert_one_line_error(run_cli("export", capture, "-f", "json", "-o", str(out)), status=1,
                          mentions="does not exist")
