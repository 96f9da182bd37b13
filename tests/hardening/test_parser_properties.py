"""Property tests for every parser: write then parse gives the model back, and arbitrary
or mutated bytes never raise anything but our own FormatError.

The atheris harnesses under fuzz/ run the same properties for millions of inputs; these
keep a fast, deterministic share of them in the suite, plus the inputs the fuzzers found
(as explicit examples), so a regression fails here, not only in a fuzzing campaign.
"""

from __future__ import annotations

import gzip
import io
import json
import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pageowner_tui.errors import FormatError, UserError
from pageowner_tui.formats import collapsed, json_export, page_owner, show_stacks
from pageowner_tui.formats.recording import Recording, RecordingWriter
from pageowner_tui.model.snapshot import PageOwnerDialect, PageRecord, Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack
from pageowner_tui.sources.file import load_snapshot

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

DIALECTS = [
    PageOwnerDialect(pid=False, tgid=False, ts=False, free_ts=False, pfn_hex=False),  # 5.10
    PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False),  # 5.13
    PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False, pid_comm=True),  # 5.18
    PageOwnerDialect(pid=True, tgid=True, ts=True, free_ts=True, pfn_hex=False),  # 6.1
    PageOwnerDialect(),  # 6.7+
]

HUGE = "9" * 5000  # more digits than int() converts (sys.get_int_max_str_digits)

# ---------------------------------------------------------------------------------------
# Generated models

_symbol = st.from_regex(r"[a-z_][a-z0-9_.]{0,24}", fullmatch=True)
frames = st.lists(
    st.builds(
        lambda f, off, size, mod: f"{f}+{off:#x}/{size:#x}" + (f" [{mod}]" if mod else ""),
        _symbol, st.integers(0, 1 << 20), st.integers(1, 1 << 20), st.sampled_from(["", "ext4", "loop"]),
    ),
    min_size=1, max_size=20,
)
stacks = frames.map(intern_stack)
page_counts = st.integers(0, (1 << 62))


@st.composite
def page_records(draw, dialect: PageOwnerDialect) -> PageRecord:
    return PageRecord(
        pfn=draw(st.integers(0, 1 << 40)),
        order=draw(st.integers(0, 10)),
        gfp_mask=draw(st.integers(0, (1 << 32) - 1)),
        gfp_names=draw(st.sampled_from(["", "GFP_KERNEL", "GFP_NOFS|__GFP_COMP", "__GFP_ACCOUNT"])),
        stack=draw(stacks),
        pid=draw(st.integers(0, 1 << 22)) if dialect.pid else -1,
        tgid=draw(st.integers(0, 1 << 22)) if dialect.tgid else -1,
        comm=draw(st.from_regex(r"[a-z/:0-9-]{0,15}", fullmatch=True)) if dialect.tgid or dialect.pid_comm else "",
        ts_ns=draw(st.integers(0, (1 << 64) - 1)) if dialect.ts else 0,
        free_ts_ns=draw(st.integers(0, (1 << 64) - 1)) if dialect.free_ts else 0,
        migratetype=draw(st.sampled_from(["Unmovable", "Movable", "Reclaimable"])),
        block_type=draw(st.sampled_from(["Unmovable", "Movable"])),
        flags=draw(st.sampled_from(["0x0()", "0x100000000000000(node=0|zone=1)"])),
        trailer=tuple(draw(st.lists(st.sampled_from([
            "Page has been migrated, last migrate reason: compaction", "Slab cache page",
            "Charged (via objcg) to memcg workload", "Charged to offline memcg gone",
        ]), max_size=2))),
        dialect=dialect,
        pageblock=draw(st.integers(0, 1 << 30)),
    )


@st.composite
def page_owner_files(draw) -> list[PageRecord]:
    dialect = draw(st.sampled_from(DIALECTS))
    return draw(st.lists(page_records(dialect), min_size=1, max_size=12))


