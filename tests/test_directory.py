"""Who reads what: roles and units resolved to chats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.directory import Directory
from bot.settings import ChatSettings, Settings
from workflow.model import Assignment, Case, Procedure, Role

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def directory() -> Directory:
    chats = ChatSettings(intake=-1, office_head=2, region_curator=3, pos_curator=5, head=7,
                         units={"housing": -10, "social": -20, "culture": -30})  # fmt: skip
    return Directory.from_settings(Settings(chats=chats))


def pos_case(*assignments: Assignment) -> Case:
    return Case(id=1, procedure=Procedure.POS, status="in_work", version=2, t0=T0, category="other",
                assignments=assignments)  # fmt: skip


@pytest.mark.parametrize(
    ("role", "unit", "case", "chats"),
    [
        (Role.OPERATOR, None, None, [-1]),
        (Role.HEAD, None, None, [7]),
        (Role.COORDINATOR, None, None, [5]),  # no coordinator chat: the ПОС curator's
        (Role.UNIT_OFFICIAL, "social", None, [-20]),
        (Role.UNIT_OFFICIAL, None, pos_case(Assignment("housing"), Assignment("social")), [-10, -20]),
        # The executor of a ПОС case without a unit is the responsible one, not every co-executor.
        (Role.EXECUTOR, None, pos_case(Assignment("housing"), Assignment("social", responsible=True)), [-20]),
        (Role.EXECUTOR, None, pos_case(Assignment("housing"), Assignment("social")), [-10, -20]),
        (Role.EXECUTOR, "housing", pos_case(Assignment("social", responsible=True)), [-10]),
        (Role.EXECUTOR, "nowhere", None, []),
    ],
)
def test_chats_for(role: Role, unit: str | None, case: Case | None, chats: list[int]) -> None:
    assert directory().chats_for(role, unit, case=case) == chats


def test_a_chat_knows_its_roles_and_units() -> None:
    roles, units = directory().roles_of_chat(-10)
    assert roles == {Role.UNIT_OFFICIAL, Role.EXECUTOR} and units == {"housing"}
    assert directory().roles_of_chat(5) == ({Role.POS_CURATOR, Role.COORDINATOR}, set())


def test_missing_chats_are_named_by_their_config_keys() -> None:
    assert directory().missing_chats() == [
        "chats.units.education",
        "chats.units.economy",
        "chats.units.settlements",
    ]
    assert "chats.head" in Directory.from_settings(Settings()).missing_chats()
