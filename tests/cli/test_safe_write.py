"""Writing as root: no symlink following, no silent overwrite, atomic, mode 0600."""

import os
import stat

import pytest

from pageowner_tui.errors import OutputExistsError, UserError
from pageowner_tui.safe_write import open_output


def test_writes_atomically_with_mode_0600(tmp_path):
    out = tmp_path / "export.txt"
    with open_output(str(out)) as f:
        f.write("hello\n")
        assert not out.exists(), "the target appears only when the write is complete"
    assert out.read_text() == "hello\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["export.txt"]


def test_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "export.txt"
    out.write_text("precious\n")
    with pytest.raises(OutputExistsError, match="use --force"):
        with open_output(str(out)) as f:
            f.write("new\n")
    assert out.read_text() == "precious\n"
    with open_output(str(out), force=True) as f:
        f.write("new\n")
    assert out.read_text() == "new\n"


def test_never_follows_a_symlink_even_with_force(tmp_path):
    victim = tmp_path / "etc-shadow"
    victim.write_text("root:x\n")
    link = tmp_path / "out.txt"
    link.symlink_to(victim)
    for force in (False, True):
        with pytest.raises(OutputExistsError, match="symbolic link"):
            with open_output(str(link), force=force) as f:
                f.write("owned\n")
    assert victim.read_text() == "root:x\n" and link.is_symlink()


def test_failure_leaves_no_partial_file(tmp_path):
    out = tmp_path / "export.txt"
    with pytest.raises(RuntimeError):
        with open_output(str(out)) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_symlink_planted_during_the_write_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    out = tmp_path / "out.txt"
    with pytest.raises(OutputExistsError):
        with open_output(str(out)) as f:
            f.write("data\n")
            os.symlink(victim, out)  # an attacker races us
    assert victim.read_text() == "keep\n"


def test_missing_directory_and_non_regular_targets(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        with open_output(str(tmp_path / "nope" / "x.txt")):
            pass
    with pytest.raises(OutputExistsError, match="not a regular file"):
        with open_output(str(tmp_path), force=True):
            pass
