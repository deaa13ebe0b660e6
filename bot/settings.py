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

from channels.pos.import_file import FIELDS as IMPORT_FIELDS
from channels.pos.mail_parse import LabelPatterns, PatternError
from workflow.retention import RetentionPolicy
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
    # A stop lets the handlers in flight finish this long, then hands their updates back to the inbox; the
    # whole stop ends within this plus bot.shutdown.STOP_MARGIN_SECONDS (a watchdog ends the process then).
    stop_grace_seconds: float = Field(default=5.0, ge=0, le=60)


MAX_API_URL = "https://platform-api.max.ru"


class MessengerSettings(_Section):
    """The staff's messenger (issue 15): Telegram (`[telegram]`) or MAX (the keys below)."""

    kind: Literal["telegram", "max"] = "telegram"
    # The MAX bot's token (business.max.ru → the bot → «Интеграция»); better OTKLIK_MESSENGER__MAX_TOKEN.
    max_token: str = ""
    max_api_base: str = MAX_API_URL
    # MAX's own limit: 30 requests a second to the platform API (no per-chat rule is documented [?]).
    max_rate_limits: bool = True


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

    # --- issue 14: the weekly п.18 report (workflow/weekly.py) and each person's morning digest ---------------
    # The report of the past week to the head and the office head: on the week's first working day at this time.
    weekly_report: bool = True
    weekly_report_time: str = "09:00"
    # Each person's own terms due today and overdue, on working days at this time, only when there are some.
    morning: bool = True
    morning_time: str = "08:30"

    @field_validator("weekly_report_time", "morning_time")
    @classmethod
    def _report_hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"ожидается время ЧЧ:ММ, получено {value!r}")
        return value

    def weekly_report_at(self) -> time:
        return time.fromisoformat(self.weekly_report_time)

    def morning_at(self) -> time:
        return time.fromisoformat(self.morning_time)


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


# The citizens' MAX bot's token (issue 15 item 3), when it is not the staff's MAX bot.
MAX_CHANNEL_TOKEN_ENV = "OTKLIK_CHANNELS__MAX__TOKEN"


class MaxChannelSettings(_Section):
    """The administration's MAX bot as a citizens' channel (channels/max.py): a citizen's dialog with it (and
    the administration's MAX group, when named) becomes a case; the approved answer goes back as a reply.

    With `[messenger] kind = "max"` and no token here, the staff's MAX bot serves citizens too (whoever is not
    in the staff directory is a citizen); with the staff on Telegram, `token` names a MAX bot of its own."""

    enabled: bool = False
    token: str = ""  # a separate MAX bot for citizens; better OTKLIK_CHANNELS__MAX__TOKEN
    api_base: str = MAX_API_URL
    # A MAX group chat of the administration whose members' messages are cases (the bot must read it).
    group_id: int | None = Field(default=None, ge=-(2**63 - 1), le=-1)
    direct_messages: bool = True


# The ПОС mailbox's password (issue 12): kept out of config.toml.
POS_MAIL_PASSWORD_ENV = "OTKLIK_POS_MAIL_PASSWORD"


