"""``/sys/kernel/debug/page_owner``: the kernel's per-allocation dump, every version; parse and write.

One record per allocation head page, each ended by an empty line (KERNEL-FACTS.md)::

    Page allocated via order O, mask 0xM(GFP), pid P, tgid T (COMM), ts N ns[, free_ts N ns]
    PFN 0xP type MT Block B type MT Flags 0xF(flag|...)
     frame+0xoff/0xsize [module]            (one leading space, up to 16 frames)
    Page has been migrated, last migrate reason: R   (optional trailer lines)
    Slab cache page / Charged [(via objcg) ]to [offline ]memcg NAME

The optional header fields and the PFN base differ by kernel (``PageOwnerDialect``): 5.10
prints only order and mask; 5.11 adds pid and ts, 5.13 free_ts, 5.18 the comm after the pid
(``pid %d (%s)``), 5.19 moves it behind a tgid (``pid %d, tgid %d (%s)``), 6.7 drops
free_ts; the PFN is decimal before 6.5.  A file's dialect is taken from its first record and
every record must match it.

Two readers share one strict grammar:

- ``parse_record`` / ``_parse_lines`` walk a record line by line.  They are the reference:
  every error message (file, line, what was expected) comes from them.
- The bulk readers (``iter_records``, ``read_snapshot``) decode 8 MiB chunks and let one
  compiled regex per dialect match all records of a chunk in C (``findall``).  The regex
  checks the per-page fields (ts, PFN, block, flags) itself; the repeated parts it captures
  (header without ts, stack, trailer lines) are checked once per distinct value with the
  reference functions.  Two counts prove the matches tile the chunk (see
  ``_chunk_is_tiled``).  Anything unexpected re-reads that chunk with the reference walker,
  which then reports the exact line.  ``read_snapshot`` without records never builds a
  Python object per record: it counts (header, page type, stack, trailer) tuples with
  ``Counter`` and expands them per distinct tuple, which is what makes it fast.

Early-allocated pages (allocated before page_owner started) are kept out of the stacks and
counted in ``Counters.EARLY_PAGES``, as page_owner_stacks never counts them either.  The
kernel marks them with its "early" stack (``register_early_stack`` ...); that stack, not
"order 0, mask 0, ts 0, pid 0", is the test: the 6.12 capture also has real boot-time
allocations with mask 0, ts 0 and pid 0 (``init_espfix_ap``, ``allocate_cmdlines_buffer``),
which page_owner_stacks does count.
"""

from __future__ import annotations

import functools
import re
import time as _time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, BinaryIO, NamedTuple, TextIO

from pageowner_tui.errors import Cancelled, FormatError, TruncatedError
from pageowner_tui.formats.input import open_input, read_chunk, read_position
from pageowner_tui.model.snapshot import (
    Breakdown,
    Counters,
    PageOwnerDialect,
    PageRecord,
    Snapshot,
    StackStat,
)
from pageowner_tui.model.stack import Stack, intern_stack_text

__all__ = [
    "COUNTS_ONLY_COMM",
    "HEADER_START",
    "aggregate",
    "describe_dialect",
    "is_early",
    "iter_records",
    "parse_record",
    "read_snapshot",
    "write_counts_only",
    "write_record",
    "write_records",
]

HEADER_START = "Page allocated via order "
COUNTS_ONLY_COMM = "counts-only"
CHUNK_BYTES = 8 << 20  # one findall per chunk; memory stays a few chunks whatever the file size
MAX_RECORD_BYTES = 1 << 20  # the kernel's records fit in one page; this is generous
# x86-64 with hugetlb: pageblock_order 9.  Only used to write records that never had a
# "Block N" (e.g. built from eBPF events); parsed records keep the number they were read with.
DEFAULT_PAGEBLOCK_ORDER = 9

ProgressCallback = Callable[[int, int], "bool | None"]

