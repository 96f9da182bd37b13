"""The live eBPF source: page ownership from the kmem tracepoints, no page_owner=on needed.

``bpf/pageowner.bpf.c`` attaches to ``kmem:mm_page_alloc`` and ``kmem:mm_page_free`` and
keeps, in the kernel:

- a per-base-page slot array indexed by PFN (stack row, offset in its allocation, order),
  mmapped here: 8 bytes per 4 KiB page, sized from the machine's PFN span;
- per-stack live allocations and live base pages by order (one small mmapped array: a
  refresh reads only this, and finds the live rows with a C-speed search for non-zero
  bytes, so its cost follows the live stacks rather than the table size);
- page_owner-like owner records in an mmapable array indexed by head PFN (pid, tgid,
  comm, gfp, migratetype, ts, cgroup), read only for PFN ranges and exports;
- gap counters (per CPU, one set per program, summed here).

Why an array indexed by PFN and not a hash keyed by head PFN (memleak's shape):
``mm_page_free`` reports the order of the free call, not of the allocation.  Split pages
are freed one at a time, ``alloc_pages_exact`` frees its tail, high-order pages can be
freed in chunks.  With one slot per base page every freed page finds its own owner with
one array access (inlined by the verifier, no lock, no hash probe), whatever the free's
order; a hash would need up to MAX_ORDER probes per free to find the enclosing block and
cannot say which pages of a partly freed allocation are still live.

The owner records are an array indexed by PFN too, written in place at allocation and
never deleted (a record is valid while its head page's slot names the same stack and
order).  The first version kept them in a preallocated hash keyed by head PFN (memleak's
shape): a bucket lock, a hash and an element copy per allocation and a delete per free.
Measured with bench/ebpf_fault_loop.c, 7 interleaved rounds on the development host
(base pages per CPU-second; untraced 602,869): hash owners 0.342 of untraced (+3190 ns
per page), array owners 0.380 (+2704 ns), no owner records 0.402 (+2464 ns): the hash
cost 730 ns per page, the array 240 ns.  Memory, measured on the 24 GiB development host
(memlock in /proc/self/fdinfo): slots 50 MiB and owners 350 MiB for its 6.5 M PFNs, i.e.
8 + 56 bytes per 4 KiB page (1.6 % of RAM; page_owner's own page_ext costs about 72 bytes
per page); the hash was 128 bytes per entry (32 MiB for 262,144 live allocations, and it
could fill up).  Neither array can fill or drop.  ``EbpfConfig(owner_records=False)``
leaves the owner array out (counts, orders and PFNs only).  Being mmapable, both arrays give a PFN
range without a single syscall.

Per-event cost (bench/ebpf_program_cost: the kernel's run_time_ns per program, which moves
far less between rounds than pages per second; bench/ebpf_overhead for the whole cost).
With the previous version attached alongside (``--together``, 12 rotated rounds), an
order-0 page now costs 2456 ns in our two programs against 2714 ns before (alloc program
0.924 of before, free program 0.962; the bare get_stackid() floor: 1980 ns).  The cuts,
each measured on its own (run_time_ns of a copy of the program with one change, same
method):

- ``bpf_ktime_get_ns()`` for the owner record's ts: 75 ns per allocation, a third of the
  record.  The clock is now read once per jiffy and CPU (``bpf_jiffies64()`` is inlined),
  so ts is CLOCK_MONOTONIC up to one tick (1/HZ) early; page_owner's is exact.  The
  coarse clock helper is refused to tracing programs.
- Order-0 allocations and frees (nearly all) take a straight path without the per-CPU
  loop state; all counters are one per-CPU value per program (one lookup per event, and a
  raw-tracepoint free nested in the alloc program cannot lose an update); no separate page
  total per stack (the sum of pages by order), so two atomic adds per event instead of three.

Measured and not kept: per-CPU stack counts (plain adds measured no faster than
uncontended atomics, and they multiply the array and every refresh's read by the number
of CPUs); owner records padded to 64 bytes (one cache line each: no faster); each page's
slot and owner record in one 64-byte entry (no faster to allocate, and frees got slower:
a cache line per freed page instead of one per eight).

What is left is mostly fixed: bench/ebpf_overhead's ``floorfree`` (the floor plus an empty
program on ``mm_page_free``) measured 0.971 to 0.998 of the floor's pages per second
(median of per-round ratios, two runs of 9 and 12 rounds; an ad hoc run of 7 gave 0.964),
so seeing frees at all takes up to most of the 5 % the overhead goal allows, and the
owner record (tracker against ``counts``) costs more in pages per second than inside the
program (probably its 56-byte writes to a per-PFN array evicting the workload's cache
lines; not measured directly).

Attach: perf tracepoints (``TRACEPOINT_PROBE``, fields from the tracefs format) by
default.  ``EbpfConfig(raw_tracepoints=True)`` attaches raw tracepoints instead: they
pass ``struct page *``, so the source first calibrates page -> pfn: it faults in pages of
its own while the probe records their struct page pointers, reads their pfns from
/proc/self/pagemap and solves page = vmemmap + pfn * sizeof(struct page); if no layout
fits it falls back to perf tracepoints.  A raw
tracepoint's program runs without the perf record being built, but its stack capture
unwinds through the BPF program and tracepoint frames as well; bench-style interleaved
runs on the development host measured the two within noise of each other (perf 0.380,
raw 0.375 of untraced, 5 rounds), so the simpler one is the default.
``meta["attach"]`` says which is in use.

``mm_page_free_batched`` is not attached: every page it reports has already passed
``free_pages_prepare()``, which fired ``mm_page_free`` for it (free_unref_folios), so it
would count those frees twice; the stale-owner test (tracked pages that /proc/kpageflags
shows free) confirms no free path is missed.

fentry/fexit on ``post_alloc_hook``/``free_pages_prepare`` is not implemented: neither the
development host (lockdown) nor the test guest (no BTF) can run it, so it could not be
tested; ``preflight()`` reports whether this kernel would allow it, and snapshots say
``mode: tracepoint``.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import re
import struct
import threading
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pageowner_tui.errors import Cancelled, SourceUnavailable
from pageowner_tui.kernel.checks import Check, kernel_release, lockdown_mode, root_check
from pageowner_tui.kernel.kpageflags import pfn_span
from pageowner_tui.kernel.tracefs import event_check, gfp_flag_table, gfp_names, tracefs_check
from pageowner_tui.model.snapshot import Breakdown, Counters, PageRecord, Snapshot, StackStat
from pageowner_tui.model.stack import Stack, intern_stack
from pageowner_tui.sources.base import Capabilities, ProgressCallback

__all__ = ["EbpfConfig", "EbpfSource", "preflight", "bpf_program_path", "MIGRATETYPE_NAMES"]

NR_ORDERS = 11  # orders 0..10 (MAX_PAGE_ORDER 10 on x86_64); larger ones are counted as out of range
MAX_ORDER_PAGES = 1 << (NR_ORDERS - 1)
ROW_PRESTART = 0xFFFFFFFF
SLOT_SIZE = 8
STACK_COUNT_SIZE = 4 + 4 * NR_ORDERS  # struct stack_count: allocations, pages by order
STACK_COUNT_STRIDE = (STACK_COUNT_SIZE + 7) & ~7
_STACK_COUNT = struct.Struct(f"<i{NR_ORDERS}i")
_NONZERO_BYTE = re.compile(rb"[^\x00]")

# Index order of the BPF program's counters (C_* in bpf/pageowner.bpf.c).
_COUNTER_NAMES = (
    "alloc_events",
    "free_events",
    Counters.FAILED_ALLOCATIONS,  # events
    Counters.UNTRACKED_FREES,  # pages
    Counters.STACK_FAILURES,  # events
    Counters.STACK_TABLE_DROPS,  # events
    Counters.OWNER_TABLE_DROPS,  # events whose owner record was not written (pages still counted)
    Counters.OUT_OF_RANGE,  # pages
    Counters.MISSED_FREES,  # pages
    "alloc_pages",
    "free_pages",
    Counters.UNTRACED_ALLOC_FREES,  # pages
)

_CONTROL_COUNTING = 1
_CONTROL_CALIBRATING = 2
# frames of the BPF/tracepoint machinery above the function that fired the tracepoint
_PLUMBING_PREFIXES = ("bpf_prog_", "bpf_trace_run", "__traceiter_", "__bpf_trace_", "bpf_get_stack")


class _CalibrationFailed(Exception):
    pass


def _vmemmap_layout(pointers: list[int], pfns: set[int]) -> tuple[int, int] | None:
    """(vmemmap base, log2 sizeof(struct page)) under which most struct page pointers land
    on known pfns: page = base + pfn * size.  Every (pointer, pfn) pair votes for the base
    it implies; the right layout gets a vote from nearly every pointer, a wrong one from
    about one.  None unless a layout explains 90 % of the pfns and at least 8 of them."""
    if len(pfns) < 8:
        return None
    votes: dict[tuple[int, int], int] = {}
    for shift in range(5, 9):  # struct page is 32..256 bytes
        for pointer in pointers:
            for pfn in pfns:
                key = (pointer - (pfn << shift), shift)
                votes[key] = votes.get(key, 0) + 1
    if not votes:
        return None
    (base, shift), agreed = max(votes.items(), key=lambda item: item[1])
    if agreed < max(8, 0.9 * len(pfns)):
        return None
    return base, shift


def _pagemap_pfns(mapping: mmap.mmap, pages: int) -> set[int]:
    """PFNs backing the pages of an anonymous mapping of ours (/proc/self/pagemap: bit 63
    present, bits 0-54 the pfn; root sees real pfns)."""
    address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
    page = mmap.PAGESIZE
    with open("/proc/self/pagemap", "rb", buffering=0) as f:
        f.seek(address // page * 8)
        data = f.read(pages * 8)
    pfns = set()
    for (entry,) in struct.iter_unpack("<Q", data):
        if entry >> 63 and entry & ((1 << 55) - 1):
            pfns.add(entry & ((1 << 55) - 1))
    return pfns


# page_owner prints migratetype_names[] (mm/page_alloc.c); CMA exists with CONFIG_CMA.
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

ALLOC_EVENT = ("kmem", "mm_page_alloc", ("pfn", "order", "gfp_flags", "migratetype"))
FREE_EVENT = ("kmem", "mm_page_free", ("pfn", "order"))


def bpf_program_path() -> Path:
    """bpf/pageowner.bpf.c of a source checkout, else the copy installed with the package."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "bpf" / "pageowner.bpf.c", here.parents[1] / "bpf" / "pageowner.bpf.c"):
        if candidate.is_file():
            return candidate
    raise SourceUnavailable(
        "eBPF program bpf/pageowner.bpf.c not found next to the package: reinstall pageowner-top"
    )


