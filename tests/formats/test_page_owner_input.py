"""formats/input.py: open_input (plain, gzip, clear errors) and sniff (which reader a file needs)."""

from __future__ import annotations

import gzip
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pageowner_tui.errors import FormatError, UserError
from pageowner_tui.formats.input import open_input, read_position, sniff


def test_plain_and_gzip_give_the_same_bytes(real_612, real_dump):
    with open_input(str(real_612 / "page_owner_full.txt.gz")) as f:
        unpacked = f.read()
    with open_input(str(real_dump)) as f:
        plain = f.read()
    assert unpacked == plain and len(plain) == real_dump.stat().st_size


def test_progress_position_of_gzip_counts_compressed_bytes(real_612):
    path = real_612 / "page_owner_full.txt.gz"
    with open_input(str(path)) as f:
        f.read(1 << 20)
        done, total = read_position(f)
        f.read()
        end, _ = read_position(f)
    assert total == path.stat().st_size
    assert 0 < done < total and end == total


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"no such file; check the path$"):
        open_input(str(tmp_path / "nope.txt"))


def test_directory(tmp_path):
    with pytest.raises(UserError, match=r"is a directory"):
        open_input(str(tmp_path))


def test_permission_denied(tmp_path):
    """As an unprivileged user (root is never denied, so drop to nobody in a child)."""
    path = tmp_path / "secret.txt"
    path.write_text("x")
    path.chmod(0o600)
    os.chmod(tmp_path, 0o755)
    code = (
        "import os, sys\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        "from pageowner_tui.errors import UserError\n"
        "from pageowner_tui.formats.input import open_input\n"
        "try:\n"
        f"    open_input({str(path)!r})\n"
        "except UserError as e:\n"
        "    print(e)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)}, check=True,
    ).stdout
    assert out == f"{path}: permission denied; run as a user who can read it\n"


def test_sniff_real_files(real_612, real_dump):
    assert sniff(str(real_612 / "page_owner_full.txt.gz")) == "page_owner"
    assert sniff(str(real_dump)) == "page_owner"
    assert sniff(str(real_612 / "show_stacks_1.txt")) == "show_stacks"
    assert sniff(str(real_612 / "show_stacks_threshold_1000.txt")) == "show_stacks"


@pytest.mark.parametrize(
    "content, kind",
    [
        ("handle: 5\nnr_base_pages: 3\n\n", "show_stacks"),
        (" a+0x1/0x2\nhandle: 7\n\n", "show_stacks"),
        (" a+0x1/0x2\nstack_count: 4\n\n", "show_stacks"),
        ('  \n {"stacks": []}', "json"),
        ("[1, 2]", "json"),
        ('{"time": 1}\n{"time": 2}\n', "json"),
        ("\nPage allocated via order 0, mask 0x0()\n", "page_owner"),
    ],
)
def test_sniff_kinds(tmp_path, content, kind):
    for name, data in (("f.txt", content.encode()), ("f.txt.gz", gzip.compress(content.encode()))):
        path = tmp_path / name
        path.write_bytes(data)
        assert sniff(str(path)) == kind


def test_sniff_sqlite_is_a_recording(tmp_path):
    path = tmp_path / "rec.db"
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")
    db.close()
    assert sniff(str(path)) == "recording"


@pytest.mark.parametrize(
    "content, found",
    [
        (b"", "an empty file"),
        (b"   \n\n", "only whitespace"),
        (b"hello world\n", "hello world"),
        (bytes(range(256)) * 4, "binary data"),
    ],
)
def test_sniff_unknown(tmp_path, content, found):
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    with pytest.raises(FormatError) as info:
        sniff(str(path))
    assert info.value.found == found
    assert str(info.value).startswith(f"{path}:")
    assert "a page_owner dump" in str(info.value) and "\n" not in str(info.value)


def test_sniff_says_when_given_page_owner_sort_output(tmp_path):
    path = tmp_path / "sorted.txt"
    path.write_text("10240 times, 10240 pages, allocated by OTHERS :\nPage allocated via order 0\n")
    with pytest.raises(FormatError, match="looks like page_owner_sort output"):
        sniff(str(path))


def test_sniff_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        sniff(str(tmp_path / "missing"))


def test_a_gzip_input_closes_the_file_under_it(tmp_path):
    """GzipFile leaves a file it was given open: reading many .gz captures (a watched
    folder) would leak a descriptor each."""
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"hello"))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with open_input(str(path)) as f:
            assert f.read() == b"hello"
    assert len(os.listdir("/proc/self/fd")) == before
