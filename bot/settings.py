"""Settings: `config.toml` read by pydantic-settings, with environment overrides for secrets.

`OTKLIK_TELEGRAM__TOKEN=...` overrides `[telegram] token`, and so on for every key (prefix `OTKLIK_`, nested
keys joined by `__`). Environment beats the file; the file beats the built-in defaults. The `[rules]` table is
passed through as a mapping and validated by `workflow.rules`, which knows its shape.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from workflow.rules import DEFAULT_UNITS

_config_path: ContextVar[Path | None] = ContextVar("otklik_config_path", default=None)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ConfigError(Exception):
    """A broken config file: one line naming the key and what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DayHours(_Section):
    start: str = "09:00"
    end: str = "18:00"
    # Empty: no lunch break on that day.
    lunch: tuple[str, str] | tuple[()] = ()

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"ожидается время ЧЧ:ММ, получено {value!r}")
        return value

    @field_validator("lunch")
    @classmethod
    def _lunch(cls, value: tuple[str, str] | tuple[()]) -> tuple[str, str] | tuple[()]:
        for part in value:
            cls._hhmm(part)
        return value

    def times(self) -> tuple[time, time, time | None, time | None]:
        start, end = time.fromisoformat(self.start), time.fromisoformat(self.end)
        if not self.lunch:
            return start, end, None, None
        return start, end, time.fromisoformat(self.lunch[0]), time.fromisoformat(self.lunch[1])


def _default_week() -> dict[str, DayHours | None]:
    weekday = DayHours(lunch=("13:00", "14:00"))
    return {day: (weekday if day not in ("sat", "sun") else None) for day in WEEKDAYS}


class CalendarSettings(_Section):
    timezone: str = "Asia/Novosibirsk"
    # Directory with ru-YYYY.xml files imported by `otklik calendar import`; they win over the shipped years.
    data_dir: str = "calendar"
    files: list[str] = Field(default_factory=list)
    week: dict[str, DayHours | None] = Field(default_factory=_default_week)
    # Local decisions: "YYYY-MM-DD" = "off" | "working" | "short".
    overrides: dict[date, Literal["off", "working", "short"]] = Field(default_factory=dict)

    @field_validator("week")
    @classmethod
    def _known_days(cls, value: dict[str, DayHours | None]) -> dict[str, DayHours | None]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"неизвестные дни недели: {', '.join(sorted(unknown))} (нужно mon…sun)")
        return {**_default_week(), **value}


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///otklik.sqlite3"


class TelegramSettings(_Section):
    token: str = ""
    api_base: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    rate_limits: bool = True
    # Updates handled at once (bot/polling.py): one chat's one at a time, in order; different chats in parallel.
    workers: int = Field(default=4, ge=1, le=64)
    # A stop lets the handlers in flight finish this long, then hands their updates back to the inbox.
    stop_grace_seconds: float = Field(default=5.0, ge=0, le=60)


class ChatSettings(_Section):
    intake: int | None = None
    region_curator: int | None = None
    pos_curator: int | None = None
    office_head: int | None = None
    head: int | None = None
    coordinator: int | None = None
    units: dict[str, int] = Field(default_factory=dict)


class StaffMember(_Section):
    telegram_id: int
    name: str = ""
    roles: list[str]
    units: list[str] = Field(default_factory=list)


class SchedulerSettings(_Section):
    sweep_seconds: int = Field(default=30, ge=1, le=3600)
    outbox_seconds: float = Field(default=2.0, gt=0, le=600)
    # Handled updates are kept in the inbox this many days (a daily job deletes older ones).
    inbox_retention_days: int = Field(default=7, ge=1, le=3650)


