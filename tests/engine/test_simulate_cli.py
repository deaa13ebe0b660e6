"""`otklik simulate` refuses a bad scenario with exit code 2 and one Russian line naming the step, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main

REGISTER = """
[[step]]
at = "2026-12-01T09:40:00+07:00"
case = "A"
do = "register"
as = "operator"
text = "Яма на дороге"
"""


def step(at: str, do: str, role: str, extra: str = "") -> str:
    return f'\n[[step]]\nat = {at}\ncase = "A"\ndo = "{do}"\nas = "{role}"\n{extra}\n'


BAD = {
    "unknown-action": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "teleport", "operator"),
        ["шаг 2", "неизвестное действие", "teleport"],
    ),
    "lifecycle-refuses": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "publish", "operator"),
        ["шаг 2", "publish", "Действие недоступно в статусе «Новое»"],
    ),
    "wrong-role-for-action": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "route", "head", 'units = ["housing"]'),
        ["шаг 2", "Недостаточно прав"],
    ),
    "earlier-than-previous": (
        REGISTER
        + step('"2026-12-01T10:00:00+07:00"', "route", "operator", 'units = ["housing"]')
        + step('"2026-12-01T09:59:00+07:00"', "approve", "office_head"),
        ["шаг 3", "раньше предыдущего шага"],
    ),
    "naive-at-string": (
        REGISTER + step('"2026-12-01T10:00:00"', "route", "operator", 'units = ["housing"]'),
        ["шаг 2", "часовым поясом"],
    ),
    "naive-at-toml-datetime": (
        REGISTER + step("2026-12-01T10:00:00", "route", "operator", 'units = ["housing"]'),
        ["шаг 2", "часовым поясом"],
    ),
    "malformed-at": (
        REGISTER + step('"вчера"', "route", "operator", 'units = ["housing"]'),
        ["шаг 2", "ISO 8601"],
    ),
    "unknown-role": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "route", "mayor", 'units = ["housing"]'),
        ["шаг 2", "неизвестная роль", "mayor"],
    ),
    "unknown-unit": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "route", "operator", 'units = ["police"]'),
        ["шаг 2", "Неизвестное подразделение: police"],
    ),
    "unit-not-a-string": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "info", "unit_official", 'unit = ["housing"]'),
        ["шаг 2", "unit должно быть строкой"],
    ),
    "pos-category-not-a-string": (
        REGISTER.replace('as = "operator"', 'as = "pos_curator"\nprocedure = "pos"\ncategory = ["other"]'),
        ["шаг 1", "category должно быть строкой"],
    ),
    "unregistered-case": (
        step('"2026-12-01T10:00:00+07:00"', "route", "operator", 'units = ["housing"]'),
        ["шаг 1", "ещё не зарегистрировано"],
    ),
    "repeat-of-unknown-label": (
        REGISTER
        + step('"2026-12-01T10:00:00+07:00"', "repeat", "operator", 'repeat_of = "Z"').replace(
            'case = "A"\ndo = "repeat"', 'case = "B"\ndo = "repeat"'
        ),
        ["шаг 2", "repeat_of"],
    ),
    "unknown-field": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "route", "operator", 'units = ["housing"]\nwhen = 1'),
        ["шаг 2", "неизвестные поля: when"],
    ),
    "missing-field": (REGISTER.replace('do = "register"\n', ""), ["шаг 1", "'do'"]),
    "broken-toml": (REGISTER + "\n[[step]\nat = ", ["не читается как TOML"]),
    "no-steps": ('title = "пусто"\n', ["нет ни одного шага"]),
}


def _check_refusal(code: int, err: str, words: list[str]) -> None:
    assert code == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("otklik: ошибка: ")
    assert "Traceback" not in err
    for word in words:
        assert word in err


@pytest.mark.parametrize("name", list(BAD))
def test_bad_scenario_is_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, words = BAD[name]
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(text, encoding="utf-8")
    code = main(["simulate", str(scenario)])
    _out, err = capsys.readouterr()
    _check_refusal(code, err, words)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(tmp_path / "нет.toml"), "--json"])
    _out, err = capsys.readouterr()
    _check_refusal(code, err, ["файл сценария не найден", "нет.toml"])


def test_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "cp1251.toml"
    scenario.write_bytes(REGISTER.encode("cp1251"))
    code = main(["simulate", str(scenario)])
    _out, err = capsys.readouterr()
    _check_refusal(code, err, ["не читается как TOML"])


def test_a_refusal_prints_no_partial_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(BAD["lifecycle-refuses"][0], encoding="utf-8")
    assert main(["simulate", str(scenario), "--json"]) == 2
    out, _err = capsys.readouterr()
    assert out == ""
