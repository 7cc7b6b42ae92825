"""Whether a value read from JSON fits a type hint, and the hint in words: the one check the config and event readers share."""

from __future__ import annotations

import types
import typing
from typing import Any


def fits(value, hint) -> bool:
    """Whether a JSON value fits a type hint (None for optional fields, Any always fits); list[X] and dict[K, V] check their
    items too, so a reader can use every value without checking it again."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is tuple:
        return isinstance(value, (list, tuple))
    if origin is list and args:
        return isinstance(value, list) and all(fits(v, args[0]) for v in value)
    if origin is dict and args:
        return isinstance(value, dict) and all(fits(k, args[0]) and fits(v, args[1]) for k, v in value.items())
    return isinstance(value, origin or hint)


def type_name(hint) -> str:
    """A hint as a config error says it: "an object", "a list of str", "int or null"."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"a list of {type_name(typing.get_args(hint)[0])}"
    return {type(None): "null", dict: "an object", list: "a list", tuple: "a list"}.get(hint, getattr(hint, "__name__", str(hint)))
