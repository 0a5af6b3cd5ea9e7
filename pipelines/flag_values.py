"""Parsing the key=value strings that binaries take as flags into plain Python values."""

from __future__ import annotations

import ast
from collections.abc import Iterable

from errors import UsageError


def parse_key_values(pairs: Iterable[str]) -> dict:
    """['a=1', 'b=x', 'c=(1, 2)'] -> {'a': 1, 'b': 'x', 'c': (1, 2)}.

    Values are Python literals when they parse as one, else kept as strings.

    Raises:
      ValueError: for an entry without '=' or with an empty key.
    """
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected key=value, got {pair!r}")
        try:
            options[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key.strip()] = value
    return options


def parse_fractions(text: str) -> dict[str, float] | None:
    """'train=0.8,valid=0.2' -> {'train': 0.8, 'valid': 0.2}; '' -> None.

    Raises:
      ValueError: for a malformed entry or a value that is not a number.
    """
    if not text.strip():
        return None
    pairs = parse_key_values(p for p in text.split(",") if p.strip())
    try:
        return {k: float(v) for k, v in pairs.items()}
    except (TypeError, ValueError):
        raise UsageError(f"split fractions must be numbers, got {text!r}") from None
