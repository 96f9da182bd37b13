"""show_stacks.parse has a fast path for the live source's per-tick parse (bench/debugfs_poll).
It must give exactly what the line-by-line parser gives, or step aside: checked here on
the real captures, every variant, and on mutated text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pageowner_tui.errors import FormatError
from pageowner_tui.formats import show_stacks


def _variants(text: str) -> dict[str, str]:
    parsed = show_stacks._parse_checked(text, "x")
    entries = [show_stacks.Entry(e.stack, 0x100000 + 16 * i, e.pages) for i, e in enumerate(parsed.entries)]
    return {v: show_stacks.dumps(v, entries) for v in show_stacks.VARIANTS}


@pytest.fixture(scope="module")
def texts(real_612):
    found = {}
    for name in ("show_stacks_1.txt", "show_stacks_2.txt", "show_stacks_threshold_1000.txt"):
        text = (real_612 / name).read_text()
        for variant, body in _variants(text).items():
            found[f"{name}:{variant}"] = body
    return found


def _outcome(parser, text):
    try:
        parsed = parser(text, "x")
    except FormatError as exc:
        return ("error", str(exc))
    return (parsed.variant, [(e.stack.text if e.stack else None, e.handle, e.pages) for e in parsed.entries], parsed.warnings)


def test_fast_path_takes_every_kernel_variant_and_agrees(texts):
    for name, text in texts.items():
        fast = show_stacks._parse_fast(text, "x")
        assert fast is not None, name  # the fast path really runs on kernel output
        assert _outcome(lambda t, p: fast, text) == _outcome(show_stacks._parse_checked, text), name
        assert show_stacks.dumps(fast.variant, fast.entries) == text


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_text_gives_the_same_result_either_way(texts, data):
    name = data.draw(st.sampled_from(sorted(texts)))
    text = texts[name][:4000]
    text = text[: text.rfind("\n\n") + 2]
    pos = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.sampled_from(["", "\n", " ", "x", "\n\n", ": ", "nr_base_pages: 3\n", "handle: 9\n", "-", "0"]))
    cut = data.draw(st.integers(0, 3))
    mutated = text[:pos] + junk + text[pos + cut :]
    assert _outcome(show_stacks.parse, mutated) == _outcome(show_stacks._parse_checked, mutated)
