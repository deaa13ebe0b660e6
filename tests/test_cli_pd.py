"""`otklik pd export --author ID` and `otklik pd erase --author ID` on an SQLite file (issue 14 item 5).

The export is one JSON object with everything kept about the author's cases (and who viewed them), recorded as
an event on each; the erasure empties the personal data of the cases whose handling ended and records itself,
and names the ones still in work; an unknown author, an author already erased or with cases in work alone, an
empty --author and a missing --db file are one Russian line, exit code 2, nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.engine.conftest import actor, at, os_message, pos_message
from tests.fakes import FakeClock
from tests.test_cli import assert_refused, run
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Role
from workflow.retention import ERASED_TEXT, PD_ERASED, PD_EXPORTED
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

VK_TEXT = "Я живу на ул. Ленина, 5; яма у подъезда, звоните 8 913 000-00-00"
POS_AUTHOR = "Иванова Анна Петровна, тел. 8 913 111-11-11, адрес: ул. Садовая, 12"


def _services(engine: AsyncEngine) -> Services:
    clock = FakeClock(at(2026, 12, 1, 9, 40))
    return Services(repo=SqlRepository(engine, clock=clock), clock=clock, calendar=WorkingCalendar(),
                    rules=DEFAULT_RULES)  # fmt: skip


async def _close(path: Path, case_id: int) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        payload = ActionPayload(reason="по запросу автора")
        await _services(engine).act(case_id, Action.CLOSE, actor(Role.OFFICE_HEAD), payload=payload)
    finally:
        await engine.dispose()


async def _fill(path: Path) -> dict[str, int]:
    """Two messages of VK user 555 (the first closed, the second still new), another author's, a ПОС one."""
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    engine = create_engine(url)
    services = _services(engine)
    operator, pos = actor(Role.OPERATOR), actor(Role.POS_CURATOR)
    try:
        ids = {
            "vk1": (
                await services.register(os_message("wall-1_1", text=VK_TEXT, author_id=555), operator)
            ).case.id,
            "vk2": (await services.register(os_message("wall-1_2", author_id=555), operator)).case.id,
            "other": (await services.register(os_message("wall-1_3", author_id=777), operator)).case.id,
            "pos": (await services.register(pos_message(author=POS_AUTHOR), pos)).case.id,
        }
        await services.record_views([ids["vk1"]], actor(Role.OFFICE_HEAD), chat_id=-1002, what="card")
    finally:
        await engine.dispose()
    await _close(path, ids["vk1"])
    return ids


@pytest.fixture
def db(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "otklik.sqlite3"
    return path, asyncio.run(_fill(path))


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}


def actions(path: Path, case_id: int) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [
            r[0] for r in conn.execute("SELECT action FROM events WHERE case_id = ? ORDER BY id", (case_id,))
        ]


def test_export_by_network_id_is_everything_about_the_author_and_recorded(
    db: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = db
    code, out, err = run(["pd", "export", "--author", "555", "--db", str(path)], capsys)
    assert (code, err) == (0, "")
    exported = json.loads(out)
    assert exported["author"] == "555"
    assert [c["case"] for c in exported["cases"]] == [ids["vk1"], ids["vk2"]]
    first = exported["cases"][0]
    assert first["message"]["text"] == VK_TEXT and first["message"]["author"] == "Пётр Смирнов"
    assert first["message"]["author_id"] == 555
    assert [e["action"] for e in first["events"]] == ["register", "close"]
    # Who saw it (152-ФЗ ст. 14): the office head's view; the export's own line is written with it.
    assert [(a["user_id"], a["what"]) for a in first["access"]] == [(actor(Role.OFFICE_HEAD).user_id, "card")]
    assert actions(path, ids["vk1"])[-1] == actions(path, ids["vk2"])[-1] == PD_EXPORTED
    assert actions(path, ids["other"]) == ["register"]
    with sqlite3.connect(path) as conn:
        logged = conn.execute(
            "SELECT case_id, what FROM access_log WHERE what = 'export' ORDER BY case_id"
        ).fetchall()
    assert logged == [(ids["vk1"], "export"), (ids["vk2"], "export")]


def test_export_by_name_reaches_the_pos_author_alone(
    db: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = db
    code, out, _err = run(["pd", "export", "--author", "иванова анна петровна", "--db", str(path)], capsys)
    assert code == 0
    [case] = json.loads(out)["cases"]
    assert case["case"] == ids["pos"] and case["message"]["author"] == POS_AUTHOR


def test_erase_empties_the_ended_cases_leaves_those_in_work_and_records_it(
    db: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = db
    vk1, vk2 = ids["vk1"], ids["vk2"]
    code, out, err = run(["pd", "erase", "--author", "555", "--db", str(path)], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"Персональные данные автора «555» удалены из сообщений: № {vk1}. Отметка — в истории "
                          f"каждого. Сообщения № {vk2} ещё в работе — их данные не удалены")  # fmt: skip
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT case_id, text || '|' || author FROM messages").fetchall())
        erased = {r[0] for r in conn.execute("SELECT id FROM cases WHERE erased_at IS NOT NULL")}
    assert rows[vk1] == f"{ERASED_TEXT}|" and erased == {vk1}
    assert rows[vk2] != f"{ERASED_TEXT}|" and rows[ids["other"]] != f"{ERASED_TEXT}|"
    assert actions(path, vk1) == ["register", "close", PD_ERASED]
    # Asked again with only the case in work left: one line, nothing changed.
    before = dump(path)
    assert_refused(
        *run(["pd", "erase", "--author", "555", "--db", str(path)], capsys), f"№ {vk2} ещё в работе"
    )
    assert dump(path) == before
    # Closed, it goes too; then nothing of his is kept any more.
    asyncio.run(_close(path, vk2))
    assert run(["pd", "erase", "--author", "555", "--db", str(path)], capsys)[0] == 0
    assert actions(path, vk2) == ["register", "close", PD_ERASED]
    before = dump(path)
    assert_refused(*run(["pd", "erase", "--author", "555", "--db", str(path)], capsys), "«555» не найден")
    assert_refused(*run(["pd", "export", "--author", "555", "--db", str(path)], capsys), "не найден")
    assert dump(path) == before


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["pd", "erase", "--author", "999"], ("«999» не найден", "ничего не изменено")),
        (["pd", "export", "--author", "Смирнов"], ("не найден",)),  # a part of a name is nobody
        (["pd", "erase", "--author", "   "], ("--author",)),
    ],
)
def test_unknown_or_empty_author_changes_nothing(
    db: tuple[Path, dict[str, int]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    words: tuple[str, ...],
) -> None:
    path, _ids = db
    before = dump(path)
    assert_refused(*run([*argv, "--db", str(path)], capsys), *words)
    assert dump(path) == before


def test_a_missing_db_file_is_one_line_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "нет.sqlite3"
    assert_refused(
        *run(["pd", "erase", "--author", "1", "--db", str(missing)], capsys), "файла базы данных нет"
    )
    assert not missing.exists()
