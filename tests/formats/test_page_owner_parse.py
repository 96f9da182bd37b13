"""parse_record: every field of every page_owner dialect, on real records and on records
written the way each kernel's format string prints them."""

from __future__ import annotations

import pytest

from pageowner_tui.formats import page_owner
from pageowner_tui.model.snapshot import DIALECT_6_12
from tests.formats.conftest import DIALECTS

# The first record of the real 6.12 capture, verbatim.
REAL_FIRST = (
    "Page allocated via order 0, mask 0x0(), pid 0, tgid 0 (swapper), ts 0 ns\n"
    "PFN 0x1000 type Unmovable Block 8 type Unmovable Flags 0x100000000000000(node=0|zone=1)\n"
    " register_early_stack+0x46/0x80\n"
    " init_page_owner+0x2f/0x290\n"
    " mm_core_init+0x110/0x120\n"
    " start_kernel+0x2a0/0x800\n"
    "\n"
)

STACK = " prep_new_page+0x8d/0xa0\n get_page_from_freelist+0x8ab/0x1060\n __alloc_pages+0x166/0x300\n"

# One record per dialect, as each kernel's print_page_owner() format string prints it.
BY_KERNEL = {
    "5.10": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE)\n"
        "PFN 262144 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "5.11": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77, ts 123456 ns\n"
        "PFN 262144 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "5.13": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77, ts 123456 ns, "
        "free_ts 99 ns\n"
        "PFN 262144 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "5.18": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77 (bash), "
        "ts 123456 ns, free_ts 99 ns\n"
        "PFN 262144 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "6.1": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77, tgid 70 (bash), "
        "ts 123456 ns, free_ts 99 ns\n"
        "PFN 262144 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "6.5": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77, tgid 70 (bash), "
        "ts 123456 ns, free_ts 99 ns\n"
        "PFN 0x40000 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
    "6.12": (
        "Page allocated via order 1, mask 0x100cca(GFP_HIGHUSER_MOVABLE), pid 77, tgid 70 (bash), "
        "ts 123456 ns\n"
        "PFN 0x40000 type Movable Block 512 type Movable Flags 0xfffffc0000000(referenced|uptodate)\n"
    ),
}


def test_real_first_record_every_field():
    record = page_owner.parse_record(REAL_FIRST)
    assert (record.pfn, record.order, record.gfp_mask, record.gfp_names) == (0x1000, 0, 0, "")
    assert (record.pid, record.tgid, record.comm, record.ts_ns) == (0, 0, "swapper", 0)
    assert (record.migratetype, record.pageblock, record.block_type) == ("Unmovable", 8, "Unmovable")
    assert record.flags == "0x100000000000000(node=0|zone=1)"
    assert record.stack.frames == (
        "register_early_stack+0x46/0x80",
        "init_page_owner+0x2f/0x290",
        "mm_core_init+0x110/0x120",
        "start_kernel+0x2a0/0x800",
    )
    assert record.trailer == ()
    assert record.dialect == DIALECT_6_12
    assert page_owner.is_early(record)


def test_trailing_empty_line_is_optional():
    with_empty = page_owner.parse_record(REAL_FIRST)
    assert page_owner.parse_record(REAL_FIRST[:-1]) == with_empty
    assert page_owner.parse_record(REAL_FIRST[:-2]) == with_empty


@pytest.mark.parametrize("kernel", sorted(BY_KERNEL))
def test_each_kernels_header_and_pfn_line(kernel):
    record = page_owner.parse_record(BY_KERNEL[kernel] + STACK + "\n")
    dialect = DIALECTS[kernel]
    assert record.dialect == dialect
    assert (record.order, record.gfp_mask, record.gfp_names) == (1, 0x100CCA, "GFP_HIGHUSER_MOVABLE")
    assert record.pfn == 262144 and record.pageblock == 512
    assert record.pid == (77 if dialect.pid else -1)
    assert record.tgid == (70 if dialect.tgid else -1)
    assert record.comm == ("bash" if dialect.tgid or dialect.pid_comm else "")
    assert record.ts_ns == (123456 if dialect.ts else 0)
    assert record.free_ts_ns == (99 if dialect.free_ts else 0)
    assert record.stack.frames[0] == "prep_new_page+0x8d/0xa0"


