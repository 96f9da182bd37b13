"""Shared fixtures for the format tests: the real 6.12 page_owner dump and its dialect variants.

Variants of the real capture for older kernels are derived here, in test code, by rewriting
every real record in another dialect (the fixture files are never edited).  Fields an older
kernel did not print are dropped by the writer; free_ts values, which 6.12 no longer
records, are derived deterministically from each record so they differ between records.
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pytest

from pageowner_tui.formats import page_owner
from pageowner_tui.model.snapshot import PageOwnerDialect, PageRecord

# Every header/PFN shape page_owner printed, by the first kernel that printed it
# (mm/page_owner.c history; see the module docstring of formats/page_owner.py).
DIALECTS: dict[str, PageOwnerDialect] = {
    "5.10": PageOwnerDialect(pid=False, tgid=False, ts=False, free_ts=False, pfn_hex=False),
    "5.11": PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=False, pfn_hex=False),
    "5.13": PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False),
    "5.18": PageOwnerDialect(pid=True, tgid=False, ts=True, free_ts=True, pfn_hex=False, pid_comm=True),
    "6.1": PageOwnerDialect(pid=True, tgid=True, ts=True, free_ts=True, pfn_hex=False),
    "6.5": PageOwnerDialect(pid=True, tgid=True, ts=True, free_ts=True, pfn_hex=True),
    "6.12": PageOwnerDialect(),
}


def as_dialect(record: PageRecord, dialect: PageOwnerDialect) -> PageRecord:
    """The record as a kernel printing ``dialect`` would have shown it."""
    derived = copy.copy(record)  # dataclasses.replace is 5x slower on 61,051 records
    derived.dialect = dialect
    derived.free_ts_ns = (record.ts_ns + record.pfn * 7919) if dialect.free_ts and record.pfn % 3 else 0
    return derived


def dumps(records) -> str:
    buf = io.StringIO()
    page_owner.write_records(buf, records)
    return buf.getvalue()


@pytest.fixture(scope="session")
def real_dump(page_owner_full_text: Path) -> Path:
    """The decompressed real 6.12 dump (a regular file)."""
    return page_owner_full_text


@pytest.fixture(scope="session")
def real_text(real_dump: Path) -> str:
    return real_dump.read_text(encoding="utf-8", errors="surrogateescape")


@pytest.fixture(scope="session")
def real_records(real_dump: Path) -> list[PageRecord]:
    with open(real_dump, "rb") as f:
        return list(page_owner.iter_records(f, str(real_dump)))


@pytest.fixture(scope="session")
def variant_files(real_records, tmp_path_factory) -> dict[str, Path]:
    """The real capture rewritten in every dialect, one file each."""
    folder = tmp_path_factory.mktemp("dialects")
    files = {}
    for name, dialect in DIALECTS.items():
        path = folder / f"page_owner_{name}.txt"
        path.write_text(dumps(as_dialect(r, dialect) for r in real_records), encoding="utf-8", newline="")
        files[name] = path
    return files
