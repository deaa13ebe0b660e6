"""The ЦУР detection time a forwarded hand-over states (RULES.md §2: T0 = detected_at), as a table."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.intake import detected_in

NSK = ZoneInfo("Asia/Novosibirsk")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Яма на дороге\nВыявлено: 01.12.2026 09:40", datetime(2026, 12, 1, 9, 40, tzinfo=NSK)),
        ("Выявлено ЦУР 01.12.2026, 9:05\nЯма", datetime(2026, 12, 1, 9, 5, tzinfo=NSK)),
        ("Дата выявления: 30.11.2026 17:59", datetime(2026, 11, 30, 17, 59, tzinfo=NSK)),
        ("Дата и время выявления: 30.11.2026 08:00", datetime(2026, 11, 30, 8, 0, tzinfo=NSK)),
        ("Яма выявлено 01.12.2026 09:40 жителями", None),  # not a card line of its own
        ("Выявлено: 31.02.2026 09:40", None),  # no such day: T0 stays the post time
        ("Яма на дороге", None),
    ],
)
def test_detected_in(text: str, expected: datetime | None) -> None:
    assert detected_in(text, NSK) == expected
