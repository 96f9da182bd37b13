"""The CLI contract on files: top (text and JSON Lines), export, diff, errors as one line."""

from __future__ import annotations

import json
import subprocess

import pytest

from pageowner_tui.formats import show_stacks

from .command import BIN, ROOT, run


@pytest.fixture(scope="module")
def stacks1(real_612):
    return real_612 / "show_stacks_1.txt"


def test_help_has_examples():
    out = run("--help").stdout
    assert "examples:" in out
    for command in ("top", "export", "diff", "doctor", "record", "replay"):
        assert command in out
        assert "examples:" in run(command, "--help").stdout or command == "doctor"


def test_top_text_on_show_stacks(stacks1):
    out = run("top", stacks1, "--limit", "5").stdout
    lines = out.splitlines()
    assert lines[0].startswith("pageowner-top - ") and "source file" in lines[0]
    parsed = show_stacks.to_snapshot(show_stacks.parse(stacks1.read_text()))
    assert f"Stacks: {len(parsed.stacks)} total, 5 shown" in lines[1]
    assert f"Pages: {parsed.total_pages} " in lines[1]
    rows = [l for l in lines if l[:9].strip().isdigit()]
    top_pages = sorted((s.pages for s in parsed.stacks.values()), reverse=True)[:5]
    assert [int(r.split()[0]) for r in rows] == top_pages


def test_top_json_lines_contract(stacks1):
    out = run("top", stacks1, "--json", "--limit", "3", "--sort", "pages").stdout
    frames = [json.loads(line) for line in out.splitlines()]
    assert len(frames) == 1
    frame = frames[0]
    for key in ("time", "source", "stacks"):
        assert key in frame
    assert len(frame["stacks"]) == 3
    first = frame["stacks"][0]
    assert {"id", "pages", "frames"} <= set(first)
    assert first["frames"][0].startswith("get_page_from_freelist+")
    assert [s["pages"] for s in frame["stacks"]] == sorted((s["pages"] for s in frame["stacks"]), reverse=True)


def test_top_repeats_with_count(stacks1):
    out = run("top", stacks1, "--json", "-n", "3", "-i", "0.05", "--limit", "1").stdout
    frames = [json.loads(line) for line in out.splitlines()]
    assert len(frames) == 3


def test_top_filter_threshold(stacks1):
    out = run("top", stacks1, "--json", "--filter", "module:ext4", "--threshold", "2").stdout
    stacks = json.loads(out)["stacks"]
    assert stacks and all(any("[ext4]" in f for f in s["frames"]) and s["pages"] >= 2 for s in stacks)


def test_bad_filter_is_one_line(stacks1):
    proc = run("top", stacks1, "--filter", "(oops", check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "bad regular expression" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_show_stacks_round_trip(stacks1, tmp_path):
    out = tmp_path / "out.txt"
    proc = run("export", stacks1, "-f", "show_stacks", "-o", out)
    assert out.read_text() == stacks1.read_text()
    assert "wrote" in proc.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_export_refuses_overwrite_and_symlink(stacks1, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("mine\n")
    proc = run("export", stacks1, "-f", "show_stacks", "-o", out, check=False)
    assert proc.returncode != 0 and "--force" in proc.stderr and out.read_text() == "mine\n"
    link = tmp_path / "link.txt"
    link.symlink_to(out)
    proc = run("export", stacks1, "-f", "show_stacks", "-o", link, "--force", check=False)
    assert proc.returncode != 0 and "symbolic link" in proc.stderr and out.read_text() == "mine\n"
    run("export", stacks1, "-f", "show_stacks", "-o", out, "--force")
    assert out.read_text() == stacks1.read_text()


def test_diff_two_real_captures(real_612):
    a, b = real_612 / "show_stacks_1.txt", real_612 / "show_stacks_2.txt"
    out = run("diff", a, b, "--json").stdout
    result = json.loads(out)
    sa = show_stacks.to_snapshot(show_stacks.parse(a.read_text()))
    sb = show_stacks.to_snapshot(show_stacks.parse(b.read_text()))
    assert result["after"]["total_pages"] - result["before"]["total_pages"] == sb.total_pages - sa.total_pages
    changes = [s["change"] for s in result["stacks"]]
    assert changes == sorted(changes, reverse=True) and 0 not in changes
    assert all(s["after"] - s["before"] == s["change"] for s in result["stacks"])
    grown = [s for s in result["stacks"] if s["change"] > 0]
    assert grown and changes[0] == max(changes)
    text = run("diff", a, b, "--limit", "3").stdout
    assert "CHANGE" in text and len(text.splitlines()) == 4 + 3


def test_malformed_file_exit_2_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(" frame+0x1/0x2\nnr_base_pages: many\n\n")
    proc = run("top", bad, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pageowner-top: {bad}:2: expected a decimal number after 'nr_base_pages:', found 'many'"


def test_missing_file(tmp_path):
    proc = run("top", tmp_path / "nope.txt", check=False)
    assert proc.returncode != 0 and "nope.txt" in proc.stderr and "Traceback" not in proc.stderr


def test_sigpipe_is_quiet(stacks1):
    proc = subprocess.run(
        f"'{BIN}' top '{stacks1}' --frames --limit 500 | head -n 2",
        shell=True, capture_output=True, text=True, timeout=60,
    )
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "Broken pipe" not in proc.stderr


BUNDLED = ROOT / "pageowner_tui" / "data" / "real-6.12-show-stacks.db"


def test_export_a_recording_frame(real_612, tmp_path):
    """RECORDING@TIME names one frame; without @TIME, the last."""
    first = tmp_path / "first.txt"
    run("export", f"{BUNDLED}@#0", "-f", "show_stacks", "-o", first)
    assert first.read_text() == (real_612 / "show_stacks_1.txt").read_text()
    last = tmp_path / "last.txt"
    proc = run("export", BUNDLED, "-f", "show_stacks", "-o", last)
    # A recording keeps each frame's counts, not the kernel's listing order.
    def counts(path):
        return {e.stack.id: e.pages for e in show_stacks.parse(path.read_text()).entries}

    assert counts(last) == counts(real_612 / "show_stacks_2.txt")
    assert "frame 1" in proc.stderr
    bad = run("export", f"{BUNDLED}@#7", "-f", "json", "-o", tmp_path / "x.json", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_json_export_reads_back_in_top_and_diff(real_612, tmp_path):
    out = tmp_path / "snap.json"
    run("export", real_612 / "show_stacks_2.txt", "-f", "json", "-o", out)
    frame = json.loads(run("top", out, "--json").stdout)
    assert sum(s["pages"] for s in frame["stacks"]) == show_stacks.to_snapshot(
        show_stacks.parse((real_612 / "show_stacks_2.txt").read_text())).total_pages
    result = json.loads(run("diff", real_612 / "show_stacks_2.txt", out, "--json").stdout)
    assert result["stacks"] == []  # the same snapshot through JSON: nothing changed
