"""Kernel text formats and our own files: one module per format, each a parser and a writer.

Nothing here imports textual or bcc.
"""
