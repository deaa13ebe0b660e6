"""The hand-over link book (channels/links.py) from the settings: which networks this district connected."""

from __future__ import annotations

from bot.settings import Settings
from channels.links import LinkBook
from workflow.model import Network


def link_book(settings: Settings) -> LinkBook:
    """Connected: VK when its community is read, Telegram when the channel's comments are (issue 11), OK when
    its group is (issue 12)."""
    channels = settings.channels
    connected = {Network.VK} if channels.vk.enabled else set()
    if channels.ok.enabled:
        connected.add(Network.OK)
    telegram = channels.telegram
    if telegram.enabled:
        connected.add(Network.TELEGRAM)
    username = telegram.username.removeprefix("@").lower()
    return LinkBook(
        connected=frozenset(connected),
        telegram_usernames=frozenset({username}) if username else frozenset(),
        telegram_channel_id=telegram.channel_id,
        telegram_group_id=telegram.group_id,
    )
