"""`otklik simulate`: replay a scenario through the real use cases, storage and sweeper on a virtual clock.

The clock jumps from event to event: before each step (and after the last one) it stops at every instant where a
reminder or a miss falls due and runs a sweep there, so the output shows what Otklik would have said to whom
and when, without waiting for anything.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain_setup import build_calendar, build_rules, build_spikes
from bot.settings import Settings
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from workflow.lifecycle import ROLE_NAMES, Action, ActionPayload, NoticeKind
from workflow.model import Actor, DomainError, InboundMessage, Procedure, Role, Source
from workflow.ports import Notification
from workflow.services import Services
from workflow.services.clusters import SPIKE, SPIKE_GREW

ACTIONS = (
    "register", "route", "approve_routing", "return", "info", "accept", "decline", "submit", "approve",
    "rework", "publish", "interim", "repeat", "exclude", "significant", "close",
)  # fmt: skip
STEP_KEYS = {
    "at", "case", "do", "as", "procedure", "category", "units", "text", "reason", "responsible", "unit",
    "link", "repeat_of", "order", "source", "source_id", "author", "detected_at", "pos_due", "confirm",
}  # fmt: skip
# After the last step the clock runs on to show what would still fall due, but not forever.
TAIL = timedelta(days=60)


class ScenarioError(Exception):
    """A scenario the simulator refuses: one Russian line naming the step."""


@dataclass(frozen=True)
class ScenarioStep:
    number: int
    at: datetime
    case: str
    do: str
    role: Role
    fields: Mapping[str, Any]


@dataclass
class VirtualClock:
    instant: datetime

    def now(self) -> datetime:
        return self.instant


@dataclass
class Line:
    at: datetime
    data: dict[str, Any]


@dataclass
class Replay:
    """The simulation's state: case labels and the lines printed so far."""

    labels: dict[str, int] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)

    def label_of(self, case_id: int | None) -> str:
        for label, known in self.labels.items():
            if known == case_id:
                return label
        return str(case_id) if case_id is not None else ""


def load_scenario(path: Path) -> list[ScenarioStep]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"файл сценария не найден: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ScenarioError(f"{path}: не читается как TOML: {exc}") from None
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(f"{path}: нет ни одного шага [[step]]")
    steps: list[ScenarioStep] = []
    previous: datetime | None = None
    for number, raw in enumerate(raw_steps, start=1):
        step = _parse_step(number, raw)
        if previous is not None and step.at < previous:
            raise ScenarioError(f"шаг {number}: время {step.at.isoformat()} раньше предыдущего шага")
        previous = step.at
        steps.append(step)
    return steps


def _parse_step(number: int, raw: Any) -> ScenarioStep:
    where = f"шаг {number}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: ожидается таблица [[step]]")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise ScenarioError(f"{where}: неизвестные поля: {', '.join(sorted(unknown))}")
    for key in ("at", "case", "do", "as"):
        if key not in raw:
            raise ScenarioError(f"{where}: не указано поле {key!r}")
    at = raw["at"]
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            raise ScenarioError(f"{where}: at не дата и время ISO 8601: {raw['at']!r}") from None
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ScenarioError(
            f"{where}: at должно быть датой и временем с часовым поясом, например 2026-12-01T10:00+07:00"
        )
    do = raw["do"]
    if do not in ACTIONS:
        raise ScenarioError(f"{where}: неизвестное действие {do!r} (возможны: {', '.join(ACTIONS)})")
    try:
        role = Role(raw["as"])
    except ValueError:
        known = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        raise ScenarioError(f"{where}: неизвестная роль {raw['as']!r} (возможны: {known})") from None
    if not isinstance(raw["case"], str) or not raw["case"]:
        raise ScenarioError(f"{where}: case должно быть непустой строкой-меткой")
    return ScenarioStep(number=number, at=at, case=raw["case"], do=do, role=role, fields=raw)


def _text(step: ScenarioStep, key: str) -> str:
    value = step.fields.get(key, "")
    if not isinstance(value, str):
        raise ScenarioError(f"шаг {step.number}: {key} должно быть строкой")
    return value


def _optional_text(step: ScenarioStep, key: str) -> str | None:
    """A code (unit, category, case label) or nothing; a list or a number here would crash deeper down."""
    value = step.fields.get(key)
    if value is not None and not isinstance(value, str):
        raise ScenarioError(f"шаг {step.number}: {key} должно быть строкой")
    return value


def _instant(step: ScenarioStep, key: str) -> datetime | None:
    """A TOML date-time or an ISO 8601 text; one without a zone goes on to the domain, which refuses it."""
    value = step.fields.get(key)
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ScenarioError(f"шаг {step.number}: {key} должно быть датой и временем ISO 8601")