_HEADER_RE = re.compile(
    r"Page allocated via order (?P<order>[0-9]{1,20}), mask (?P<mask>0x[0-9a-f]+)\((?P<gfp>[^()\n]*)\)"
    r"(?:, pid (?P<pid>-?[0-9]{1,20})(?: \((?P<pid_comm>[^\n]*)\))?)?"
    r"(?:, tgid (?P<tgid>-?[0-9]{1,20}) \((?P<comm>[^\n]*)\))?"
    r"(?:, ts (?P<ts>[0-9]{1,20}) ns)?"
    r"(?:, free_ts (?P<free_ts>[0-9]{1,20}) ns)?"
)
_PFN_RE = re.compile(
    r"PFN (?P<pfn>0x[0-9a-f]+|[0-9]{1,20}) type (?P<mt>[^ \n]+) Block (?P<block>[0-9]{1,20}) "
    r"type (?P<bt>[^ \n]+) Flags (?P<flags>0x[0-9a-f]+\([^\n]*\))"
)
_TRAILER_RE = re.compile(
    r"Page has been migrated, last migrate reason: [^\n]+"
    r"|Slab cache page"
    r"|Charged (?:\(via objcg\) )?to (?:offline )?memcg [^\n]*"
)

_EXPECT_HEADER = (
    "a record header 'Page allocated via order N, mask 0xM(GFP)[, pid P, tgid T (COMM), ts N ns]'"
)
_EXPECT_PFN = "a 'PFN <pfn> type <migratetype> Block <n> type <migratetype> Flags 0x<hex>(...)' line"
_EXPECT_FRAME = "a stack frame with one leading space (' sym+0xoff/0xsize')"
_EXPECT_AFTER_FRAME = (
    "a stack frame (' sym+0xoff/0xsize'), 'Page has been migrated, last migrate reason: ...', "
    "'Slab cache page', 'Charged ... memcg NAME' or the empty line ending the record"
)


class _Header(NamedTuple):
    order: int
    mask: int
    gfp: str
    pid: int
    tgid: int
    comm: str
    ts: int
    free_ts: int
    fields: tuple[bool, bool, bool, bool, bool]  # printed: pid, tgid, ts, free_ts, pid_comm


@functools.lru_cache(maxsize=None)
def _dialect(
    pid: bool, tgid: bool, ts: bool, free_ts: bool, pid_comm: bool, pfn_hex: bool
) -> PageOwnerDialect:
    return PageOwnerDialect(
        pid=pid, tgid=tgid, ts=ts, free_ts=free_ts, pfn_hex=pfn_hex, pid_comm=pid_comm
    )


def is_early_stack(stack: Stack) -> bool:
    """Whether this is the kernel's marker stack for pages allocated before page_owner."""
    return stack.is_early


def is_early(record: PageRecord) -> bool:
    """Allocated before page_owner initialised (never counted in page_owner_stacks)."""
    return is_early_stack(record.stack)


def describe_dialect(dialect: PageOwnerDialect) -> str:
    """Which kernels print this dialect, for messages and ``Snapshot.meta``."""
    fields = [n for n in ("pid", "pid_comm", "tgid", "ts", "free_ts") if getattr(dialect, n)]
    base = "hex PFN" if dialect.pfn_hex else "decimal PFN"
    return f"header: order, mask{''.join(', ' + f for f in fields)}; {base}"


# --------------------------------------------------------------------------------------
# The reference grammar: one line at a time, exact errors.


def _parse_header(line: str, path: str, line_no: int) -> _Header:
    match = _HEADER_RE.fullmatch(line)
    if match is None:
        raise FormatError(path, line_no, _header_expectation(line), line or "an empty line")
    order = int(match["order"])
    if order > 63:
        raise FormatError(path, line_no, "an allocation order of at most 63", match["order"])
    pid, tgid, ts, free_ts, pid_comm = match.group("pid", "tgid", "ts", "free_ts", "pid_comm")
    return _Header(
        order=order,
        mask=int(match["mask"], 16),
        gfp=match["gfp"],
        pid=int(pid) if pid is not None else -1,
        tgid=int(tgid) if tgid is not None else -1,
        comm=match["comm"] or pid_comm or "",
        ts=int(ts) if ts is not None else 0,
        free_ts=int(free_ts) if free_ts is not None else 0,
        fields=(
            pid is not None, tgid is not None, ts is not None, free_ts is not None,
            pid_comm is not None,
        ),
    )


def _header_expectation(line: str) -> str:
    if not line.startswith(HEADER_START):
        return _EXPECT_HEADER
    rest = line[len(HEADER_START):]
    if not re.match(r"[0-9]{1,20},", rest):
        return "a decimal allocation order after 'Page allocated via order '"
    if not re.match(r"[0-9]{1,20}, mask 0x[0-9a-f]+\([^()\n]*\)", rest):
        return "', mask 0x<hex>(<gfp flags>)' after the order"
    return "the header fields in the kernel's order: ', pid P, tgid T (COMM), ts N ns[, free_ts N ns]'"


