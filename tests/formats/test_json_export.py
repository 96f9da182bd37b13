"""JSON snapshots: round trips on real captures, the documented schema, clear refusals."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import pytest

from pageowner_tui.errors import FormatError
from pageowner_tui.formats import json_export, show_stacks
from pageowner_tui.model.query import Query, StackFilter, view
from pageowner_tui.model.snapshot import Breakdown, Snapshot, StackStat

DOC = Path(__file__).resolve().parents[2] / "docs" / "json-schema.md"


@pytest.fixture(scope="module")
def snapshots(real_612):
    s1 = show_stacks.to_snapshot(
        show_stacks.read(str(real_612 / "show_stacks_1.txt")), source="debugfs", time=1764115200.25, kernel="6.12.117"
    )
    s2 = show_stacks.to_snapshot(
        show_stacks.read(str(real_612 / "show_stacks_2.txt")), source="debugfs", time=1764115212.52, kernel="6.12.117"
    )
    return s1, s2


def rich(base: Snapshot) -> Snapshot:
    """The real capture plus every optional field a source can fill."""
    stats = []
    for i, stat in enumerate(base.stacks.values()):
        extra = {"breakdowns": {Breakdown.COMM: {"dd": stat.pages}, Breakdown.PID: {"239": stat.pages}}} if i % 3 == 0 else {}
        stats.append(StackStat(stat.stack, stat.pages, allocations=i % 5, handle=(i * 7919) if i % 2 else None, **extra))
    return Snapshot.from_stats(
        stats,
        source="ebpf",
        time=base.time,
        kernel=base.kernel,
        counters={"untracked_free_pages": 12, "stack_table_drops": 0},
        meta={"origin": "test", "mode": "live"},
    )


def same(a: Snapshot, b: Snapshot) -> None:
    assert (a.time, a.source, a.kernel) == (b.time, b.source, b.kernel)
    assert dict(a.counters) == dict(b.counters) and dict(a.meta) == dict(b.meta)
    assert dict(a.stacks) == dict(b.stacks)


def round_trip(tmp_path, snapshot, name="s.json"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8") as out:
        json_export.write(out, snapshot)
    return json_export.read(str(path))


def test_real_capture_round_trips(tmp_path, snapshots):
    for snapshot in snapshots:
        same(round_trip(tmp_path, snapshot), snapshot)


def test_every_field_round_trips(tmp_path, snapshots):
    snapshot = rich(snapshots[1])
    same(round_trip(tmp_path, snapshot), snapshot)


def test_object_states_schema_source_and_time(snapshots):
    obj = json_export.snapshot_object(snapshots[0])
    assert obj["schema"] == "pageowner-top/snapshot" and obj["version"] == 1
    assert obj["time"] == 1764115200.25 and obj["time_iso"] == "2025-11-26T00:00:00.250000Z"
    assert obj["source"] == "debugfs" and obj["kernel"] == "6.12.117"
    assert obj["tool"].startswith("pageowner-top ")
    assert obj["total_pages"] == snapshots[0].total_pages == sum(s["pages"] for s in obj["stacks"])
    assert obj["total_stacks"] == len(obj["stacks"]) == 784
    pages = [s["pages"] for s in obj["stacks"]]
    assert pages == sorted(pages, reverse=True)
    first = obj["stacks"][0]
    stat = snapshots[0].stacks[first["id"]]
    assert first["frames"] == list(stat.stack.frames) and first["caller"] == stat.stack.caller


def test_rows_give_the_view_order_and_columns(snapshots):
    s1, s2 = snapshots
    rows = view(s2, Query(sort="delta", filter=StackFilter.parse("module:ext4"), limit=5), previous=s1)
    obj = json_export.snapshot_object(s2, rows)
    assert [s["id"] for s in obj["stacks"]] == [r.id for r in rows]
    assert [s["delta"] for s in obj["stacks"]] == [r.delta for r in rows]
    assert all({"rate", "percent", "since_baseline"} <= set(s) for s in obj["stacks"])
    assert all(any("[ext4]" in f for f in s["frames"]) for s in obj["stacks"])
    assert obj["total_pages"] == s2.total_pages  # totals describe the snapshot, not the view


def test_documented_keys_match_the_writer(snapshots):
    """docs/json-schema.md lists every key the writer emits (and no others)."""
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    obj = json_export.snapshot_object(snapshots[0], view(snapshots[0], Query(limit=1)))
    emitted = set(obj) | set(obj["stacks"][0])
    assert emitted == documented


def test_json_lines_read_frame_by_frame(tmp_path, snapshots):
    path = tmp_path / "frames.jsonl"
    path.write_text("".join(json.dumps(json_export.snapshot_object(s)) + "\n" for s in snapshots))
    got = json_export.read_all(str(path))
    assert len(got) == 2
    for a, b in zip(got, snapshots):
        same(a, b)
    with pytest.raises(FormatError, match="replay"):
        json_export.read(str(path))


def test_gzip_input(tmp_path, snapshots):
    path = tmp_path / "s.json.gz"
    path.write_bytes(gzip.compress(json_export.dumps(snapshots[0]).encode()))
    same(json_export.read(str(path)), snapshots[0])


def test_newer_version_is_refused(tmp_path, snapshots):
    obj = json_export.snapshot_object(snapshots[0])
    obj["version"] = 2
    path = tmp_path / "new.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(FormatError) as info:
        json_export.read(str(path))
    assert "version 2" in str(info.value) and "upgrade" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: o.update(schema="something/else"), "pageowner-top/snapshot"),
        (lambda o: o.pop("time"), "key 'time'"),
        (lambda o: o.update(time="noon"), "time to be a int or float"),
        (lambda o: o["stacks"][3].update(pages=-1), "stacks[3].pages to be 0 or more"),
        (lambda o: o["stacks"][3].update(pages=True), "stacks[3].pages to be a int"),
        (lambda o: o["stacks"][1].update(frames=[]), "stacks[1].frames"),
        (lambda o: o["stacks"][1]["frames"].__setitem__(0, 5), "stacks[1].frames[0]"),
        (lambda o: o["stacks"][0].update(breakdowns={"comm": {"dd": "x"}}), "stacks[0].breakdowns.comm.dd"),
        (lambda o: o.update(meta={"origin": 3}), "meta.origin"),
    ],
)
def test_bad_documents_name_what_is_wrong(tmp_path, snapshots, mutate, expected):
    obj = json_export.snapshot_object(snapshots[0])
    mutate(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(FormatError) as info:
        json_export.read(str(path))
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"schema": "pageowner-top/snapshot",\n "version": 1,\n oops}\n')
    with pytest.raises(FormatError, match=r"broken\.json:3: expected JSON"):
        json_export.read(str(path))


def test_written_text_is_what_write_returns(snapshots):
    buf = io.StringIO()
    json_export.write(buf, snapshots[0])
    assert json.loads(buf.getvalue()) == json_export.snapshot_object(snapshots[0])
