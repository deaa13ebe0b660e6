"""Links to network items → the natural keys the channels store them under (CHANNELS.md, ЦУР).

A ЦУР curator hands an item over by forwarding the IM card or pasting the link to the post or comment. The
channels register what they take in under their own keys (channels/vk.py, channels/telegram.py, the OK client):
VK comment "{owner_id}_{comment_id}", OK comment "{topic_id}:{comment_id}", Telegram "{chat_id}:{message_id}".
Parsing the link into the same key is what lets a hand-over find the case already taken in, instead of making
a second case with a second set of terms.

Pure: no network, no clock. Anything that is not a well-formed link to one of п.4's networks is None; a link
to a post (not a comment) is recognised with `key=None`: Otklik does not take posts in, so nothing to find.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from workflow.model import Network, parse_id

# Longer is no link anyone pastes; the text around it may be long, only this much of one URL is read.
MAX_URL = 2048
# A link in free text: ASCII only (it ends at the first letter of Russian text that follows it without a space),
# and the host whole, so «javascript:», «vk.com.evil.ru», «xn--vk» never match.
_URL = re.compile(
    r"https?://(?:www\.|m\.)?(?:vk\.com|vk\.ru|ok\.ru|t\.me|telegram\.me)(?![\w.:@-])[!#-&(-;=?-~]*",
    re.IGNORECASE,
)
_HOSTS = {
    "vk.com": Network.VK,
    "vk.ru": Network.VK,
    "ok.ru": Network.OK,
    "t.me": Network.TELEGRAM,
    "telegram.me": Network.TELEGRAM,
}
# wall-123_456 (a post), wall-123_456_r789 (the ?w= form of a reply): owner ids are negative for communities.
_VK_WALL = re.compile(r"wall(-?[0-9]{1,19})_([0-9]{1,19})(?:_r([0-9]{1,19}))?")
_OK_TOPIC = re.compile(r"/(?:group|profile)/([0-9]{1,19})/topic/([0-9]{1,19})/?")
_TG_PUBLIC = re.compile(r"/(?:s/)?([A-Za-z][A-Za-z0-9_]{3,31})/([0-9]{1,19})/?")
_TG_INTERNAL = re.compile(r"/c/([0-9]{1,19})/(?:([0-9]{1,19})/)?([0-9]{1,19})/?")


@dataclass(frozen=True, slots=True)
class LinkBook:
    """What the district connected: which networks Otklik reads, and the Telegram channel's names and ids.

    A Telegram comment link names the channel (t.me/<username>/<post>?comment=<id>), while the comment is stored
    under the discussion group's chat id: only the configuration joins the two.
    """

    connected: frozenset[Network] = frozenset()
    telegram_usernames: frozenset[str] = frozenset()  # lower case, without «@»
    telegram_channel_id: int | None = None  # -100…
    telegram_group_id: int | None = None  # the discussion group, -100…


@dataclass(frozen=True, slots=True)
class ItemLink:
    """A recognised link: its network, the natural key of the item (None: a post, or not our channel), the URL."""

    network: Network
    key: str | None
    url: str

    def connected(self, book: LinkBook) -> bool:
        return self.network in book.connected


def links_in(text: str, book: LinkBook) -> ItemLink | None:
    """The first link to a VK, OK or Telegram item in the text: a comment's key where there is one."""
    first: ItemLink | None = None
    for found in _URL.finditer(text):
        url = found.group(0).rstrip(".,;:!?)")
        link = parse_link(url, book)
        if link is None:
            continue
        if link.key is not None:
            return link  # a comment's link wins over a post's link in the same card
        first = first or link
    return first


def parse_link(url: str, book: LinkBook) -> ItemLink | None:
    """One URL → the item it points at; None when it is no link to one of п.4's networks."""
    if len(url) > MAX_URL or not url.isascii():
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:  # a bracketed «host» urlsplit refuses
        return None
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password or parts.port:
        return None
    host = host.removeprefix("www.").removeprefix("m.")
    network = _HOSTS.get(host)
    if network is None:
        return None
    try:
        query = parse_qs(parts.query, max_num_fields=20)
    except ValueError:  # more fields than any real link has
        return None
    if network is Network.VK:
        key = _vk_key(parts.path, query)
    elif network is Network.OK:
        key = _ok_key(parts.path, query)
    else:
        key = _telegram_key(parts.path, query, book)
    return ItemLink(network=network, key=key, url=url)


def _one_id(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    return parse_id(values[0]) if values else None


def _vk_key(path: str, query: dict[str, list[str]]) -> str | None:
    """vk.com/wall-1_2?reply=3[&thread=…], vk.com/club1?w=wall-1_2_r3, vk.com/wall-1_2 (a post: None)."""
    wall = query.get("w", [""])[0] if "w" in query else path.lstrip("/")
    found = _VK_WALL.fullmatch(wall)
    if found is None:
        return None
    owner_raw, post_raw, reply_raw = found.groups()
    owner = parse_id(owner_raw.removeprefix("-"))
    if owner is None or parse_id(post_raw) is None:
        return None
    reply = parse_id(reply_raw) if reply_raw else _one_id(query, "reply")
    if reply is None:
        return None  # the post itself, or a reply id past 2^63
    sign = "-" if owner_raw.startswith("-") else ""
    return f"{sign}{owner}_{reply}"


def _ok_key(path: str, query: dict[str, list[str]]) -> str | None:
    """ok.ru/group/<gid>/topic/<tid>: the topic (a post); with a comment id in the query, the comment.

    Which query parameter OK's own «ссылка на комментарий» uses is not documented [?]: commentId is accepted,
    and comment, the form Otklik's OK channel writes on the card (channels/ok.py), so a link copied from a card
    finds its case.
    """
    found = _OK_TOPIC.fullmatch(path)
    if found is None or parse_id(found.group(1)) is None:
        return None
    topic = parse_id(found.group(2))
    comment = _one_id(query, "commentId") if "commentId" in query else _one_id(query, "comment")
    if topic is None or comment is None:
        return None
    return f"{topic}:{comment}"


def _internal(chat_id: int) -> int:
    """-1001234567890 → 1234567890, as t.me/c/ links write a supergroup's or channel's id."""
    text = str(-chat_id)
    return int(text[3:]) if text.startswith("100") and len(text) > 3 else int(text)


def _telegram_key(path: str, query: dict[str, list[str]], book: LinkBook) -> str | None:
    """t.me/<channel>/<post>?comment=<id>, t.me/c/<channel>/<post>?comment=<id>: the comment in the discussion
    group; t.me/c/<group>/<id>[?thread=…] or t.me/c/<group>/<thread>/<id>: a message of the discussion group."""
    group = book.telegram_group_id
    if group is None:
        return None
    comment = _one_id(query, "comment")
    if found := _TG_PUBLIC.fullmatch(path):
        if found.group(1).lower() not in book.telegram_usernames or parse_id(found.group(2)) is None:
            return None
        return f"{group}:{comment}" if comment is not None else None
    if found := _TG_INTERNAL.fullmatch(path):
        chat = parse_id(found.group(1))
        message = parse_id(found.group(3))
        if chat is None or message is None or (found.group(2) and parse_id(found.group(2)) is None):
            return None
        channel = book.telegram_channel_id
        if channel is not None and chat == _internal(channel) and not found.group(2):
            return f"{group}:{comment}" if comment is not None else None
        if chat == _internal(group):
            return f"{group}:{message}"
    return None
