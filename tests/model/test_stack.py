"""Stacks: interning, stable ids, caller and module extraction."""

from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import frame_function, frame_module, intern_stack, intern_stack_text

FRAMES = (
    "get_page_from_freelist+0x1071/0x1270",
    "__alloc_pages_noprof+0x193/0x1060",
    "alloc_pages_mpol_noprof+0x8a/0x1e0",
    "folio_alloc_noprof+0x56/0xa0",
    "__filemap_get_folio+0x192/0x2e0",
    "ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]",
)


def test_interned_once():
    a = intern_stack(FRAMES)
    b = intern_stack_text("".join(f" {f}\n" for f in FRAMES))
    assert a is b
    assert a.frames == FRAMES
    assert a.text.startswith(" get_page_from_freelist+0x1071/0x1270\n")


def test_id_is_stable_and_content_based():
    a = intern_stack(FRAMES)
    assert a.id == "%s" % a.id and len(a.id) == 16
    # Same text in a fresh process would give the same id: it is a hash of the text.
    import hashlib

    assert a.id == hashlib.blake2b(a.text.encode(), digest_size=8).hexdigest()
    assert intern_stack(FRAMES[:-1]).id != a.id


def test_caller_skips_allocator_frames():
    s = intern_stack(FRAMES)
    assert s.caller == "__filemap_get_folio+0x192/0x2e0"
    assert s.caller_function == "__filemap_get_folio"
    slab = intern_stack(("get_page_from_freelist+0x1/0x2", "new_slab+0x364/0x430", "___slab_alloc+0x75e/0xb90",
                         "kmem_cache_alloc_noprof+0x236/0x2a0", "mas_alloc_nodes+0x71/0x1f0"))
    assert slab.caller_function == "mas_alloc_nodes"


def test_modules_and_frame_parts():
    s = intern_stack(FRAMES)
    assert s.modules == ("ext4",)
    assert frame_function("ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]") == "ext4_mb_load_buddy_gfp"
    assert frame_module("ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]") == "ext4"
    assert frame_module("vfs_write+0x1/0x2") == ""
    assert frame_function("0xffffffffc0ffee00") == "0xffffffffc0ffee00"


def test_snapshot_merges_duplicate_stacks_and_totals():
    s = intern_stack(FRAMES)
    snap = Snapshot.from_stats([StackStat(s, 3, 1), StackStat(s, 4, 2)], source="file", time=1.0)
    assert len(snap) == 1
    assert snap.get(s.id).pages == 7 and snap.get(s.id).allocations == 3
    assert snap.total_pages == 7 and snap.total_bytes == 7 * 4096


def test_early_is_the_marker_stack_not_mask_zero():
    """Real boot allocations have mask 0, ts 0 and pid 0 too (init_espfix_ap in the 6.12
    capture); only page_owner's register_early_stack marker means "before page_owner"."""
    from pageowner_tui.model.snapshot import PageRecord

    early = intern_stack(("register_early_stack+0x46/0x80", "init_page_owner+0x2f/0x290",
                          "mm_core_init+0x110/0x120", "start_kernel+0x2a0/0x800"))
    boot = intern_stack(("get_page_from_freelist+0x1071/0x1270", "init_espfix_ap+0x1/0x2"))
    assert PageRecord(pfn=1, order=0, gfp_mask=0, gfp_names="", stack=early, pid=0, ts_ns=0).early
    assert not PageRecord(pfn=2, order=6, gfp_mask=0, gfp_names="", stack=boot, pid=0, ts_ns=0).early
