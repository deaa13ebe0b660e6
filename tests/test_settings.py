"""config.toml: defaults, environment overrides for secrets, and one Russian line per broken key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.directory import Directory
from bot.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_loads_and_equals_the_defaults() -> None:
    example = load_settings(ROOT / "config.example.toml")
    defaults = load_settings()
    assert example.model_dump() == defaults.model_dump()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[telegram]\ntoken = "1:from-file"\n', encoding="utf-8")
    monkeypatch.setenv("OTKLIK_TELEGRAM__TOKEN", "1:from-env")
    assert load_settings(path).telegram.token == "1:from-env"


def test_relative_paths_are_read_from_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[calendar]\ndata_dir = "cal"\n', encoding="utf-8")
    assert load_settings(path).resolve("cal") == tmp_path / "cal"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[telegram]\nmode = "push"\n', "telegram.mode: допустимые значения: 'polling' или 'webhook'"),
        (
            '[calendar.week]\nmon = { start = "9", end = "18:00" }\n',
            "calendar.week.mon.start: ожидается время ЧЧ:ММ",
        ),
        ("[calendar.week]\nholiday = {}\n", "calendar.week: неизвестные дни недели: holiday"),
        (
            '[calendar.overrides]\n2026-07-15 = "maybe"\n',
            "calendar.overrides.2026-07-15: допустимые значения",
        ),
        ("[bogus]\nx = 1\n", "bogus: неизвестный ключ"),
        ('[[staff]]\nroles = ["operator"]\n', "staff.0.telegram_id: обязательный ключ не указан"),
        ("[scheduler]\nsweep_seconds = 0\n", "scheduler.sweep_seconds: слишком маленькое значение"),
        ("[database\n", "не читается как TOML"),
        ("[screening]\nspike_threshold = 1\n", "screening.spike_threshold: слишком маленькое значение"),
        (
            "[screening]\nspike_window_minutes = 5000\n",
            "screening.spike_window_minutes: слишком большое значение",
        ),
        ('[screening]\nrepeat_days = "месяц"\n', "screening.repeat_days: ожидается целое число"),
        ("[screening]\nrepeat_days = true\n", "screening.repeat_days: ожидается целое число"),
    ],
)
def test_a_broken_key_is_named_in_one_russian_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="файл настроек не найден"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[staff]]\ntelegram_id = 1\nroles = ["boss"]\n', "staff[0].roles: неизвестная роль"),
        ("[[staff]]\ntelegram_id = 1\nroles = []\n", "staff[0].roles: укажите хотя бы одну роль"),
        (
            '[[staff]]\ntelegram_id = 1\nroles = ["unit_official"]\nunits = ["mars"]\n',
            "неизвестные подразделения: mars",
        ),
        (
            '[[staff]]\ntelegram_id = 1\nroles = ["operator"]\n[[staff]]\ntelegram_id = 1\nroles = ["head"]\n',
            "staff[1].telegram_id: сотрудник 1 указан дважды",
        ),
        ("[chats.units]\nmars = -100\n", "chats.units: неизвестные подразделения: mars"),
    ],
)
def test_staff_and_chats_are_checked_against_roles_and_units(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        Directory.from_settings(load_settings(path))
