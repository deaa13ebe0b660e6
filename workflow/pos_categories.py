"""ПОС category names → the term class of п.10 (issue 12 item 5).

ПОС names its categories in its own words («Дороги», «Благоустройство»…); the regulation counts terms by three
classes (federal accelerated, local accelerated, other — `rules.categories`). A district keeps the mapping in
config (`[pos] categories`), so a notification e-mail or an export row needs no human choice. A name that is
not in the table falls back to the strictest class (the fewest days): a case answered too early harms nobody,
one answered too late breaks the regulation; the caller tells the ПОС curator so a person can correct it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from workflow.model import Role
from workflow.ports import Notification
from workflow.rules import Rules

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CategoryClass:
    class_id: str  # a key of rules.categories (federal_fast | local_fast | other by default)
    known: bool  # False: not in the table; class_id is then the strictest class (fewest days)


def fold(name: str) -> str:
    """The form names are compared in: case folded, ё as е, runs of whitespace as one space, trimmed."""
    return _SPACES.sub(" ", name.casefold().replace("ё", "е")).strip()


def strictest(rules: Rules) -> str:
    """The class with the fewest days (the first of equals in the rules' order)."""
    return min(rules.categories.values(), key=lambda c: c.days).id


def classify(name: str | None, table: Mapping[str, str], rules: Rules) -> CategoryClass:
    """The class of a ПОС category name: by the table, or the name is a class id or title itself; else the
    strictest class, `known=False`. A table value that is not a class id counts as no entry (settings check
    the table at start, so this is only a guard)."""
    if name is not None and (wanted := fold(name)):
        for key, class_id in table.items():
            if fold(key) == wanted and class_id in rules.categories:
                return CategoryClass(class_id, True)
        for category in rules.categories.values():
            if wanted in (fold(category.id), fold(category.title)):
                return CategoryClass(category.id, True)
    return CategoryClass(strictest(rules), False)

# The ПОС curator's notice that a category name fell back to the strictest class: one kind whatever brought the
# message in (an e-mail, an export row), once per case (the dedup key), so a re-import or a mail fetched again
# does not tell twice.
UNKNOWN_CATEGORY = "pos_category_unknown"


def unknown_category_notice(case_id: int, category: str | None, class_id: str, at: datetime) -> Notification:
    return Notification(
        dedup_key=f"pos-category-unknown:{case_id}",
        case_id=case_id,
        kind=UNKNOWN_CATEGORY,
        to_role=Role.POS_CURATOR,
        at=at,
        payload={"category": (category or "")[:200], "class_id": class_id},
    )
