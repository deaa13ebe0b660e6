"""workflow/pos_categories.classify as a table: folded names, class ids and titles, the strictest fallback."""

from __future__ import annotations

import pytest

from workflow.pos_categories import CategoryClass, classify, fold, strictest
from workflow.rules import DEFAULT_RULES, Rules

TABLE = {
    "Дороги": "local_fast",
    "ЖКХ.  Отопление": "federal_fast",
    "Благоустройство территории": "other",
    "Ёлки и озеленение": "other",
}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Дороги", CategoryClass("local_fast", True)),
        ("  дороги ", CategoryClass("local_fast", True)),
        ("ДОРОГИ", CategoryClass("local_fast", True)),
        ("жкх. отопление", CategoryClass("federal_fast", True)),  # the table's double space folded
        ("ЖКХ.\tОтопление", CategoryClass("federal_fast", True)),
        ("благоустройство\n территории", CategoryClass("other", True)),
        ("елки и озеленение", CategoryClass("other", True)),  # ё → е on both sides
        ("ЁЛКИ И ОЗЕЛЕНЕНИЕ", CategoryClass("other", True)),
        ("local_fast", CategoryClass("local_fast", True)),  # a class id written as the name
        ("OTHER", CategoryClass("other", True)),
        ("Прочие категории", CategoryClass("other", True)),  # a class title
        ("ускоренное решение (категория федерального уровня)", CategoryClass("federal_fast", True)),
        ("Дороги и мосты", CategoryClass("federal_fast", False)),  # no prefix or substring guesses
        ("Образование", CategoryClass("federal_fast", False)),
        ("", CategoryClass("federal_fast", False)),
        ("   ", CategoryClass("federal_fast", False)),
        (None, CategoryClass("federal_fast", False)),
    ],
)
def test_classify(name: str | None, expected: CategoryClass) -> None:
    assert classify(name, TABLE, DEFAULT_RULES) == expected


def test_the_strictest_class_is_the_one_with_fewest_days() -> None:
    rules = Rules.from_mapping({"pos_categories": {"federal_fast": 30, "other": 5}})
    assert strictest(rules) == "other"
    assert classify("Неизвестная", {}, rules) == CategoryClass("other", False)
    assert strictest(DEFAULT_RULES) == "federal_fast"


def test_a_table_value_that_is_no_class_is_no_answer() -> None:
    assert classify("Дороги", {"Дороги": "fast"}, DEFAULT_RULES) == CategoryClass("federal_fast", False)


def test_a_class_added_by_the_rules_is_matched_by_id_and_title() -> None:
    rules = Rules.from_mapping({"pos_categories": {"urgent": {"days": 3, "title": "Срочные"}}})
    assert classify("срочные", {}, rules) == CategoryClass("urgent", True)
    assert classify("Срочные", {"Срочные": "other"}, rules) == CategoryClass("other", True)  # the table first
    assert classify("нет такой", {}, rules) == CategoryClass("urgent", False)


def test_fold() -> None:
    assert fold("  Ёж \t и\nЁЛКА ") == "еж и елка"
