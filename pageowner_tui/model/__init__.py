"""The model: snapshots, stacks, deltas and queries.

Plain Python only: nothing here may import textual or bcc (tests/model/test_layers.py
enforces it), so every source, view and export shares one definition of the data.
"""

from pageowner_tui.model.snapshot import Counters, PageRecord, Snapshot, StackStat
from pageowner_tui.model.stack import Stack, intern_stack

__all__ = ["Counters", "PageRecord", "Snapshot", "Stack", "StackStat", "intern_stack"]
