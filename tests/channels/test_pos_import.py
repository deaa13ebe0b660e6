"""`otklik pos import`: ПОС export files (XLSX written here with XlsxWriter, CSVs in cp1251, UTF-8 with a BOM,
with «;» or «,») registered on a real SQLite file through `main()`, re-imported without change, refused row by
row or as a whole with one line and exit code 2."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import xlsxwriter

from bot.cli import main
from bot.pos_import import IMPORT_ACTOR, import_file
from bot.settings import load_settings
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.fakes import FakeClock
from workflow.calendar import WorkingCalendar
from workflow.model import InboundMessage, Procedure, Source
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

NSK = ZoneInfo("Asia/Novosibirsk")
HEADER = ["№ сообщения", "Категория", "Дата поступления", "Текст", "Автор", "Телефон", "Адрес"]
ROWS: list[list[object]] = [
    ["1000001", "Дороги", "20.11.2026 10:15", "Яма на ул. Ленина", "Иванов И.", "+79130000001", "ул. Ленина, 1"],
    ["1000002", "ЖКХ", "2026-11-21 09:00:00", "Нет отопления", "Петрова А.", "", ""],
    ["1000003", "Благоустройство", "22.11.2026", "Не убран снег во дворе", "", "", ""],
]
TABLES = ("cases", "messages", "terms", "events", "outbox")


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}"

[chats]
pos_curator = -1003

[pos]
categories = {{ "Дороги" = "local_fast", "ЖКХ" = "federal_fast", "Благоустройство" = "other" }}
{extra}
""",
        encoding="utf-8",
    )
    return config


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Выгрузка")
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, when)  # a real Excel date cell, not text
            else:
                sheet.write(r, c, value)
    book.close()
    return path


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], *, sep: str,
              encoding: str) -> Path:  # fmt: skip
    def quoted(value: object) -> str:
        text = str(value)
        return f'"{text}"' if sep in text or '"' in text else text

    lines = [sep.join(quoted(v) for v in row) for row in [list(header), *rows]]
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


@contextmanager
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(tmp_path / "otklik.sqlite3")) as conn:
        yield conn


def snapshot(tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    with db(tmp_path) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}


def registered(tmp_path: Path) -> dict[str, tuple[str, str, str, str]]:
    """ПОС number → (category class, text, author, received_at as stored)."""
    with db(tmp_path) as conn:
        rows = conn.execute(
            "SELECT m.source_id, c.category, m.text, m.author, m.received_at FROM messages m "
            "JOIN cases c ON c.id = m.case_id WHERE m.source = 'pos' ORDER BY m.source_id"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, (out, err)
    assert out == ""
    assert err.startswith("otklik: ошибка: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err


# --- registered, and again without change -------------------------------------------------------------------


def test_xlsx_registered_then_reimport_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    rows = [list(r) for r in ROWS]
    rows[0][2] = datetime(2026, 11, 20, 10, 15)  # an Excel datetime cell
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, rows)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    assert out.strip().splitlines()[-1] == "Итого: зарегистрировано 3, уже были 0, отклонено 0"
    cases = registered(tmp_path)
    assert sorted(cases) == ["1000001", "1000002", "1000003"]
    assert cases["1000001"][:3] == ("local_fast", "Яма на ул. Ленина", "Иванов И., тел. +79130000001, адрес: ул. Ленина, 1")
    assert cases["1000002"][0] == "federal_fast"
    assert cases["1000003"][0] == "other"
    # Local times of the district, stored as UTC: 10:15 in Novosibirsk is 03:15 UTC.
    assert cases["1000001"][3].startswith("2026-11-20 03:15")
    assert cases["1000002"][3].startswith("2026-11-21 02:00")
    assert cases["1000003"][3].startswith("2026-11-21 17:00")  # a bare date: the local midnight
    with db(tmp_path) as conn:  # the cards' notices are in the outbox for the running bot to send
        kinds = conn.execute("SELECT kind, to_role FROM outbox ORDER BY id").fetchall()
    assert kinds == [("registered", "pos_curator")] * 3

    before = snapshot(tmp_path)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    assert out == "Итого: зарегистрировано 0, уже были 3, отклонено 0\n"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "sep", "encoding"),
    [("cp1251.csv", ";", "cp1251"), ("bom.csv", ";", "utf-8-sig"), ("comma.csv", ",", "utf-8")],
)
def test_csv_encodings_and_delimiters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, sep: str, encoding: str
) -> None:
    config = write_config(tmp_path)
    rows = [list(r) for r in ROWS]
    rows[1][3] = "Нет отопления, холодно; дети мёрзнут"  # the delimiter inside a quoted cell
    path = write_csv(tmp_path / name, HEADER, rows, sep=sep, encoding=encoding)
    code, out, err = run(["pos", "import", str(path), "--config", str(config)], capsys)
    assert (code, err, out) == (0, "", "Итого: зарегистрировано 3, уже были 0, отклонено 0\n")
    cases = registered(tmp_path)
    assert cases["1000002"][1] == "Нет отопления, холодно; дети мёрзнут"
    assert cases["1000001"][2].startswith("Иванов И.")


