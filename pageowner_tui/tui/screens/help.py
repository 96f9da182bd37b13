"""The `?` screen: every key of the main view, generated from the app's bindings so it
cannot drift from what the keys do."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "help_table"]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "backslash": "\\",
    "space": "space",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "plus": "+",
    "minus": "-",
    "enter": "Enter",
    "escape": "Esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "ctrl+z": "Ctrl-Z",
    "ctrl+p": "Ctrl-P",
    "f10": "F10",
    "f1": "F1",
}


def key_label(keys: str) -> str:
    return " ".join(_KEY_NAMES.get(key, key) for key in keys.split(","))


def help_table(bindings: Iterable[Binding], notes: Iterable[str] = ()) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what", ratio=1)
    for binding in bindings:
        table.add_row(key_label(binding.key), binding.tooltip or binding.description)
    for note in notes:
        table.add_row("", Text(note, style="italic"))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close"),
    ]

    def __init__(self, bindings: list[Binding], notes: list[str]) -> None:
        super().__init__(id="help")
        self._help_bindings = bindings
        self._notes = notes

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("pageowner-top keys  (Escape closes)", style="bold"))
            yield Static(help_table(self._help_bindings, self._notes), id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
