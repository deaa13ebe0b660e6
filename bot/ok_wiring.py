"""Odnoklassniki's part of the composition root (bot/app.py) and of `otklik check` (bot/check.py), built from
`[channels.ok]`: the comment feed with its sweep, the publisher, the webhook route and its subscription, and
the check's findings. Apart from app.py so that file only names them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.settings import (
    OK_ACCESS_TOKEN_ENV,
    OK_APP_SECRET_ENV,
    OK_BOT_TOKEN_ENV,
    ConfigError,
    OkSettings,
    Settings,
)
from channels.ok import (
    OkApi,
    OkBot,
    OkComments,
    OkError,
    OkMessagesOnly,
    OkPublisher,
    OkUnanswered,
    keep_alive,
)

log = logging.getLogger(__name__)


@dataclass
class OkParts:
    settings: OkSettings
    api: OkApi | None  # comments (the REST API); None: not configured
    bot: OkBot | None  # messages (the Bot API); None: not configured
    comments: OkComments | None

    @property
    def source(self) -> OkComments | OkMessagesOnly:
        """The channel's source: the comment feed, or (messages only) just the parser of the webhook's."""
        return self.comments if self.comments is not None else OkMessagesOnly(self.settings.group_id)

    async def close(self) -> None:
        for client in (self.api, self.bot):
            if client is not None:
                await client.close()

    def publisher(self) -> OkPublisher:
        return OkPublisher(self.settings.group_id, self.api, self.bot)

    def subscribed_url(self) -> str:
        ok = self.settings
        if not ok.webhook_secret:
            return ok.webhook_url
        joiner = "&" if "?" in ok.webhook_url else "?"
        return f"{ok.webhook_url}{joiner}secret={ok.webhook_secret}"

    async def subscribe(self) -> None:
        """Ask OK to post the group's messages to our webhook (again at every start: a key issued anew or 8 h
        of failed deliveries drop the subscription). A refusal is one log line: comments go on."""
        if self.bot is None or not self.settings.webhook_url:
            return
        try:
            await self.bot.subscribe(self.subscribed_url())
        except OkError as exc:
            log.warning("Одноклассники: подписка webhook не оформлена: %s (код %d)", exc.reason, exc.code)
        except OkUnanswered as exc:
            log.warning("Одноклассники: подписка webhook не оформлена: нет ответа (%s)", exc)
        else:
            log.info("Одноклассники: сообщения группы приходят на %s", self.settings.webhook_url)


def ok_parts(settings: Settings) -> OkParts | None:
    """`[channels.ok]` as clients; None when off. A missing setting is one Russian line (ConfigError)."""
    ok = settings.channels.ok
    if not ok.enabled:
        return None
    if not ok.group_id:
        raise ConfigError("channels.ok.group_id: не указан номер группы в Одноклассниках")
    comments_on = bool(ok.application_key or ok.application_secret or ok.access_token)
    if comments_on and not (ok.application_key and ok.application_secret and ok.access_token):
        raise ConfigError(
            "channels.ok: для комментариев нужны application_key, секрет приложения "
            f"({OK_APP_SECRET_ENV}) и токен администратора ({OK_ACCESS_TOKEN_ENV})"
        )
    if ok.webhook_url and not ok.bot_token:
        raise ConfigError(f"channels.ok.bot_token: не задан ключ Bot API группы ({OK_BOT_TOKEN_ENV})")
    if not comments_on and not ok.bot_token:
        raise ConfigError("channels.ok: не заданы ни ключи для комментариев, ни ключ Bot API для сообщений")
    api = (
        OkApi(ok.application_key, ok.application_secret, ok.access_token, base_url=ok.api_base)
        if comments_on
        else None
    )
    bot = OkBot(ok.bot_token, base_url=ok.api_base) if ok.bot_token else None
    comments = OkComments(api, ok.group_id, interval=ok.poll_seconds) if api is not None else None
    return OkParts(ok, api, bot, comments)


async def ok_findings(settings: Settings) -> list[tuple[str, str]]:
    """(level, text) lines of `otklik check` for OK: a REST call (it also renews the long-lived token)."""
    try:
        parts = ok_parts(settings)
    except ConfigError as exc:
        return [("fail", str(exc))]
    if parts is None:
        return []
    found: list[tuple[str, str]] = []
    try:
        if parts.api is not None:
            try:
                who = await keep_alive(parts.api)
            except OkError as exc:
                found.append(("fail", f"Одноклассники: {exc.reason} (код {exc.code})"))
            except OkUnanswered as exc:
                found.append(("fail", f"Одноклассники: API не отвечает ({parts.settings.api_base}): {exc}"))
            else:
                found.append(
                    ("ok", f"Одноклассники: токен администратора действует ({who}); продлён этим вызовом")
                )
        else:
            found.append(("warn", "Одноклассники: комментарии не читаются (не заданы ключи REST API)"))
        if parts.bot is None or not parts.settings.webhook_url:
            found.append(
                (
                    "warn",
                    "Одноклассники: сообщения группы не принимаются (не задан webhook_url и ключ Bot API)",
                )
            )
    finally:
        await parts.close()
    return found
