"""Column types that keep the same promises on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator


class NaiveDatetimeError(ValueError):
    """A naive datetime reached storage: its instant is ambiguous, so it is refused rather than guessed."""


class NulCharacterError(ValueError):
    """Text with U+0000: PostgreSQL cannot store it, so SQLite refuses it too (same behaviour on both)."""


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: stored in UTC, returned timezone-aware (UTC) on every dialect; naive input is an error.

    SQLite has no time zone type, so the value is stored as naive UTC text in one fixed format; that keeps
    string comparison equal to time order, which the attention index relies on.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UtcDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(
                f"naive datetime {value.isoformat()} refused: storage needs a timezone-aware instant"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CleanText(TypeDecorator[str]):
    """Free text (a citizen's message, a draft): any Unicode except U+0000, identical on both dialects."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and "\x00" in value:
            raise NulCharacterError(
                "text contains U+0000, which PostgreSQL cannot store; strip it where the text enters"
            )
        return value
