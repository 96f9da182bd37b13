"""`doctor` reports every gap in one line with a fix; sources fail with the same lines."""

import os
import subprocess

import pytest

from .command import BIN


def test_doctor_as_root_on_this_machine():
    proc = subprocess.run([str(BIN), "doctor"], capture_output=True, text=True, timeout=60)
    out = proc.stdout
    assert "system:" in out and "ebpf source:" in out and "debugfs source:" in out
    assert "[ok  ] root" in out
    # This machine's kernel has the tracepoints but no CONFIG_PAGE_OWNER (the brief).
    assert "[ok  ] kmem:mm_page_alloc" in out
    debugfs_lines = out.split("debugfs source:")[1]
    assert "[FAIL]" in debugfs_lines and "page_owner" in debugfs_lines
    assert proc.returncode == 0 and "live sources available: ebpf" in out


def test_doctor_on_a_debugfs_copy_without_page_owner(tmp_path):
    proc = subprocess.run([str(BIN), "doctor", "--debugfs", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert "[FAIL]" in proc.stdout.split("debugfs source:")[1]
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_not_root_gets_one_line_per_gap_and_nonzero_exit(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path))
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(BIN)]
    proc = subprocess.run(cmd + ["top", "--source", "ebpf", "-n", "1"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "root" in proc.stderr
    doctor = subprocess.run(cmd + ["doctor"], capture_output=True, text=True, timeout=60, env=env)
    assert "[FAIL] root" in doctor.stdout and "sudo" in doctor.stdout
    assert doctor.returncode == 1
