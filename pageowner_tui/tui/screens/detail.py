"""The stack detail pane (Enter on a stack): refreshed from the app's live view each tick."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer

from pageowner_tui.tui.widgets.stack_detail import DetailState, StackDetail

__all__ = ["DetailScreen"]


class DetailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,enter", "close", "Back"),
        Binding("s", "scan", "PFN spread", tooltip="Read per-allocation records for this stack's PFN spread"),
    ]

    def __init__(
        self,
        stack_id: str,
        build: Callable[[str], DetailState],
        scan: Callable[[str], None] | None,
    ) -> None:
        super().__init__(id="detail")
        self.stack_id = stack_id
        self._build = build
        self._scan = scan

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield StackDetail(id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_detail()

    def refresh_detail(self) -> None:
        state = self._build(self.stack_id)
        self.query_one(StackDetail).show(state)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scan":
            return self._scan is not None
        return True

    def action_scan(self) -> None:
        if self._scan is not None:
            self.notify("reading per-allocation records for the PFN spread...", timeout=3)
            self._scan(self.stack_id)

    def action_close(self) -> None:
        self.dismiss(None)