def _read_page_owner(data: bytes, chunk: int | None = None):
    """Records and warnings of ``data`` read by the bulk reader (``chunk``: tiny chunks)."""
    saved = page_owner.CHUNK_BYTES
    if chunk is not None:
        page_owner.CHUNK_BYTES = chunk
    try:
        warnings: list[str] = []
        return list(page_owner.iter_records(io.BytesIO(data), "t", warnings=warnings)), warnings
    finally:
        page_owner.CHUNK_BYTES = saved


@FAST
@given(page_owner_files(), st.integers(1, 300))
def test_page_owner_write_then_parse_is_identity_at_any_chunk_size(records, chunk):
    out = io.StringIO()
    page_owner.write_records(out, records)
    data = out.getvalue().encode()
    assert _read_page_owner(data) == (records, [])
    assert _read_page_owner(data, chunk) == (records, [])


@st.composite
def show_stacks_files(draw) -> tuple[str, list[show_stacks.Entry]]:
    variant = draw(st.sampled_from(show_stacks.VARIANTS))
    n = draw(st.integers(1, 15))
    entries = []
    for i in range(n):
        stack = None if variant == "handles" else draw(stacks)
        handle = draw(st.integers(0, 1 << 32)) if variant in ("handles", "stacks_handles") else None
        pages = None if variant == "stacks_handles" else draw(page_counts)
        entries.append(show_stacks.Entry(stack, handle, pages))
    return variant, entries


@FAST
@given(show_stacks_files())
def test_show_stacks_write_then_parse_is_identity_for_every_variant(generated):
    variant, entries = generated
    text = show_stacks.dumps(variant, entries)
    parsed = show_stacks.parse(text, "t")
    assert (parsed.variant, parsed.entries, parsed.warnings) == (variant, entries, [])
    assert show_stacks.dumps(parsed.variant, parsed.entries) == text


@st.composite
def snapshots(draw, time: float | None = None, pages=page_counts) -> Snapshot:
    stats = [
        StackStat(
            stack, draw(pages), allocations=draw(st.integers(0, 1 << 40)),
            handle=draw(st.none() | st.integers(0, 1 << 32)),
            breakdowns=draw(st.sampled_from([{}, {"order": {"0": 3, "9": 512}}, {"comm": {"dd": 1}}])),
        )
        for stack in draw(st.lists(stacks, max_size=8, unique_by=lambda s: s.id))
    ]
    return Snapshot.from_stats(
        stats,
        source=draw(st.sampled_from(["ebpf", "debugfs", "file"])),
        time=time if time is not None else draw(st.floats(0, 4e9, allow_nan=False)),
        kernel=draw(st.sampled_from(["", "6.12.117", "6.18.0-1-amd64"])),
        counters=draw(st.dictionaries(st.sampled_from(["early_pages", "owner_table_drops"]), st.integers(0, 1 << 40))),
        # (control characters are made visible on reading, by design: not generated here)
        meta=draw(st.dictionaries(st.sampled_from(["origin", "mode"]),
                                  st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20))),
    )


def _plain(snapshot: Snapshot):
    return (
        snapshot.time, snapshot.source, snapshot.kernel, dict(snapshot.counters), dict(snapshot.meta),
        {k: (s.stack, s.pages, s.allocations, s.handle, {n: dict(v) for n, v in s.breakdowns.items()})
         for k, s in snapshot.stacks.items()},
    )


@FAST
@given(snapshots())
def test_json_write_then_parse_is_identity(snapshot):
    assert _plain(json_export.parse_object(json.loads(json_export.dumps(snapshot)), "t")) == _plain(snapshot)


