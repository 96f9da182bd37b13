"""A one-line question at the bottom of the screen (filter, threshold, interval, export
path): Enter answers, Escape cancels.  Validation happens in the caller, which can keep the
prompt open and say what is wrong."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from pageowner_tui.tui.safe_text import printable

__all__ = ["PromptScreen"]


class PromptScreen(ModalScreen[str | None]):
    """Returns the typed text, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        question: str,
        value: str = "",
        *,
        hint: str = "",
        check: Callable[[str], str | None] | None = None,
        prompt_id: str = "prompt",
    ) -> None:
        super().__init__(id=prompt_id)
        self.question = question
        self.value = value
        self.hint = hint
        self.check = check  # returns an error message for a bad answer, else None

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(Text(self.question), id="prompt-question")
            yield Input(value=self.value, id="prompt-input")
            yield Label(Text(self.hint), id="prompt-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value) if self.check else None
        if problem:
            hint = self.query_one("#prompt-hint", Label)
            hint.update(Text(printable(problem)))  # Text: a path in it is not markup
            hint.add_class("-error")
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