def _record_lines(block: str) -> list[str]:
    """The lines of one record's text, without its final newline and empty line."""
    if block.endswith("\n\n"):
        block = block[:-2]
    elif block.endswith("\n"):
        block = block[:-1]
    return block.split("\n")


def _parse_lines(
    lines: list[str], path: str, first_line: int, *, partial: bool = False
) -> PageRecord | None:
    """Check one record's lines and build it; the reference for every error message.

    ``partial``: the record was cut short (end of file): ``lines[-1]`` is an incomplete
    line and is not checked, and missing parts are no error; returns None when the lines
    seen so far are a valid beginning of a record.
    """
    checked = len(lines) - 1 if partial else len(lines)
    if checked <= 0:
        if partial and lines and lines[0] and not (
            lines[0].startswith(HEADER_START) or HEADER_START.startswith(lines[0])
        ):
            raise FormatError(path, first_line, _EXPECT_HEADER, lines[0])
        if partial:
            return None
        raise FormatError(path, first_line, _EXPECT_HEADER, "an empty record")
    header = _parse_header(lines[0], path, first_line)
    if checked < 2:
        if partial:
            return None
        raise FormatError(path, first_line + 1, _EXPECT_PFN + " after the header", "the end of the record")
    pfn_line = _PFN_RE.fullmatch(lines[1])
    if pfn_line is None:
        if header.comm == COUNTS_ONLY_COMM and header.mask == 0 and lines[1].startswith(" "):
            raise FormatError(
                path, first_line + 1,
                "per-allocation records with PFN lines; this is a counts-only export for "
                "page_owner_sort: open the show_stacks file it was made from instead",
            )
        raise FormatError(path, first_line + 1, _EXPECT_PFN + " after the header", lines[1] or "an empty line")
    index = 2
    while index < checked and lines[index].startswith(" "):
        if len(lines[index]) < 2 or lines[index][1] == " ":
            raise FormatError(path, first_line + index, _EXPECT_FRAME, lines[index])
        index += 1
    if index == 2:
        if checked == 2:
            if partial:
                return None
            raise FormatError(path, first_line + 2, _EXPECT_FRAME, "the end of the record")
        raise FormatError(path, first_line + 2, _EXPECT_FRAME, lines[2] or "an empty line")
    frames_end = index
    while index < checked:
        line = lines[index]
        if not line:
            raise FormatError(
                path, first_line + index, "one record (an empty line ends it)",
                "more lines after an empty line",
            )
        if line.startswith(" ") or _TRAILER_RE.fullmatch(line) is None:
            expected = _EXPECT_AFTER_FRAME if index == frames_end else (
                "a trailer line ('Page has been migrated, ...', 'Slab cache page', "
                "'Charged ... memcg NAME') or the empty line ending the record"
            )
            raise FormatError(path, first_line + index, expected, line)
        index += 1
    if partial:
        return None
    pfn_text = pfn_line["pfn"]
    hex_pfn = pfn_text.startswith("0x")
    return PageRecord(
        pfn=int(pfn_text, 16) if hex_pfn else int(pfn_text),
        order=header.order,
        gfp_mask=header.mask,
        gfp_names=header.gfp,
        stack=intern_stack_text("\n".join(lines[2:frames_end]) + "\n"),
        pid=header.pid,
        tgid=header.tgid,
        comm=header.comm,
        ts_ns=header.ts,
        free_ts_ns=header.free_ts,
        migratetype=pfn_line["mt"],
        block_type=pfn_line["bt"],
        flags=pfn_line["flags"],
        trailer=tuple(lines[frames_end:]),
        dialect=_dialect(*header.fields, hex_pfn),
        pageblock=int(pfn_line["block"]),
    )


def parse_record(block: str, path: str = "<string>", line: int = 1) -> PageRecord:
    """One record's text (as one read() of the debugfs file returns it) as a PageRecord.

    The trailing empty line is optional.  Raises FormatError naming ``path`` and the line
    (``line`` is the line number of the header in that file).
    """
    record = _parse_lines(_record_lines(block), path, line)
    assert record is not None
    return record


# --------------------------------------------------------------------------------------
# Bulk reading: chunks, one regex per dialect, distinct values checked once.