def _date(step: ScenarioStep, key: str) -> date | None:
    value = step.fields.get(key)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ScenarioError(f"шаг {step.number}: {key} должно быть датой, например 2026-11-20")


def _flag(step: ScenarioStep, key: str) -> bool:
    value = step.fields.get(key, False)
    if not isinstance(value, bool):
        raise ScenarioError(f"шаг {step.number}: {key} должно быть true или false")
    return value


def _units(step: ScenarioStep, key: str) -> tuple[str, ...]:
    value = step.fields.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"шаг {step.number}: {key} должно быть списком кодов подразделений")
    return tuple(value)


class Simulator:
    def __init__(self, services: Services, clock: VirtualClock, units: Mapping[str, str]) -> None:
        self.services = services
        self.clock = clock
        self.replay = Replay()
        self._units = frozenset(units)

    def _actor(self, role: Role) -> Actor:
        # One virtual person per role, in every unit: a scenario names roles, not people.
        index = list(Role).index(role)
        return Actor(user_id=1000 + index, roles=frozenset({role}), units=self._units, name=role.value)

    async def run(self, steps: list[ScenarioStep]) -> list[Line]:
        for step in steps:
            await self._sweep_until(step.at)
            self.clock.instant = step.at
            try:
                await self._apply(step)
            except DomainError as exc:
                raise ScenarioError(f"шаг {step.number} ({step.do}, {step.case}): {exc.message}") from None
        await self._sweep_until(steps[-1].at + TAIL)
        return self.replay.lines

    async def _sweep_until(self, limit: datetime) -> None:
        previous: datetime | None = None
        while True:
            async with self.services.repo.transaction() as tx:
                nearest = await tx.earliest_attention()
            if nearest is None or nearest > limit:
                return
            if nearest == previous:
                # A sweep that moves nothing on would loop forever: a bug, not a scenario error.
                raise RuntimeError(f"sweep at {nearest.isoformat()} did not advance the next attention point")
            previous = nearest
            self.clock.instant = max(self.clock.instant, nearest)
            self._record_notifications(await self.services.sweep())

    async def _apply(self, step: ScenarioStep) -> None:
        actor = self._actor(step.role)
        if step.do in ("register", "repeat"):
            await self._register(step, actor)
            return
        case_id = self.replay.labels.get(step.case)
        if case_id is None:
            raise ScenarioError(f"шаг {step.number}: сообщение {step.case!r} ещё не зарегистрировано")
        action = self._action(step, case_id)
        payload = ActionPayload(
            text=_text(step, "text"),
            reason=_text(step, "reason"),
            units=_units(step, "units"),
            order=_units(step, "order"),
            responsible=_optional_text(step, "responsible"),
            unit=_optional_text(step, "unit"),
            link=_text(step, "link"),
            confirm=_flag(step, "confirm"),
        )
        outcome = await self.services.act(case_id, action, actor, payload=payload)
        self._record_event(step, action.value)
        self._record_notifications(outcome.notifications)

    def _action(self, step: ScenarioStep, case_id: int) -> Action:
        # «approve» by the office head on a proposed routing is the routing approval (п.6).
        if step.do == "approve" and step.role is Role.OFFICE_HEAD:
            return Action.APPROVE_ROUTING
        return Action(step.do)

    async def _register(self, step: ScenarioStep, actor: Actor) -> None:
        if step.case in self.replay.labels:
            raise ScenarioError(f"шаг {step.number}: метка {step.case!r} уже занята другим сообщением")
        try:
            procedure = Procedure(step.fields.get("procedure", "open_sources"))
        except ValueError:
            raise ScenarioError(f"шаг {step.number}: procedure должно быть open_sources или pos") from None
        repeat_of: int | None = None
        if step.do == "repeat":
            earlier = _optional_text(step, "repeat_of")
            if earlier not in self.replay.labels:
                raise ScenarioError(
                    f"шаг {step.number}: repeat_of должно называть зарегистрированное сообщение"
                )
            repeat_of = self.replay.labels[earlier]
        default_source = Source.POS if procedure is Procedure.POS else Source.MANUAL
        try:
            source = Source(step.fields.get("source", default_source.value))
        except ValueError:
            raise ScenarioError(
                f"шаг {step.number}: неизвестный источник {step.fields.get('source')!r}"
            ) from None
        category = _optional_text(step, "category")
        if procedure is Procedure.POS and category is None:
            raise ScenarioError(f"шаг {step.number}: для ПОС укажите category")
        message = InboundMessage(
            source=source,
            source_id=str(step.fields.get("source_id", f"scenario:{step.case}")),
            procedure=procedure,
            text=_text(step, "text"),
            received_at=step.at,
            author=_text(step, "author"),
            category=category,
            detected_at=_instant(step, "detected_at"),
            pos_due=_date(step, "pos_due"),
        )
        outcome = await self.services.register(message, actor, repeat_of=repeat_of)
        self.replay.labels[step.case] = outcome.case.id
        self._record_event(step, "register" if step.do == "register" else "repeat")
        self._record_notifications(outcome.notifications)

    def _record_event(self, step: ScenarioStep, action: str) -> None:
        data = {"at": step.at.isoformat(), "type": "event", "case": step.case, "action": action,
                "actor": step.role.value, "unit": step.fields.get("unit")}  # fmt: skip
        self.replay.lines.append(Line(step.at, data))

    def _record_notifications(self, notifications: tuple[Notification, ...] | list[Notification]) -> None:
        for n in notifications:
            local = n.at.astimezone(self.services.calendar.tz)
            # The unit tells apart notices to several units; the point tells apart a term's two reminders.
            point = n.payload.get("point") if n.kind == "reminder" else None
            data = {"at": local.isoformat(), "type": "notify", "case": self.replay.label_of(n.case_id),
                    "kind": n.kind, "term": n.term_id, "to": n.to_role.value, "unit": n.unit,
                    "point": point}  # fmt: skip
            if n.kind in (SPIKE, SPIKE_GREW):  # the head's report names the cases of the cluster it lists
                listed = n.payload.get("cases")
                ids = [c.get("id") for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
                data["cases"] = [self.replay.label_of(i) for i in ids if isinstance(i, int)]
                data["count"] = n.payload.get("count")
            self.replay.lines.append(Line(n.at, data))


async def simulate(settings: Settings, steps: list[ScenarioStep], db_path: Path) -> list[Line]:

    url = f"sqlite+aiosqlite:///{db_path}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        calendar = build_calendar(settings)
        clock = VirtualClock(steps[0].at)
        services = Services(
            repo=SqlRepository(engine, clock=clock),
            clock=clock,
            calendar=calendar,
            rules=build_rules(settings),
            spikes=build_spikes(settings),
        )
        return await Simulator(services, clock, settings.units).run(steps)
    finally:
        await engine.dispose()


@contextmanager
def _database(db: str | None) -> Iterator[Path]:
    if db is not None:
        yield Path(db)
        return
    with tempfile.TemporaryDirectory(prefix="otklik-sim-") as folder:
        yield Path(folder) / "simulation.sqlite3"


_KIND_NAMES = {
    "reminder": "напоминание о сроке",
    "missed": "срок пропущен",
    SPIKE: "повышенная социальная активность (п.17)",
    SPIKE_GREW: "ещё одно похожее сообщение к докладу о повышенной активности",
}
_EVENT_NAMES = {"register": "регистрация", "repeat": "регистрация повторного сообщения"}


def render_line(line: Line, tz: Any, units: Mapping[str, str] | None = None) -> str:
    """The human-readable form: local time, the case label, who did what or who was told what."""
    data = line.data
    when = line.at.astimezone(tz).strftime("%d.%m.%Y %H:%M")
    unit = data.get("unit")
    whose = f" «{(units or {}).get(unit, unit)}»" if unit else ""
    if data["type"] == "event":
        action = _EVENT_NAMES.get(data["action"]) or Action(data["action"]).label
        return f"{when}  [{data['case']}] {ROLE_NAMES[Role(data['actor'])]}{whose}: {action}"
    kind = _KIND_NAMES.get(data["kind"]) or NoticeKind(data["kind"]).label
    point = data.get("point")
    share = f", {point[1:]} %" if isinstance(point, str) and point[1:].isdigit() else ""
    term = f" ({data['term']}{share})" if data["term"] else ""
    cases = data.get("cases")
    if data["kind"] == SPIKE and isinstance(cases, list):
        term = f": {data.get('count')} сообщений — {', '.join(str(c) for c in cases)}"
    return f"{when}  [{data['case']}] → {ROLE_NAMES[Role(data['to'])]}{whose}: {kind}{term}"


def run_simulation(settings: Settings, scenario: Path, *, db: str | None, as_json: bool) -> int:
    steps = load_scenario(scenario)
    with _database(db) as path:
        lines = asyncio.run(simulate(settings, steps, path))
    tz = build_calendar(settings).tz
    for line in lines:
        print(json.dumps(line.data, ensure_ascii=False) if as_json else render_line(line, tz, settings.units))
    return 0