class PosMailSettings(_Section):
    """The mailbox ПОС notification e-mails arrive in, read over IMAP (channels/pos/mail.py)."""

    enabled: bool = False
    host: str = ""
    port: int = Field(default=993, ge=1, le=65535)
    tls: bool = True  # IMAP over TLS (port 993); false only for a server on this machine or the emulator
    user: str = ""
    password: str = ""  # OTKLIK_POS_MAIL_PASSWORD
    folder: str = "INBOX"
    interval_minutes: float = Field(default=5, gt=0, le=1440)
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # An attachment over this size is not kept with the message (the case says so).
    attachment_max_mb: float = Field(default=10, gt=0, le=100)
    # Mails read a poll at most (the rest the next poll).
    batch: int = Field(default=50, ge=1, le=1000)
    # Field → the label patterns (regular expressions) that start it: number, category, received, text,
    # author, phone, author_address, location, due. A field given here replaces its default list.
    labels: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        try:
            LabelPatterns.build(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value


# The OK secrets' environment variables (issue 12), as VK's.
OK_APP_SECRET_ENV = "OTKLIK_OK_APP_SECRET"
OK_ACCESS_TOKEN_ENV = "OTKLIK_OK_ACCESS_TOKEN"
OK_BOT_TOKEN_ENV = "OTKLIK_OK_BOT_TOKEN"
OK_WEBHOOK_SECRET_ENV = "OTKLIK_OK_WEBHOOK_SECRET"


class OkSettings(_Section):
    """An Odnoklassniki group (CHANNELS.md, OK): comments under its posts read by polling the REST API, its
    messages posted to our webhook by the Bot API; answers go back the same way."""

    enabled: bool = False
    group_id: str = Field(default="", pattern=r"^[0-9]{0,30}$")
    application_key: str = ""  # the registered application's public key (not a secret)
    application_secret: str = ""  # OTKLIK_OK_APP_SECRET
    access_token: str = ""  # an admin's long-lived token (GROUP_CONTENT, VALUABLE_ACCESS, LONG_ACCESS_TOKEN)
    bot_token: str = ""  # the group's Bot API key (group messages); OTKLIK_OK_BOT_TOKEN
    api_base: str = "https://api.ok.ru"
    poll_seconds: int = Field(default=60, ge=5, le=3600)
    reconcile_minutes: int = Field(default=15, ge=1, le=1440)
    health_minutes: int = Field(default=30, ge=1, le=1440)
    # The public address OK posts messages to (subscribed at start); empty: no messages, comments only.
    webhook_url: str = ""
    webhook_secret: str = ""  # added to the subscribed URL as ?secret=…; OTKLIK_OK_WEBHOOK_SECRET
    webhook_path: str = "/ok/webhook"
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=8082, ge=1, le=65535)

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("путь должен начинаться с «/»")
        return value


class ChannelsSettings(_Section):
    vk: VkSettings = Field(default_factory=VkSettings)
    telegram: TelegramChannelSettings = Field(default_factory=TelegramChannelSettings)
    max: MaxChannelSettings = Field(default_factory=MaxChannelSettings)  # issue 15 item 3
    pos_mail: PosMailSettings = Field(default_factory=PosMailSettings)
    ok: OkSettings = Field(default_factory=OkSettings)


class PosSettings(_Section):
    """ПОС: its category names → the term classes, and the export file's columns (issue 12)."""

    # «название категории ПОС» = "federal_fast" | "local_fast" | "other" (a key of [rules.pos_categories]);
    # checked against the rules' classes when the bot or an import starts (bot/domain_setup.pos_category_table).
    categories: dict[str, str] = Field(default_factory=dict)
    # field → the column's header as in the file; a field not named here is guessed from the header row.
    import_columns: dict[str, str] = Field(default_factory=dict)
    # More data rows than this in one file: refused as a whole (split the export by dates).
    import_max_rows: int = Field(default=20_000, ge=1, le=1_000_000)

    @field_validator("import_columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(IMPORT_FIELDS))
        if unknown:
            raise ValueError(
                f"неизвестные поля: {', '.join(unknown)} (известные: {', '.join(IMPORT_FIELDS)})"
            )
        return value


# --- issue 14, personal data (helper D) ----------------------------------------------------------------------
class RetentionSettings(_Section):
    # Months after a case's handling ended until its citizen's personal data are erased (workflow/retention.py);
    # the reasoning for the defaults is in config.example.toml.
    enabled: bool = True
    open_sources_months: int = Field(default=12, ge=1, le=1200)
    pos_months: int = Field(default=60, ge=1, le=1200)
    excluded_months: int = Field(default=3, ge=1, le=1200)

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            open_sources_months=self.open_sources_months,
            pos_months=self.pos_months,
            excluded_months=self.excluded_months,
            enabled=self.enabled,
        )


