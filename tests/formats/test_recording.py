"""Recordings: round trips on real stacks, safe creation, damage, newer schemas, threads."""

from __future__ import annotations

import dataclasses
import os
import random
import sqlite3
import threading
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pageowner_tui.errors import FormatError, OutputExistsError, UserError
from pageowner_tui.formats import recording, show_stacks
from pageowner_tui.formats.recording import Recording, RecordingWriter
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack_text


@pytest.fixture(scope="module")
def real(real_612):
    s1 = show_stacks.to_snapshot(
        show_stacks.read(str(real_612 / "show_stacks_1.txt")), source="debugfs", time=1000.0, kernel="6.12.117"
    )
    s2 = show_stacks.to_snapshot(
        show_stacks.read(str(real_612 / "show_stacks_2.txt")), source="debugfs", time=1012.27, kernel="6.12.117"
    )
    return s1, s2


def same(a: Snapshot, b: Snapshot) -> None:
    """Every field a recording keeps is equal."""
    assert a.time == b.time
    assert a.source == b.source
    assert a.kernel == b.kernel
    assert dict(a.counters) == dict(b.counters)
    assert dict(a.meta) == dict(b.meta)
    assert dict(a.stacks) == dict(b.stacks)


def varied(base: Snapshot, seed: int, time: float) -> Snapshot:
    """A frame derived from a real snapshot: some stacks gone, counts changed, breakdowns,
    allocations and handles on some, counters and meta that change now and then."""
    rng = random.Random(seed)
    stats = []
    for stat in base.stacks.values():
        roll = rng.random()
        if roll < 0.1:
            continue  # gone this tick
        pages = stat.pages + (rng.randint(-stat.pages, 50) if roll < 0.3 else 0)
        extra = {}
        if roll > 0.9:
            extra["breakdowns"] = {
                Breakdown.COMM: {"dd": rng.randint(1, 9), "kworker/0:1": 1},
                Breakdown.ORDER: {str(rng.randint(0, 3)): pages},
            }
        stats.append(
            StackStat(
                stat.stack,
                pages,
                allocations=rng.randint(0, 5) if roll > 0.5 else 0,
                handle=rng.randint(1, 1 << 31) if roll > 0.95 else None,
                **extra,
            )
        )
    return Snapshot.from_stats(
        stats,
        source="ebpf",
        time=time,
        kernel="6.12.117",
        counters={"untracked_free_pages": seed // 3},
        meta={"mode": "live", "note": str(seed // 4)},
    )


def write_all(path, snapshots, **kw):
    with RecordingWriter(str(path), source="ebpf", interval=1.0, kernel="6.12.117", **kw) as writer:
        for snapshot in snapshots:
            writer.append(snapshot)
    return writer


def test_real_captures_round_trip(tmp_path, real):
    s1, s2 = real
    s3 = dataclasses.replace(s1, time=1020.0)
    path = tmp_path / "rec.db"
    write_all(path, [s1, s2, s3])
    with Recording(str(path)) as rec:
        assert len(rec) == 3 and rec.warnings == []
        assert rec.times() == [1000.0, 1012.27, 1020.0]
        assert rec.meta["schema_version"] == "1"
        assert rec.meta["kernel"] == "6.12.117" and rec.meta["source"] == "ebpf"
        assert {"tool_version", "hostname", "interval", "started"} <= set(rec.meta)
        for index, original in [(2, s3), (0, s1), (1, s2), (2, s3)]:
            same(rec.frame(index), original)
        # Stack texts are stored once: 784 + the 38 new in the second capture.
        assert len(rec.stacks) == len(set(s1.stacks) | set(s2.stacks))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seeds=st.lists(st.integers(0, 10_000), min_size=1, max_size=12),
    keyframe_every=st.integers(1, 5),
    order=st.randoms(use_true_random=False),
)
def test_any_sequence_reads_back_in_any_order(tmp_path_factory, real, seeds, keyframe_every, order):
    s1, s2 = real
    snapshots = [varied(s1 if seed % 2 else s2, seed, 100.0 + i) for i, seed in enumerate(seeds)]
    path = tmp_path_factory.mktemp("prop") / "rec.db"
    write_all(path, snapshots, keyframe_every=keyframe_every)
    indices = list(range(len(snapshots))) * 2
    order.shuffle(indices)
    with Recording(str(path)) as rec:
        assert len(rec) == len(snapshots)
        for index in indices:
            same(rec.frame(index), snapshots[index])


def test_keyframes_bound_the_work_of_a_seek(tmp_path, real):
    s1, _ = real
    snapshots = [varied(s1, seed, 10.0 + seed) for seed in range(40)]
    write_all(tmp_path / "rec.db", snapshots, keyframe_every=7)
    db = sqlite3.connect(tmp_path / "rec.db")
    rows = db.execute("SELECT seq, key FROM frames ORDER BY seq").fetchall()
    assert rows[0] == (0, 0)
    assert all(0 <= seq - key < 7 for seq, key in rows)
    assert sum(seq == key for seq, key in rows) >= 40 // 7
    # Deltas are stored as changes: a frame equal to the one before stores no entries.
    write_all(tmp_path / "same.db", [s1, dataclasses.replace(s1, time=2000.0)])
    counts = sqlite3.connect(tmp_path / "same.db").execute("SELECT counts FROM frames WHERE seq = 1").fetchone()[0]
    ids, pages, allocs, removed = recording.decode_counts(counts)
    assert ids == [] and removed == []


def test_file_is_private_and_never_overwritten_silently(tmp_path, real):
    s1, _ = real
    path = tmp_path / "rec.db"
    write_all(path, [s1])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        RecordingWriter(str(path), source="ebpf", interval=1.0)
    assert path.read_bytes() == before
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "link.db"
    link.symlink_to(victim)
    with pytest.raises(OutputExistsError, match="symbolic link"):
        RecordingWriter(str(link), source="ebpf", interval=1.0, force=True)
    assert victim.read_text() == "keep me\n" and link.is_symlink()
    write_all(path, [dataclasses.replace(s1, time=5.0)], force=True)
    with Recording(str(path)) as rec:
        assert rec.times() == [5.0]


def test_time_must_not_go_backwards(tmp_path, real):
    s1, _ = real
    with RecordingWriter(str(tmp_path / "rec.db"), source="ebpf", interval=1.0) as writer:
        writer.append(s1)
        with pytest.raises(UserError, match="before the previous frame"):
            writer.append(dataclasses.replace(s1, time=s1.time - 1))


def test_writer_works_from_another_thread_while_a_reader_follows(tmp_path, real):
    s1, s2 = real
    path = tmp_path / "rec.db"
    writer = RecordingWriter(str(path), source="ebpf", interval=1.0)
    writer.append(s1)
    reader = Recording(str(path))
    assert len(reader) == 1
    frames = [varied(s2, seed, 2000.0 + seed) for seed in range(5)]
    errors = []

    def record():
        try:
            for frame in frames:
                writer.append(frame)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=record)
    thread.start()
    thread.join()
    writer.close()
    assert errors == []
    assert reader.refresh() == 5
    same(reader.frame(-1), frames[-1])
    same(reader.frame(0), s1)
    reader.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path, real):
    s1, _ = real
    path = tmp_path / "rec.db"
    write_all(path, [s1])
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 2")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(FormatError) as info:
        Recording(str(path))
    message = str(info.value)
    assert str(path) in message and "schema version 2" in message and "upgrade" in message
    assert "\n" not in message


