"""`otklik term` and `otklik calendar`: the documented outputs, and one line with exit code 2 for bad input.

Hand check of the headline example (shipped XML, Asia/Novosibirsk, 09–13 and 14–18): os.publish is 540 working
minutes from Wed 30.12.2026 16:00. 30.12 is an ordinary working day (not marked in ru-2026.xml): 2 h to 18:00.
31.12.2026 is a day off (ru-2026.xml: d="12.31" t="1" f="01.04"), 01–08.01.2027 are holidays (ru-2027.xml,
t="1"), 09–10.01 a weekend. Mon 11.01.2027: the remaining 7 h are 09–13 (4 h) and 14–17 (3 h) -> 17:00.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

SHIPPED_2026 = Path(__file__).resolve().parents[1] / "workflow" / "data" / "calendar" / "ru-2026.xml"
HEADLINE = '{"term": "os.publish", "from": "2026-12-30T16:00:00+07:00", "due": "2027-01-11T17:00:00+07:00"}'


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("otklik: ошибка: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


# --- through the installed console script ---------------------------------------------------------------------


def _otklik() -> str:
    """The console script of the environment running the tests (never whatever `otklik` is on PATH)."""
    path = Path(sys.executable).with_name("otklik")
    assert path.is_file(), (
        f"the otklik console script is not installed beside {sys.executable} (pip install -e .)"
    )
    return str(path)


def test_console_script_term_json() -> None:
    done = subprocess.run(
        [_otklik(), "term", "os.publish", "--from", "2026-12-30T16:00+07:00", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, HEADLINE + "\n", "")


def test_console_script_bad_input_is_one_line() -> None:
    done = subprocess.run(
        [_otklik(), "term", "os.publish", "--from", "2026-12-30T16:00"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_refused(done.returncode, done.stdout, done.stderr, "--from", "часовой пояс")


# --- in-process --------------------------------------------------------------------------------------------------


def test_term_json_exact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["term", "os.publish", "--from", "2026-12-30T16:00+07:00", "--json"], capsys)
    assert (code, out, err) == (0, HEADLINE + "\n", "")


def test_term_from_another_offset_is_shown_in_local_time(capsys: pytest.CaptureFixture[str]) -> None:
    # 09:00 UTC = 16:00 in Novosibirsk: the same instant, the same answer.
    code, out, _err = run(["term", "os.publish", "--from", "2026-12-30T09:00:00+00:00", "--json"], capsys)
    assert (code, out) == (0, HEADLINE + "\n")


@pytest.mark.parametrize(
    ("category", "due"),
    [
        ("federal_fast", "2026-11-10T18:00:00+07:00"),  # 02.11 + 8 days, Tuesday
        ("local_fast", "2026-11-16T18:00:00+07:00"),  # + 14 days, Monday
        ("other", "2026-11-23T18:00:00+07:00"),  # + 20 days = Sunday 22.11 -> Monday 23.11
    ],
)
def test_term_with_a_category(category: str, due: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["term", "pos.answer", "--from", "2026-11-02T17:30+07:00", "--category", category, "--json"]
    code, out, _err = run(argv, capsys)
    assert code == 0
    assert json.loads(out)["due"] == due


def test_term_human_form(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["term", "os.publish", "--from", "2026-12-30T16:00+07:00"], capsys)
    assert code == 0
    assert "Публикация ответа (os.publish)" in out
    assert "11.01.2027 17:00" in out
    assert "9 ч 00 мин" in out


def test_calendar_day_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["calendar", "day", "2026-12-31", "--json"], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"date": "2026-12-31", "working": False, "short": False, "windows": []}
    code, out, _err = run(["calendar", "day", "2026-11-03", "--json"], capsys)
    assert json.loads(out) == {
        "date": "2026-11-03",
        "working": True,
        "short": True,
        "windows": [["09:00", "13:00"], ["14:00", "17:00"]],
    }


def test_calendar_day_human(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["calendar", "day", "2026-12-30"], capsys)
    assert (code, out) == (0, "30.12.2026: рабочий; 09:00–13:00, 14:00–18:00\n")


def test_calendar_import_then_day_reflects_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "conf" / "config.toml"
    config.parent.mkdir()
    config.write_text("# defaults\n", encoding="utf-8")
    # The administration's edition of 2026: 31.12 worked as an ordinary day (not in the shipped calendar).
    edited = tmp_path / "ru-2026-edited.xml"
    original = SHIPPED_2026.read_text(encoding="utf-8")
    assert '<day d="12.31" t="1" f="01.04"/>' in original
    edited.write_text(original.replace('<day d="12.31" t="1" f="01.04"/>', ""), encoding="utf-8")

    before = run(["calendar", "day", "2026-12-31", "--json", "--config", str(config)], capsys)
    assert json.loads(before[1])["working"] is False

    code, out, err = run(["calendar", "import", str(edited), "--config", str(config)], capsys)
    assert (code, err) == (0, "")
    target = config.parent / "calendar" / "ru-2026.xml"
    assert str(target) in out and "2026" in out
    assert target.read_text(encoding="utf-8") == edited.read_text(encoding="utf-8")

    code, out, _err = run(["calendar", "day", "2026-12-31", "--json", "--config", str(config)], capsys)
    assert json.loads(out) == {
        "date": "2026-12-31",
        "working": True,
        "short": False,
        "windows": [["09:00", "13:00"], ["14:00", "18:00"]],
    }
    # Terms follow it too: 30.12 16:00 + 9 working hours now ends on 31.12, not in January.
    code, out, _err = run(
        ["term", "os.publish", "--from", "2026-12-30T16:00+07:00", "--json", "--config", str(config)], capsys
    )
    assert json.loads(out)["due"] == "2026-12-31T17:00:00+07:00"
    # Without that config nothing changed.
    code, out, _err = run(["calendar", "day", "2026-12-31", "--json"], capsys)
    assert json.loads(out)["working"] is False
    assert SHIPPED_2026.read_text(encoding="utf-8") == original  # the shipped data is untouched


BAD_ARGV = {
    "unknown-term": (["term", "os.nothing", "--from", "2026-12-30T16:00+07:00"], ["os.nothing"]),
    "naive-from": (["term", "os.publish", "--from", "2026-12-30T16:00"], ["--from", "часовой пояс"]),
    "malformed-from": (["term", "os.publish", "--from", "30.12.2026 16:00"], ["--from", "ISO 8601"]),
    "impossible-from": (["term", "os.publish", "--from", "2026-02-30T16:00+07:00"], ["--from"]),
    "unknown-category": (
        ["term", "pos.answer", "--from", "2026-11-02T17:30+07:00", "--category", "urgent"],
        ["urgent", "federal_fast"],
    ),
    "missing-category": (["term", "pos.answer", "--from", "2026-11-02T17:30+07:00"], ["category"]),
    "bad-date": (["calendar", "day", "31.12.2026"], ["ГГГГ-ММ-ДД"]),
}


@pytest.mark.parametrize("name", list(BAD_ARGV))
def test_bad_input_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, words = BAD_ARGV[name]
    assert_refused(*run(argv, capsys), *words)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[calendar\ntimezone = 1\n", ["не читается как TOML"]),
        ('[calendar]\ntimezone = "Asia/Novosibirsk"\nweek = 5\n', ["calendar.week"]),
        ("[database]\nurl = 5\n", ["database.url"]),
        ("[nonsense]\nx = 1\n", ["nonsense"]),
        ('[rules.terms."os.publish"]\namount = -5\n', ["rules.terms", "amount"]),
    ],
    ids=["not-toml", "bad-week", "bad-type", "unknown-section", "bad-rules"],
)
def test_broken_config_file(
    text: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = run(["term", "os.publish", "--from", "2026-12-30T16:00+07:00", "--config", str(config)], capsys)
    assert_refused(*result, *words)


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(["calendar", "day", "2026-12-31", "--config", str(tmp_path / "none.toml")], capsys)
    assert_refused(*result, "файл настроек не найден")


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<calendar year='2026'><days><day d='12.31' t='1'></days>", ["not well-formed"]),
        ("<calendar><days/></calendar>", ["year"]),
        ("<calendar year='2026'><days><day d='13.01' t='1'/></days></calendar>", ["d must be MM.DD"]),
        ("<calendar year='2026'><days><day d='12.01' t='9'/></days></calendar>", ["t must be"]),
        ("<!DOCTYPE x [<!ENTITY a 'b'>]><calendar year='2026'/>", ["DOCTYPE"]),
    ],
    ids=["not-xml", "no-year", "bad-date", "bad-kind", "entities"],
)
def test_broken_calendar_xml(
    xml: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    broken = tmp_path / "ru-2026.xml"
    broken.write_text(xml, encoding="utf-8")
    assert_refused(*run(["calendar", "import", str(broken), "--config", str(config)], capsys), *words)
    assert not (tmp_path / "calendar").exists()  # refused whole, nothing copied
    # A broken file already in the import folder stops the commands that need the calendar, in one line too.
    (tmp_path / "calendar").mkdir()
    shutil.copy(broken, tmp_path / "calendar" / "ru-2026.xml")
    assert_refused(*run(["calendar", "day", "2026-12-31", "--config", str(config)], capsys), *words)
    assert_refused(
        *run(["term", "os.publish", "--from", "2026-12-30T16:00+07:00", "--config", str(config)], capsys),
        *words,
    )


def test_calendar_import_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    result = run(["calendar", "import", str(tmp_path / "ru-2030.xml"), "--config", str(config)], capsys)
    assert_refused(*result, "ru-2030.xml")


# --- the parser itself: --version, Russian help and usage errors, ./config.toml by default ---------------------


def test_version_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert run(["--version"], capsys) == (0, f"otklik {version('otklik')}\n", "")


@pytest.mark.parametrize(
    "argv", [["--help"], ["run", "--help"], ["check", "--help"], ["calendar", "day", "-h"]]
)
def test_help_is_russian(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert (code, err) == (0, "")
    assert out.startswith("использование: otklik")
    assert "параметры:" in out and "показать эту справку и выйти" in out
    for english in ("usage:", "options:", "show this help", "positional arguments"):
        assert english not in out
    if argv[0] == "run":
        assert "--verbose" in out and "./config.toml" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bogus"], ["нет такого варианта: 'bogus'", "check"]),
        (["term"], ["otklik term", "не хватает аргументов: TERM_ID, --from"]),
        (["term", "os.publish", "--from"], ["--from: нужно одно значение"]),
        (["run", "--foo"], ["лишние аргументы: --foo"]),
        ([], ["не хватает аргументов: КОМАНДА"]),
    ],
)
def test_usage_errors_are_one_russian_line(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert_refused(code, out, err, *words, "--help")
    assert "usage" not in err and "error" not in err


def test_argparse_is_english_again_outside_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    run(["--help"], capsys)
    parser = argparse.ArgumentParser(prog="other")
    assert "usage: other" in parser.format_usage() and "show this help" in parser.format_help()


def test_config_toml_in_the_current_folder_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert json.loads(run(["calendar", "day", "2026-12-31", "--json"], capsys)[1])["working"] is False
    (tmp_path / "config.toml").write_text(
        '[calendar.overrides]\n"2026-12-31" = "working"\n', encoding="utf-8"
    )
    assert json.loads(run(["calendar", "day", "2026-12-31", "--json"], capsys)[1])["working"] is True
    # --config still wins.
    other = tmp_path / "other.toml"
    other.write_text("", encoding="utf-8")
    argv = ["calendar", "day", "2026-12-31", "--json", "--config", str(other)]
    assert json.loads(run(argv, capsys)[1])["working"] is False


def test_every_user_error_the_cli_maps_exists() -> None:
    """The CLI names the user errors of modules it imports lazily (bot/cli.py _USER_ERRORS): each must exist."""
    import importlib

    from bot import cli

    for module_name, class_name, _how in cli._USER_ERRORS:
        cls = getattr(importlib.import_module(module_name), class_name)
        assert isinstance(cls, type) and issubclass(cls, Exception), (module_name, class_name)


def test_version_imports_no_framework() -> None:
    """`otklik --version` builds the parsers only: aiogram, SQLAlchemy and pydantic stay unimported (issue 16)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('aiogram', 'sqlalchemy', 'pydantic', 'pydantic_settings', 'apscheduler')"
        " if m in sys.modules)\n"
        "print('heavy:' + ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "heavy:", done.stdout