# --- [privacy]: citizens' personal data in a foreign staff messenger (issue 15 item 4) --------------------------
class PrivacySettings(_Section):
    # true: cards and notices in a foreign staff messenger (Telegram) show no author's identity (views/privacy.py);
    # the database, MAX, `otklik pd export` and the reports keep everything. false: as before, and `otklik check`
    # warns (149-ФЗ art. 10 part 8).
    mask_personal_data: bool = False


# --- [screening]: activity spikes and repeats (issue 13) ------------------------------------------------------


class ScreeningSettings(_Section):
    spike_threshold: int = Field(default=5, ge=2, le=1000)
    spike_window_minutes: int = Field(default=120, ge=5, le=1440)
    repeat_days: int = Field(default=30, ge=1, le=366)

    @field_validator("spike_threshold", "spike_window_minutes", "repeat_days", mode="before")
    @classmethod
    def _not_a_flag(cls, value: object) -> object:
        if isinstance(value, bool):  # pydantic would read true as 1
            raise ValueError("ожидается целое число")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OTKLIK_", env_nested_delimiter="__", extra="forbid")

    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    messenger: MessengerSettings = Field(default_factory=MessengerSettings)  # issue 15
    chats: ChatSettings = Field(default_factory=ChatSettings)
    units: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UNITS))
    staff: list[StaffMember] = Field(default_factory=list)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    pos: PosSettings = Field(default_factory=PosSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)  # issue 14 (helper D)
    screening: ScreeningSettings = Field(default_factory=ScreeningSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)  # issue 15 item 4
    rules: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _vk_secrets_from_environment(self) -> Settings:
        vk = self.channels.vk
        vk.token = os.environ.get(VK_TOKEN_ENV, vk.token)
        vk.service_key = os.environ.get(VK_SERVICE_KEY_ENV, vk.service_key)
        vk.callback_secret = os.environ.get(VK_CALLBACK_SECRET_ENV, vk.callback_secret)
        vk.confirmation = os.environ.get(VK_CONFIRMATION_ENV, vk.confirmation)
        mail = self.channels.pos_mail
        mail.password = os.environ.get(POS_MAIL_PASSWORD_ENV, mail.password)
        ok = self.channels.ok
        ok.application_secret = os.environ.get(OK_APP_SECRET_ENV, ok.application_secret)
        ok.access_token = os.environ.get(OK_ACCESS_TOKEN_ENV, ok.access_token)
        ok.bot_token = os.environ.get(OK_BOT_TOKEN_ENV, ok.bot_token)
        ok.webhook_secret = os.environ.get(OK_WEBHOOK_SECRET_ENV, ok.webhook_secret)
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
    def staff_messenger(self) -> str:
        """The staff messenger's kind (`[messenger] kind`): "telegram" (foreign: masking applies) or "max"."""
        return self.messenger.kind

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


def max_channel_problem(settings: Settings) -> str | None:
    """Why `[channels.max]` cannot run as configured, in one Russian line; None when it can (or is off)."""
    mx = settings.channels.max
    if not mx.enabled:
        return None
    if settings.messenger.kind == "max":
        chats = settings.chats
        staff_chats = {chats.intake, chats.region_curator, chats.pos_curator, chats.office_head, chats.head,
                       chats.coordinator, *chats.units.values()}  # fmt: skip
        if mx.group_id is not None and mx.group_id in staff_chats:
            # Every message there would be taken for a citizen's, and the staff's routers would not see it.
            return f"channels.max.group_id: {mx.group_id} — чат сотрудников из [chats], а не группа для граждан"
        if mx.token and mx.token != settings.messenger.max_token:
            # Both MAX bots would share the message-id map (a dialog is named by the user's id in both).
            return ('channels.max.token: при messenger.kind = "max" граждане пишут боту сотрудников; '
                    "отдельный бот MAX для граждан не поддерживается — уберите token")  # fmt: skip
        return None
    if not mx.token:
        return f"channels.max.token: не задан токен бота MAX для граждан (задайте {MAX_CHANNEL_TOKEN_ENV})"
    return None


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
