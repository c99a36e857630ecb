"""The JSON text every command prints: json.dumps(indent=2, sort_keys=True,
ensure_ascii=False), byte for byte, built several times faster.

The standard library drops to its pure-Python encoder as soon as `indent` is set; lists of
thousands of beads spent most of their time there. This renderer handles the shapes our
output has (dicts with string keys, lists, strings, numbers, booleans, null) directly and
hands anything else to json.dumps, so the text is always exactly what json.dumps makes.
"""

from __future__ import annotations

import json
from typing import Any

_encode_str = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """The text of VALUE as json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)."""
    return _render(value, "\n")


def element(value: Any) -> str:
    """VALUE as it appears inside a top-level array: indented one level, no separator."""
    return "  " + _render(value, "\n  ")


def render_at(value: Any, nl: str) -> str:
    """VALUE's text when it starts on a line whose newline-and-indentation is NL."""
    return _render(value, nl)


encode_str = _encode_str


def array(elements: list[str]) -> str:
    """Join texts made by `element` into the text of the array that holds them."""
    if not elements:
        return "[]"
    return "[\n" + ",\n".join(elements) + "\n]"


def _render(v: Any, nl: str) -> str:
    # `nl` is a newline plus the indentation of the line V starts on.
    t = type(v)
    if t is str:
        return str(_encode_str(v))
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if t is int:
        return int.__repr__(v)
    if t is dict:
        if not v:
            return "{}"
        inner = nl + "  "
        parts = []
        try:
            keys = sorted(v)
        except TypeError:
            return _fallback(v, nl)
        for k in keys:
            if type(k) is not str:
                return _fallback(v, nl)
            parts.append(_encode_str(k) + ": " + _render(v[k], inner))
        return "{" + inner + ("," + inner).join(parts) + nl + "}"
    if t is list or t is tuple:
        if not v:
            return "[]"
        inner = nl + "  "
        return "[" + inner + ("," + inner).join([_render(x, inner) for x in v]) + nl + "]"
    return _fallback(v, nl)


def _fallback(v: Any, nl: str) -> str:
    text = json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False)
    return text.replace("\n", nl)
