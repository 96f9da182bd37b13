"""Cross-source alignment: a page_owner stack and a tracepoint stack of one call path meet."""

from pageowner_tui.model.align import align_sources
from pageowner_tui.model.delta import diff
from pageowner_tui.model.snapshot import Snapshot, StackStat
from pageowner_tui.model.stack import intern_stack

# The same shmem write seen by page_owner (first frame inside the allocator) and by the
# kmem:mm_page_alloc tracepoint (first frame __alloc_pages_noprof at the tracepoint).
PAGE_OWNER = ("get_page_from_freelist+0x1071/0x1270", "__alloc_pages_noprof+0x193/0x1060",
              "alloc_pages_mpol_noprof+0x8a/0x1e0", "shmem_alloc_folio+0x97/0xb0",
              "shmem_alloc_and_add_folio+0xe1/0x440", "vfs_write+0x268/0x440")
TRACEPOINT = ("__alloc_pages_noprof+0x267/0x1060", "alloc_pages_mpol_noprof+0x8a/0x1e0",
              "shmem_alloc_folio+0x97/0xb0", "shmem_alloc_and_add_folio+0xe1/0x440",
              "vfs_write+0x268/0x440")
OTHER = ("__alloc_pages_noprof+0x267/0x1060", "alloc_pages_mpol_noprof+0x8a/0x1e0",
         "shmem_alloc_folio+0x97/0xb0", "shmem_alloc_and_add_folio+0xe1/0x440",
         "vfs_write+0x300/0x440")  # another call site in vfs_write: must not merge


def test_same_call_path_lines_up_across_sources():
    po = Snapshot.from_stats([StackStat(intern_stack(PAGE_OWNER), 100)], source="debugfs", time=1.0)
    bpf = Snapshot.from_stats([StackStat(intern_stack(TRACEPOINT), 130), StackStat(intern_stack(OTHER), 5)],
                              source="ebpf", time=2.0)
    assert set(po.stacks).isdisjoint(bpf.stacks)
    a, b = align_sources(po, bpf)
    d = diff(a, b)
    changes = sorted(x.change for x in d.changed())
    assert changes == [5, 30]  # +30 on the shared path, +5 new on the other call site
    assert a.total_pages == 100 and b.total_pages == 135


def test_same_source_is_left_alone():
    s = Snapshot.from_stats([StackStat(intern_stack(PAGE_OWNER), 1)], source="debugfs", time=1.0)
    assert align_sources(s, s) == (s, s)