def test_shuffled_columns_and_other_header_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    header = ["Текст сообщения", "Заявитель", "ДАТА И ВРЕМЯ ПОСТУПЛЕНИЯ", "Лишний столбец", "Категория:", "Номер"]
    rows = [[r[3], r[4], r[2], "x", r[1], r[0]] for r in ROWS]
    book = write_xlsx(tmp_path / "shuffled.xlsx", header, rows)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    assert out.endswith("Итого: зарегистрировано 3, уже были 0, отклонено 0\n")
    assert registered(tmp_path)["1000001"][:3] == ("local_fast", "Яма на ул. Ленина", "Иванов И.")


def test_mapping_from_config_and_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = ["Ид", "Рубрика", "Создано", "Обращение"]
    rows = [[r[0], r[1], r[2], r[3]] for r in ROWS]
    book = write_xlsx(tmp_path / "custom.xlsx", header, rows)
    config = write_config(tmp_path, '[pos.import_columns]\nnumber = "Ид"\ncategory = "Рубрика"\n')
    code, _, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert_refused(code, "", err, "«Дата поступления»", "«Текст»")  # what config does not name is guessed
    mapping = tmp_path / "map.toml"
    mapping.write_text('received = "Создано"\ntext = "обращение"\n', encoding="utf-8")
    code, out, err = run(["pos", "import", str(book), "--config", str(config), "--mapping", str(mapping)], capsys)
    assert (code, err, out) == (0, "", "Итого: зарегистрировано 3, уже были 0, отклонено 0\n")


# --- refused as a whole -------------------------------------------------------------------------------------


def test_missing_required_column_is_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    book = write_xlsx(tmp_path / "no_text.xlsx", HEADER[:3], [r[:3] for r in ROWS])
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert_refused(code, out, err, "нет столбцов «Текст»")
    assert not (tmp_path / "otklik.sqlite3").exists()


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"not a zip", "broken.xlsx", ("не читается как файл XLSX",)),
        (b"", "empty.csv", ("файл пуст",)),
        (b"a,b\n", "table.ods", ("ожидается файл .xlsx или .csv",)),
    ],
)
def test_unusable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, name: str, words: tuple[str, ...]
) -> None:
    config = write_config(tmp_path)
    (tmp_path / name).write_bytes(content)
    assert_refused(*run(["pos", "import", str(tmp_path / name), "--config", str(config)], capsys), *words)


def test_missing_file_and_bad_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert_refused(*run(["pos", "import", str(tmp_path / "none.csv"), "--config", str(config)], capsys), "не найден")
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, ROWS)
    mapping = tmp_path / "map.toml"
    mapping.write_text('nomer = "Номер"\n', encoding="utf-8")
    argv = ["pos", "import", str(book), "--config", str(config), "--mapping", str(mapping)]
    assert_refused(*run(argv, capsys), "неизвестное поле 'nomer'")
    mapping.write_text('text = "Нет такого"\n', encoding="utf-8")
    assert_refused(*run(argv, capsys), "нет столбца «Нет такого»")
    mapping.write_text("text = \n", encoding="utf-8")
    assert_refused(*run(argv, capsys), "не читается как TOML")


def test_a_config_category_naming_no_class_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[pos]\ncategories = { "Дороги" = "fast" }\n', encoding="utf-8")
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, ROWS)
    assert_refused(*run(["pos", "import", str(book), "--config", str(config)], capsys), "pos.categories", "'fast'")


def test_row_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, "import_max_rows = 2\n")
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, ROWS)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert_refused(code, out, err, "больше 2 строк", "ничего не зарегистрировано")
    assert not (tmp_path / "otklik.sqlite3").exists()


# --- refused row by row --------------------------------------------------------------------------------------


