"""Allocation stacks, interned: a stack's text is stored once however often it is used.

A frame is kept exactly as the kernel's ``%pS`` prints it, without the one leading space
that page_owner puts before each frame: ``sym+0xoff/0xsize`` with an optional
`` [module]`` suffix.  ``Stack.text`` is the block as the kernel prints it (one leading
space per frame, each line ending in a newline), which every text writer reuses.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Iterable

__all__ = [
    "EARLY_STACK_FUNCTION",
    "Stack",
    "intern_stack",
    "intern_stack_text",
    "frame_function",
    "frame_module",
    "is_allocator_frame",
    "printable",
]


# page_owner gives pages allocated before it initialised this one-function stack
# (register_early_stack < init_page_owner < mm_core_init < start_kernel).  Real boot
# allocations can also have mask 0, ts 0 and pid 0, so the stack is the only reliable sign.
EARLY_STACK_FUNCTION = "register_early_stack"


class Stack:
    """One allocation stack. Immutable; compare and hash by id.

    Only the kernel's text is stored; ``frames`` is split from it when asked.  A live view
    holds 100k stacks, most never displayed: keeping a tuple of frame strings as well
    would triple their memory (bench/model_memory).

    ``id_number`` is the same 64-bit digest as ``id``, as an int: ranking 100k stacks
    breaks ties by id every tick, and reading a cached int costs a fraction of parsing
    the hex again (model.query.rank); ``int(id, 16) == id_number`` always.
    """

    __slots__ = ("id", "id_number", "text", "__weakref__")

    id: str
    id_number: int
    text: str

    def __init__(self, text: str) -> None:
        object.__setattr__(self, "text", text)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8)
        object.__setattr__(self, "id", digest.hexdigest())
        object.__setattr__(self, "id_number", int.from_bytes(digest.digest(), "big"))

    @property
    def frames(self) -> tuple[str, ...]:
        """Each frame as %pS prints it, without page_owner's leading space."""
        return _split_frames(self.text)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Stack is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stack) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        frames = self.frames
        head = frames[0] if frames else "<empty>"
        return f"Stack({self.id}, {len(frames)} frames, {head!r})"

    @property
    def caller(self) -> str:
        """The first frame outside the allocators' own functions (the useful name)."""
        frames = self.frames
        for frame in frames:
            if not is_allocator_frame(frame):
                return frame
        return frames[-1] if frames else ""

    @property
    def caller_function(self) -> str:
        return frame_function(self.caller)

    @property
    def is_early(self) -> bool:
        """The kernel's marker stack for pages allocated before page_owner initialised."""
        text = self.text
        return EARLY_STACK_FUNCTION in text[:64] and frame_function(self.frames[0]) == EARLY_STACK_FUNCTION

    @property
    def modules(self) -> tuple[str, ...]:
        """Modules named in the frames (``[ext4]``), in order of first appearance."""
        seen: dict[str, None] = {}
        for frame in self.frames:
            module = frame_module(frame)
            if module:
                seen.setdefault(module, None)
        return tuple(seen)


_lock = threading.Lock()
_by_text: "weakref.WeakValueDictionary[str, Stack]" = weakref.WeakValueDictionary()


def intern_stack_text(text: str) -> Stack:
    """The one Stack for a block of frame lines as the kernel prints them.

    ``text`` is one line per frame, each starting with one space and ending in ``\\n``.
    """
    stack = _by_text.get(text)
    if stack is not None:
        return stack
    with _lock:
        stack = _by_text.get(text)
        if stack is None:
            stack = Stack(text)
            _by_text[text] = stack
    return stack


def _split_frames(text: str) -> tuple[str, ...]:
    lines = text.split("\n")  # not splitlines(): it also splits at \x1c-\x1e, \x85, \u2028
    if lines[-1] == "":
        lines.pop()
    return tuple(line[1:] if line.startswith(" ") else line for line in lines)


# C0 controls except the newline that separates lines, DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters (ESC, BEL, NUL, ...; not newlines) written as
    ``\\x1b``: text from a file or a task name can then never drive a terminal."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def intern_stack(frames: Iterable[str]) -> Stack:
    """The one Stack for these frames (each without its leading space)."""
    text = "".join(f" {frame}\n" for frame in frames)
    return intern_stack_text(text)


_MODULE_RE = re.compile(r" \[([^\]]+)\]$")


def frame_function(frame: str) -> str:
    """``sym`` of ``sym+0xoff/0xsize [mod]``; the frame itself when it has no offset."""
    frame = frame.strip()
    plus = frame.find("+")
    if plus > 0:
        return frame[:plus]
    space = frame.find(" ")
    return frame[:space] if space > 0 else frame


def frame_module(frame: str) -> str:
    match = _MODULE_RE.search(frame)
    return match.group(1) if match else ""


# The page allocator, its folio and bulk wrappers, and the slab and vmalloc internals
# that only pass a page on: a stack's "caller" is the first frame not in this list.
_ALLOCATOR_PREFIXES = (
    "post_alloc_hook",
    "prep_new_page",
    "get_page_from_freelist",
    "__alloc_pages",
    "alloc_pages",
    "__alloc_frozen_pages",
    "alloc_frozen_pages",
    "__folio_alloc",
    "folio_alloc",
    "vma_alloc_folio",
    "alloc_slab_page",
    "allocate_slab",
    "new_slab",
    "___slab_alloc",
    "__slab_alloc",
    "slab_alloc_node",
    "kmem_cache_alloc",
    "__kmem_cache_alloc",
    "kmalloc_",
    "__kmalloc",
    "kmalloc_large",
    "kmalloc_trace",
    "__vmalloc",
    "vmalloc",
    "vm_area_alloc_pages",
    "__get_free_pages",
    "get_zeroed_page",
    "__page_frag_alloc",
    "page_frag_alloc",
    "__page_cache_alloc",
    "alloc_pages_exact",
    "__alloc_pages_bulk",
    "alloc_pages_bulk",
    "__rmqueue",
    "rmqueue",
)


def is_allocator_frame(frame: str) -> bool:
    return frame_function(frame).startswith(_ALLOCATOR_PREFIXES)
