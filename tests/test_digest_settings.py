"""`[notify]`: the office head's digest is on at 09:00 by default, configurable, and a bad time is one Russian line."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_digest_is_on_at_nine_by_default_and_the_example_says_so() -> None:
    for settings in (load_settings(), load_settings(ROOT / "config.example.toml")):
        assert settings.notify.digest is True
        assert settings.notify.digest_at() == time(9, 0)


def test_the_digest_time_and_switch_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[notify]\ndigest = false\ndigest_time = "08:30"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.notify.digest is False and settings.notify.digest_at() == time(8, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[notify]\ndigest_time = "9"\n', "notify.digest_time: ожидается время ЧЧ:ММ, получено '9'"),
        ('[notify]\ndigest_time = "24:00"\n', "notify.digest_time: ожидается время ЧЧ:ММ, получено '24:00'"),
        ('[notify]\ndigest = "да"\n', "notify.digest: ожидается true или false"),
        (
            "[notify]\ndigests = true\n",
            "notify.digests: неизвестный ключ (проверьте написание по config.example.toml)",
        ),
    ],
)
def test_a_bad_notify_key_is_one_russian_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == f"{path}: {expected}"
