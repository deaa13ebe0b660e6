"""Hypothesis strategies from the domain dataclasses' type hints, so new model fields are covered too."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from storage.codec import field_hints

ZONES = [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30))]

# Any Unicode that both databases store: no lone surrogates (not encodable), no U+0000 (see CleanText).
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
instants = st.datetimes(datetime(1900, 1, 2), datetime(2200, 1, 1), timezones=st.sampled_from(ZONES))
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def strategy_for(
    hint: Any, overrides: dict[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return st.one_of(*(strategy_for(a) for a in args))
    if hint is type(None):
        return st.none()
    if hint is object or hint is Any:
        return json_values
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
        return st.tuples(*(strategy_for(a) for a in args))
    if origin in (frozenset, set):
        return st.frozensets(strategy_for(args[0]), max_size=4).map(origin)
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=4)
    if origin is dict:
        return st.dictionaries(strategy_for(args[0]), strategy_for(args[1]), max_size=3)
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return st.sampled_from(list(hint))
        if issubclass(hint, datetime):
            return instants
        if hint is date:
            return st.dates(date(1900, 1, 2), date(2200, 1, 1))
        if hint is bool:
            return st.booleans()
        if hint is int:
            return st.integers(-(2**53), 2**53)
        if hint is str:
            return texts
        if dataclasses.is_dataclass(hint):
            fields = {name: strategy_for(h) for name, h in field_hints(hint).items()}
            fields.update(overrides or {})
            return st.builds(hint, **fields)
    raise NotImplementedError(f"no strategy for {hint!r}: extend tests/storage/strategies.py")


def non_default(hint: Any) -> Any:
    """A value of `hint` that differs from the usual defaults (False, 0, "", (), None)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return non_default(next(a for a in args if a is not type(None)))
    if origin is tuple:
        item = args[0]
        return (non_default(item),) if args[-1] is Ellipsis else tuple(map(non_default, args))
    if origin in (frozenset, set):
        return origin({non_default(args[0])})
    if origin is dict:
        return {non_default(args[0]): non_default(args[1])}
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return list(hint)[-1]
        if issubclass(hint, datetime):
            return datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=ZONES[1])
        if hint is date:
            return date(2025, 5, 6)
        if dataclasses.is_dataclass(hint):
            return hint(**{name: non_default(h) for name, h in field_hints(hint).items()})
        samples: dict[type, Any] = {bool: True, int: 7, str: "значение", float: 1.5}
        if hint in samples:
            return samples[hint]
    if hint is object:
        return {"k": [1, "v"]}
    raise NotImplementedError(f"no sample for {hint!r}: extend tests/storage/strategies.py")
