"""channels/links.py: hand-over links → the natural keys the channels store items under, and hostile input."""

from __future__ import annotations

import pytest

from channels.links import MAX_URL, ItemLink, LinkBook, links_in, parse_link
from channels.telegram import item_key
from channels.vk import comment_link
from workflow.model import Network

BOOK = LinkBook(
    connected=frozenset({Network.VK, Network.TELEGRAM}),
    telegram_usernames=frozenset({"rayon_official"}),
    telegram_channel_id=-1001234567890,
    telegram_group_id=-1009876543210,
)
G = -1009876543210

VK, OK, TG = Network.VK, Network.OK, Network.TELEGRAM


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # VK: the reply forms of a wall comment, on every host the network answers on.
        ("https://vk.com/wall-123_456?reply=789", (VK, "-123_789")),
        ("https://vk.ru/wall-123_456?reply=789", (VK, "-123_789")),
        ("https://m.vk.com/wall-123_456?reply=789", (VK, "-123_789")),
        ("http://www.vk.com/wall-123_456?reply=789&thread=780", (VK, "-123_789")),
        ("https://vk.com/wall-123_456?thread=780&reply=790", (VK, "-123_790")),
        ("https://vk.com/club123?w=wall-123_456_r789", (VK, "-123_789")),
        ("https://vk.com/public123?w=wall-123_456", (VK, None)),  # the post
        ("https://vk.com/wall-123_456", (VK, None)),
        ("https://VK.COM/wall-123_456?reply=789", (VK, "-123_789")),
        ("https://vk.com/wall123_456?reply=7", (VK, "123_7")),  # a person's wall
        ("https://vk.com/id1", (VK, None)),
        # OK: a topic is a post; a comment id in the query makes it the comment [?].
        ("https://ok.ru/group/70000001/topic/155000000001", (OK, None)),
        ("https://m.ok.ru/group/70000001/topic/155000000001?commentId=42", (OK, "155000000001:42")),
        # The link Otklik's own OK channel puts on the card (channels/ok.py).
        ("https://ok.ru/group/70000001/topic/155000000001?comment=42", (OK, "155000000001:42")),
        # Telegram: the channel's comment lives in the discussion group under its own id.
        ("https://t.me/rayon_official/15?comment=301", (TG, f"{G}:301")),
        ("https://t.me/Rayon_Official/15?comment=301", (TG, f"{G}:301")),
        ("https://telegram.me/rayon_official/15?comment=301", (TG, f"{G}:301")),
        ("https://t.me/c/1234567890/15?comment=301", (TG, f"{G}:301")),
        ("https://t.me/c/9876543210/301?thread=15", (TG, f"{G}:301")),
        ("https://t.me/c/9876543210/15/301", (TG, f"{G}:301")),
        ("https://t.me/rayon_official/15", (TG, None)),  # the post itself
        ("https://t.me/somebody_else/15?comment=301", (TG, None)),  # not the district's channel
        ("https://t.me/c/5555555555/15?comment=301", (TG, None)),
        # Ids past 2^63 (the storage's BIGINT) are nobody's item.
        ("https://vk.com/wall-123_456?reply=9223372036854775808", (VK, None)),
        ("https://vk.com/wall-9223372036854775808_1?reply=2", (VK, None)),
        ("https://t.me/rayon_official/15?comment=99999999999999999999", (TG, None)),
        ("https://ok.ru/group/1/topic/9223372036854775808?commentId=1", (OK, None)),
        ("https://vk.com/wall-123_0?reply=7", (VK, None)),
    ],
)
def test_links_to_keys(url: str, expected: tuple[Network, str | None]) -> None:
    link = parse_link(url, BOOK)
    assert link is not None
    assert (link.network, link.key) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)//vk.com/wall-1_2?reply=3",
        "https://vk.com.evil.ru/wall-1_2?reply=3",
        "https://evil.ru/vk.com/wall-1_2?reply=3",
        "https://vk.com@evil.ru/wall-1_2?reply=3",
        "https://user:pw@vk.com/wall-1_2?reply=3",
        "https://vk.com:8443/wall-1_2?reply=3",
        "ftp://vk.com/wall-1_2?reply=3",
        "https://[vk.com/wall-1_2?reply=3",
        "https://xn--vk-xxx.com/wall-1_2?reply=3",
        "https://vk.com/wall-1_2?reply=3" + "a" * MAX_URL,
        "https://vk.com/wall-123_456?reply=٣",  # not ASCII digits
        "https://vk.com/wall-1_2?" + "a=1&" * 30 + "reply=3",  # more query fields than a link has
        "",
    ],
)
def test_hostile_links_are_nothing(url: str) -> None:
    assert parse_link(url, BOOK) is None


def test_keys_are_the_channels_own() -> None:
    """The link a channel writes on the card parses back into the key it stores the item under."""
    assert parse_link(comment_link(-123, 456, 789), BOOK) == ItemLink(
        VK, "-123_789", comment_link(-123, 456, 789)
    )
    link = parse_link("https://t.me/rayon_official/15?comment=301", BOOK)
    assert link is not None and link.key == item_key(G, 301)


def test_a_card_text_with_links() -> None:
    card = (
        "Инцидент № 12345\nСообщение в сообществе: https://vk.com/wall-123_456.\n"
        "Комментарий: https://vk.com/wall-123_456?reply=789, выявлено 01.12.2026"
    )
    found = links_in(card, BOOK)
    assert found is not None and found.key == "-123_789"  # the comment wins over the post
    assert found.url == "https://vk.com/wall-123_456?reply=789"
    glued = links_in("Комментарий https://vk.com/wall-1_2?reply=3,выявлено ЦУР", BOOK)
    assert glued is not None and glued.key == "-1_3"
    assert links_in("Коллеги, я на обеде до 14:00", BOOK) is None
    assert links_in("Смотрите https://example.org/vk.com/wall-1_2?reply=3", BOOK) is None


def test_a_100_kb_text_is_read_quickly_and_safely() -> None:
    junk = "https://vk.com/" + "wall-1_2?reply=3&" * 6000  # one 100 KB «URL»
    assert len(junk) > 100_000
    assert links_in(junk, BOOK) is None
    many = " ".join(["https://vk.com/wall-1_2"] * 4000) + " https://vk.com/wall-1_2?reply=3"
    found = links_in(many, BOOK)
    assert found is not None and found.key == "-1_3"


def test_without_the_channel_configured_telegram_links_find_nothing() -> None:
    book = LinkBook(connected=frozenset({Network.VK}))
    link = parse_link("https://t.me/rayon_official/15?comment=301", book)
    assert link is not None and link.key is None and not link.connected(book)
    ok = parse_link("https://ok.ru/group/1/topic/2?commentId=3", book)
    assert ok is not None and ok.key == "2:3" and not ok.connected(book)
