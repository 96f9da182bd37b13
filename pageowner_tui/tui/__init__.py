"""The Textual TUI.  Widgets render model objects; sorting, filtering and deltas live in
pageowner_tui.model, and the per-tick state in live_view.py (plain Python, benchmarked)."""