def _header_tail(dialect: PageOwnerDialect) -> tuple[str, str]:
    """(regex, sample text) for what follows a header's comm: ts and free_ts, per dialect."""
    regex = (r", ts ([0-9]{1,20}+) ns" if dialect.ts else "()") + (
        r", free_ts ([0-9]{1,20}+) ns" if dialect.free_ts else "()"
    )
    sample = (", ts 0 ns" if dialect.ts else "") + (", free_ts 0 ns" if dialect.free_ts else "")
    return regex, sample


# Every record of a chunk, lookbehind-anchored: a match starts right after an empty line
# (the chunk is given a leading "\n\n") and ends with the next one.  The literal first is
# what lets the regex engine jump between records with a fast substring search.
_RECORD_START = r"Page allocated via order (?<=\n\nPage allocated via order )"
_RECORD_BODY = (
    r" type ([^ \n]++) Block ([0-9]{1,20}+) type ([^ \n]++) Flags (0x[0-9a-f]++\([^\n]*\))\n"
    r"((?: [^\n]*+\n)++)((?:[^ \n][^\n]*+\n)*+)\n"
)


@functools.lru_cache(maxsize=None)
def _record_regex(dialect: PageOwnerDialect) -> re.Pattern[str]:
    """Groups: header rest (no ts), ts, free_ts, pfn, type, block, block type, flags, frames,
    trailer lines."""
    tail, _ = _header_tail(dialect)
    pfn = r"(0x[0-9a-f]++)" if dialect.pfn_hex else r"([0-9]{1,20}+)"
    return re.compile(_RECORD_START + r"([^\n]*)" + tail + r"\nPFN " + pfn + _RECORD_BODY)


@functools.lru_cache(maxsize=None)
def _count_regex(dialect: PageOwnerDialect) -> re.Pattern[str]:
    """What aggregation needs, nothing per page: header rest (no ts), page type, frames,
    trailer lines.  Checks the per-page fields all the same."""
    ts = r", ts [0-9]{1,20}+ ns" if dialect.ts else ""
    free = r", free_ts [0-9]{1,20}+ ns" if dialect.free_ts else ""
    pfn = r"0x[0-9a-f]++" if dialect.pfn_hex else r"[0-9]{1,20}+"
    return re.compile(
        _RECORD_START + r"([^\n]*)" + ts + free + r"\nPFN " + pfn
        + r" type ([^ \n]++) Block [0-9]{1,20}+ type [^ \n]++ Flags 0x[0-9a-f]++\([^\n]*\)\n"
        r"((?: [^\n]*+\n)++)((?:[^ \n][^\n]*+\n)*+)\n"
    )


def _chunk_is_tiled(text: str, matches: int) -> bool:
    """Whether ``matches`` regex matches cover ``text`` ("\\n\\n" + whole records) exactly.

    Each match starts right after an empty line and ends with the next one, with none
    inside (every record line is non-empty).  With no "\\n\\n\\n" the empty lines are
    unambiguous, and one match per record end forces match k to span from end k-1 to end k.
    """
    return matches == text.count("\n\n") - 1 and "\n\n\n" not in text


class _SlowPath(Exception):
    """A chunk needs the reference walker (which reports the exact error, if any)."""


class _Vocabulary:
    """Checked, parsed forms of the values that repeat across records of one file."""

    def __init__(self, dialect: PageOwnerDialect, path: str) -> None:
        self.dialect = dialect
        self.path = path
        self.fields = (dialect.pid, dialect.tgid, dialect.ts, dialect.free_ts, dialect.pid_comm)
        self.sample_tail = _header_tail(dialect)[1]
        self.headers: dict[str, _Header] = {}
        self.stacks: dict[str, Stack] = {}
        self.trailers: dict[str, tuple[str, ...]] = {}

    def header(self, rest: str) -> _Header:
        header = self.headers.get(rest)
        if header is None:
            try:
                header = _parse_header(HEADER_START + rest + self.sample_tail, self.path, 0)
            except FormatError:
                raise _SlowPath from None
            if header.fields != self.fields:
                raise _SlowPath
            self.headers[rest] = header
        return header

    def stack(self, frames: str) -> Stack:
        stack = self.stacks.get(frames)
        if stack is None:
            lines = "\n" + frames
            if "\n  " in lines or "\n \n" in lines:  # not exactly one space, then the frame
                raise _SlowPath
            stack = self.stacks[frames] = intern_stack_text(frames)
        return stack

    def trailer(self, text: str) -> tuple[str, ...]:
        lines = self.trailers.get(text)
        if lines is None:
            lines = tuple(text[:-1].split("\n")) if text else ()
            if not all(_TRAILER_RE.fullmatch(line) for line in lines):
                raise _SlowPath
            self.trailers[text] = lines
        return lines