class NotifySettings(_Section):
    # The office head's daily digest (workflow/digest.py): on working days at this local time; false: none.
    digest: bool = True
    digest_time: str = "09:00"

    @field_validator("digest_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"ожидается время ЧЧ:ММ, получено {value!r}")
        return value

    def digest_at(self) -> time:
        return time.fromisoformat(self.digest_time)


# The VK secrets' own environment variables (issue 11): shorter than OTKLIK_CHANNELS__VK__TOKEN, which works too.
VK_TOKEN_ENV = "OTKLIK_VK_TOKEN"
VK_SERVICE_KEY_ENV = "OTKLIK_VK_SERVICE_KEY"
VK_CALLBACK_SECRET_ENV = "OTKLIK_VK_CALLBACK_SECRET"
VK_CONFIRMATION_ENV = "OTKLIK_VK_CONFIRMATION"


class VkSettings(_Section):
    """A VK community read by Bots Long Poll (CHANNELS.md, VK): comments and messages become cases."""

    enabled: bool = False
    group_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    token: str = ""  # the community token (wall comments' and messages' long poll); OTKLIK_VK_TOKEN
    service_key: str = ""  # the application's service key (the reconciliation sweep); OTKLIK_VK_SERVICE_KEY
    api_base: str = "https://api.vk.com"
    reconcile_minutes: int = Field(default=15, ge=1, le=1440)
    wait_seconds: int = Field(default=25, ge=1, le=90)
    # "callback": VK posts events to Otklik's web server instead of Otklik reading the long poll.
    mode: Literal["longpoll", "callback"] = "longpoll"
    callback_secret: str = ""  # the «Секретный ключ» of the Callback API settings; OTKLIK_VK_CALLBACK_SECRET
    confirmation: str = ""  # the string the server must answer to the confirmation; OTKLIK_VK_CONFIRMATION
    # Where the Callback API route listens (with [telegram] mode = "webhook" it is that server's route instead).
    callback_path: str = "/vk/callback"
    callback_host: str = "127.0.0.1"
    callback_port: int = Field(default=8081, ge=1, le=65535)
    # A channel not read successfully this long alerts the office head (and again when reading resumes).
    health_minutes: int = Field(default=10, ge=1, le=1440)
    # Photos and documents (signed URLs that expire) are fetched when the item is taken in and kept.
    attachments: bool = True
    attachment_max_mb: int = Field(default=20, ge=1, le=50)
    attachment_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("callback_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("путь должен начинаться с «/»")
        return value


class TelegramChannelSettings(_Section):
    """The district's Telegram channel (CHANNELS.md, Telegram): comments in its discussion group, and direct
    messages to the bot, become cases; approved answers go back as replies."""

    enabled: bool = False
    # The channel (-100…): `otklik check` verifies that its linked discussion group is `group_id`.
    channel_id: int | None = Field(default=None, ge=-(2**63 - 1), le=-1)
    # The discussion group where comments are written; the bot must be its administrator to see them.
    group_id: int | None = Field(default=None, ge=-(2**63 - 1), le=-1)
    # The channel's public name: a ЦУР hand-over's t.me/<username>/<post>?comment=<id> link finds its comment.
    username: str = ""
    # Citizens' direct messages to the bot are taken in too (each gets an acknowledgement with its number).
    direct_messages: bool = True

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if value and not re.fullmatch(r"@?[A-Za-z][A-Za-z0-9_]{3,31}", value):
            raise ValueError("ожидается имя канала, например rayon_official (без ссылки)")
        return value


class ChannelsSettings(_Section):
    vk: VkSettings = Field(default_factory=VkSettings)
    telegram: TelegramChannelSettings = Field(default_factory=TelegramChannelSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OTKLIK_", env_nested_delimiter="__", extra="forbid")

    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    chats: ChatSettings = Field(default_factory=ChatSettings)
    units: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UNITS))
    staff: list[StaffMember] = Field(default_factory=list)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    rules: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _vk_secrets_from_environment(self) -> Settings:
        vk = self.channels.vk
        vk.token = os.environ.get(VK_TOKEN_ENV, vk.token)
        vk.service_key = os.environ.get(VK_SERVICE_KEY_ENV, vk.service_key)
        vk.callback_secret = os.environ.get(VK_CALLBACK_SECRET_ENV, vk.callback_secret)
        vk.confirmation = os.environ.get(VK_CONFIRMATION_ENV, vk.confirmation)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # The folder of the config file: relative paths in config are read from there.
    _config_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def config_dir(self) -> Path:
        return self._config_dir

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path read from the config file's folder."""
        url = self.database.url
        prefix = "sqlite+aiosqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url

    def resolve(self, relative: str) -> Path:
        """A path from config, relative to the config file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.config_dir / path


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings from `path` (or the defaults alone when None); ConfigError with one line on any problem."""
    config_path = Path(path) if path is not None else None
    if config_path is not None:
        if not config_path.is_file():
            raise ConfigError(f"файл настроек не найден: {config_path}")
        try:
            tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path}: не читается как TOML: {exc}") from None
    # The TOML source needs the path while the class builds its sources; a context variable passes it there.
    token = _config_path.set(config_path.resolve() if config_path is not None else None)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        where = f"{config_path}: " if config_path is not None else ""
        raise ConfigError(f"{where}{key}: {_russian(first)}") from None
    finally:
        _config_path.reset(token)
    if config_path is not None:
        settings._config_dir = config_path.resolve().parent
    return settings


# pydantic's messages are English; an administrator reading config errors gets the common ones in Russian.
_MESSAGES = {
    "missing": "обязательный ключ не указан",
    "extra_forbidden": "неизвестный ключ (проверьте написание по config.example.toml)",
    "string_type": "ожидается строка в кавычках",
    "int_type": "ожидается целое число",
    "int_parsing": "ожидается целое число",
    "float_parsing": "ожидается число",
    "bool_parsing": "ожидается true или false",
    "bool_type": "ожидается true или false",
    "list_type": "ожидается список [..]",
    "dict_type": "ожидается таблица",
    "model_type": "ожидается таблица",
    "date_from_datetime_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "date_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "greater_than_equal": "слишком маленькое значение",
    "greater_than": "слишком маленькое значение",
    "less_than_equal": "слишком большое значение",
}


def _russian(error: Any) -> str:
    kind = error.get("type", "")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"допустимые значения: {str(expected).replace(' or ', ' или ')}"
    if kind == "value_error":
        # Our own validators already speak Russian; pydantic prefixes them with "Value error, ".
        return str(error.get("msg", "")).removeprefix("Value error, ")
    return _MESSAGES.get(kind, str(error.get("msg", "")))
