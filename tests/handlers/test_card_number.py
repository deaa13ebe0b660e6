"""handlers/handover.py: the ЦУР IM card's own number, read from the forwarded card text."""

from __future__ import annotations

import pytest

from handlers.handover import card_number_in


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Инцидент № 48213\nЯма", "48213"),
        ("Карточка инцидента №ИМ-1234", "ИМ-1234"),
        ("Номер инцидента: 555", "555"),
        ("номер инцидента 556", "556"),
        ("Инцидент: № 9", "9"),
        ("Инцидент #77", "77"),
        ("Карточка инцидента ЦУР\nЯма у школы № 2", ""),
        ("Два инцидента 5 дней подряд", ""),
        ("Инцидент № " + "9" * 30, ""),  # past any real number
        ("", ""),
    ],
)
def test_the_im_card_number(text: str, number: str) -> None:
    assert card_number_in(text) == number