def test_broken_rows_refused_row_by_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    rows: list[list[object]] = [
        ["1000001", "Дороги", "20.11.2026 10:15", "Яма", "", "", ""],  # line 2: good
        ["", "Дороги", "20.11.2026 10:15", "Без номера", "", "", ""],  # line 3
        ["12AB", "Дороги", "20.11.2026 10:15", "Буквы в номере", "", "", ""],  # line 4
        ["1000004", "Дороги", "", "Без даты", "", "", ""],  # line 5
        ["1000005", "Дороги", "вчера", "Дата словом", "", "", ""],  # line 6
        ["1000006", "Дороги", "20.11.2026 10:15", "", "", "", ""],  # line 7
        ["1000007", "Дороги", "20.11.2096 10:15", "Из будущего", "", "", ""],  # line 8: the domain refuses
        ["", "", "", "", "", "", ""],  # line 9: blank, skipped
        ["1000001", "Дороги", "20.11.2026 10:15", "Другой текст", "", "", ""],  # line 10: a possible repeat
        ["1000001", "Дороги", "20.11.2026 10:15", "  Яма ", "", "", ""],  # line 11: the same message again
        ["1000012", "Дороги", "31.02.2026 10:00", "Нет такого дня", "", "", ""],  # line 12
    ]
    book = write_xlsx(tmp_path / "broken.xlsx", HEADER, rows)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    assert lines[0] == "строка 3: отклонена: нет номера ПОС"
    assert lines[1] == "строка 4: отклонена: номер ПОС «12AB» — не 5–20 цифр"
    assert lines[2].startswith("строка 5: отклонена: ПОС № 1000004: нет даты поступления")
    assert lines[3].startswith("строка 6: отклонена: ПОС № 1000005: дата поступления «вчера» не распознана")
    assert lines[4] == "строка 7: отклонена: ПОС № 1000006: нет текста сообщения"
    assert lines[5].startswith("строка 8: отклонена: ")
    assert lines[6].startswith("строка 10: отклонена: возможно, повтор: ПОС № 1000001 уже зарегистрирован")
    assert lines[7].startswith("строка 12: отклонена: ПОС № 1000012: дата поступления «31.02.2026 10:00»")
    assert lines[5] == (
        "строка 8: отклонена: ПОС № 1000007: Дата сообщения не может быть позже завтрашнего дня: проверьте год"
    )
    assert lines[8].startswith("Итого: зарегистрировано 1, уже были 1, отклонено 8 (строка 3: нет номера ПОС; ")
    assert len(lines) == 9
    assert list(registered(tmp_path)) == ["1000001"]
    assert registered(tmp_path)["1000001"][1] == "Яма"


# --- categories ---------------------------------------------------------------------------------------------


async def test_unknown_category_takes_the_strictest_class_and_tells_the_curator(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    rows = [
        ["1000001", "Образование", "20.11.2026 10:15", "Нет мест в детском саду", "", "", ""],
        ["1000002", "", "20.11.2026 11:00", "Без категории", "", "", ""],
        ["1000003", "дороги", "20.11.2026 12:00", "Яма", "", "", ""],
    ]
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, rows)
    settings = load_settings(config)
    now = datetime(2026, 11, 20, 15, 0, tzinfo=NSK)
    done = await import_file(settings, book, mapping_path=None, clock=FakeClock(now))
    assert [(line, name) for line, name, _ in done.report.unknown_category] == [(2, "Образование"), (3, "")]
    cases = registered(tmp_path)
    assert (cases["1000001"][0], cases["1000002"][0], cases["1000003"][0]) == ("federal_fast", "federal_fast", "local_fast")
    # The answer term counts the strictest class's days (8 days from T0, not 14 or 20).
    calendar = WorkingCalendar(tz="Asia/Novosibirsk")
    due = DEFAULT_RULES.due("pos.answer", datetime(2026, 11, 20, 10, 15, tzinfo=NSK), calendar, category="federal_fast")
    with db(tmp_path) as conn:
        stored = conn.execute(
            "SELECT t.due FROM terms t JOIN messages m ON m.case_id = t.case_id "
            "WHERE m.source_id = '1000001' AND t.term_id = 'pos.answer'"
        ).fetchone()[0]
        told = conn.execute(
            "SELECT to_role, payload FROM outbox WHERE kind = 'pos_category_unknown' ORDER BY id"
        ).fetchall()
    assert datetime.fromisoformat(stored).replace(tzinfo=ZoneInfo("UTC")) == due
    assert due.date() == date(2026, 11, 30)  # 8 days from 20.11 is Saturday 28.11: the next working day
    assert [role for role, _ in told] == ["pos_curator", "pos_curator"]
    assert "Образование" in told[0][1]
    before = snapshot(tmp_path)
    again = await import_file(settings, book, mapping_path=None, clock=FakeClock(now))
    assert (len(again.report.registered), len(again.report.known)) == (0, 3)
    assert snapshot(tmp_path) == before  # the curator is not told twice