@dataclass(frozen=True)
class EbpfConfig:
    """Table sizes.  Defaults come from measurement (see the module docstring)."""

    stack_entries: int = 65536  # 16384 collided (-EEXIST) in a short run; 65536 did not
    stack_depth: int = 32  # page_owner keeps 16 frames from inside the allocator
    pfn_limit: int | None = None  # PFN span; None reads /proc/zoneinfo
    keep_records: bool = False  # snapshot() includes per-allocation records (costly)
    raw_tracepoints: bool = False  # True: raw tracepoints (calibrated; measured no faster)
    owner_records: bool = True  # False: no pid/comm/gfp/ts per allocation, less work per page


# ----------------------------------------------------------------------------------------
# preflight: cheap checks, one line each, shared with `pageowner-top doctor`


def _bcc_check() -> Check:
    try:
        import bcc  # noqa: F401
    except ImportError as exc:
        return Check(
            "bcc",
            False,
            f"python module bcc not importable ({exc})",
            "apt-get install python3-bpfcc (and run with a python that sees Debian's "
            "dist-packages, e.g. a venv made with --system-site-packages)",
        )
    return Check("bcc", True, f"importable ({getattr(bcc, '__file__', '?')})")


def _headers_check() -> Check:
    release = kernel_release()
    build = Path("/lib/modules") / release / "build"
    if (build / "include").is_dir() or (build / "Makefile").is_file():
        return Check("kernel headers", True, f"{build} -> {os.path.realpath(build)}")
    if Path("/sys/kernel/kheaders.tar.xz").is_file():
        return Check("kernel headers", True, "/sys/kernel/kheaders.tar.xz (CONFIG_IKHEADERS)")
    if list((Path("/lib/modules") / release).rglob("kheaders.ko*")):
        return Check("kernel headers", True, "kheaders module (BCC loads it)")
    arch = "amd64"
    try:
        import subprocess

        arch = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=5
        ).stdout.strip() or arch
    except (OSError, subprocess.SubprocessError):
        pass
    return Check(
        "kernel headers",
        False,
        f"{build} missing (BCC compiles against the running kernel's headers)",
        f"apt-get install linux-headers-{arch} (or linux-headers-{release}); if headers for "
        f"another version are installed, link them: ln -s /usr/src/linux-headers-VERSION "
        f"/lib/modules/{release}/build",
    )