class _Chunks:
    """Whole records from a file, in chunks of about CHUNK_BYTES, as "\\n\\n" + text.

    Also tracks line numbers (for errors) and progress, and keeps what follows the last
    empty line (``tail``) for the truncation check.
    """

    def __init__(self, f: IO, path: str, progress: ProgressCallback | None) -> None:
        self.f = f
        self.path = path
        self.progress = progress
        self.line = 1  # line number of the next chunk's first line
        self.tail = ""
        self.chunks = 0

    def __iter__(self) -> Iterator[str]:
        pending: bytes | str = b""  # what followed the last empty line so far
        while True:
            data = read_chunk(self.f, self.path, CHUNK_BYTES)
            if not data:
                break
            buf = pending + data if pending else data
            cut = buf.rfind("\n\n" if isinstance(buf, str) else b"\n\n")
            if cut < 0:
                if len(buf) > MAX_RECORD_BYTES:
                    # Garbage (binary data, another format) is reported as such first.
                    head = buf[:4096] if isinstance(buf, str) else buf[:4096].decode("utf-8", "surrogateescape")
                    _parse_lines(head.split("\n"), self.path, self.line, partial=True)
                    raise FormatError(
                        self.path, self.line,
                        "an empty line after each record (a record is at most a few KiB)",
                        f"{len(buf)} bytes without one",
                    )
                pending = buf
                continue
            # A run of empty lines is cut at its first one, as a whole-file read splits it,
            # so an error in it names the same line whatever the chunk boundaries.
            while cut > 0 and buf[cut - 1 : cut] in ("\n", b"\n"):
                cut -= 1
            cut += 2
            pending = buf[cut:]
            text = buf[:cut] if isinstance(buf, str) else str(
                memoryview(buf)[:cut], "utf-8", "surrogateescape"
            )
            nul = text.find("\x00")
            if nul >= 0:  # %s stops at NUL: no page_owner text holds one
                # Errors are reported in file order: the records before the NUL's record,
                # then that record up to the NUL, then the NUL.
                at = text.rfind("\n\n", 0, nul)
                while at > 0 and text[at - 1] == "\n":
                    at -= 1
                before = at + 2 if at >= 0 else 0
                if before:
                    self.chunks += 1
                    yield "\n\n" + text[:before]
                _parse_lines(text[before:nul].split("\n"), self.path, self.line, partial=True)
                raise FormatError(
                    self.path, self.line + text.count("\n", before, nul),
                    "text (page_owner never prints a NUL byte)", "a NUL byte",
                )
            self._report()
            self.chunks += 1
            yield "\n\n" + text
        self.tail = pending if isinstance(pending, str) else pending.decode("utf-8", "surrogateescape")
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            done, total = read_position(self.f)
            if self.progress(done, total):
                raise Cancelled(f"reading {self.path} was cancelled")

    def finish(self, warnings: list[str] | None) -> None:
        """Check what followed the last empty line: nothing, or a record cut short."""
        if not self.tail:
            if not self.chunks:
                raise FormatError(
                    self.path, 1, "a page_owner record ('Page allocated via order ...')",
                    "an empty file",
                )
            return
        lines = self.tail.split("\n")
        _parse_lines(lines, self.path, self.line, partial=True)  # garbage is a FormatError
        if len(self.tail) > MAX_RECORD_BYTES:
            raise FormatError(
                self.path, self.line, "an empty line after each record (a record is at most a few KiB)",
                f"{len(self.tail)} bytes without one",
            )
        if not self.chunks:  # a copy cut inside its first record: nothing to show
            raise TruncatedError(
                self.path, 1, "at least one complete record (an empty line after it)",
                "only a record cut short",
            )
        if warnings is None:
            raise TruncatedError(
                self.path, self.line, "an empty line after the last record (the file was cut short?)",
                "the end of the file",
            )
        warnings.append(
            f"{self.path}:{self.line}: the last record is incomplete (no empty line after it: "
            "the file was cut short?); it was left out, as page_owner_sort does"
        )


def _first_dialect(text: str, path: str, line: int) -> PageOwnerDialect:
    """The dialect of a chunk's first record ("\\n\\n" + records)."""
    end = text.find("\n\n", 2)
    return _parse_lines(text[2:end].split("\n"), path, line).dialect  # type: ignore[union-attr]


