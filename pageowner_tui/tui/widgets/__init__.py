"""Widgets: each renders model objects handed to it, nothing more."""