_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}


def _bpf_allowed_check() -> Check:
    """Create and close a one-entry BPF array map: cheap proof the bpf() syscall is allowed."""
    machine = os.uname().machine
    number = _SYS_BPF.get(machine)
    if number is None:
        return Check("bpf syscall", True, f"not probed on {machine}")
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIII", attr, 0, 2, 4, 4, 1)  # BPF_MAP_TYPE_ARRAY, key 4, value 4, 1 entry
    fd = libc.syscall(number, 0, attr, 128)  # BPF_MAP_CREATE
    if fd < 0:
        err = ctypes.get_errno()
        fix = (
            "run as root (CAP_BPF+CAP_PERFMON); in a container run it --privileged; "
            "check kernel lockdown and seccomp"
            if err in (errno.EPERM, errno.EACCES)
            else "use a kernel built with CONFIG_BPF_SYSCALL"
        )
        return Check("bpf syscall", False, f"refused: {os.strerror(err)}", fix)
    os.close(fd)
    return Check("bpf syscall", True, "allowed (created a test map)")


def _fentry_check() -> Check:
    btf = Path("/sys/kernel/btf/vmlinux").exists()
    lockdown = lockdown_mode()
    if not btf:
        detail = "not possible here (no /sys/kernel/btf/vmlinux)"
    elif lockdown not in ("none", "unknown"):
        detail = f"blocked by lockdown={lockdown}"
    else:
        detail = "BTF present, but this version only implements tracepoint mode"
    return Check("mode", True, f"tracepoint (fentry: {detail})")