@FAST
# A recording stores 64-bit counts (the writer refuses sums beyond: see test_hostile_files);
# 2^48 pages is 1 EiB of 4 KiB pages.
@given(st.lists(snapshots(time=0.0, pages=st.integers(0, 1 << 48)), min_size=1, max_size=6), st.integers(1, 4))
def test_recording_write_then_read_is_identity(tmp_path_factory, frames_in, keyframe_every):
    path = tmp_path_factory.mktemp("rec") / "r.db"
    timed = [Snapshot.from_stats(s.stacks.values(), source=s.source, time=1000.0 + i, kernel=s.kernel,
                                 counters=s.counters, meta=s.meta) for i, s in enumerate(frames_in)]
    with RecordingWriter(str(path), source="test", interval=1.0, keyframe_every=keyframe_every) as writer:
        for snapshot in timed:
            writer.append(snapshot)
    with Recording(str(path)) as recording:
        assert recording.warnings == []
        assert [_plain(recording.frame(i)) for i in range(len(recording))] == [_plain(s) for s in timed]


# ---------------------------------------------------------------------------------------
# Arbitrary and mutated bytes: FormatError or success, nothing else


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """``seed`` with a few random splices: mostly-valid input reaches deep parser states."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 40))
        insert = draw(st.sampled_from([
            b"", b"\n", b"\n\n", b"\x00", b"\xff\xfe", b" ", b"  ", HUGE.encode(), b"0x", b"(", b")",
        ]) | st.binary(max_size=12))
        data[at:at + cut] = insert
    return bytes(data)


def _only_format_errors(call) -> None:
    try:
        call()
    except FormatError:
        pass


def _page_owner_seed(real_records_text: str) -> bytes:
    return real_records_text[:4000][: real_records_text[:4000].rfind("\n\n") + 2].encode()


@FAST
@given(data=st.data())
def test_page_owner_mutations_raise_only_format_errors_and_chunking_agrees(real_records_text, data):
    blob = data.draw(mutated(_page_owner_seed(real_records_text)) | st.binary(max_size=300))
    outcomes = []
    for chunk in (None, data.draw(st.integers(1, 64))):
        try:
            outcomes.append(_read_page_owner(blob, chunk))
        except FormatError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
    _only_format_errors(lambda: page_owner.parse_record(blob.decode("utf-8", "surrogateescape")))


@pytest.mark.parametrize("field", ["order", "pid", "tgid", "ts", "pfn", "block"])
def test_page_owner_numbers_too_long_to_convert_are_format_errors(field):
    values = {"order": "0", "pid": "1", "tgid": "1", "ts": "5", "pfn": "4096", "block": "8"}
    values[field] = HUGE
    text = (
        f"Page allocated via order {values['order']}, mask 0xcc0(GFP_KERNEL), pid {values['pid']}, "
        f"tgid {values['tgid']} (a), ts {values['ts']} ns, free_ts 1 ns\n"
        f"PFN {values['pfn']} type Movable Block {values['block']} type Movable Flags 0x0()\n f+0x1/0x2\n\n"
    )
    with pytest.raises(FormatError):
        _read_page_owner(text.encode())
    with pytest.raises(FormatError):
        page_owner.parse_record(text)


@FAST
@given(data=st.data())
@example(data=None)
def test_show_stacks_mutations_raise_only_format_errors(real_612, data):
    seed = (real_612 / "show_stacks_threshold_1000.txt").read_bytes()
    if data is None:  # the inputs the fuzzers found
        blobs = [f" f+0x1/0x2\nnr_base_pages: {HUGE}\n\n".encode(), f"handle: {HUGE}\nnr_base_pages: 1\n\n".encode(),
                 f" f+0x1/0x2\nhandle: {HUGE}\n\n".encode()]
    else:
        blobs = [data.draw(mutated(seed) | st.binary(max_size=300))]
    for blob in blobs:
        _only_format_errors(lambda: show_stacks.parse(blob.decode("utf-8", "surrogateescape"), "t"))


JSON_FOUND = [
    b"[" * 100_000,
    b'{"schema":"pageowner-top/snapshot","version":1,"time":1' + b"0" * 5000 + b',"source":"x","stacks":[]}',
    b'{"schema":"pageowner-top/snapshot","version":1,"time":1e300,"source":"x","stacks":[]}',
    b'{"schema":"pageowner-top/snapshot","version":1,"time":NaN,"source":"x","stacks":[]}',
    b'{"schema":"pageowner-top/snapshot","version":1,"time":-Infinity,"source":"x","stacks":[]}',
    b'{"schema":"pageowner-top/snapshot","version":' + b"1" * 5000 + b',"time":1,"source":"x","stacks":[]}',
]


@FAST
@given(data=st.data())
@example(data=None)
def test_json_mutations_raise_only_format_errors_and_what_is_read_can_be_written(tmp_path_factory, real_612, data):
    seed = json_export.dumps(load_snapshot(str(real_612 / "show_stacks_threshold_1000.txt"))).encode()
    blobs = JSON_FOUND if data is None else [data.draw(mutated(seed) | st.binary(max_size=200))]
    path = tmp_path_factory.mktemp("json") / "in.json"
    for blob in blobs:
        for body in (blob, gzip.compress(blob)):
            path.write_bytes(body)
            try:
                snapshots_read = json_export.read_all(str(path))
            except FormatError:
                continue
            for snapshot in snapshots_read:
                assert math.isfinite(snapshot.time)
                json_export.dumps(snapshot)


@FAST
@given(data=st.data())
def test_damaged_recordings_raise_only_format_errors(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("rec")
    good = folder / "good.db"
    with RecordingWriter(str(good), source="test", interval=1.0, keyframe_every=2) as writer:
        for i in range(4):
            stats = [StackStat(intern_stack([f"f{j}+0x1/0x2"]), i * j + 1) for j in range(i + 2)]
            writer.append(Snapshot.from_stats(stats, source="test", time=100.0 + i))
    damaged = folder / "bad.db"
    damaged.write_bytes(data.draw(mutated(good.read_bytes())))
    try:
        recording = Recording(str(damaged))
    except FormatError:
        return
    with recording:
        for index in range(len(recording)):
            _only_format_errors(lambda: recording.frame(index))


@FAST
@given(data=st.data())
def test_any_file_given_to_top_is_read_or_refused_with_a_user_error(tmp_path_factory, real_records_text, real_612, data):
    seeds = [_page_owner_seed(real_records_text), (real_612 / "show_stacks_1.txt").read_bytes()[:3000]]
    blob = data.draw(st.sampled_from(seeds).flatmap(mutated) | st.binary(max_size=200))
    if data.draw(st.booleans()):
        blob = gzip.compress(blob)[: data.draw(st.integers(2, 10_000))]
    path = tmp_path_factory.mktemp("any") / "input"
    path.write_bytes(blob)
    try:
        load_snapshot(str(path), warnings=[])
    except UserError:
        pass


@FAST
@given(st.text(max_size=300))
@example(f"a;b {HUGE}\n")
def test_collapsed_parse_never_raises(text):
    entries = collapsed.parse(text)
    collapsed.totals_by_function(entries)


def test_mutation_strategy_reaches_valid_inputs(real_records_text):
    """The mutation tests are only worth something if some mutants still parse: the real
    seed itself parses, and dropping one trailing record keeps it parseable."""
    seed = _page_owner_seed(real_records_text)
    records, warnings = _read_page_owner(seed)
    assert len(records) >= 3 and warnings == []
    shorter = seed[: seed[:-2].rfind(b"\n\n") + 2]
    assert len(_read_page_owner(shorter)[0]) == len(records) - 1


@pytest.mark.parametrize("separator", ["\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x0b", "\x0c"])
def test_a_frame_holding_a_unicode_line_separator_stays_one_frame(separator):
    """str.splitlines() also splits at these; the frames must be the text's lines, or the
    JSON export (frames) and the text formats (text) describe different stacks."""
    stack = intern_stack([f"a{separator}b+0x1/0x2", "c+0x3/0x4"])
    assert stack.frames == (f"a{separator}b+0x1/0x2", "c+0x3/0x4")
    assert intern_stack(stack.frames) is stack
