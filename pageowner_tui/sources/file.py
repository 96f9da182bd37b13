"""A saved page_owner, show_stacks or JSON file as a source: the same snapshot every tick."""

from __future__ import annotations

import os
from collections.abc import Iterator

from pageowner_tui.errors import UserError
from pageowner_tui.model.snapshot import PageRecord, Snapshot
from pageowner_tui.sources.base import Capabilities, ProgressCallback

__all__ = ["FileSource", "load_snapshot"]


def load_snapshot(path: str, *, kind: str | None = None, progress: ProgressCallback | None = None,
                  warnings: list[str] | None = None) -> Snapshot:
    """Read one saved snapshot file of any supported format (``kind`` from ``sniff``)."""
    from pageowner_tui.formats import input as inputs

    kind = kind or inputs.sniff(path)
    mtime = os.stat(path).st_mtime
    if kind == "page_owner":
        from pageowner_tui.formats import page_owner

        return page_owner.read_snapshot(
            path, progress=progress, warnings=warnings, source="file", time=mtime,
            meta={"origin": path, "format": "page_owner"},
        )
    if kind == "show_stacks":
        from pageowner_tui.formats import show_stacks

        with inputs.open_input(path) as raw:
            data = inputs.read_limited(raw, path, inputs.MAX_SHOW_STACKS_BYTES, "a show_stacks file")
            text = data.decode("utf-8", "surrogateescape")
            del data  # only the text is needed from here: keep one copy in memory
        parsed = show_stacks.parse(text, path)
        if warnings is not None:
            warnings.extend(parsed.warnings)
        if parsed.variant == "stacks_handles":
            raise UserError(
                f"{path}: show_stacks_handles has frames but no counts; "
                "open the matching show_handles capture with it, or a show_stacks file"
            )
        if parsed.variant == "handles":
            raise UserError(
                f"{path}: show_handles has counts but no frames; "
                "open a show_stacks capture instead"
            )
        return show_stacks.to_snapshot(parsed, source="file", time=mtime)
    if kind == "json":
        from pageowner_tui.formats import json_export

        return json_export.read(path)
    raise UserError(f"{path}: a {kind} file holds many snapshots; open it with 'replay' or as PATH")


class FileSource:
    """One saved snapshot.  Per-allocation data is re-read from page_owner files on demand."""

    kind = "file"

    def __init__(self, path: str) -> None:
        from pageowner_tui.formats import input as inputs

        self.path = path
        self.format = inputs.sniff(path)
        self.warnings: list[str] = []
        self._snapshot: Snapshot | None = None
        if self.format != "page_owner":
            # Small files are read now so a bad one fails at once; a page_owner dump is
            # read when a snapshot is first asked for (an export may only stream it).
            self.snapshot()

    def capabilities(self) -> Capabilities:
        per_page = self.format == "page_owner"
        notes = () if per_page else (
            f"{os.path.basename(self.path)} holds per-stack counts only: no PFN ranges, "
            "no per-allocation export",
        )
        return Capabilities(live=False, pfn_ranges=per_page, records=per_page, notes=notes)

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = load_snapshot(self.path, kind=self.format, warnings=self.warnings)
        return self._snapshot

    def records(self, progress: ProgressCallback | None = None) -> Iterator[PageRecord]:
        if self.format != "page_owner":
            raise UserError(f"{self.path}: holds per-stack counts only, no page records")
        from pageowner_tui.formats import input as inputs
        from pageowner_tui.formats import page_owner

        with inputs.open_input(self.path) as raw:
            yield from page_owner.iter_records(raw, self.path, progress=progress, warnings=self.warnings)

    def pages(self, pfn_start: int, pfn_end: int) -> Iterator[PageRecord]:
        for record in self.records():
            if pfn_start <= record.pfn < pfn_end:
                yield record

    def close(self) -> None:
        pass