@pytest.mark.parametrize("kernel", sorted(BY_KERNEL))
def test_each_kernels_record_is_written_back_exactly(kernel):
    import io

    text = BY_KERNEL[kernel] + STACK + "\n"
    out = io.StringIO()
    page_owner.write_record(out, page_owner.parse_record(text))
    assert out.getvalue() == text


@pytest.mark.parametrize(
    "trailer",
    [
        ("Page has been migrated, last migrate reason: compaction",),
        ("Slab cache page",),
        ("Charged (via objcg) to memcg workload",),
        ("Charged to memcg system.slice",),
        ("Charged to offline memcg gone",),
        ("Page has been migrated, last migrate reason: numa_misplaced", "Charged to memcg a b"),
    ],
)
def test_trailer_lines(trailer):
    text = BY_KERNEL["6.12"] + STACK + "".join(t + "\n" for t in trailer) + "\n"
    record = page_owner.parse_record(text)
    assert record.trailer == trailer
    assert len(record.stack.frames) == 3
    if trailer[0].startswith("Page has been migrated"):
        assert record.migrate_reason == trailer[0].rsplit(": ", 1)[1]


def test_real_records_with_trailers_and_modules(real_records):
    trailers = {line for r in real_records for line in r.trailer}
    assert trailers == {
        "Page has been migrated, last migrate reason: compaction",
        "Slab cache page",
        "Charged (via objcg) to memcg workload",
    }
    modules = {m for r in real_records for m in r.stack.modules}
    assert {"ext4", "jbd2", "loop"} <= modules
    assert {r.order for r in real_records} == {0, 1, 2, 3, 4, 6}


@pytest.mark.parametrize(
    "comm", ["(sd-pam)", "kworker/u4:2", "a b c", "x), ts 1 ns", "((", ""]
)
def test_comm_with_parentheses_spaces_and_lookalike_text(comm):
    text = (
        f"Page allocated via order 0, mask 0xcc0(GFP_KERNEL), pid 5, tgid 5 ({comm}), ts 42 ns\n"
        "PFN 0x10 type Unmovable Block 0 type Unmovable Flags 0x0()\n" + STACK
    )
    record = page_owner.parse_record(text)
    assert (record.comm, record.ts_ns, record.pid, record.tgid) == (comm, 42, 5, 5)


def test_gfp_names_with_unknown_bits_and_negative_pid():
    text = (
        "Page allocated via order 3, mask 0x1400c0(GFP_KERNEL|__GFP_COMP|0x1000), pid -1, "
        "tgid -1 (), ts 7 ns\n"
        "PFN 0x10 type Movable Block 0 type Movable Flags 0x0()\n" + STACK
    )
    record = page_owner.parse_record(text)
    assert record.gfp_names == "GFP_KERNEL|__GFP_COMP|0x1000"
    assert (record.pid, record.tgid, record.order, record.pages) == (-1, -1, 3, 8)


def test_early_is_the_kernels_early_stack_not_mask_zero(real_records):
    """Boot-time allocations with mask 0, ts 0 and pid 0 exist (init_espfix_ap, ...); only the
    register_early_stack marker is 'early', as page_owner_stacks counts the others."""
    mask_zero_ts_zero = [r for r in real_records if r.gfp_mask == 0 and r.ts_ns == 0 and r.pid == 0]
    early = [r for r in real_records if page_owner.is_early(r)]
    assert len(early) < len(mask_zero_ts_zero)
    assert {r.stack.frames[0].split("+")[0] for r in early} == {"register_early_stack"}
    callers = {f.split("+")[0] for r in mask_zero_ts_zero if not page_owner.is_early(r) for f in r.stack.frames}
    assert "init_espfix_ap" in callers
