"""ПОС category names to term classes (workflow/pos_categories.py): folded matching, class ids and titles,
unknown names to the strictest class."""

from __future__ import annotations

import pytest

from workflow.pos_categories import CategoryClass, classify, fold
from workflow.rules import DEFAULT_RULES, Rules

TABLE = {"Дороги": "local_fast", "Жилищно-коммунальное  хозяйство": "federal_fast", "Опечатка": "nope"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Дороги", CategoryClass("local_fast", True)),
        ("  ДОРОГИ ", CategoryClass("local_fast", True)),
        ("жилищно-коммунальное\tхозяйство", CategoryClass("federal_fast", True)),
        ("other", CategoryClass("other", True)),  # a class id itself
        ("прочие   категории", CategoryClass("other", True)),  # a class title, folded
        ("Экология", CategoryClass("federal_fast", False)),  # unknown: the fewest days
        ("", CategoryClass("federal_fast", False)),
        (None, CategoryClass("federal_fast", False)),
        ("Опечатка", CategoryClass("federal_fast", False)),  # a table value that is no class: no entry
    ],
)
def test_classify(name: str | None, expected: CategoryClass) -> None:
    assert classify(name, TABLE, DEFAULT_RULES) == expected


def test_yo_is_e() -> None:
    assert fold("Ёлки  и  ЕЛИ") == "елки и ели"
    assert classify("Освещёние", {"освещение": "other"}, DEFAULT_RULES) == CategoryClass("other", True)


def test_the_strictest_class_follows_the_rules() -> None:
    rules = Rules.from_mapping({"pos_categories": {"other": {"days": 5}}})
    assert classify("Неизвестная", {}, rules) == CategoryClass("other", False)
