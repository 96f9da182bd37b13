"""Plain-text views of the model (the batch `top` and `diff` output); no Textual here."""
