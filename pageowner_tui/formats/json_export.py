"""JSON snapshots: a documented, versioned schema (docs/json-schema.md) for bug reports,
scripts and ``top --json``, and an input format in its own right.

One snapshot is one object::

    {"schema": "pageowner-top/snapshot", "version": 1, "time": 1764115200.5,
     "time_iso": "2025-11-26T00:00:00.500000Z", "source": "debugfs", "kernel": "6.12.117",
     "tool": "pageowner-top 0.1.0", "page_size": 4096, "total_pages": 59960,
     "total_stacks": 784, "counters": {...}, "meta": {...},
     "stacks": [{"id": "...", "pages": 512, "allocations": 0, "handle": null,
                 "caller": "...", "frames": ["get_page_from_freelist+0x1071/0x1270", ...],
                 "breakdowns": {}}, ...]}

``stacks`` is in the view's order (``rows`` from model/query.view, which adds ``delta``,
``rate``, ``percent`` and ``since_baseline``), or largest first.  JSON Lines (one object
per line, as ``top --json`` prints) is read frame by frame with ``read_all``.

Readers accept any version up to ``VERSION`` and refuse newer ones; unknown keys are
ignored, so later minor additions do not break old readers.  ``id`` and ``caller`` are
derived from ``frames`` and recomputed on reading.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from pageowner_tui import __version__
from pageowner_tui.errors import FormatError
from pageowner_tui.model.snapshot import PAGE_SIZE, Snapshot, StackStat
from pageowner_tui.formats.input import MAX_JSON_BYTES, MAX_TIME, open_input, read_limited
from pageowner_tui.model.stack import intern_stack

__all__ = ["SCHEMA", "VERSION", "snapshot_object", "write", "dumps", "parse_object", "read", "read_all"]

SCHEMA = "pageowner-top/snapshot"
VERSION = 1


def iso_time(seconds: float) -> str:
    """UTC, ISO 8601 with a Z: unambiguous in a bug report read in another time zone."""
    moment = _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _stack_object(stat: StackStat) -> dict[str, Any]:
    return {
        "id": stat.stack.id,
        "pages": stat.pages,
        "allocations": stat.allocations,
        "handle": stat.handle,
        "caller": stat.stack.caller,
        "frames": list(stat.stack.frames),
        "breakdowns": {name: dict(values) for name, values in stat.breakdowns.items()},
    }


def snapshot_object(snapshot: Snapshot, rows: Sequence[Any] | None = None) -> dict[str, Any]:
    """The JSON object of one snapshot; ``rows`` (model.query.Row) choose and order the
    stacks and add the view's columns.  This is also one line of ``top --json``."""
    if rows is None:
        stats = sorted(snapshot.stacks.values(), key=lambda s: (-s.pages, s.stack.id))
        stacks = [_stack_object(stat) for stat in stats]
    else:
        stacks = []
        for row in rows:
            obj = _stack_object(row.stat)
            obj["delta"] = row.delta
            obj["rate"] = row.rate
            obj["percent"] = row.percent
            obj["since_baseline"] = row.since_baseline
            stacks.append(obj)
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "time": snapshot.time,
        "time_iso": iso_time(snapshot.time),
        "source": snapshot.source,
        "kernel": snapshot.kernel,
        "tool": f"pageowner-top {__version__}",
        "page_size": PAGE_SIZE,
        "total_pages": snapshot.total_pages,
        "total_stacks": len(snapshot.stacks),
        "counters": dict(snapshot.counters),
        "meta": dict(snapshot.meta),
        "stacks": stacks,
    }


def dumps(snapshot: Snapshot, rows: Sequence[Any] | None = None, *, indent: int | None = 1) -> str:
    return json.dumps(snapshot_object(snapshot, rows), indent=indent, ensure_ascii=False) + "\n"


def write(out: TextIO, snapshot: Snapshot, rows: Sequence[Any] | None = None) -> None:
    """Write one snapshot as an indented JSON document (the ``export -f json`` file)."""
    out.write(dumps(snapshot, rows))


# ---------------------------------------------------------------------------------------
# Reading


class _Checker:
    """Type checks that name the offending key as a JSON path (``stacks[3].pages``)."""

    def __init__(self, path: str, line: int | None) -> None:
        self.path = path
        self.line = line

    def fail(self, where: str, expected: str, found: Any) -> FormatError:
        shown = json.dumps(found)[:60] if not isinstance(found, str) else found
        return FormatError(self.path, self.line, f"{where} to be {expected}", shown)

    def get(self, obj: Mapping, key: str, kind: type | tuple, where: str, *, default: Any = ...) -> Any:
        if key not in obj:
            if default is ...:
                raise FormatError(self.path, self.line, f"key {where}{key!r}", "nothing")
            return default
        value = obj[key]
        numeric = kind is int or (isinstance(kind, tuple) and int in kind)
        if (numeric and isinstance(value, bool)) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}{key}", f"a {names.replace('NoneType', 'null')}", value)
        return value

    def counts(self, obj: Any, where: str) -> dict[str, int]:
        if not isinstance(obj, dict):
            raise self.fail(where, "an object of counts", obj)
        for key, value in obj.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.fail(f"{where}.{key}", "a whole number", value)
        return dict(obj)


