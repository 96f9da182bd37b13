"""Capability checks: one line each, used by `pageowner-top doctor` and by the sources'
start-up, so the message a user sees is the same in both places."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass

__all__ = ["Check", "kernel_release", "is_root", "root_check", "mounted", "lockdown_mode", "lockdown_check"]


@dataclass(frozen=True)
class Check:
    name: str  # short label, e.g. "tracefs"
    ok: bool
    detail: str  # what was found
    fix: str = ""  # what to do when not ok (one line)

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        text = f"[{mark}] {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f" -> {self.fix}"
        return text


def kernel_release() -> str:
    return platform.release()


def is_root() -> bool:
    return os.geteuid() == 0


def root_check() -> Check:
    if is_root():
        return Check("root", True, "running as root")
    return Check("root", False, f"running as uid {os.geteuid()}", "run with sudo")


def mounted(path: str, fstype: str) -> bool:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            return any(
                parts[1] == path and parts[2] == fstype
                for parts in (line.split() for line in f)
                if len(parts) >= 3
            )
    except OSError:
        return False


def lockdown_mode() -> str:
    """The kernel lockdown mode ("none", "integrity", "confidentiality") or "unknown"."""
    try:
        with open("/sys/kernel/security/lockdown", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        if not mounted("/sys/kernel/security", "securityfs"):
            return "unknown (securityfs not mounted: mount -t securityfs none /sys/kernel/security)"
        return "unknown"
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else text.strip() or "unknown"


def lockdown_check() -> Check:
    mode = lockdown_mode()
    if mode == "none":
        return Check("lockdown", True, "none")
    if mode in ("integrity", "confidentiality"):
        return Check(
            "lockdown",
            True,
            f"{mode}: fentry/fexit and kprobe programs are refused; tracepoints still work",
        )
    return Check("lockdown", True, mode)
