"""tracefs: where it is mounted, which events exist, their field layouts and gfp names.

Field layouts and flag values change between kernels, so they are read from the
tracepoint's ``format`` file, never assumed.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass

from pageowner_tui.kernel.checks import Check, mounted

__all__ = [
    "TRACEFS_PATHS",
    "Field",
    "tracefs_root",
    "event_fields",
    "tracefs_check",
    "event_check",
    "gfp_flag_table",
    "gfp_names",
]

TRACEFS_PATHS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    offset: int
    size: int
    signed: bool


def tracefs_root() -> str | None:
    """The first mounted tracefs with an ``events`` directory, or None."""
    for path in TRACEFS_PATHS:
        if mounted(path, "tracefs") and os.path.isdir(os.path.join(path, "events")):
            return path
    for path in TRACEFS_PATHS:  # mounted by a way /proc/self/mounts does not show (chroot)
        if os.path.isdir(os.path.join(path, "events", "kmem")):
            return path
    return None


_FIELD_RE = re.compile(
    r"field:(?P<decl>[^;]+);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);\s*signed:(?P<signed>\d)"
)


def _read_format(root: str, system: str, event: str) -> str:
    with open(os.path.join(root, "events", system, event, "format"), encoding="utf-8") as f:
        return f.read()


def event_fields(root: str, system: str, event: str) -> dict[str, Field]:
    """The event's own fields (not the ``common_*`` ones) by name."""
    fields: dict[str, Field] = {}
    for match in _FIELD_RE.finditer(_read_format(root, system, event)):
        decl = match.group("decl").strip()
        name = decl.split()[-1].split("[")[0]
        if name.startswith("common_"):
            continue
        fields[name] = Field(
            name,
            " ".join(decl.split()[:-1]),
            int(match.group("offset")),
            int(match.group("size")),
            match.group("signed") == "1",
        )
    return fields


def tracefs_check() -> Check:
    root = tracefs_root()
    if root:
        return Check("tracefs", True, f"mounted at {root}")
    for path in TRACEFS_PATHS:
        if mounted(path, "tracefs"):
            return Check("tracefs", False, f"mounted at {path} but its events are not readable",
                         "run as root")
    return Check(
        "tracefs",
        False,
        "not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing)",
        "mount -t tracefs nodev /sys/kernel/tracing",
    )


def event_check(system: str, event: str, needed: tuple[str, ...]) -> Check:
    """The tracepoint exists and has the fields the BPF program reads."""
    name = f"{system}:{event}"
    root = tracefs_root()
    if root is None:
        return Check(name, False, "tracefs is not mounted", "mount -t tracefs nodev /sys/kernel/tracing")
    try:
        fields = event_fields(root, system, event)
    except FileNotFoundError:
        return Check(
            name,
            False,
            f"no such tracepoint in {root}/events",
            "use a kernel built with CONFIG_TRACEPOINTS (every distribution kernel has it)",
        )
    except OSError as exc:
        return Check(name, False, f"cannot read its format: {exc.strerror}", "run as root")
    missing = [f for f in needed if f not in fields]
    if missing:
        return Check(
            name,
            False,
            f"has no field {', '.join(missing)} (fields: {', '.join(fields)})",
            "this kernel's tracepoint layout is not supported; report it with `uname -r`",
        )
    return Check(name, True, "present (" + ", ".join(needed) + ")")


# {( unsigned long)(EXPR), "NAME"} pairs inside __print_flags(REC->gfp_flags, "|", ...)
_FLAG_PAIR_RE = re.compile(r"\{\s*\(\s*unsigned long\s*\)\s*(?P<expr>.*?),\s*\"(?P<name>[A-Za-z0-9_]+)\"\s*\}")
_CAST_RE = re.compile(r"\(\s*(?:gfp_t|unsigned long|unsigned int|int|__force\s+\w+)\s*\)")


def _eval_int(expr: str) -> int | None:
    """Evaluate a C integer expression of literals, ~ | & << >> + - and parentheses."""
    expr = _CAST_RE.sub("", expr)
    expr = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.BitOr, ast.BitAnd,
               ast.LShift, ast.RShift, ast.Invert, ast.Add, ast.Sub, ast.USub, ast.BitXor)
    if not all(isinstance(node, allowed) for node in ast.walk(tree)):
        return None
    value = eval(compile(tree, "<gfp>", "eval"), {"__builtins__": {}})  # noqa: S307 - checked AST
    return value & ((1 << 64) - 1) if isinstance(value, int) else None


def gfp_flag_table(root: str | None = None) -> list[tuple[int, str]]:
    """(mask, name) pairs in the kernel's own order, from mm_page_alloc's print format."""
    root = root or tracefs_root()
    if root is None:
        return []
    try:
        text = _read_format(root, "kmem", "mm_page_alloc")
    except OSError:
        return []
    table = []
    for match in _FLAG_PAIR_RE.finditer(text):
        value = _eval_int(match.group("expr"))
        if value:
            table.append((value, match.group("name")))
    return table


def gfp_names(mask: int, table: list[tuple[int, str]]) -> str:
    """gfp flags as the kernel's ``%pGg`` prints them: composite names first, rest in hex."""
    names = []
    rest = mask
    for value, name in table:
        if rest & value == value:
            names.append(name)
            rest &= ~value
            if not rest:
                break
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)
