"""`pageowner-top replay`, and recordings/JSON through the other commands (top, export,
diff), all through the installed command."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3

import pytest

from pageowner_tui.formats import collapsed, json_export, show_stacks
from pageowner_tui.formats.recording import RecordingWriter

from .command import run

T0 = dt.datetime(2026, 1, 15, 10, 0, 0).timestamp()


def one_line_error(proc, status):
    assert proc.returncode == status, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pageowner-top: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def snaps(real_612):
    return [
        show_stacks.to_snapshot(show_stacks.read(str(real_612 / f"show_stacks_{i}.txt")), source="debugfs",
                                time=0.0, kernel="6.12.117")
        for i in (1, 2)
    ]


@pytest.fixture()
def rec(tmp_path, snaps):
    path = tmp_path / "rec.db"
    with RecordingWriter(str(path), source="debugfs", interval=60.0, kernel="6.12.117") as writer:
        for i in range(6):
            writer.append(dataclasses.replace(snaps[i % 2], time=T0 + 60 * i))
    return path


def frame_lines(stdout):
    return [l for l in stdout.splitlines() if l[:1] in (" ", ">") and l[2:8].strip().isdigit()]


def test_replay_without_path_lists_the_bundled_real_recording():
    proc = run("replay", "--list")
    lines = frame_lines(proc.stdout)
    assert len(lines) == 2
    assert lines[0].split()[-3:] == ["784", "55706", "debugfs"]
    assert lines[1].split()[-3:] == ["809", "59960", "debugfs"]


def test_replay_list_at_a_time(rec):
    lines = frame_lines(run("replay", rec, "--list", "--at", "10:03:30").stdout)
    assert len(lines) == 6
    assert [l.startswith(">") for l in lines] == [False, False, False, True, False, False]


def test_replay_needs_a_terminal_for_the_tui(rec):
    proc = run("replay", rec, check=False)
    one_line_error(proc, 1)
    assert "--list" in proc.stderr


def test_bad_time_is_one_line(rec):
    one_line_error(run("replay", rec, "--list", "--at", "tomorrow", check=False), 1)
    one_line_error(run("replay", rec, "--list", "--at", "23:59", check=False), 1)


def test_newer_schema_is_refused_in_one_line(rec):
    db = sqlite3.connect(rec)
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    proc = run("replay", rec, "--list", check=False)
    one_line_error(proc, 2)
    assert "schema version 7" in proc.stderr and "upgrade" in proc.stderr


def test_truncated_recording_replays_what_survived(tmp_path, rec):
    data = rec.read_bytes()
    cut = tmp_path / "cut.db"
    cut.write_bytes(data[: int(len(data) * 0.97)])
    proc = run("replay", cut, "--list")
    assert "warning:" in proc.stderr and "complete frames" in proc.stderr
    assert 0 < len(frame_lines(proc.stdout)) < 6


def test_not_a_recording(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    proc = run("replay", other, "--list", check=False)
    one_line_error(proc, 2)
    assert "another program" in proc.stderr


def test_top_json_lines_replay_as_frames(tmp_path, real_612):
    out = run("top", real_612 / "show_stacks_2.txt", "--json", "-n", "3", "-i", "0.05").stdout
    frames_file = tmp_path / "frames.jsonl"
    frames_file.write_text(out)
    assert len(frame_lines(run("replay", frames_file, "--list").stdout)) == 3


def test_recording_through_top_export_and_diff(tmp_path, rec, snaps):
    # export json and collapsed from a recording: its last frame, or the frame @TIME names
    # (as diff reads them)
    js = tmp_path / "frame.json"
    run("export", rec, "-f", "json", "-o", js)
    exported = json_export.read(str(js))
    assert dict(exported.stacks) == dict(snaps[-1].stacks)
    first = tmp_path / "first.json"
    run("export", f"{rec}@10:00", "-f", "json", "-o", first)
    exported = json_export.read(str(first))
    assert dict(exported.stacks) == dict(snaps[0].stacks) and exported.time == T0
    folded = tmp_path / "frame.folded"
    run("export", f"{rec}@#0", "-f", "collapsed", "-o", folded)
    assert sum(n for _, n in collapsed.parse(folded.read_text())) == snaps[0].total_pages
    # diff two times of one recording
    result = json.loads(run("diff", f"{rec}@10:00", f"{rec}@10:01", "--json").stdout)
    assert result["before"]["time"] == T0 and result["after"]["time"] == T0 + 60
    assert result["after"]["total_pages"] - result["before"]["total_pages"] == snaps[1].total_pages - snaps[0].total_pages
