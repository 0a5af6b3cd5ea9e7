"""Synthetic datasets written to disk in the real layouts: renderers and one writer each."""
