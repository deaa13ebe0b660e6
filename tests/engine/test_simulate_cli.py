"""`otklik simulate` refuses a bad scenario with exit code 2 and one Russian line naming the step, no traceback."""

from __future__ import annotations

import json
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
    "detected-at-in-the-future": (
        REGISTER + 'detected_at = "2026-12-01T09:45:00+07:00"\n',
        ["шаг 1", "Время выявления ЦУР не может быть позже текущего момента"],
    ),
    "detected-at-without-a-zone": (
        REGISTER + "detected_at = 2026-12-01T09:00:00\n",
        ["шаг 1", "Время выявления ЦУР: укажите часовой пояс"],
    ),
    "detected-at-malformed": (REGISTER + 'detected_at = "утром"\n', ["шаг 1", "detected_at", "ISO 8601"]),
    "order-names-a-unit-not-routed": (
        REGISTER
        + step('"2026-12-01T10:00:00+07:00"', "route", "operator", 'units = ["housing", "social"]')
        + step('"2026-12-01T10:10:00+07:00"', "approve", "office_head", 'order = ["social", "culture"]'),
        ["шаг 3", "В очерёдности указано подразделение, в которое сообщение не направляется"],
    ),
    "pos-due-before-the-arrival": (
        REGISTER.replace('as = "operator"', 'as = "pos_curator"\nprocedure = "pos"\ncategory = "other"')
        + "pos_due = 2026-11-30\n",
        ["шаг 1", "Срок ответа по данным ПОС не может быть раньше даты поступления сообщения"],
    ),
    "confirm-not-a-flag": (
        REGISTER + step('"2026-12-01T10:00:00+07:00"', "publish", "operator", 'confirm = "да"'),
        ["шаг 2", "confirm должно быть true или false"],
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


SEMANTICS = """
[[step]]
at = "2026-12-01T11:40:00+07:00"
case = "A"
do = "register"
as = "operator"
source = "region_curator"
detected_at = 2026-12-01T09:40:00+07:00
text = "Передано куратором ЦУР: яма на дороге"

[[step]]
at = "2026-12-01T11:45:00+07:00"
case = "A"
do = "route"
as = "operator"
units = ["housing", "social"]
order = ["social", "housing"]

[[step]]
at = "2026-12-01T11:50:00+07:00"
case = "A"
do = "approve"
as = "office_head"

[[step]]
at = "2026-12-01T12:00:00+07:00"
case = "A"
do = "info"
as = "unit_official"
unit = "social"
text = "Информация соцзащиты"

[[step]]
at = "2026-12-01T12:10:00+07:00"
case = "A"
do = "submit"
as = "operator"
text = "Проект"

[[step]]
at = "2026-12-01T12:20:00+07:00"
case = "A"
do = "approve"
as = "region_curator"

[[step]]
at = "2026-12-01T12:30:00+07:00"
case = "A"
do = "publish"
as = "operator"
confirm = true

[[step]]
at = "2026-11-02T17:30:00+07:00"
case = "P"
do = "register"
as = "pos_curator"
procedure = "pos"
category = "other"
pos_due = 2026-11-16
"""


def test_simulate_takes_detected_at_order_confirm_and_pos_due(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """T0 of the hand-over is 09:40 (os.route missed at 10:40, alerted at once on the 11:40 registration);
    os.return is never mentioned; the order starts social first, housing on social's information; the
    publication confirmed without housing's information tells housing; the region curator hears of it."""
    scenario = tmp_path / "semantics.toml"
    # The ПОС case first in time: steps must not go back in time.
    text = SEMANTICS.split("[[step]]")
    ordered = "[[step]]".join([text[0], text[-1], *text[1:-1]])
    scenario.write_text(ordered, encoding="utf-8")
    assert main(["simulate", str(scenario), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = [json.loads(x) for x in out.splitlines()]
    notes = [(x["case"], x["kind"], x["term"], x["to"], x["unit"]) for x in lines if x["type"] == "notify"]
    assert not [n for n in notes if n[2] == "os.return"]
    assert [n for n in notes if n[1] == "missed" and n[2] == "os.route"] == [
        ("A", "missed", "os.route", "operator", None),
        ("A", "missed", "os.route", "region_curator", None),
        ("A", "missed", "os.route", "office_head", None),
    ]
    assert [n[4] for n in notes if n[1] == "turn"] == ["housing"]
    assert ("A", "published_without_info", None, "unit_official", "housing") in notes
    assert ("A", "answer_published", None, "region_curator", None) in notes
    # pos_due 16.11 caps pos.answer: its miss falls on 16.11 at 18:00, not on the Порядок's 23.11.
    [answer_missed] = {x["at"] for x in lines if x.get("kind") == "missed" and x["term"] == "pos.answer"}
    assert answer_missed == "2026-11-16T18:00:00+07:00"
