"""One key for the same call path, whichever source captured the stack.

page_owner and the eBPF tracker capture a stack at different points of the same
allocation, so the same call path prints differently:

- page_owner's stack starts inside the allocator (``post_alloc_hook`` or, where that was
  inlined, ``get_page_from_freelist``), reached from ``__alloc_pages_noprof+0x193`` (the
  call) -- or via ``__alloc_pages_slowpath``; the tracepoint's stack starts at
  ``__alloc_pages_noprof+0x267`` (the tracepoint).  Same function, different offsets.
- page_owner keeps at most 16 frames and cuts after the first interrupt-entry frame
  (``filter_irq_stacks``: ``asm_exc_page_fault``, ``asm_sysvec_*``, ``__do_softirq``);
  BPF stacks go on into the interrupted code.

``normalize_frames`` drops the allocator's inner frames, keeps the entry function by
name only, keeps every later frame as ``function+offset [module]`` (names alone would
merge different call sites), cuts after the first interrupt-entry frame and keeps a fixed
depth both sources always reach.  A user who switches source sees the same stack under
the same key; the TUI and diff use it to line up stacks across sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pageowner_tui.model.stack import Stack, frame_function, frame_module

__all__ = ["normalize_frames", "stack_key", "group_by_key", "KEY_DEPTH", "ALLOCATOR_INNER", "ALLOCATOR_ENTRY"]

# Functions below the allocator entry: page_owner's stacks start here, the tracepoint's
# never do.  Stripped from the front of every stack.
ALLOCATOR_INNER = (
    "post_alloc_hook",
    "prep_new_page",
    "get_page_from_freelist",
    "__alloc_pages_slowpath",
    "__alloc_pages_direct_compact",
    "__alloc_pages_direct_reclaim",
    "__alloc_pages_may_oom",
    "__alloc_pages_cpuset_fallback",
    "rmqueue",
    "rmqueue_bulk",
    "__rmqueue_pcplist",
    "rmqueue_pcplist",
    "rmqueue_buddy",
)

# Functions that fire kmem:mm_page_alloc, by kernel version: the first frame both sources
# share.  Kept by name only, since its offset differs between the two.
ALLOCATOR_ENTRY = (
    "__alloc_pages",  # up to 6.9
    "__alloc_pages_noprof",  # 6.10 - 6.14
    "__alloc_frozen_pages_noprof",  # 6.15+
    "alloc_pages_nolock_noprof",
    "alloc_frozen_pages_nolock_noprof",
    "try_alloc_pages_noprof",
)

# Interrupt entry code (.irqentry.text / .softirqentry.text): filter_irq_stacks() keeps
# the stack up to and including the first such frame.
_IRQ_ENTRY_PREFIXES = ("asm_exc_", "asm_sysvec_", "asm_common_interrupt", "asm_spurious_interrupt",
                       "asm_fred_", "__do_softirq")

# page_owner keeps 16 frames from its first; its first 1-3 are inner allocator frames.
KEY_DEPTH = 12


def _frame_key(frame: str) -> str:
    """``func+0xoff [module]``: the frame without ``/0xsize`` (same call site, same key)."""
    text = frame.strip()
    slash = text.find("/0x")
    if slash > 0:
        module = frame_module(text)
        text = text[:slash] + (f" [{module}]" if module else "")
    return text


def _is_irq_entry(function: str) -> bool:
    return function.startswith(_IRQ_ENTRY_PREFIXES)


def normalize_frames(frames: Sequence[str]) -> tuple[str, ...]:
    """The cross-source key of a stack given as %pS frames (with or without a leading space)."""
    # compiler suffixes (.constprop.0, .isra.0, .cold) do not change what a function is
    functions = [frame_function(frame).split(".", 1)[0] for frame in frames]
    start = 0
    while start < len(frames) and functions[start] in ALLOCATOR_INNER:
        start += 1
    key: list[str] = []
    for index in range(start, len(frames)):
        function = functions[index]
        if index == start and function in ALLOCATOR_ENTRY:
            key.append(function)
        else:
            key.append(_frame_key(frames[index]))
        if _is_irq_entry(function) or len(key) >= KEY_DEPTH:
            break
    return tuple(key)


def stack_key(stack: Stack) -> tuple[str, ...]:
    """normalize_frames of a model Stack."""
    return normalize_frames(stack.frames)


def group_by_key(stacks: Iterable[tuple[Stack, int]]) -> dict[tuple[str, ...], int]:
    """Pages per normalised key: several page_owner stacks (fast path and slow path) map
    to one tracepoint stack, so comparisons add them up first."""
    totals: dict[tuple[str, ...], int] = {}
    for stack, pages in stacks:
        key = stack_key(stack)
        totals[key] = totals.get(key, 0) + pages
    return totals