def _slow_records(text: str, dialect: PageOwnerDialect, path: str, line: int) -> Iterator[tuple[PageRecord, str, int]]:
    """The reference walk over a chunk: (record, its header line, its number of lines)."""
    for block in text[2:-2].split("\n\n"):
        lines = block.split("\n")
        record = _parse_lines(lines, path, line)
        assert record is not None
        if record.dialect != dialect:
            raise FormatError(
                path, line, f"a record like the first one ({describe_dialect(dialect)})",
                lines[0] if record.dialect.pfn_hex == dialect.pfn_hex else lines[1],
            )
        yield record, lines[0], len(lines) + 1
        line += len(lines) + 1


def iter_records(
    f: BinaryIO | TextIO,
    path: str,
    *,
    progress: ProgressCallback | None = None,
    warnings: list[str] | None = None,
) -> Iterator[PageRecord]:
    """Every record of a page_owner file, streaming (memory: one chunk plus distinct stacks).

    ``progress(done_bytes, total_bytes)`` is called every chunk; returning True raises
    Cancelled.  A record cut short at the end is a warning appended to ``warnings`` (or a
    TruncatedError without it); a malformed record raises FormatError(path, line, ...).
    """
    chunks = _Chunks(f, path, progress)
    vocab: _Vocabulary | None = None
    for text in chunks:
        if vocab is None:
            vocab = _Vocabulary(_first_dialect(text, path, chunks.line), path)
        try:
            records = _fast_records(text, vocab)
        except _SlowPath:
            records = [record for record, _, _ in _slow_records(text, vocab.dialect, path, chunks.line)]
        chunks.line += text.count("\n") - 2
        yield from records
    chunks.finish(warnings)


def _fast_records(text: str, vocab: _Vocabulary) -> list[PageRecord]:
    found = _record_regex(vocab.dialect).findall(text)
    if not _chunk_is_tiled(text, len(found)):
        raise _SlowPath
    dialect = vocab.dialect
    hex_base = 16 if dialect.pfn_hex else 10
    header_of, stack_of, trailer_of = vocab.headers.get, vocab.stacks.get, vocab.trailers.get
    records = []
    append = records.append
    for rest, ts, free_ts, pfn, mt, block, bt, flags, frames, trailer in found:
        header = header_of(rest) or vocab.header(rest)
        append(
            PageRecord(
                pfn=int(pfn, hex_base),
                order=header.order,
                gfp_mask=header.mask,
                gfp_names=header.gfp,
                stack=stack_of(frames) or vocab.stack(frames),
                pid=header.pid,
                tgid=header.tgid,
                comm=header.comm,
                ts_ns=int(ts) if ts else 0,
                free_ts_ns=int(free_ts) if free_ts else 0,
                migratetype=mt,
                block_type=bt,
                flags=flags,
                trailer=trailer_of(trailer) if trailer in vocab.trailers else vocab.trailer(trailer),
                dialect=dialect,
                pageblock=int(block),
            )
        )
    return records


# --------------------------------------------------------------------------------------
# Aggregation into a Snapshot.


class _StackTotals:
    """One stack's running totals while aggregating."""

    __slots__ = ("pages", "allocations", "breakdowns")

    def __init__(self) -> None:
        self.pages = 0
        self.allocations = 0
        self.breakdowns: dict[str, dict[str, int]] = {}

    def add(self, count: int, order: int, gfp: str, migratetype: str, comm: str, pid: int) -> None:
        pages = count << order
        self.pages += pages
        self.allocations += count
        keys = [(Breakdown.ORDER, str(order)), (Breakdown.GFP, gfp)]
        if migratetype:
            keys.append((Breakdown.MIGRATETYPE, migratetype))
        if comm:
            keys.append((Breakdown.COMM, comm))
        if pid >= 0:
            keys.append((Breakdown.PID, str(pid)))
        for name, key in keys:
            values = self.breakdowns.setdefault(name, {})
            values[key] = values.get(key, 0) + pages


def _gfp_key(names: str, mask: int) -> str:
    """The GFP breakdown key: the flag names as printed, or the mask when there are none."""
    return names or f"{mask:#x}"


