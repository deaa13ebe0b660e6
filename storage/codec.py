"""Dataclass fields <-> JSON, driven by the fields' type hints.

`Case` keeps its queryable fields in columns and every other field in one JSON `state` column, so a field
added to the domain model needs no migration. Decoding follows the current type hints: enums, datetimes,
tuples, frozensets and nested dataclasses come back as the types the model declares. A stored key the model
no longer has is ignored; a field the stored row lacks takes its dataclass default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from functools import cache
from typing import Any, Union

from storage.types import NaiveDatetimeError

JsonValue = Any  # what json.dumps accepts / json.loads returns


@cache
def field_hints(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's fields (the model uses `from __future__ import annotations`)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def encode_fields(obj: Any, names: Iterable[str]) -> dict[str, JsonValue]:
    """The named fields of a dataclass instance as a JSON object."""
    cls: type = type(obj)
    hints = field_hints(cls)
    return {name: encode(getattr(obj, name), hints[name], where=f"{cls.__name__}.{name}") for name in names}


def encode_mapping(value: Mapping[Any, Any], *, where: str = "value") -> dict[str, JsonValue]:
    """Free-form data (`dict[str, object]`: event data, notification payloads) as a JSON object.

    The same as `encode(value, dict[str, object])` without its dispatch on type hints for every value, which
    was a tenth of a sweep's time.
    """
    return {str(key): _encode_loose(item, where) for key, item in value.items()}


def other_fields(cls: type, exclude: Iterable[str]) -> list[str]:
    excluded = set(exclude)
    return [f.name for f in dataclasses.fields(cls) if f.name not in excluded]


def decode_fields(cls: type, data: Mapping[str, JsonValue], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Constructor kwargs from a JSON object: unknown keys dropped, missing ones left to defaults."""
    hints = field_hints(cls)
    excluded = set(exclude)
    return {
        name: decode(value, hints[name], where=f"{cls.__name__}.{name}")
        for name, value in data.items()
        if name in hints and name not in excluded
    }


def build(cls: type[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field added to the model that old rows never stored
        raise TypeError(f"cannot rebuild {cls.__name__} from storage: {exc}") from exc


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def encode(value: Any, hint: Any, *, where: str = "value") -> JsonValue:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_union(origin):
        for arg in args:
            if arg is not type(None) and _matches(value, arg):
                return encode(value, arg, where=where)
        raise TypeError(f"{where}: {value!r} matches none of {hint}")
    if hint is Any or hint is object:
        return _encode_loose(value, where)
    if origin in (tuple, list, set, frozenset):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return [encode(v, a, where=where) for v, a in zip(value, args, strict=True)]
        item = args[0] if args else Any
        items = [encode(v, item, where=where) for v in value]
        # Sets have no order; sorting keeps the stored JSON deterministic.
        return sorted(items, key=repr) if origin in (set, frozenset) else items
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        key_hint, value_hint = args if args else (str, Any)
        return {
            str(encode(k, key_hint, where=where)): encode(v, value_hint, where=where)
            for k, v in value.items()
        }
    if origin is typing.Literal:
        return value
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(value).value
        if issubclass(hint, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise NaiveDatetimeError(f"{where}: naive datetime {value.isoformat()} refused")
            return value.astimezone(UTC).isoformat()
        if issubclass(hint, date):
            return value.isoformat()
        if issubclass(hint, timedelta):
            return value.total_seconds()
        if dataclasses.is_dataclass(hint):
            return encode_fields(value, [f.name for f in dataclasses.fields(hint)])
        if hint in (bool, int, float, str):
            return value
    raise TypeError(f"{where}: cannot store type {hint!r} as JSON; extend storage/codec.py")


def decode(data: JsonValue, hint: Any, *, where: str = "value") -> Any:
    if data is None:
        return None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_union(origin):
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1:
            return decode(data, candidates[0], where=where)
        for arg in candidates:  # e.g. `int | str`: take the first that fits the JSON shape
            if _matches_json(data, arg):
                return decode(data, arg, where=where)
        raise TypeError(f"{where}: stored {data!r} matches none of {hint}")
    if hint is Any or hint is object or origin is typing.Literal:
        return data
    if origin in (tuple, list, set, frozenset):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(decode(v, a, where=where) for v, a in zip(data, args, strict=True))
        item = args[0] if args else Any
        items = [decode(v, item, where=where) for v in data]
        return origin(items) if origin is not list else items
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        key_hint, value_hint = args if args else (str, Any)
        return {decode(k, key_hint, where=where): decode(v, value_hint, where=where) for k, v in data.items()}
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(data)
        if issubclass(hint, datetime):
            value = datetime.fromisoformat(data)
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if issubclass(hint, date):
            return date.fromisoformat(data)
        if issubclass(hint, timedelta):
            return timedelta(seconds=data)
        if dataclasses.is_dataclass(hint):
            return build(hint, decode_fields(hint, data))
        if hint in (bool, int, float, str):
            return int(data) if hint is int and isinstance(data, str) else data  # int dict keys arrive as str
    raise TypeError(f"{where}: cannot read type {hint!r} from JSON; extend storage/codec.py")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is Mapping:
        return isinstance(value, Mapping)
    if hint is Any or hint is object:
        return True
    return isinstance(value, origin) if isinstance(origin, type) else False


def _matches_json(data: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin in (tuple, list, set, frozenset):
        return isinstance(data, list)
    if origin in (dict, Mapping) or (isinstance(origin, type) and dataclasses.is_dataclass(origin)):
        return isinstance(data, dict)
    if origin is bool:
        return isinstance(data, bool)
    if origin in (int, float):
        return isinstance(data, int | float) and not isinstance(data, bool)
    return isinstance(data, str)


def _encode_loose(value: Any, where: str) -> JsonValue:
    """Free-form data (event data, notification payloads): JSON as is, with the common Python types made JSON.

    This direction is lossy (a tuple comes back as a list, an instant as ISO text): callers who need types
    declare them on a dataclass field instead.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return encode(value, datetime, where=where)
    if isinstance(value, date | timedelta):
        return encode(value, type(value), where=where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode(value, type(value), where=where)
    if isinstance(value, Mapping):
        return {str(_encode_loose(k, where)): _encode_loose(v, where) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_encode_loose(v, where) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_encode_loose(v, where) for v in value]
    raise TypeError(f"{where}: cannot store {type(value).__name__} as JSON")
