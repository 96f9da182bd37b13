"""One key for the same call path from page_owner and from the tracepoint."""

from __future__ import annotations

from pageowner_tui.formats import show_stacks
from pageowner_tui.model.normalize import KEY_DEPTH, group_by_key, normalize_frames, stack_key
from pageowner_tui.model.stack import intern_stack

PAGE_OWNER = (
    "get_page_from_freelist+0x1071/0x1270",
    "__alloc_pages_noprof+0x193/0x1060",
    "alloc_pages_mpol_noprof+0x8a/0x1e0",
    "vma_alloc_folio_noprof+0x6c/0xd0",
    "__handle_mm_fault+0xf68/0x1650",
    "handle_mm_fault+0x148/0x2f0",
    "do_user_addr_fault+0x1a6/0x6a0",
    "exc_page_fault+0x6d/0x140",
    "asm_exc_page_fault+0x26/0x30",
)
# the same fault seen by the tracepoint, inside execve's clear_user: BPF goes on
TRACEPOINT = (
    "__alloc_pages_noprof+0x267/0x1060",
    *PAGE_OWNER[2:],
    "rep_stos_alternative+0x40/0x80",
    "elf_load+0x1e3/0x260",
    "load_elf_binary+0x5f2/0x1530",
)


def test_same_call_path_same_key():
    assert normalize_frames(PAGE_OWNER) == normalize_frames(TRACEPOINT)
    key = normalize_frames(PAGE_OWNER)
    assert key[0] == "__alloc_pages_noprof"
    assert key[1] == "alloc_pages_mpol_noprof+0x8a"
    assert key[-1] == "asm_exc_page_fault+0x26"


def test_slow_path_and_fast_path_join():
    slow = ("get_page_from_freelist+0x1071/0x1270", "__alloc_pages_slowpath.constprop.0+0x2b6/0xe50",
            "__alloc_pages_noprof+0x2f2/0x1060", *PAGE_OWNER[2:])
    assert normalize_frames(slow) == normalize_frames(PAGE_OWNER)


def test_different_call_sites_stay_apart():
    other = list(TRACEPOINT)
    other[4] = "__handle_mm_fault+0x9b6/0x1650"  # another call site in the same function
    assert normalize_frames(other) != normalize_frames(TRACEPOINT)


def test_depth_is_bounded_and_modules_kept():
    deep = ("__alloc_pages_noprof+0x267/0x1060",) + tuple(f"fn{i}+0x{i:x}/0x100 [ext4]" for i in range(40))
    key = normalize_frames(deep)
    assert len(key) == KEY_DEPTH
    assert key[1] == "fn0+0x0 [ext4]"


def test_every_real_page_owner_stack_gets_a_key_and_keys_sum_pages(real_612):
    parsed = show_stacks.read(str(real_612 / "show_stacks_1.txt"))
    pairs = [(e.stack, e.pages or 0) for e in parsed.entries]
    grouped = group_by_key(pairs)
    assert sum(grouped.values()) == sum(p for _, p in pairs)
    assert all(stack_key(s) for s, _ in pairs)
    # the allocator's inner frames never appear in a key
    assert not any(k and k[0].startswith("get_page_from_freelist") for k in grouped)
    # a tracepoint version of each real stack maps to the same key
    for stack, _ in pairs[:200]:
        frames = stack.frames
        if len(frames) > 2 and frames[1].startswith("__alloc_pages_noprof+"):
            bpf = intern_stack(("__alloc_pages_noprof+0x267/0x1060",) + frames[2:])
            assert stack_key(bpf) == stack_key(stack)