def _build_snapshot(
    totals: dict[Stack, _StackTotals],
    early_pages: int,
    *,
    source: str,
    time: float | None,
    kernel: str,
    meta: Mapping[str, str] | None,
    base_meta: Mapping[str, str],
    records: tuple[PageRecord, ...] | None = None,
) -> Snapshot:
    stats = [
        StackStat(stack=stack, pages=t.pages, allocations=t.allocations, breakdowns=t.breakdowns)
        for stack, t in totals.items()
    ]
    info = {"format": "page_owner", **base_meta, **(meta or {})}
    return Snapshot.from_stats(
        stats,
        source=source,
        time=_time.time() if time is None else time,
        kernel=kernel,
        counters={Counters.EARLY_PAGES: early_pages},
        meta=info,
        records=records,
    )


def aggregate(
    records: Iterable[PageRecord],
    *,
    source: str = "file",
    time: float | None = None,
    kernel: str = "",
    meta: Mapping[str, str] | None = None,
    keep_records: bool = False,
) -> Snapshot:
    """Per-stack pages (sum of 1 << order), allocations and breakdowns of these records.

    Early-allocated pages go to ``counters[Counters.EARLY_PAGES]``, not to any stack.
    """
    kept: list[PageRecord] | None = [] if keep_records else None
    groups: Counter[tuple] = Counter()
    early = 0
    dialects: set[PageOwnerDialect] = set()
    for record in records:
        if kept is not None:
            kept.append(record)
        if is_early_stack(record.stack):
            early += 1 << record.order
            continue
        dialects.add(record.dialect)
        groups[
            (record.stack, record.order, _gfp_key(record.gfp_names, record.gfp_mask),
             record.migratetype, record.comm, record.pid)
        ] += 1
    totals: dict[Stack, _StackTotals] = {}
    for (stack, order, gfp, migratetype, comm, pid), count in groups.items():
        stat = totals.get(stack)
        if stat is None:
            stat = totals[stack] = _StackTotals()
        stat.add(count, order, gfp, migratetype, comm, pid)
    base = {"dialect": describe_dialect(next(iter(dialects)))} if len(dialects) == 1 else {}
    return _build_snapshot(
        totals, early, source=source, time=time, kernel=kernel, meta=meta, base_meta=base,
        records=tuple(kept) if kept is not None else None,
    )


def _count_chunk(text: str, vocab: _Vocabulary, counts: dict[tuple, int]) -> int:
    """Add a chunk's records to ``counts`` by (header rest, type, frames, trailer);
    returns the chunk's number of lines.  Raises _SlowPath when the chunk needs the walker."""
    found = _count_regex(vocab.dialect).findall(text)
    if not _chunk_is_tiled(text, len(found)):
        raise _SlowPath
    lines = 0
    for key, n in Counter(found).items():
        rest, _, frames, trailer = key
        vocab.header(rest)
        vocab.stack(frames)
        lines += n * (3 + frames.count("\n") + len(vocab.trailer(trailer)))
        counts[key] = counts.get(key, 0) + n
    return lines


def _slow_count_chunk(text: str, vocab: _Vocabulary, counts: dict[tuple, int], line: int) -> int:
    """``_count_chunk`` by the reference walker: exact errors; the same keys."""
    total_lines = 0
    for record, header_line, n_lines in _slow_records(text, vocab.dialect, vocab.path, line):
        rest = header_line[len(HEADER_START):]
        if vocab.dialect.ts:
            rest = rest[: rest.rindex(", ts ")]
        trailer = "".join(t + "\n" for t in record.trailer)
        key = (rest, record.migratetype, record.stack.text, trailer)
        vocab.header(rest)
        vocab.stack(record.stack.text)
        vocab.trailer(trailer)
        counts[key] = counts.get(key, 0) + 1
        total_lines += n_lines
    return total_lines


def _snapshot_from_counts(
    counts: dict[tuple, int], vocab: _Vocabulary, **snapshot_kwargs
) -> Snapshot:
    totals: dict[Stack, _StackTotals] = {}
    early = 0
    for (rest, migratetype, frames, _), n in counts.items():
        h = vocab.headers[rest]
        stack = vocab.stacks[frames]
        if is_early_stack(stack):
            early += n << h.order
            continue
        stat = totals.get(stack)
        if stat is None:
            stat = totals[stack] = _StackTotals()
        stat.add(n, h.order, _gfp_key(h.gfp, h.mask), migratetype, h.comm, h.pid)
    return _build_snapshot(
        totals, early, base_meta={"dialect": describe_dialect(vocab.dialect)}, **snapshot_kwargs
    )


