"""Who is who: staff (Telegram user ids → roles and units) and the chats each role and unit works in.

Built from settings once at start. Every button press and command asks it for the presser's Actor; an unknown
user gets None and a polite refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.settings import ConfigError, Settings
from workflow.lifecycle import Status
from workflow.model import Actor, Case, Procedure, Role


@dataclass(frozen=True)
class Directory:
    staff: dict[int, Actor]
    role_chats: dict[Role, int]
    unit_chats: dict[str, int]
    units: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Directory:
        staff: dict[int, Actor] = {}
        for index, member in enumerate(settings.staff):
            where = f"staff[{index}]"
            try:
                roles = frozenset(Role(name) for name in member.roles)
            except ValueError:
                known = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
                raise ConfigError(
                    f"{where}.roles: неизвестная роль в {member.roles} (возможны: {known})"
                ) from None
            if Role.SYSTEM in roles or not roles:
                raise ConfigError(f"{where}.roles: укажите хотя бы одну роль сотрудника")
            unknown_units = set(member.units) - set(settings.units)
            if unknown_units:
                raise ConfigError(
                    f"{where}.units: неизвестные подразделения: {', '.join(sorted(unknown_units))}"
                )
            if member.telegram_id in staff:
                raise ConfigError(f"{where}.telegram_id: сотрудник {member.telegram_id} указан дважды")
            staff[member.telegram_id] = Actor(
                user_id=member.telegram_id, roles=roles, units=frozenset(member.units), name=member.name
            )
        chats = settings.chats
        role_chats = {
            role: chat
            for role, chat in (
                (Role.OPERATOR, chats.intake),
                (Role.OFFICE_HEAD, chats.office_head),
                (Role.REGION_CURATOR, chats.region_curator),
                (Role.POS_CURATOR, chats.pos_curator),
                (Role.COORDINATOR, chats.coordinator or chats.pos_curator),
                (Role.HEAD, chats.head),
            )
            if chat is not None
        }
        unknown = set(chats.units) - set(settings.units)
        if unknown:
            raise ConfigError(f"chats.units: неизвестные подразделения: {', '.join(sorted(unknown))}")
        return cls(
            staff=staff, role_chats=role_chats, unit_chats=dict(chats.units), units=dict(settings.units)
        )

    def missing_chats(self) -> list[str]:
        """Config keys of chats nobody set: their notices have nowhere to go (said at start, in Russian)."""
        roles = {
            Role.OPERATOR: "chats.intake",
            Role.OFFICE_HEAD: "chats.office_head",
            Role.REGION_CURATOR: "chats.region_curator",
            Role.POS_CURATOR: "chats.pos_curator",
            Role.HEAD: "chats.head",
        }
        missing = [key for role, key in roles.items() if role not in self.role_chats]
        missing += [f"chats.units.{unit}" for unit in self.units if unit not in self.unit_chats]
        return missing

    def actor(self, user_id: int) -> Actor | None:
        return self.staff.get(user_id)

    def sole_holder(self, role: Role, unit: str | None) -> str:
        """The name of the only staff member holding `role` (a unit role: in `unit`), else "" (workflow's
        People port: a term names its holder where known, RULES.md §6)."""
        scoped = role in (Role.UNIT_OFFICIAL, Role.EXECUTOR)
        if role is Role.SYSTEM or (scoped and unit is None):
            return ""
        holders = [a for a in self.staff.values() if role in a.roles and (not scoped or unit in a.units)]
        return holders[0].name if len(holders) == 1 else ""

    def chats_for(self, role: Role, unit: str | None = None, *, case: Case | None = None) -> list[int]:
        """The chats where `role` (of `unit`) reads its messages.

        A unit role without a unit means the case's units; for a ПОС executor, the responsible one when named
        (п.14.3: the responsible executor owes the common draft and the final answer, not the co-executors).
        """
        if role in (Role.UNIT_OFFICIAL, Role.EXECUTOR):
            units: Iterable[str] = [unit] if unit else (case.units if case is not None else ())
            if not unit and role is Role.EXECUTOR and case is not None and case.responsible_unit:
                units = [case.responsible_unit]
            return _unique(self.unit_chats[u] for u in units if u in self.unit_chats)
        chat = self.role_chats.get(role)
        return [chat] if chat is not None else []

    def notice_chats(self, role: Role, unit: str | None = None, *, case: Case | None = None) -> list[int]:
        """The chats a notice to `role` goes to: `chats_for`, except that the ПОС coordinator without a chat of
        his own (his notices would land in the ПОС curator's chat) is not told what the curator just did."""
        chats = self.chats_for(role, unit, case=case)
        if role is Role.COORDINATOR:
            curator = self.role_chats.get(Role.POS_CURATOR)
            chats = [c for c in chats if c != curator]
        return chats

    def card_chats(self, case: Case) -> list[int]:
        """The chats that work on a case and so keep its card: the router's, the units', the approver's.

        The office head gets the card of a routing waiting for his approval (not every message: chit-chat and
        excluded abuse are none of his business); the region curator once a draft reached him; the ПОС
        coordinator once an answer is approved for posting (he posts it). A card once posted in a chat stays
        there and is kept up to date (delivery refreshes every chat that holds one).
        """
        chats: list[int] = []
        if case.procedure is Procedure.OPEN_SOURCES:
            chats += self.chats_for(Role.OPERATOR)
            if case.status == Status.ROUTING_PROPOSED:
                chats += self.chats_for(Role.OFFICE_HEAD)
            if case.draft_version > 0:
                chats += self.chats_for(Role.REGION_CURATOR)
        else:
            chats += self.chats_for(Role.POS_CURATOR)
            if case.status == Status.APPROVED or case.interim:
                chats += self.chats_for(Role.COORDINATOR)
        chats += self.chats_for(Role.UNIT_OFFICIAL, case=case)
        return _unique(chats)

    # --- the domain's Reach port: who can be told at all -------------------------------------------------

    def unit_reachable(self, unit: str) -> bool:
        return unit in self.unit_chats

    def role_reachable(self, role: Role) -> bool:
        return role in self.role_chats

    def roles_of_chat(self, chat_id: int) -> tuple[set[Role], set[str]]:
        """Which roles and units a chat serves (a chat can serve several)."""
        roles = {role for role, chat in self.role_chats.items() if chat == chat_id}
        units = {unit for unit, chat in self.unit_chats.items() if chat == chat_id}
        if units:
            roles |= {Role.UNIT_OFFICIAL, Role.EXECUTOR}
        return roles, units


def _unique(chats: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(chats))
