from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import codec
from storage.types import NaiveDatetimeError
from tests.storage.strategies import non_default, strategy_for
from workflow.model import Assignment, Case, InboundMessage, Role, Term

MODELS = [Case, InboundMessage, Assignment, Term]


def round_trip(obj: Any) -> Any:
    names = [f.name for f in dataclasses.fields(obj)]
    return codec.build(type(obj), codec.decode_fields(type(obj), codec.encode_fields(obj, names)))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_of_the_models_round_trips(model: type) -> None:
    """Fails with a pointer to codec.py when the model gains a field of a type storage cannot keep."""
    sample = non_default(model)
    assert round_trip(sample) == sample


@settings(max_examples=200)
@given(strategy_for(Case))
def test_case_round_trips(case: Case) -> None:
    assert round_trip(case) == case


@settings(max_examples=100)
@given(strategy_for(InboundMessage))
def test_message_round_trips(message: InboundMessage) -> None:
    assert round_trip(message) == message


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    at: datetime
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Everything:
    colour: Colour
    inner: Inner
    inners: tuple[Inner, ...] = ()
    pair: tuple[int, str] = (0, "")
    by_id: dict[int, str] = field(default_factory=dict)
    day: date | None = None
    span: timedelta = timedelta(0)
    either: int | str = 0
    loose: dict[str, object] = field(default_factory=dict)
    listed: list[float] = field(default_factory=list)


def test_supported_types_round_trip_with_their_types() -> None:
    nsk = timezone(timedelta(hours=7))
    value = Everything(
        colour=Colour.RED,
        inner=Inner(datetime(2025, 1, 1, 9, tzinfo=nsk), frozenset({"b", "a"})),
        inners=(Inner(datetime(2025, 1, 2, tzinfo=UTC)),),
        pair=(3, "x"),
        by_id={5: "five"},
        day=date(2025, 1, 1),
        span=timedelta(hours=1, microseconds=5),
        either="text",
        loose={"n": 1, "list": [1, "a"]},
        listed=[1.5],
    )
    encoded = codec.encode_fields(value, [f.name for f in dataclasses.fields(value)])
    assert encoded["inner"] == {"at": "2025-01-01T02:00:00+00:00", "tags": ["a", "b"]}
    back = codec.build(Everything, codec.decode_fields(Everything, encoded))
    assert back == value
    assert type(back.colour) is Colour and type(back.inners) is tuple and type(back.inner.tags) is frozenset
    assert back.inner.at.tzinfo is not None


def test_unknown_keys_are_dropped_and_missing_fields_take_defaults() -> None:
    kwargs = codec.decode_fields(
        Everything, {"colour": "red", "gone": 1, "inner": {"at": "2025-01-01T00:00:00"}}
    )
    value = codec.build(Everything, kwargs)
    assert value == Everything(Colour.RED, Inner(datetime(2025, 1, 1, tzinfo=UTC)))


def test_missing_required_field_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="cannot rebuild Everything"):
        codec.build(Everything, codec.decode_fields(Everything, {"colour": "red"}))


def test_unsupported_types_and_naive_instants_are_refused() -> None:
    @dataclass
    class Odd:
        blob: bytes

    with pytest.raises(TypeError, match=r"Odd\.blob: cannot store"):
        codec.encode_fields(Odd(b"x"), ["blob"])
    with pytest.raises(NaiveDatetimeError, match=r"Inner\.at"):
        codec.encode_fields(Inner(datetime(2025, 1, 1)), ["at"])
    with pytest.raises(TypeError, match="cannot store bytes"):
        codec.encode({"x": b"1"}, dict[str, object])


_LOOSE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), _LOOSE | st.sampled_from(list(Role)), max_size=5))
def test_encode_mapping_is_encode_of_a_free_form_dict(data: dict[str, object]) -> None:
    assert codec.encode_mapping(data) == codec.encode(data, dict[str, object])
