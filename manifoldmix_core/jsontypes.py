"""Whether a value read from JSON fits a type hint, and the hint in words: the one check the config and event readers share."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any


def fits(value, hint) -> bool:
    """Whether a JSON value fits a type hint (None for optional fields, Any always fits); list[X] and dict[K, V] check their
    items too, so a reader can use every value without checking it again."""
    return checker(hint)(value)


@functools.cache
def checker(hint) -> Callable[[Any], bool]:
    """The test `fits` applies for a hint, built once per hint: the live view checks every event of a long log with it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    exact = _exact_types(hint)
    if exact is not None:  # JSON scalars have exact types: a type lookup, and for a list one set of its items' types
        return lambda value: type(value) in exact
    if hint is Any:
        return lambda value: True
    if origin is typing.Literal:  # a closed set of JSON scalars: the value and its exact type (True is not 1)
        allowed = {(type(a), a) for a in args}
        return lambda value: isinstance(value, (str, int, float, bool)) and (type(value), value) in allowed
    if origin in (typing.Union, types.UnionType):
        options = [checker(h) for h in args]
        return lambda value: any(option(value) for option in options)
    if hint is tuple:
        return lambda value: isinstance(value, (list, tuple))
    if origin is list and args:
        items = _exact_types(args[0])
        if items is not None:
            return lambda value: isinstance(value, list) and set(map(type, value)) <= items
        item = checker(args[0])
        return lambda value: isinstance(value, list) and all(map(item, value))
    if origin is dict and args:
        key, item = checker(args[0]), checker(args[1])
        return lambda value: isinstance(value, dict) and all(key(k) and item(v) for k, v in value.items())
    kind = origin or hint
    return lambda value: isinstance(value, kind)


_SCALARS = {float: frozenset({int, float}), int: frozenset({int}), str: frozenset({str}), bool: frozenset({bool}),
            type(None): frozenset({type(None)})}  # a float may be written as an integer; a bool is never a number


def _exact_types(hint) -> frozenset | None:
    """The exact types a scalar hint (or a union of scalars) allows, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        parts = [_exact_types(h) for h in typing.get_args(hint)]
        return None if None in parts else frozenset().union(*parts)
    return _SCALARS.get(hint)


def type_name(hint) -> str:
    """A hint as a config error says it: "an object", "a list of str", "int or null"."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(h) for h in typing.get_args(hint))
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"a list of {type_name(typing.get_args(hint)[0])}"
    return {type(None): "null", dict: "an object", list: "a list", tuple: "a list"}.get(hint, getattr(hint, "__name__", str(hint)))