def read_snapshot(
    path: str,
    *,
    keep_records: bool = False,
    progress: ProgressCallback | None = None,
    warnings: list[str] | None = None,
    **snapshot_kwargs,
) -> Snapshot:
    """Read a page_owner file (plain or gzip) into a Snapshot.

    Without ``keep_records`` no per-record object is built (the fast path); with it the
    records are kept on the snapshot.  ``snapshot_kwargs``: source, time, kernel, meta.
    """
    kwargs = {"source": "file", "time": None, "kernel": "", "meta": None}
    kwargs.update(snapshot_kwargs)
    meta = {"origin": path, **(kwargs.pop("meta") or {})}
    with open_input(path) as f:
        if keep_records:
            return aggregate(
                iter_records(f, path, progress=progress, warnings=warnings),
                keep_records=True, meta={**meta}, **kwargs,
            )
        chunks = _Chunks(f, path, progress)
        vocab: _Vocabulary | None = None
        counts: dict[tuple, int] = {}
        for text in chunks:
            if vocab is None:
                vocab = _Vocabulary(_first_dialect(text, path, chunks.line), path)
            try:
                chunk_counts: dict[tuple, int] = {}
                lines = _count_chunk(text, vocab, chunk_counts)
            except _SlowPath:
                chunk_counts = {}
                lines = _slow_count_chunk(text, vocab, chunk_counts, chunks.line)
            for key, n in chunk_counts.items():
                counts[key] = counts.get(key, 0) + n
            chunks.line += lines
        chunks.finish(warnings)
        assert vocab is not None  # finish() raises for a file without a complete record
        return _snapshot_from_counts(counts, vocab, meta=meta, **kwargs)


# --------------------------------------------------------------------------------------
# Writing.


def format_header(record: PageRecord) -> str:
    """The record's header line as its dialect's kernel prints it (no newline)."""
    d = record.dialect
    parts = [f"{HEADER_START}{record.order}, mask {record.gfp_mask:#x}({record.gfp_names})"]
    if d.pid:
        parts.append(f", pid {record.pid}")
    if d.pid_comm:
        parts.append(f" ({record.comm})")
    if d.tgid:
        parts.append(f", tgid {record.tgid} ({record.comm})")
    if d.ts:
        parts.append(f", ts {record.ts_ns} ns")
    if d.free_ts:
        parts.append(f", free_ts {record.free_ts_ns} ns")
    return "".join(parts)


def write_record(out: TextIO, record: PageRecord) -> None:
    """One record, byte-identical to the kernel's text for the record's dialect."""
    pfn = f"{record.pfn:#x}" if record.dialect.pfn_hex else str(record.pfn)
    block = record.pageblock if record.pageblock >= 0 else record.pfn >> DEFAULT_PAGEBLOCK_ORDER
    trailer = "".join(line + "\n" for line in record.trailer)
    out.write(
        f"{format_header(record)}\nPFN {pfn} type {record.migratetype} Block {block} "
        f"type {record.block_type} Flags {record.flags}\n{record.stack.text}{trailer}\n"
    )


def write_records(out: TextIO, records: Iterable[PageRecord]) -> None:
    for record in records:
        write_record(out, record)


def write_counts_only(out: TextIO, snapshot: Snapshot) -> str:
    """Per-stack counts (e.g. from show_stacks) as page_owner text for page_owner_sort.

    Such a snapshot has no allocations to write, so this must not pretend to: each stack
    with N pages becomes one block per set bit of N (order k = 1 << k pages), with mask 0,
    pid 0, tgid 0, comm ``counts-only``, ts 0 and no PFN line.  page_owner_sort then totals
    exactly N pages per stack (use ``--cull=stacktrace`` for one line per stack), while its
    "times" count these blocks, not allocations.  Returns a one-line notice saying so.
    """
    stacks = pages = blocks = 0
    for stat in snapshot.stacks.values():
        if stat.pages <= 0:
            continue
        stacks += 1
        pages += stat.pages
        for order in range(stat.pages.bit_length() - 1, -1, -1):
            if stat.pages >> order & 1:
                blocks += 1
                out.write(
                    f"{HEADER_START}{order}, mask 0x0(), pid 0, tgid 0 ({COUNTS_ONLY_COMM}), ts 0 ns\n"
                    f"{stat.stack.text}\n"
                )
    return (
        f"counts-only export: {stacks} stacks, {pages} pages as {blocks} blocks of 2^k pages "
        "(no PFN, pid, GFP or time); page_owner_sort's page totals per stack are exact, "
        "its 'times' count these blocks, not allocations"
    )
