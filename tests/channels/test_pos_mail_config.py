"""[channels.pos_mail] and [pos] categories: read from config.toml and the environment, a bad value one Russian
line at start; `otklik check`'s ПОС mailbox line against the IMAP emulator; the scheduler's poll job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.check import Level, pos_mail_findings
from bot.domain_setup import build_rules
from bot.scheduler import build_scheduler
from bot.settings import ConfigError, Settings, load_settings
from emulators.imap import ImapEmulator

USER, PASSWORD = "pos@nsk.example", "s3cret"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_mailbox_and_the_category_table_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTKLIK_POS_MAIL_PASSWORD", "из-окружения")
    path = write(tmp_path, (
        '[channels.pos_mail]\nenabled = true\nhost = "imap.example.ru"\nuser = "pos@example.ru"\n'
        'folder = "ПОС"\ninterval_minutes = 2\n[channels.pos_mail.labels]\nphone = ["Контактный телефон"]\n'
        '[pos]\ncategories = { "Дороги" = "local_fast", "ЖКХ" = "federal_fast" }\n'
    ))  # fmt: skip
    settings = load_settings(path)
    mail = settings.channels.pos_mail
    assert (mail.host, mail.port, mail.tls, mail.folder, mail.password) == (
        "imap.example.ru", 993, True, "ПОС", "из-окружения"
    )  # fmt: skip
    assert mail.labels == {"phone": ["Контактный телефон"]}
    assert settings.pos.categories["ЖКХ"] == "federal_fast"
    build_rules(settings)  # the table's classes exist


def test_a_category_table_naming_no_class_is_one_line_at_start(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, '[pos]\ncategories = { "Дороги" = "fast" }\n'))
    with pytest.raises(ConfigError) as caught:
        build_rules(settings)
    assert str(caught.value) == (
        "pos.categories.'Дороги': неизвестный класс сроков 'fast' (допустимые: federal_fast, local_fast, other)"
    )


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            'phone = ["Телефон("]',
            "channels.pos_mail.labels: phone: подпись не является регулярным выражением",
        ),
        ('fax = ["Факс"]', "channels.pos_mail.labels: неизвестное поле «fax»"),
        ("text = []", "channels.pos_mail.labels: text: пустой список подписей"),
    ],
)
def test_a_bad_label_pattern_is_one_line(tmp_path: Path, labels: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, f"[channels.pos_mail.labels]\n{labels}\n"))
    assert str(caught.value).startswith(f"{tmp_path / 'config.toml'}: {expected}")
    assert "\n" not in str(caught.value)


@pytest.fixture
async def emu() -> AsyncIterator[ImapEmulator]:
    emulator = ImapEmulator(USER, PASSWORD, ("INBOX",))
    await emulator.start()
    yield emulator
    await emulator.stop()


def mail_settings(emu: ImapEmulator, **kw: object) -> Settings:
    values: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": emu.port, "tls": False,
                                 "user": USER, "password": PASSWORD, **kw}  # fmt: skip
    return Settings.model_validate({"channels": {"pos_mail": values}})


async def test_check_says_the_login_works_and_the_folder_exists(emu: ImapEmulator) -> None:
    [found] = await pos_mail_findings(mail_settings(emu))
    assert found.level is Level.OK
    assert found.text == "почта ПОС (pos@nsk.example): вход выполнен, папка «INBOX» есть, писем в ней: 0"
    [wrong] = await pos_mail_findings(mail_settings(emu, password="нет"))
    assert wrong.level is Level.FAIL and "не принял вход пользователя pos@nsk.example" in wrong.text
    [folder] = await pos_mail_findings(mail_settings(emu, folder="Архив"))
    assert folder.level is Level.FAIL and "папки «Архив» нет" in folder.text
    [missing] = await pos_mail_findings(mail_settings(emu, password=""))
    assert (
        missing.text
        == "channels.pos_mail.password: не задан пароль почтового ящика ПОС (OTKLIK_POS_MAIL_PASSWORD)"
    )
    [down] = await pos_mail_findings(mail_settings(emu, port=9))
    assert down.level is Level.FAIL and "нет соединения с почтовым сервером 127.0.0.1:9" in down.text
    assert await pos_mail_findings(Settings()) == []  # not enabled: nothing to say


async def test_the_scheduler_polls_the_mailbox_at_its_interval() -> None:
    async def nothing() -> None:
        return None

    scheduler = build_scheduler(sweep=nothing, sweep_seconds=30, pos_mail=nothing, pos_mail_seconds=120)
    job = scheduler.get_job("pos_mail")
    assert job is not None and job.trigger.interval.total_seconds() == 120
    assert build_scheduler(sweep=nothing, sweep_seconds=30).get_job("pos_mail") is None