def parse_object(obj: Any, path: str = "<json>", line: int | None = None) -> Snapshot:
    """One decoded JSON object -> Snapshot, checking schema, version and types."""
    check = _Checker(path, line)
    if not isinstance(obj, dict):
        raise check.fail("the document", "an object", obj)
    schema = obj.get("schema")
    if schema != SCHEMA:
        raise FormatError(path, line, f'"schema": "{SCHEMA}" (a pageowner-top JSON snapshot)', repr(schema))
    version = check.get(obj, "version", int, "")
    if version > VERSION:
        raise FormatError(
            path,
            line,
            f"JSON snapshot version {VERSION} or older (upgrade pageowner-top to read this file)",
            f"version {version}",
        )
    if version < 1:
        raise check.fail("version", "1 or more", version)
    when = check.get(obj, "time", (int, float), "")
    if not 0 <= when < MAX_TIME:  # also false for NaN
        raise check.fail("time", f"seconds since 1970 (0 to {MAX_TIME:.0f})", when)
    stacks_in = check.get(obj, "stacks", list, "")
    stats = []
    for i, item in enumerate(stacks_in):
        where = f"stacks[{i}]."
        if not isinstance(item, dict):
            raise check.fail(f"stacks[{i}]", "an object", item)
        frames = check.get(item, "frames", list, where)
        for j, frame in enumerate(frames):
            if not isinstance(frame, str) or not frame or "\n" in frame:
                raise check.fail(f"{where}frames[{j}]", "one frame as text", frame)
        if not frames:
            raise check.fail(f"{where}frames", "a list of at least one frame", frames)
        pages = check.get(item, "pages", int, where)
        if pages < 0:
            raise check.fail(f"{where}pages", "0 or more", pages)
        allocations = check.get(item, "allocations", int, where, default=0)
        handle = check.get(item, "handle", (int, type(None)), where, default=None)
        raw_breakdowns = check.get(item, "breakdowns", dict, where, default={})
        breakdowns = {
            name: check.counts(values, f"{where}breakdowns.{name}")
            for name, values in raw_breakdowns.items()
        }
        extra = {"breakdowns": breakdowns} if breakdowns else {}
        stats.append(
            StackStat(intern_stack(frames), pages, allocations=allocations, handle=handle, **extra)
        )
    counters = check.counts(obj.get("counters", {}), "counters")
    meta = check.get(obj, "meta", dict, "", default={})
    for key, value in meta.items():
        if not isinstance(value, str):
            raise check.fail(f"meta.{key}", "text", value)
    return Snapshot.from_stats(
        stats,
        source=check.get(obj, "source", str, ""),
        time=float(when),
        kernel=check.get(obj, "kernel", str, "", default=""),
        counters=counters,
        meta=meta,
    )


def _text(path: str) -> str:
    # Size-limited and streaming through gzip: a bomb or a 10 GB file costs no memory.
    with open_input(path) as f:
        data = read_limited(f, path, MAX_JSON_BYTES, "a JSON snapshot file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(path, None, "UTF-8 JSON text", f"byte {exc.start}: {bytes(data[exc.start:exc.start + 4])!r}") from None


def _objects(text: str, path: str) -> Iterable[tuple[Any, int]]:
    """A JSON document, or JSON Lines: (object, line) pairs."""
    try:
        yield json.loads(text), 1
        return
    except json.JSONDecodeError as exc:
        first_error = exc
    except (RecursionError, ValueError) as exc:
        raise FormatError(path, None, "JSON nested at most a few hundred levels, numbers of at most 4300 digits",
                          type(exc).__name__) from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        json_lines = len(lines) >= 2 and isinstance(json.loads(lines[0][1]), dict)
    except (json.JSONDecodeError, RecursionError, ValueError):
        json_lines = False
    if not json_lines:  # one document, broken where the parser says
        raise FormatError(path, first_error.lineno, "JSON", first_error.msg)
    for n, line in lines:
        try:
            yield json.loads(line), n
        except json.JSONDecodeError as exc:
            raise FormatError(path, n, "one JSON object per line (JSON Lines)", exc.msg) from None
        except (RecursionError, ValueError) as exc:
            raise FormatError(path, n, "one JSON object per line (JSON Lines)", type(exc).__name__) from None


def read_all(path: str) -> list[Snapshot]:
    """Every snapshot in a JSON file (one) or a JSON Lines file (one per line)."""
    text = _text(path)
    return [parse_object(obj, path, line) for obj, line in _objects(text, path)]


def read(path: str) -> Snapshot:
    """The one snapshot in a JSON file; a JSON Lines file of several frames is refused with
    the command that reads them all."""
    snapshots = read_all(path)
    if len(snapshots) != 1:
        raise FormatError(
            path,
            None,
            "one snapshot (use 'pageowner-top replay' for a JSON Lines file of many frames)",
            f"{len(snapshots)} snapshots",
        )
    return snapshots[0]
