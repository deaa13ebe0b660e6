"""bot/links.py: which networks a hand-over link may find items of, read from the district's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.links import link_book
from bot.settings import ConfigError, load_settings
from channels.links import LinkBook, parse_link
from workflow.model import Network


def book(tmp_path: Path, text: str) -> LinkBook:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return link_book(load_settings(path))


def test_nothing_connected_by_default() -> None:
    assert link_book(load_settings()) == LinkBook()


def test_the_telegram_channel_and_vk(tmp_path: Path) -> None:
    found = book(
        tmp_path,
        "[channels.vk]\nenabled = true\ngroup_id = 123\n"
        "[channels.telegram]\nenabled = true\nchannel_id = -1001234567890\ngroup_id = -1009876543210\n"
        'username = "@Rayon_Official"\n',
    )
    assert found.connected == frozenset({Network.VK, Network.TELEGRAM})
    link = parse_link("https://t.me/rayon_official/15?comment=301", found)
    assert link is not None and link.key == "-1009876543210:301" and link.connected(found)


def test_a_broken_username_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        book(tmp_path, '[channels.telegram]\nusername = "https://t.me/x"\n')
    assert "channels.telegram.username: ожидается имя канала" in str(caught.value) and "\n" not in str(
        caught.value
    )
