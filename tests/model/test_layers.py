"""The model and formats layers import neither textual nor bcc (nor any source or view)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "pageowner_tui"
FORBIDDEN = ("textual", "rich", "bcc", "pageowner_tui.tui", "pageowner_tui.sources")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("layer", ["model", "formats"])
def test_layer_has_no_ui_or_bpf_imports(layer):
    files = sorted((PKG / layer).rglob("*.py"))
    assert files, f"no files in {layer}"
    bad = [
        f"{path.relative_to(PKG)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] in ("textual", "rich", "bcc") or name.startswith(FORBIDDEN[3:])
    ]
    assert bad == []


def test_forbidden_import_is_detected(tmp_path):
    """The checker itself works: a file importing textual is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom textual.app import App\n")
    assert "textual.app" in list(_imports(probe))
