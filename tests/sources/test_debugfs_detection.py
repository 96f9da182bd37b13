"""Every way the debugfs source cannot start says so in one line, with what to do; and
``preflight`` (what `doctor` prints) gives the same answers without reading page_owner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_debugfs import FakeMachine, load_show_stacks  # noqa: E402

from pageowner_tui.errors import SourceUnavailable  # noqa: E402
from pageowner_tui.sources.debugfs import DebugfsSource, preflight, stacks_available  # noqa: E402


@pytest.fixture(scope="module")
def stacks(real_612):
    return load_show_stacks(real_612 / "show_stacks_1.txt")


@pytest.mark.parametrize(
    "knobs, check, message",
    [
        (
            {"mounted": False},
            "debugfs",
            "debugfs is not mounted at /sys/kernel/debug: mount it with 'mount -t debugfs none /sys/kernel/debug'",
        ),
        (
            {"config_page_owner": False},
            "page_owner",
            "page_owner is not compiled into this kernel (CONFIG_PAGE_OWNER is not set in /proc/config.gz, 6.12.117): "
            "use a kernel built with CONFIG_PAGE_OWNER=y, or --source ebpf",
        ),
        (
            {"enabled": False},
            "page_owner",
            "page_owner is compiled in but not enabled (/sys/kernel/debug/page_owner is missing): "
            "boot with page_owner=on on the kernel command line",
        ),
        (
            {"enabled": False, "config_page_owner": None},
            "page_owner",
            "/sys/kernel/debug/page_owner not found (no CONFIG_PAGE_OWNER in this kernel, or booted without "
            "page_owner=on): add page_owner=on to the kernel command line",
        ),
        (
            {"root_user": False},
            "permissions",
            "permission denied reading /sys/kernel/debug/page_owner: debugfs is readable by root only; "
            "run pageowner-top as root (sudo)",
        ),
    ],
)
def test_one_line_for_each_reason(stacks, knobs, check, message):
    machine = FakeMachine(stacks=list(stacks), **knobs)
    with pytest.raises(SourceUnavailable) as err:
        DebugfsSource(files=machine)
    text = str(err.value)
    assert text.startswith(message)
    assert "\n" not in text
    assert err.value.exit_status == 3
    # doctor says the same, as a failed check, and never reads the page_owner file.
    checks = preflight(files=machine)
    assert not checks[-1].ok and checks[-1].line().startswith("[FAIL]")
    assert f"{checks[-1].detail}: {checks[-1].fix}" == text
    assert checks[-1].name == check
    assert machine.page_owner_reads == 0


def test_preflight_on_a_healthy_6_12(stacks):
    machine = FakeMachine(stacks=list(stacks))
    checks = {c.name: c for c in preflight(files=machine)}
    assert list(checks) == ["debugfs", "page_owner", "show_stacks", "handles", "count_threshold", "permissions"]
    assert all(c.ok for c in checks.values())
    assert "before 6.19" in checks["handles"].detail
    assert machine.page_owner_reads == 0 and machine.opened["/sys/kernel/debug/page_owner"] == 0


def test_preflight_on_6_19_under_lockdown(stacks):
    machine = FakeMachine(stacks=list(stacks), handles=True, lockdown="integrity")
    checks = {c.name: c for c in preflight(files=machine)}
    assert checks["handles"].ok and "6.19" in checks["handles"].detail
    # Degraded, not broken: the check passes (doctor counts the source as usable) and says why.
    assert checks["count_threshold"].ok
    assert "EPERM: lockdown is integrity" in checks["count_threshold"].detail
    assert "applied by pageowner-top" in checks["count_threshold"].detail


def test_preflight_before_6_9_says_slow_path():
    machine = FakeMachine(release="6.6.0", stacks=None)
    checks = {c.name: c for c in preflight(files=machine)}
    assert checks["show_stacks"].ok and "slow path" in checks["show_stacks"].detail
    assert "count_threshold" not in checks and "handles" not in checks
    assert not stacks_available(files=machine)
    assert stacks_available(files=FakeMachine(stacks=[]))


def test_missing_and_odd_roots(tmp_path):
    with pytest.raises(SourceUnavailable, match=r"nope does not exist: --debugfs wants the debugfs mount point"):
        DebugfsSource(str(tmp_path / "nope"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SourceUnavailable, match="is not a directory"):
        DebugfsSource(str(a_file))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceUnavailable, match=f"debugfs is not mounted at {empty}: mount it with 'mount -t debugfs none {empty}'"):
        DebugfsSource(str(empty))
    other = tmp_path / "other"
    (other / "tracing").mkdir(parents=True)
    with pytest.raises(SourceUnavailable, match="neither a debugfs mount nor a copy of one"):
        DebugfsSource(str(other))


def test_copy_with_an_empty_page_owner_says_empty(tmp_path):
    (tmp_path / "page_owner").write_bytes(b"")
    with pytest.raises(SourceUnavailable, match=r"page_owner is empty \(the kernel it was copied from was not booted with page_owner=on"):
        DebugfsSource(str(tmp_path))


def test_this_machine_without_page_owner():
    """The host kernel has no CONFIG_PAGE_OWNER: the real default root says exactly why."""
    from pageowner_tui.kernel.debugfs_files import OsFiles, read_whole
    import gzip

    try:
        config = gzip.decompress(read_whole(OsFiles(), "/proc/config.gz")).decode()
    except OSError:
        pytest.skip("no /proc/config.gz on this machine")
    if "CONFIG_PAGE_OWNER=y" in config:
        pytest.skip("this kernel has page_owner")
    with open("/proc/self/mounts") as f:
        mounted = any(line.split()[1:3] == ["/sys/kernel/debug", "debugfs"] for line in f)
    with pytest.raises(SourceUnavailable) as err:
        DebugfsSource()
    if mounted:
        assert str(err.value).startswith("page_owner is not compiled into this kernel (")
        assert "CONFIG_PAGE_OWNER is not set in /proc/config.gz" in str(err.value)
    else:
        assert str(err.value).startswith("debugfs is not mounted at /sys/kernel/debug")
