"""`otklik report`: the JSON of the hand-counted week (tests/unit/test_reports.py) read from a SQLite file, the
workbook opened with openpyxl (sheets, charts, the same numbers as the JSON), the PNG, and one Russian line with
exit code 2 for every bad input, with nothing written."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import openpyxl
import pytest

from storage.engine import create_engine
from storage.migrate import upgrade
from tests.support.report_seed import seed
from tests.test_cli import assert_refused, run
from tests.unit.test_reports import CASES, EVENTS, TERMS, at

# Without the one term still open before its due (its outcome would depend on the day the test runs).
STABLE_TERMS = [t for t in TERMS if not (t.closed_at is None and t.due > at("2026-12-05 00:00"))]
ARGS = ["report", "--from", "2026-11-30", "--to", "2026-12-06"]


async def _make_db(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await seed(conn, CASES, STABLE_TERMS, EVENTS)
    finally:
        await engine.dispose()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no ./config.toml: the defaults (Asia/Novosibirsk, the default units)
    path = tmp_path / "otklik.sqlite3"
    asyncio.run(_make_db(path))
    return path


def test_json_is_the_issue_shape_with_the_hand_counted_figures(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*ARGS, "--db", str(db), "--json"], capsys)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data == {
        "from": "2026-11-30",
        "to": "2026-12-06",
        "cases": {"registered": 5, "answered": 1, "answered_on_time": 1, "excluded": 1, "returned": 1},
        "by_unit": [
            {"unit": "education", "terms": 1, "met": 1, "missed": 0, "on_time_share": 1.0},
            {"unit": "housing", "terms": 2, "met": 0, "missed": 2, "on_time_share": 0.0},
        ],
        "by_term": [
            {"term": "os.publish", "terms": 1, "met": 1, "missed": 0},
            {"term": "os.route", "terms": 1, "met": 1, "missed": 0},
            {"term": "os.unit_info", "terms": 3, "met": 1, "missed": 2},
        ],
        "shortcomings": [
            {"case": 1, "term": "os.unit_info", "unit": "housing", "due": "2026-11-30T11:30:00+07:00",
             "done": "2026-11-30T12:30:00+07:00"},
            {"case": 2, "term": "os.unit_info", "unit": "housing", "due": "2026-12-01T12:00:00+07:00", "done": None},
        ],
    }  # fmt: skip


def test_workbook_and_png(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book_path, png_dir = tmp_path / "report.xlsx", tmp_path / "charts"
    png_dir.mkdir()
    code, out, err = run(
        [*ARGS, "--db", str(db), "--json", "--xlsx", str(book_path), "--png", str(png_dir)], capsys
    )
    assert (code, err) == (0, "")
    data = json.loads(out)
    book = openpyxl.load_workbook(io.BytesIO(book_path.read_bytes()))
    assert book.sheetnames == [
        "Сводка", "Подразделения", "Сотрудники", "Сроки", "Источники", "По неделям", "Доработки и возвраты",
        "Нарушения сроков",
    ]  # fmt: skip
    assert len(book["Сводка"]._charts) == 2  # on-time share by unit, cases per week
    summary = {
        row[0]: row[1] for row in book["Сводка"].iter_rows(min_row=6, max_col=2, values_only=True) if row[0]
    }
    assert summary["Зарегистрировано сообщений"] == data["cases"]["registered"]
    assert summary["Ответ дан в срок"] == data["cases"]["answered_on_time"]
    assert summary["Нарушено"] == sum(u["missed"] for u in data["by_term"])
    units = book["Подразделения"]
    assert units.freeze_panes == "A2"
    assert units.column_dimensions["A"].width > 20
    rows = list(units.iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        (u["unit"], u["terms"], u["met"], u["missed"], u["on_time_share"]) for u in data["by_unit"]
    ]
    missed = list(book["Нарушения сроков"].iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in missed] == [s["case"] for s in data["shortcomings"]]
    assert missed[0][5] == at("2026-11-30 11:30").replace(tzinfo=None)  # a date cell, local time
    assert missed[1][6] is None
    png = (png_dir / "otchet-2026-11-30-2026-12-06.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_plain_summary_and_an_empty_period(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run([*ARGS, "--db", str(db)], capsys)
    assert code == 0 and "Сроков: 5; соблюдено: 3; нарушено: 2" in out
    code, out, err = run(
        ["report", "--from", "2025-01-01", "--to", "2025-01-31", "--db", str(db), "--json"], capsys
    )
    assert (code, err) == (0, "")
    empty = json.loads(out)
    assert empty["cases"]["registered"] == 0 and empty["by_unit"] == [] and empty["shortcomings"] == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--from", "2026-12-06", "--to", "2026-11-30"], ["раньше начала"]),
        (["--from", "2026-13-01", "--to", "2026-12-31"], ["2026-13-01"]),
        (["--from", "2026-02-30", "--to", "2026-03-31"], ["2026-02-30"]),
        (["--from", "2025-01-01", "--to", "2026-12-31"], ["длиннее"]),
    ],
)
def test_bad_periods(db: Path, argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(*run(["report", *argv, "--db", str(db)], capsys), *words)


def test_bad_paths_write_nothing(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_refused(*run([*ARGS, "--db", str(tmp_path / "none.sqlite3")], capsys), "не найден")
    assert_refused(
        *run([*ARGS, "--db", str(db), "--xlsx", str(tmp_path / "no" / "r.xlsx")], capsys), "r.xlsx"
    )
    assert_refused(*run([*ARGS, "--db", str(db), "--png", str(tmp_path / "no")], capsys), "папку")
    assert_refused(*run([*ARGS, "--db", str(db), "--xlsx", str(tmp_path)], capsys), "не удаётся записать")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_not_a_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"")  # an empty file: SQLite opens it, there are no tables
    assert_refused(*run([*ARGS, "--db", str(junk)], capsys), "не подготовлена")
    assert junk.read_bytes() == b""


def test_demo_db_to_a_folder_is_refused_before_the_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["demo", "--db", str(tmp_path)], capsys)
    assert code == 2 and out == "" and "не удаётся записать базу" in err and err.count("\n") == 1


def test_demo_with_an_unknown_messenger_is_refused_in_russian(capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(*run(["demo", "--messenger", "vk"], capsys), "--messenger", "нет такого варианта: 'vk'",
                   "'telegram', 'max'")  # fmt: skip