def test_the_summary_lists_unknown_categories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    rows = [["1000001", "Образование", "20.11.2026 10:15", "Нет мест", "", "", ""]]
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, rows)
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    first, total = out.strip().splitlines()
    assert first.startswith("строка 2: категория «Образование» не найдена в [pos] categories")
    assert "куратор ПОС уведомлён" in first
    assert total == "Итого: зарегистрировано 1, уже были 0, отклонено 0, с неизвестной категорией 1"


def test_a_title_above_the_header_and_excel_serial_dates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    book = tmp_path / "titled.xlsx"
    workbook = xlsxwriter.Workbook(str(book))
    sheet = workbook.add_worksheet()
    sheet.write(0, 0, "Выгрузка сообщений ПОС за ноябрь 2026")  # a title line, then a blank one
    sheet.write_row(2, 0, HEADER[:4])
    sheet.write_row(3, 0, ["1000001", "Дороги"])
    sheet.write_number(3, 2, 46346.4270833333)  # 20.11.2026 10:15 as a bare serial number (no date format)
    sheet.write(3, 3, "Яма")
    workbook.close()
    code, out, err = run(["pos", "import", str(book), "--config", str(config)], capsys)
    assert (code, err, out) == (0, "", "Итого: зарегистрировано 1, уже были 0, отклонено 0\n")
    assert registered(tmp_path)["1000001"][3].startswith("2026-11-20 03:15:00")


def test_excel_sep_hint_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    path = tmp_path / "hinted.csv"
    path.write_bytes(("sep=,\r\n" + ",".join(HEADER[:4]) + "\r\n1000001,Дороги,20.11.2026 10:15,Яма; глубокая\r\n")
                     .encode("cp1251"))  # fmt: skip
    code, out, err = run(["pos", "import", str(path), "--config", str(config)], capsys)
    assert (code, err, out) == (0, "", "Итого: зарегистрировано 1, уже были 0, отклонено 0\n")
    assert registered(tmp_path)["1000001"][1] == "Яма; глубокая"


async def test_a_case_a_person_classed_is_not_told_about_again(tmp_path: Path) -> None:
    """Registered through /pos (the same key) in a class the person chose; the file's unknown name then says
    nothing to the curator: «уже были», no notice."""
    config = write_config(tmp_path)
    settings = load_settings(config)
    clock = FakeClock(datetime(2026, 11, 20, 15, 0, tzinfo=NSK))
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        services = Services(repo=SqlRepository(engine, clock=clock), clock=clock,
                            calendar=WorkingCalendar(tz="Asia/Novosibirsk"), rules=DEFAULT_RULES)  # fmt: skip
        await services.register(
            InboundMessage(source=Source.POS, source_id="1000001", procedure=Procedure.POS, text="Нет мест",
                           received_at=datetime(2026, 11, 20, 10, 15, tzinfo=NSK), category="other",
                           external_number="1000001"),
            IMPORT_ACTOR,
        )  # fmt: skip
    finally:
        await engine.dispose()
    rows = [["1000001", "Образование", "20.11.2026 10:15", "Нет мест", "", "", ""]]
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, rows)
    before = snapshot(tmp_path)
    done = await import_file(settings, book, mapping_path=None, clock=clock)
    assert (len(done.report.known), done.report.unknown_category) == (1, [])
    assert snapshot(tmp_path) == before


def test_an_unreachable_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.sqlite3"\n', encoding="utf-8")
    book = write_xlsx(tmp_path / "pos.xlsx", HEADER, ROWS)
    assert_refused(*run(["pos", "import", str(book), "--config", str(config)], capsys), "папки базы данных нет")


def test_the_console_script(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    path = write_csv(tmp_path / "pos.csv", HEADER, ROWS, sep=";", encoding="cp1251")
    script = Path(sys.executable).with_name("otklik")
    argv = [str(script), "pos", "import", str(path), "--config", str(config)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "Итого: зарегистрировано 3, уже были 0, отклонено 0\n"
    (tmp_path / "bad.csv").write_text("Номер;Текст\n1;x\n", encoding="utf-8")
    argv[3] = str(tmp_path / "bad.csv")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr
