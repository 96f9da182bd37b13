"""ReplaySource: time travel over recordings, files and watched folders; PATH@TIME."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest

from pageowner_tui.errors import UserError
from pageowner_tui.formats import json_export, show_stacks
from pageowner_tui.formats.recording import RecordingWriter
from pageowner_tui.sources.base import Source, TimeTravel
from pageowner_tui.sources.replay import ReplaySource, bundled_recording_path, resolve_time, snapshot_at

T0 = dt.datetime(2026, 1, 15, 10, 0, 0).timestamp()  # local time, as users type it; in the past


@pytest.fixture(scope="module")
def captures(real_612):
    return [real_612 / "show_stacks_1.txt", real_612 / "show_stacks_2.txt"]


@pytest.fixture(scope="module")
def snaps(captures):
    return [
        show_stacks.to_snapshot(show_stacks.read(str(p)), source="debugfs", time=0.0, kernel="6.12.117")
        for p in captures
    ]


@pytest.fixture()
def rec(tmp_path, snaps):
    """Ten frames a minute apart from 10:00 local time, alternating the two captures."""
    path = tmp_path / "rec.db"
    with RecordingWriter(str(path), source="debugfs", interval=60.0, keyframe_every=4) as writer:
        for i in range(10):
            writer.append(dataclasses.replace(snaps[i % 2], time=T0 + 60 * i))
    return path


def test_recording_time_travel(rec, snaps):
    source = ReplaySource(str(rec))
    try:
        assert isinstance(source, Source) and isinstance(source, TimeTravel)
        assert source.kind == "replay" and source.capabilities().time_travel
        assert source.frame_times() == [T0 + 60 * i for i in range(10)]
        assert source.position == 0
        assert dict(source.snapshot().stacks) == dict(snaps[0].stacks)
        assert source.step(3).time == T0 + 180 and source.position == 3
        assert dict(source.snapshot().stacks) == dict(snaps[1].stacks)
        assert source.step(-10).time == T0 and source.position == 0  # clamped
        assert source.step(100).time == T0 + 540 and source.position == 9
        assert source.seek(T0 + 150).time == T0 + 120  # last frame at or before
        assert source.seek(T0 - 999).time == T0
        with pytest.raises(UserError):
            list(source.pages(0, 10))
    finally:
        source.close()


def test_recording_still_being_written_grows(tmp_path, snaps):
    path = tmp_path / "live.db"
    writer = RecordingWriter(str(path), source="debugfs", interval=1.0)
    writer.append(dataclasses.replace(snaps[0], time=T0))
    source = ReplaySource(str(path))
    try:
        assert len(source.frame_times()) == 1
        writer.append(dataclasses.replace(snaps[1], time=T0 + 1))
        deadline = time.monotonic() + 5
        while len(source.frame_times()) < 2:  # picked up within the refresh period
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # It was following the newest frame, so it moved on to the new one.
        assert source.position == 1 and source.snapshot().time == T0 + 1
    finally:
        writer.close()
        source.close()


def test_bundled_recording_is_the_real_captures(captures):
    path = bundled_recording_path()
    assert path.is_file()
    source = ReplaySource(str(path))
    try:
        times = source.frame_times()
        assert len(times) == 2 and round(times[1] - times[0], 2) == 12.27
        for index, capture in enumerate(captures):
            expected = show_stacks.to_snapshot(show_stacks.read(str(capture)))
            got = source.frame(index)
            assert dict(got.stacks) == dict(expected.stacks)
            assert got.kernel == "6.12.117" and got.source == "debugfs"
    finally:
        source.close()


def test_single_files_are_one_frame(captures, tmp_path, snaps):
    source = ReplaySource(str(captures[0]))
    try:
        assert len(source.frame_times()) == 1
        assert dict(source.snapshot().stacks) == dict(snaps[0].stacks)
    finally:
        source.close()
    lines = tmp_path / "frames.jsonl"
    objs = [json_export.snapshot_object(dataclasses.replace(s, time=T0 + i)) for i, s in enumerate(snaps)]
    lines.write_text("".join(json.dumps(o) + "\n" for o in objs))
    source = ReplaySource(str(lines))
    try:
        assert source.frame_times() == [T0, T0 + 1]
        assert dict(source.step(1).stacks) == dict(snaps[1].stacks)
    finally:
        source.close()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_folder_reads_what_is_there_and_ignores_temporary_names(tmp_path, captures, snaps):
    folder = tmp_path / "caps"
    folder.mkdir()
    for i, capture in enumerate(captures):
        target = folder / f"show_stacks.{i}"
        target.write_bytes(capture.read_bytes())
        os.utime(target, (T0 + i, T0 + i))
    (folder / ".hidden").write_text("not a capture\n")
    (folder / "half.tmp").write_text(" broken\n")
    (folder / "notes.txt").write_text("not a capture either\n")
    source = ReplaySource(str(folder), watch=False)
    try:
        assert source.frame_times() == [T0, T0 + 1]
        assert dict(source.frame(1).stacks) == dict(snaps[1].stacks)
        assert source.position == 1  # a folder opens on its newest frame
        assert len(source.warnings) == 1 and "notes.txt" in source.warnings[0]
    finally:
        source.close()


def test_watched_folder_picks_up_atomic_and_non_atomic_writes(tmp_path, captures, snaps):
    folder = tmp_path / "caps"
    folder.mkdir()
    first = folder / "a.txt"
    first.write_bytes(captures[0].read_bytes())
    os.utime(first, (T0, T0))
    added = []
    source = ReplaySource(str(folder), settle=1.0, on_frames=added.append)
    try:
        assert len(source.frame_times()) == 1 and source.capabilities().live

        # Atomic: written under a temporary name, renamed into place.
        tmp = folder / ".b.txt.tmp"
        tmp.write_bytes(captures[1].read_bytes())
        os.replace(tmp, folder / "b.txt")
        assert wait_for(lambda: len(source.frame_times()) == 2)
        assert dict(source.snapshot().stacks) == dict(snaps[1].stacks)  # followed to it
        assert source.position == 1

        # Non-atomic: the same capture written in pieces, a pause shorter than settle
        # between them; the half-written file must never become a frame.
        data = captures[0].read_bytes()
        with open(folder / "c.txt", "wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(0.2)
            out.write(data[len(data) // 2 :])
        assert wait_for(lambda: len(source.frame_times()) == 3)
        time.sleep(1.5)  # nothing more arrives: no second, partial frame
        assert len(source.frame_times()) == 3
        assert dict(source.frame(2).stacks) == dict(snaps[0].stacks)
        assert source.position == 2
        assert added == [1, 2, 3] and source.warnings == []  # the first scan, then each landing
    finally:
        source.close()


def test_stepping_back_stops_following(tmp_path, captures, snaps):
    folder = tmp_path / "caps"
    folder.mkdir()
    for i in range(2):
        f = folder / f"{i}.txt"
        f.write_bytes(captures[i].read_bytes())
        os.utime(f, (T0 + i, T0 + i))
    source = ReplaySource(str(folder), settle=0.2)
    try:
        shown = source.step(-1)
        assert source.position == 0
        (folder / "2.txt").write_bytes(captures[1].read_bytes())
        assert wait_for(lambda: len(source.frame_times()) == 3)
        assert source.position == 0
        assert source.snapshot() is shown
    finally:
        source.close()


def test_a_file_rewritten_after_it_was_read_replaces_its_frame(tmp_path, captures, snaps):
    folder = tmp_path / "caps"
    folder.mkdir()
    source = ReplaySource(str(folder), settle=0.2)
    try:
        target = folder / "x.txt"
        target.write_bytes(captures[0].read_bytes())
        assert wait_for(lambda: len(source.frame_times()) == 1)
        target.write_bytes(captures[1].read_bytes())
        assert wait_for(lambda: dict(source.snapshot().stacks) == dict(snaps[1].stacks))
        assert len(source.frame_times()) == 1
    finally:
        source.close()


def test_missing_and_empty(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        ReplaySource(str(tmp_path / "nope.db"))
    with pytest.raises(UserError, match="no snapshot files"):
        ReplaySource(str(tmp_path), watch=False)


# --- PATH@TIME ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, index",
    [
        ("10:00", 0),
        ("10:03", 3),
        ("10:03:59", 3),
        ("10:09:30", 9),
        ("+0s", 0),
        ("+2m", 2),
        ("+150", 2),
        ("+1m59s", 1),
        ("-1m", 8),
        ("-0s", 9),
        ("#4", 4),
        ("#-1", 9),
        ("2026-01-15T10:05:00", 5),
        ("2026-01-15 10:05:30", 5),
    ],
)
def test_resolve_time(text, index):
    times = [T0 + 60 * i for i in range(10)]
    assert resolve_time(text, times) == index


def test_resolve_absolute_forms():
    times = [T0 + 60 * i for i in range(10)]
    assert resolve_time(str(T0 + 61), times) == 1
    utc = dt.datetime.fromtimestamp(T0 + 120, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert resolve_time(utc, times) == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("11:30", "outside"),
        ("+1h", "outside"),
        ("#10", "frame 10 is not in"),
        ("#x", "bad frame number"),
        ("25:00", "bad clock time"),
        ("yesterday", "cannot read the time"),
    ],
)
def test_resolve_time_errors_say_what_to_do(text, message):
    times = [T0 + 60 * i for i in range(10)]
    with pytest.raises(UserError, match=message) as info:
        resolve_time(text, times)
    assert "\n" not in str(info.value)


def test_snapshot_at(rec, snaps):
    at = snapshot_at(f"{rec}@10:03")
    assert at.time == T0 + 180 and dict(at.stacks) == dict(snaps[1].stacks)
    assert at.meta["frame"] == "3"
    last = snapshot_at(str(rec))
    assert last.time == T0 + 540
    with pytest.raises(UserError, match="no such file"):
        snapshot_at(f"{rec}.missing@10:00")
    with pytest.raises(UserError, match="outside"):
        snapshot_at(f"{rec}@12:00")


def test_snapshot_at_a_path_containing_at(tmp_path, rec):
    odd = tmp_path / "rec@2.db"
    odd.write_bytes(Path(rec).read_bytes())
    assert snapshot_at(str(odd)).time == T0 + 540
    assert snapshot_at(f"{odd}@#0").time == T0


def test_page_owner_dump_replays_as_one_frame(real_612, tmp_path):
    """The real 61,051-record page_owner dump, gzip'd as bug reports carry it, in a folder."""
    from pageowner_tui.formats import page_owner

    folder = tmp_path / "dumps"
    folder.mkdir()
    dump = folder / "page_owner_full.txt.gz"
    dump.write_bytes((real_612 / "page_owner_full.txt.gz").read_bytes())
    expected = page_owner.read_snapshot(str(dump))
    source = ReplaySource(str(folder), watch=False)
    try:
        assert len(source.frame_times()) == 1 and source.warnings == []
        got = source.snapshot()
        assert got.total_pages == expected.total_pages > 0
        assert {k: s.pages for k, s in got.stacks.items()} == {k: s.pages for k, s in expected.stacks.items()}
    finally:
        source.close()
