"""Type checking of config values against dataclass field annotations (used by training/config.py).

YAML gives strings for numbers such as ``1e-3`` (PyYAML follows YAML 1.1, whose floats need a dot),
and passes any value of any type to a dataclass unchecked. :func:`coerce_fields` reads each
field's annotation and converts or refuses each value, naming the key, the value and the expected
type. It is generic over the annotations, so a field added to a config dataclass is checked with
no further edits.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from emorealm.errors import ConfigError

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Mismatch(Exception):
    """A value does not fit an annotation (internal: turned into a ConfigError naming the key)."""


def type_name(tp: Any) -> str:
    """A human name for an annotation: ``float``, ``list of str``, ``one of 'a', 'b'``, ``int or None``."""
    origin = get_origin(tp)
    if tp is type(None):
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(tp))
    if origin in (list, tuple, set):
        args = get_args(tp)
        return f"a list of {type_name(args[0])}" if args else "a list"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return _PLAIN.get(tp) or getattr(tp, "__name__", str(tp))


_PLAIN = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _coerce(value: Any, tp: Any, where: str) -> Any:
    if tp is Any or tp is typing.Any:
        return value
    origin = get_origin(tp)
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        # exact type first: 3 stays an int under ``int | float``
        for arg in args:
            if isinstance(arg, type) and type(value) is arg:
                return value
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _Mismatch
    if origin in (list, tuple, set):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        (item,) = get_args(tp)[:1] or (Any,)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if value is None or isinstance(value, dict):
            return build_dataclass(tp, value, where)
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            return float(value)
        raise _Mismatch
    if tp is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return value
        num = value
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            num = float(value)
        if isinstance(num, float) and num.is_integer():
            return int(num)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    return value  # an annotation we cannot check (a TypeVar, a string we could not resolve)


def coerce_fields(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` with each value converted to its field's annotated type; a value that does not fit
    raises ConfigError naming ``<where>.<key>``, the value and the expected type."""
    hints = get_type_hints(cls)
    out = {}
    for key, value in data.items():
        tp = hints.get(key, Any)
        path = f"{where}.{key}" if where else key
        try:
            out[key] = _coerce(value, tp, path)
        except _Mismatch:
            raise ConfigError(f"{path}: expected {type_name(tp)}, got {value!r} ({type(value).__name__})") from None
    return out


def build_dataclass(cls: type, data: Any, where: str):
    """Instantiate ``cls`` from a mapping: unknown keys and wrongly typed values are ConfigErrors."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'the config'} must be a mapping, got {data!r} ({type(data).__name__})")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(data) - set(names))
    if unknown:
        from emorealm.suggest import unknown_names_message

        raise ConfigError(unknown_names_message(f"key(s) in {where or 'the config'}", unknown, names))
    try:
        return cls(**coerce_fields(cls, data, where))
    except TypeError as exc:
        raise ConfigError(f"{where or 'the config'}: {exc}") from exc
