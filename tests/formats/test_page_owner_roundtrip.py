"""parse -> write is byte-identical: on the real 6.12 dump, on variants of it in every
dialect, and on generated records (hypothesis)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pageowner_tui.formats import page_owner
from pageowner_tui.model.snapshot import PageRecord
from pageowner_tui.model.stack import intern_stack
from tests.formats.conftest import DIALECTS, as_dialect, dumps


def test_real_dump_round_trip_is_byte_identical(real_dump, real_records):
    assert len(real_records) == 61051
    assert dumps(real_records).encode("utf-8", "surrogateescape") == real_dump.read_bytes()


@pytest.mark.parametrize("kernel", sorted(DIALECTS))
def test_every_dialect_variant_round_trips(kernel, variant_files, real_records):
    path = variant_files[kernel]
    text = path.read_text(encoding="utf-8")
    with open(path, "rb") as f:
        parsed = list(page_owner.iter_records(f, str(path)))
    assert dumps(parsed) == text
    dialect = DIALECTS[kernel]
    assert {r.dialect for r in parsed} == {dialect}
    assert len(parsed) == len(real_records)
    for got, original in zip(parsed[::997], real_records[::997]):
        want = as_dialect(original, dialect)
        assert (got.pfn, got.order, got.gfp_mask, got.stack, got.trailer, got.pageblock) == (
            want.pfn, want.order, want.gfp_mask, want.stack, want.trailer, want.pageblock
        )
        assert got.ts_ns == (want.ts_ns if dialect.ts else 0)
        assert got.free_ts_ns == want.free_ts_ns
        assert got.pid == (want.pid if dialect.pid else -1)
        assert got.comm == (want.comm if dialect.tgid or dialect.pid_comm else "")


def test_variants_really_differ(variant_files):
    """The derived files are what the dialects say, not copies of each other."""
    heads = {k: p.read_text().split("\n", 2)[:2] for k, p in variant_files.items()}
    assert heads["5.10"][0] == "Page allocated via order 0, mask 0x0()"
    assert heads["6.1"][1].startswith("PFN 4096 type")
    assert heads["6.5"][1].startswith("PFN 0x1000 type")
    assert heads["5.18"][0].startswith("Page allocated via order 0, mask 0x0(), pid 0 (swapper), ts 0 ns, free_ts ")
    assert ", free_ts " in heads["6.1"][0] and ", free_ts " not in heads["6.12"][0]
    free_ts = {r.free_ts_ns for r in page_owner.iter_records(open(variant_files["6.1"], "rb"), "v")}
    assert len(free_ts) > 1000


def test_written_record_without_a_pageblock_uses_x86_pageblock_order():
    record = PageRecord(
        pfn=0x13E60, order=0, gfp_mask=0xCC0, gfp_names="GFP_KERNEL",
        stack=intern_stack(["a+0x1/0x2"]), pid=1, tgid=1, comm="init", ts_ns=5,
        migratetype="Unmovable", block_type="Movable", flags="0x0()",
    )
    out = io.StringIO()
    page_owner.write_record(out, record)
    assert out.getvalue().split("\n")[1] == "PFN 0x13e60 type Unmovable Block 159 type Movable Flags 0x0()"


_words = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=12)
_frame = st.builds(
    lambda f, off, size, mod: f"{f}+{off:#x}/{size:#x}" + (f" [{mod}]" if mod else ""),
    st.from_regex(r"[a-z_][a-z0-9_.]{0,20}", fullmatch=True),
    st.integers(0, 1 << 16), st.integers(1, 1 << 16),
    st.sampled_from(["", "ext4", "jbd2"]),
)
_records = st.builds(
    lambda dialect, pfn, order, mask, names, pid, tgid, comm, ts, free_ts, mt, block, bt, flags, frames, trailer: PageRecord(
        pfn=pfn, order=order, gfp_mask=mask, gfp_names="|".join(names), stack=intern_stack(frames),
        pid=pid if dialect.pid else -1, tgid=tgid if dialect.tgid else -1,
        comm=comm if dialect.tgid or dialect.pid_comm else "", ts_ns=ts if dialect.ts else 0,
        free_ts_ns=free_ts if dialect.free_ts else 0, migratetype=mt, block_type=bt,
        flags=flags, trailer=tuple(trailer), dialect=dialect, pageblock=block,
    ),
    st.sampled_from(list(DIALECTS.values())),
    st.integers(0, 1 << 40), st.integers(0, 10), st.integers(0, (1 << 32) - 1),
    st.lists(_words, max_size=4), st.integers(-1, 1 << 22), st.integers(-1, 1 << 22),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ()/:-_.,", max_size=15),
    st.integers(0, 1 << 63), st.integers(0, 1 << 63),
    st.sampled_from(["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]),
    st.integers(0, 1 << 31),
    st.sampled_from(["Unmovable", "Movable", "CMA"]),
    st.builds(lambda v, n: f"{v:#x}({n})", st.integers(0, 1 << 64), st.sampled_from(["", "lru|head", "node=0|zone=1"])),
    st.lists(_frame, min_size=1, max_size=16),
    st.lists(
        st.sampled_from([
            "Page has been migrated, last migrate reason: compaction", "Slab cache page",
            "Charged (via objcg) to memcg workload", "Charged to offline memcg x y",
        ]),
        max_size=2,
    ),
)


@settings(max_examples=300, deadline=None)
@given(_records)
def test_generated_record_round_trips(record):
    out = io.StringIO()
    page_owner.write_record(out, record)
    assert page_owner.parse_record(out.getvalue()) == record


@settings(max_examples=60, deadline=None)
@given(st.lists(_records, min_size=1, max_size=30), st.sampled_from(list(DIALECTS.values())))
def test_bulk_reader_agrees_with_record_parser(records, dialect):
    """The chunk regex path returns exactly what the reference parser returns, and the
    fast aggregate equals aggregating those records."""
    records = [replace(r, dialect=dialect, pid=max(r.pid, 0) if dialect.pid else -1,
                       tgid=max(r.tgid, 0) if dialect.tgid else -1,
                       comm=r.comm if dialect.tgid or dialect.pid_comm else "",
                       ts_ns=r.ts_ns if dialect.ts else 0,
                       free_ts_ns=r.free_ts_ns if dialect.free_ts else 0) for r in records]
    text = dumps(records)
    bulk = list(page_owner.iter_records(io.StringIO(text), "gen"))
    assert bulk == [page_owner.parse_record(block) for block in text[:-2].split("\n\n")]
    assert bulk == records