def test_other_files_are_refused(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(FormatError, match="another program"):
        Recording(str(other))
    text = tmp_path / "text.db"
    text.write_text("hello\n")
    with pytest.raises(FormatError, match="pageowner-top recording"):
        Recording(str(text))
    assert recording.is_recording(str(other)) is False


def _frames_file(tmp_path, real, n=60, keyframe_every=10):
    s1, s2 = real
    snapshots = [varied(s1 if i % 3 else s2, i, 500.0 + i) for i in range(n)]
    path = tmp_path / "rec.db"
    write_all(path, snapshots, keyframe_every=keyframe_every)
    return path, snapshots


def test_truncated_recording_opens_up_to_the_last_good_frame(tmp_path, real):
    path, snapshots = _frames_file(tmp_path, real)
    data = path.read_bytes()
    partial_opens = 0
    for fraction in (0.95, 0.9, 0.8, 0.7, 0.5):
        cut = tmp_path / f"cut-{fraction}.db"
        cut.write_bytes(data[: int(len(data) * fraction)])
        try:
            rec = Recording(str(cut))
        except FormatError as exc:  # damage reached the metadata: refused, one line
            assert str(cut) in str(exc) and "\n" not in str(exc)
            continue
        with rec:
            assert 0 < len(rec) < len(snapshots)
            assert rec.warnings and all(str(cut) in w for w in rec.warnings)
            assert f"showing the {len(rec)} complete frames" in rec.warnings[-1]
            for index in range(len(rec)):
                same(rec.frame(index), snapshots[index])
            partial_opens += 1
    assert partial_opens >= 2


def test_corrupted_frame_is_found_by_its_checksum(tmp_path, real):
    path, snapshots = _frames_file(tmp_path, real, n=30, keyframe_every=30)
    db = sqlite3.connect(path)
    blob = db.execute("SELECT counts FROM frames WHERE seq = 20").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    at = data.find(blob)
    assert at > 0 and len(blob) > 8
    data[at + len(blob) // 2] ^= 0xFF  # one flipped byte inside frame 20's counts
    bad = tmp_path / "bad.db"
    bad.write_bytes(bytes(data))
    with Recording(str(bad)) as rec:
        assert len(rec) == 20
        assert "frame 20 fails its checksum" in rec.warnings[0]
        same(rec.frame(19), snapshots[19])


def test_no_complete_frame_is_an_error(tmp_path):
    path = tmp_path / "empty.db"
    RecordingWriter(str(path), source="ebpf", interval=1.0).close()
    with pytest.raises(FormatError, match="at least one complete frame"):
        Recording(str(path))


def test_sniffing_bytes(tmp_path, real):
    path, _ = _frames_file(tmp_path, real, n=1)
    head = path.read_bytes()[:100]
    assert recording.looks_like_recording(head)
    assert not recording.looks_like_recording(head[:50])
    assert not recording.looks_like_recording(b"x" * 100)


def test_counts_encoding_round_trips_extremes():
    ids = [1, 2, 3, 1000, 70000, 2**32 - 1]
    pages = [0, -5, 2**40, -(2**40), 1, 7]
    allocs = [0, 1, 2, 3, 4, 5]
    removed = [4, 5, 99999]
    got = recording.decode_counts(recording.encode_counts(ids, pages, allocs, removed))
    assert got[0] == ids and list(got[1]) == pages and list(got[2]) == allocs and got[3] == removed


def test_breakdowns_are_frozen_on_reading(tmp_path, real):
    s1, _ = real
    stat = next(iter(s1.stacks.values()))
    snap = Snapshot.from_stats(
        [dataclasses.replace(stat, breakdowns={Breakdown.PID: {"42": 3}})], source="ebpf", time=1.0
    )
    write_all(tmp_path / "b.db", [snap])
    with Recording(str(tmp_path / "b.db")) as rec:
        got = rec.frame(0).stacks[stat.id].breakdown(Breakdown.PID)
    assert got == {"42": 3} and isinstance(got, MappingProxyType)


def test_killed_recorder_leaves_a_hot_journal_that_is_rolled_back(tmp_path, real):
    """A frame half-written at kill time is rolled back by SQLite on the next open."""
    s1, s2 = real
    path = tmp_path / "rec.db"
    write_all(path, [s1])
    # Simulate the state kill -9 leaves mid-commit: a transaction begun and pages written,
    # never committed, process gone (the connection is abandoned without rollback).
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = 1")  # force page writes (and the journal) before commit
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO stacks (id, text) VALUES (10000, ?)", ("x" * 100_000,))
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())
    journal = tmp_path / "rec.db-journal"
    if journal.exists():
        (tmp_path / "copy.db-journal").write_bytes(journal.read_bytes())
    db.execute("ROLLBACK")
    db.close()
    assert (tmp_path / "copy.db-journal").exists(), "the test did not produce a hot journal"
    with Recording(str(copy)) as rec:
        assert len(rec) == 1 and rec.warnings == []
        same(rec.frame(0), s1)
        assert len(rec.stacks) == len(s1.stacks)
    os.unlink(path)


@pytest.fixture()
def tiny_filesystem(tmp_path):
    """A 1 MiB tmpfs: a real full disk, without filling the machine's."""
    import subprocess

    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root, as CI runs): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_a_clear_error_and_keeps_earlier_frames(tiny_filesystem, real):
    s1, s2 = real
    path = tiny_filesystem / "rec.db"
    filler = tiny_filesystem / "filler"
    filler.write_bytes(b"x" * 300_000)

    def frame(i):  # every frame brings new stacks, so the file grows until the disk is full
        base = varied(s1 if i % 2 else s2, i, 10.0 + i)
        stats = [StackStat(intern_stack_text(s.stack.text + f" grow_{i}+0x0/0x1\n"), s.pages)
                 for s in list(base.stacks.values())[:40]]
        return Snapshot.from_stats(stats, source="ebpf", time=10.0 + i)

    frames = []
    with RecordingWriter(str(path), source="ebpf", interval=1.0, keyframe_every=4) as writer:
        with pytest.raises(UserError) as info:
            for i in range(1000):
                writer.append(frame(i))
                frames.append(frame(i))
        message = str(info.value)
        assert str(path) in message and f"the {len(frames)} frames before it are saved" in message
        assert "\n" not in message and len(frames) > 3
        # Space again: the frame that failed goes in, and the file stays consistent.
        filler.unlink()
        frames.append(frame(len(frames)))
        writer.append(frames[-1])
    with Recording(str(path)) as rec:
        assert len(rec) == len(frames) and rec.warnings == []
        for index in (0, len(frames) - 2, len(frames) - 1):
            same(rec.frame(index), frames[index])


