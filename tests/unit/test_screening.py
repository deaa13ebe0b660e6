"""Table tests for workflow.screening: each flag, disguises, lawful anger, bad input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.screening import screen

CASES = [
    ("х у й вам", {"obscenity"}),
    ("б*я, опять не убрали", {"obscenity"}),
    ("п.и.з.д.а полная с дорогой", {"obscenity"}),
    ("xyйня а не ремонт", {"obscenity"}),
    ("6ля, сколько можно", {"obscenity"}),
    ("ПИЗДЕЦ", {"obscenity"}),
    ("заебали уже со своей плиткой", {"obscenity"}),
    ("мне написали «иди нахуй» в ответ", {"obscenity"}),
    ("оскорблять, хулиган, употреблять, сухую, страхуй, психуй, рубля, колебля, скипидар, бляха", set()),
    ("себе, хлеб, небо, требовать, учеба", set()),
    ("глава — вор", {"insult"}),
    ("чиновники-дармоеды", {"insult"}),
    ("вы идиоты", {"insult"}),
    ("у соседа украли велосипед, вора не нашли", set()),
    ("я тебя найду", {"threat"}),
    ("сожгу твой дом", {"threat"}),
    ("твоей семье не поздоровится", {"threat"}),
    ("отравлю соседских собак", {"harm"}),
    ("Безобразие! Без отписок! Доколе? Подам в суд и напишу в прокуратуру", set()),
    ("ДОРОГУ НЕ ЧИСТЯТ ТРЕТИЙ ДЕНЬ", set()),
]


@pytest.mark.parametrize(("text", "flags"), CASES)
def test_flags(text: str, flags: set[str]) -> None:
    found = screen(text)
    assert set(found.flags) == flags
    assert found.exclude is bool(flags)


@pytest.mark.parametrize(
    ("text", "significant"),
    [
        ("Третий день нет отопления, дети мерзнут", True),
        ("В подъезде пахнет газом", True),
        ("Закрыли школу в Ивановке", True),
        ("Когда покрасят лавочки в парке?", False),
    ],
)
def test_significant(text: str, significant: bool) -> None:
    assert screen(text).significant is significant


@pytest.mark.parametrize("text", ["", "   ", "😀" * 50, "x" * 100_000, "\x00\x01\x1b", "Hello, world", "мiх ёlkа"])
def test_bad_input_is_quiet(text: str) -> None:
    screen(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises(text: str) -> None:
    found = screen(text)
    assert found.exclude is bool(found.flags)
