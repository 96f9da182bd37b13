"""pageowner-top: who allocated these pages, and which of them keeps growing."""

__version__ = "0.1.0"
