"""ПОС category names → the term classes of п.10 (rules.categories): a table from config, pure.

ПОС sends its own category names («Дороги», «ЖКХ. Отопление» …); the terms depend only on the class the district
puts each name in. A name the table does not know falls back to the strictest class (fewest days): a term
too short is caught by a person, a term too long is a missed deadline nobody saw coming.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from workflow.rules import Rules


@dataclass(frozen=True)
class CategoryClass:
    class_id: str  # a key of rules.categories (federal_fast | local_fast | other by default)
    known: bool  # False: not in the table; class_id is then the strictest class (fewest days)


def fold(name: str) -> str:
    """The form names are compared in: case folded, «ё» as «е», runs of whitespace as one space."""
    return " ".join(name.casefold().replace("ё", "е").split())


def strictest(rules: Rules) -> str:
    """The class with the fewest days (the first of equals, in the rules' order)."""
    return min(rules.categories.values(), key=lambda c: c.days).id


def classify(name: str | None, table: Mapping[str, str], rules: Rules) -> CategoryClass:
    """The class of a ПОС category name: by the table, or by a class id or title written as the name."""
    if name is not None and (wanted := fold(name)):
        for key, class_id in table.items():
            # A table value that is not a class (config is checked at start, so only a caller's mistake)
            # is no answer: the name stays unknown rather than become a class the terms cannot count.
            if fold(key) == wanted and class_id in rules.categories:
                return CategoryClass(class_id, True)
        for category in rules.categories.values():
            if wanted in (fold(category.id), fold(category.title)):
                return CategoryClass(category.id, True)
    return CategoryClass(strictest(rules), False)
