"""Frames printed the way the kernel's %pS prints them."""

from __future__ import annotations

import os

import pytest

from pageowner_tui.kernel.kallsyms import Kallsyms, format_frame

LINES = [
    "ffffffff81000000 T _stext",
    "ffffffff81356d10 t __do_sys_vfork",
    "ffffffff81356d10 T __ia32_sys_vfork",
    "ffffffff81356d10 T __x64_sys_vfork",
    "ffffffff81356d90 T __x64_sys_clone",
    "0000000000000000 A fixed_percpu_data",
    "ffffffffc0a01000 t ext4_mb_load_buddy_gfp\t[ext4]",
    "ffffffffc0a01380 t ext4_mb_unload_buddy\t[ext4]",
]


def test_first_alias_listed_is_the_name_and_size_runs_to_the_next_address():
    syms = Kallsyms(LINES)
    # page_owner printed __do_sys_vfork+0x43 where BCC's ksym() said __ia32_sys_vfork
    assert syms.frame(0xFFFFFFFF81356D10 + 0x43) == "__do_sys_vfork+0x43/0x80"


def test_module_frames_carry_the_module():
    syms = Kallsyms(LINES)
    assert syms.frame(0xFFFFFFFFC0A01000 + 0x1F3) == "ext4_mb_load_buddy_gfp+0x1f3/0x380 [ext4]"


def test_unknown_address_prints_as_hex():
    syms = Kallsyms(LINES)
    assert syms.frame(0x1000) == "0x1000"


def test_format_frame_matches_page_owner_fixture_text(real_612):
    # a frame from the real capture, rebuilt from its parts
    text = (real_612 / "show_stacks_1.txt").read_text()
    frame = next(line[1:] for line in text.splitlines() if "[ext4]" in line)
    name, rest = frame.split("+", 1)
    offset, rest = rest.split("/", 1)
    size, module = rest.split(" ", 1)
    assert format_frame(name, int(offset, 16), int(size, 16), module.strip("[]")) == frame


@pytest.mark.ebpf
def test_real_kallsyms_picks_the_name_percent_ps_prints():
    if os.geteuid() != 0:
        pytest.skip("/proc/kallsyms hides addresses from non-root")
    syms = Kallsyms()
    address = syms.address_of("__do_sys_vfork") or syms.address_of("__x64_sys_vfork")
    assert address is not None
    # whatever aliases share the address, the first listed one names it
    with open("/proc/kallsyms") as f:
        first = next(line.split()[2] for line in f if int(line.split()[0], 16) == address)
    assert syms.frame(address + 1).startswith(first + "+0x1/0x")