def test_checkpoints_give_the_same_frames_in_any_order(tmp_path, real):
    """Long segments (keyframe every 30): stepping back and jumping around within them
    goes through the reader's checkpoints, and every frame is still exact."""
    s1, s2 = real
    snapshots = [varied(s1 if i % 5 else s2, i, 100.0 + i) for i in range(45)]
    write_all(tmp_path / "rec.db", snapshots, keyframe_every=30)
    order = list(range(44, -1, -1)) + random.Random(3).sample(range(45), 45) + list(range(45))
    with Recording(str(tmp_path / "rec.db")) as rec:
        for index in order:
            same(rec.frame(index), snapshots[index])
        assert len(rec._checkpoints) > 2  # the path under test was taken


def test_breakdowns_too_large_for_a_frame_are_dropped_not_left_stale(tmp_path):
    """A frame whose breakdowns exceed what a reader accepts (4 KiB per stack) is recorded
    with every row's breakdowns cleared, never with the previous frame's shown as current;
    the next frame that fits carries them again."""
    stacks = [intern_stack_text(f" f{i}+0x1/0x2\n") for i in range(3)]

    def frame(when: float, pids: int) -> Snapshot:
        stats = [StackStat(stack, 10 + i, breakdowns={Breakdown.PID: {str(p): 1 for p in range(pids)}})
                 for i, stack in enumerate(stacks)]
        return Snapshot.from_stats(stats, source="debugfs", time=when)

    path = str(tmp_path / "big.db")
    with RecordingWriter(path, source="debugfs", interval=1.0, keyframe_every=100) as writer:
        writer.append(frame(1.0, 2))
        writer.append(frame(2.0, 20_000))  # ~3 x 20,000 x 12 bytes of JSON: over 3 x 4 KiB + 64 KiB
        writer.append(frame(3.0, 3))
        assert writer.breakdowns_dropped == 1
    with Recording(path) as rec:
        first, dropped, last = (rec.frame(i) for i in range(3))
    assert all(dict(s.breakdowns) == {Breakdown.PID: {"0": 1, "1": 1}} for s in first.stacks.values())
    assert all(not s.breakdowns for s in dropped.stacks.values())
    assert [s.pages for s in dropped.stacks.values()] == [10, 11, 12]
    assert all(dict(s.breakdowns) == {Breakdown.PID: {"0": 1, "1": 1, "2": 1}} for s in last.stacks.values())