def preflight() -> list[Check]:
    """Everything EbpfSource needs, cheapest first; nothing is compiled or attached."""
    checks = [root_check(), _bcc_check(), _headers_check(), tracefs_check()]
    for system, event, fields in (ALLOC_EVENT, FREE_EVENT):
        checks.append(event_check(system, event, fields))
    if checks[0].ok:
        checks.append(_bpf_allowed_check())
    checks.append(_fentry_check())
    return checks


# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Owner:
    ts: int
    cgroup: int
    row: int
    gfp: int
    pid: int
    tgid: int
    comm: str
    order: int
    migratetype: int


_OWNER_STRUCT = struct.Struct("<QQIIII16sBBHI")


class EbpfSource:
    """Tracks page ownership live with BPF; see the module docstring for the design."""

    kind = "ebpf"

    def __init__(self, config: EbpfConfig | None = None) -> None:
        self.config = config or EbpfConfig()
        self._lock = threading.RLock()
        self._closed = False
        self._bpf = None
        self._slots: mmap.mmap | None = None
        self._counts: mmap.mmap | None = None
        self._owner_view: mmap.mmap | None = None
        failed = [check for check in preflight() if not check.ok]
        if failed:
            # without root every later check fails too: name the cause, not its symptoms
            shown = failed[:1] if failed[0].name == "root" else failed
            raise SourceUnavailable("eBPF source: " + "; ".join(c.line()[7:] for c in shown))
        from pageowner_tui.kernel.kallsyms import Kallsyms, KallsymsUnavailable

        try:
            self._kallsyms = Kallsyms()
        except KallsymsUnavailable as exc:
            raise SourceUnavailable(f"eBPF source: {exc}") from None
        self.pfn_limit = self.config.pfn_limit or pfn_span()
        self._rows = self.config.stack_entries + 3
        self._row_no_stack = self.config.stack_entries + 1
        self._row_stack_full = self.config.stack_entries + 2
        self._stacks: dict[int, Stack] = {}
        self._gfp_table = gfp_flag_table()
        self._kernel = kernel_release()
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- loading -----------------------------------------------------------------------

    def _load(self) -> None:
        text = bpf_program_path().read_text().encode()
        cflags = [
            f"-DPFN_LIMIT={self.pfn_limit}",
            f"-DSTACK_ENTRIES={self.config.stack_entries}",
            f"-DOWNER_ENTRIES={self.pfn_limit if self.config.owner_records else 1}",
            f"-DMAX_ORDER_PAGES={MAX_ORDER_PAGES}",
            f"-DNR_ORDERS={NR_ORDERS}",
            f"-DSTACK_DEPTH={self.config.stack_depth}",
        ]
        if not self.config.owner_records:
            cflags.append("-DNO_OWNERS")
        self.attach = "perf_tracepoint"
        self.calibration = ""
        if self.config.raw_tracepoints:
            self._bpf = self._compile(text, cflags + ["-DRAW_MODE"])
            try:
                self.calibration = self._calibrate()
                self.attach = "raw_tracepoint"
            except _CalibrationFailed as exc:
                self._bpf.cleanup()
                self._bpf = None
                self.calibration = f"raw tracepoints not used: {exc}"
        if self._bpf is None:
            self._bpf = self._compile(text, cflags)
        self._slot_table = self._bpf[b"page_slots"]
        self._count_table = self._bpf[b"stack_counts"]
        self._owners = self._bpf[b"owners"]
        self._stack_table = self._bpf[b"stack_traces"]
        self._counter_table = self._bpf[b"counters"]
        self._slots = mmap.mmap(
            self._slot_table.get_fd(), _page_round(self.pfn_limit * SLOT_SIZE), mmap.MAP_SHARED,
            mmap.PROT_READ | mmap.PROT_WRITE,
        )
        self._counts = mmap.mmap(
            self._count_table.get_fd(), _page_round(self._rows * STACK_COUNT_STRIDE), mmap.MAP_SHARED,
            mmap.PROT_READ,
        )
        owner_entries = self.pfn_limit if self.config.owner_records else 1
        self._owner_view = mmap.mmap(
            self._owners.get_fd(), _page_round(owner_entries * _OWNER_STRUCT.size), mmap.MAP_SHARED,
            mmap.PROT_READ,
        )
        # Mark every page "not seen since start" before counting begins (see the C file).
        marker = struct.pack("<Q", ROW_PRESTART)
        step = 1 << 20
        block = marker * step
        for offset in range(0, self.pfn_limit, step):
            n = min(step, self.pfn_limit - offset)
            self._slots[offset * SLOT_SIZE : (offset + n) * SLOT_SIZE] = block[: n * SLOT_SIZE]
        # BCC attached both tracepoints while loading; only now start counting.
        control = self._bpf[b"control"]
        control[control.Key(0)] = control.Leaf(_CONTROL_COUNTING)
        self.started = _time.time()
        self.started_monotonic_ns = _time.monotonic_ns()

    @staticmethod
    def _compile(text: bytes, cflags: list[str]):
        from bcc import BPF

        try:
            return BPF(text=text, cflags=cflags)
        except Exception as exc:  # BCC raises bare Exception for compile/load/attach failures
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SourceUnavailable(
                f"eBPF source: the kernel refused the BPF program ({first}); "
                "run `pageowner-top doctor` and check dmesg"
            ) from None

    def _calibrate(self) -> str:
        """Learn struct page * -> pfn for the raw tracepoints: allocate pages here, let
        the probe record their struct page pointers, read their pfns from
        /proc/self/pagemap, and find the one vmemmap layout that maps the pointers onto
        them.  Raises _CalibrationFailed when none does."""
        assert self._bpf is not None
        config = self._bpf[b"config"]
        leaf = config.Leaf()
        leaf.vmemmap_base, leaf.page_shift, leaf.calibration_tgid = 0, 0, os.getpid()
        config[config.Key(0)] = leaf
        control = self._bpf[b"control"]
        pages = 64
        scratch = mmap.mmap(-1, pages * mmap.PAGESIZE)
        try:
            control[control.Key(0)] = control.Leaf(_CONTROL_CALIBRATING)
            for offset in range(0, len(scratch), mmap.PAGESIZE):
                scratch[offset] = 1  # one fault, one order-0 allocation each
            control[control.Key(0)] = control.Leaf(0)
            pfns = _pagemap_pfns(scratch, pages)
        finally:
            control[control.Key(0)] = control.Leaf(0)
            scratch.close()
        counts = self._bpf[b"calibration_count"].getvalue(0)
        table = self._bpf[b"calibration_pages"]
        pointers = [
            value
            for index in range(min(max(counts, default=0), 256))
            for cpu, value in enumerate(table.getvalue(index))
            if index < counts[cpu] and value
        ]
        layout = _vmemmap_layout(pointers, pfns)
        if layout is None:
            raise _CalibrationFailed(
                f"{len(pointers)} struct page pointers do not map onto the {len(pfns)} pfns of "
                "/proc/self/pagemap with one vmemmap layout"
            )
        base, shift = layout
        leaf.vmemmap_base, leaf.page_shift, leaf.calibration_tgid = base, shift, 0
        config[config.Key(0)] = leaf
        return f"vmemmap {base:#x}, struct page {1 << shift} bytes"

    # -- Source protocol ------------------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(
            live=True,
            kernel_threshold=False,
            pfn_ranges=True,
            records=True,
            breakdowns=(Breakdown.ORDER,),
            notes=(
                "counts pages allocated since the tracker started; frees of older pages are "
                "counted as untracked_free_pages",
                "threshold is applied on our side",
            )
            + (() if self.config.owner_records else
               ("started without owner records: page records have no pid, comm, gfp or time",)),
        )

    def __enter__(self) -> "EbpfSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Detach every program and free every map; safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for view in (self._slots, self._counts, self._owner_view):
                if view is not None:
                    try:
                        view.close()
                    except BufferError:
                        pass
            self._slots = self._counts = self._owner_view = None
            bpf, self._bpf = self._bpf, None
            if bpf is not None:
                bpf.cleanup()

    def _check_open(self) -> None:
        if self._closed or self._bpf is None:
            raise SourceUnavailable("eBPF source is closed")

    def bpf_object_ids(self) -> dict[str, list[int]]:
        """Kernel ids of our loaded programs and maps ({"prog": [...], "map": [...]}), read
        from /proc/self/fdinfo: what `bpftool prog`/`bpftool map` would list as ours."""
        self._check_open()
        assert self._bpf is not None
        fds = {"prog": [f.fd for f in self._bpf.funcs.values()],
               "map": [t.get_fd() for t in (self._slot_table, self._count_table, self._owners,
                                            self._stack_table, self._counter_table)]}
        ids: dict[str, list[int]] = {"prog": [], "map": []}
        for kind, numbers in fds.items():
            for fd in numbers:
                with open(f"/proc/self/fdinfo/{fd}", encoding="utf-8") as f:
                    for line in f:
                        if line.startswith(f"{kind}_id:"):
                            ids[kind].append(int(line.split()[1]))
        return ids

    def counters(self) -> dict[str, int]:
        """The BPF program's counters summed over CPUs, plus live pages without a stack
        (counted, but in no StackStat)."""
        self._check_open()
        values = dict.fromkeys(_COUNTER_NAMES, 0)
        table = self._counter_table
        for program in (0, 1):  # one entry per BPF program (alloc, free), per CPU
            for per_cpu in table.getvalue(table.Key(program)):
                for name, value in zip(_COUNTER_NAMES, per_cpu.n):
                    values[name] += int(value)
        values[Counters.NO_STACK_PAGES] = self._row_pages(self._row_no_stack) + self._row_pages(
            self._row_stack_full
        )
        values[Counters.BPF_MISSED_EVENTS] = self._recursion_misses()
        return values

    def _recursion_misses(self) -> int:
        """Events the kernel did not run our programs for because one was already running
        on that CPU (an interrupt freeing pages during our free program): each is an
        allocation or free we never saw.  From /proc/self/fdinfo (5.12+; 0 before)."""
        assert self._bpf is not None
        total = 0
        for function in self._bpf.funcs.values():
            try:
                with open(f"/proc/self/fdinfo/{function.fd}", encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("recursion_misses:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def _row_pages(self, row: int) -> int:
        """Live base pages of one stack row: the sum of its pages by order."""
        assert self._counts is not None
        return sum(_STACK_COUNT.unpack_from(self._counts, row * STACK_COUNT_STRIDE)[1:])

    def _count_rows(self, first: int, end: int) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(row, (allocations, pages of order 0, 1, ...)) for the rows in [first, end) with
        any count not zero: one copy of the mmapped array, and a C-speed search for the next
        non-zero byte, so the cost follows the live rows, not the table size."""
        assert self._counts is not None
        stride = STACK_COUNT_STRIDE
        data = bytes(self._counts[: end * stride])
        search = _NONZERO_BYTE.search
        unpack = _STACK_COUNT.unpack_from
        position = first * stride
        while True:
            found = search(data, position)
            if found is None:
                return
            row = found.start() // stride
            yield row, unpack(data, row * stride)
            position = (row + 1) * stride

    def stack_of_row(self, row: int) -> Stack:
        """The Stack of a stack row (stack id + 1), symbolised once and cached."""
        stack = self._stacks.get(row)
        if stack is None:
            if row == self._row_no_stack:
                frames: tuple[str, ...] = ("[stack capture failed]",)
            elif row == self._row_stack_full:
                frames = ("[stack table full]",)
            else:
                addresses = []
                try:
                    leaf = self._stack_table[self._stack_table.Key(row - 1)]
                    for address in leaf.ip:
                        if not address:
                            break
                        addresses.append(address)
                except KeyError:
                    pass
                frames = _without_plumbing(self._kallsyms.frames(addresses)) if addresses else ("[stack lost]",)
            stack = intern_stack(frames)
            self._stacks[row] = stack
        return stack

    def _live_rows(self) -> list[tuple[int, int, int, dict[str, int]]]:
        """(row, pages, allocations, pages by order) for every stack row with live pages."""
        rows = []
        for row, values in self._count_rows(1, self.config.stack_entries + 1):
            orders = {str(order): n for order, n in enumerate(values[1:]) if n}
            rows.append((row, sum(values[1:]), values[0], orders))
        return rows

    def snapshot(self) -> Snapshot:
        with self._lock:
            self._check_open()
            stats = [
                StackStat(
                    stack=self.stack_of_row(row),
                    pages=pages,
                    allocations=allocations,
                    breakdowns={Breakdown.ORDER: orders},
                )
                for row, pages, allocations, orders in self._live_rows()
                if pages > 0
            ]
            counters = self.counters()
            records = tuple(self.records()) if self.config.keep_records else None
        return Snapshot.from_stats(
            stats,
            source="ebpf",
            kernel=self._kernel,
            counters=counters,
            meta={
                "mode": "tracepoint",
                "attach": self.attach,
                "calibration": self.calibration,
                "tracepoints": "kmem:mm_page_alloc,kmem:mm_page_free",
                "since": f"{self.started:.3f}",
                "pfn_limit": str(self.pfn_limit),
                "stack_entries": str(self.config.stack_entries),
                "owner_records": "yes" if self.config.owner_records else "no",
            },
            records=records,
        )

    # -- per-page reads ---------------------------------------------------------------------

    def slots(self, pfn_start: int, pfn_end: int) -> memoryview:
        """The raw u64 slots of a PFN range (a copy), for tests and range views."""
        self._check_open()
        assert self._slots is not None
        pfn_start = max(0, pfn_start)
        pfn_end = min(self.pfn_limit, pfn_end)
        if pfn_end <= pfn_start:
            return memoryview(b"").cast("Q")
        return memoryview(bytes(self._slots[pfn_start * SLOT_SIZE : pfn_end * SLOT_SIZE])).cast("Q")

    def _owner(self, head: int) -> _Owner | None:
        """The owner record written at head's allocation, straight from the mmap."""
        if not self.config.owner_records or not 0 <= head < self.pfn_limit:
            return None
        assert self._owner_view is not None
        return _decode_owner(self._owner_view, head * _OWNER_STRUCT.size)

    def pages(self, pfn_start: int, pfn_end: int) -> Iterator[PageRecord]:
        """Live allocations whose head PFN is in [pfn_start, pfn_end), like page_owner's.

        A whole allocation still live is one record of its order; what is left of a split
        or partly freed one is one order-0 record per page, as page_owner prints split pages.
        Only this range of the per-page table is read.
        """
        with self._lock:
            self._check_open()
            records = [self._record(run) for run in self._runs(pfn_start, pfn_end)]
        yield from records

    def _runs(self, pfn_start: int, pfn_end: int) -> Iterator[tuple[int, int, int, int, int]]:
        """(pfn, row, order, offset in its allocation, pages) per allocation or leftover page."""
        slots = self.slots(pfn_start, pfn_end)
        count = len(slots)
        base = max(0, pfn_start)
        # one pass in C-speed comprehension to find owned slots; most of memory is free
        # or untouched since start
        owned = [i for i, value in enumerate(slots) if value != 0 and value != ROW_PRESTART]
        position = 0
        while position < len(owned):
            i = owned[position]
            value = slots[i]
            row = value & 0xFFFFFFFF
            offset = (value >> 32) & 0xFFFF
            order = (value >> 48) & 0xFF
            size = 1 << order
            if offset == 0 and i + size <= count and all(
                slots[i + k] == value | (k << 32) for k in range(1, size)
            ):
                yield base + i, row, order, 0, size
                position += size
            else:
                yield base + i, row, order, offset, 1
                position += 1

    def _record(self, run: tuple[int, int, int, int, int]) -> PageRecord:
        pfn, row, order, offset, pages = run
        # valid while the allocation's head slot-era record names the same stack and order
        owner = self._owner(pfn - offset)
        if owner is not None and (owner.row != row or owner.order != order):
            owner = None
        record_order = order if pages == 1 << order else 0
        if owner is None:
            return PageRecord(
                pfn=pfn, order=record_order, gfp_mask=0, gfp_names="", stack=self.stack_of_row(row)
            )
        return PageRecord(
            pfn=pfn,
            order=record_order,
            gfp_mask=owner.gfp,
            gfp_names=gfp_names(owner.gfp, self._gfp_table),
            stack=self.stack_of_row(row),
            pid=owner.pid,
            tgid=owner.tgid,
            comm=owner.comm,
            ts_ns=owner.ts,
            migratetype=MIGRATETYPE_NAMES[owner.migratetype]
            if 0 <= owner.migratetype < len(MIGRATETYPE_NAMES)
            else str(owner.migratetype),
            cgroup=owner.cgroup,
        )

    def records(self, progress: ProgressCallback | None = None) -> Iterator[PageRecord]:
        """Every live allocation seen since start, PFN by PFN, in chunks."""
        chunk = 1 << 18
        total = self.pfn_limit
        for start in range(0, total, chunk):
            if progress is not None and progress(start, total):
                raise Cancelled()
            yield from self.pages(start, min(start + chunk, total))
        if progress is not None:
            progress(total, total)

    def tracked_pages(self) -> int:
        """Live base pages over all stacks and the no-stack rows (a cheap total)."""
        self._check_open()
        return sum(sum(values[1:]) for _row, values in self._count_rows(1, self._rows))


def _without_plumbing(frames: tuple[str, ...]) -> tuple[str, ...]:
    """A raw tracepoint's stack without the BPF program and tracepoint machinery above the
    function that fired it (bpf_prog_*, bpf_trace_run4, __traceiter_*): how many such
    frames there are changes with the number of probes on the tracepoint, so they are cut
    here rather than skipped in the kernel."""
    cut = 0
    for index, frame in enumerate(frames[:8]):
        if frame.startswith(_PLUMBING_PREFIXES):
            cut = index + 1
    return frames[cut:] or frames


def _decode_owner(buffer, offset: int = 0) -> _Owner:
    ts, cgroup, row, gfp, pid, tgid, comm, order, migratetype, _, _ = _OWNER_STRUCT.unpack_from(
        buffer, offset
    )
    return _Owner(
        ts, cgroup, row, gfp, pid, tgid, comm.split(b"\0", 1)[0].decode("utf-8", "replace"), order, migratetype
    )


def _page_round(n: int) -> int:
    page = mmap.PAGESIZE
    return (n + page - 1) // page * page
