"""Search keys of a case: what `/case` and `/find` compare, computed once when a case is stored.

Pure text functions. Storage keeps their results in columns (migration 0010), so a lookup is an indexed
equality and a text search a substring match on text already folded, the same on SQLite (whose LIKE folds
ASCII only) and PostgreSQL.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

FIND_LIMIT = 200  # characters of a /find query; longer is refused
_SPACES = re.compile(r"\s+")
_LINK_PREFIXES = ("www.", "m.")


def fold(text: str) -> str:
    """Text for comparison: case folded (Cyrillic too), «ё» as «е», blanks collapsed to one space."""
    return _SPACES.sub(" ", text.casefold().replace("ё", "е")).strip()


def search_text(*parts: str) -> str:
    """One folded string of a message's searchable parts (text, author, link, ПОС number)."""
    return fold(" \n ".join(p for p in parts if p))


def link_key(link: str) -> str:
    """A network link as compared: no scheme, no «www.» / «m.», no fragment, no trailing slash, folded.

    «https://vk.com/wall-1_2», «http://m.vk.com/wall-1_2/» and «vk.com/wall-1_2#reply» are one key. Empty
    when `link` does not look like a link.
    """
    raw = link.strip()
    if not raw or any(c.isspace() for c in raw):
        return ""
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
    except ValueError:
        return ""
    host = (parts.hostname or "").casefold()
    if "." not in host:
        return ""
    for prefix in _LINK_PREFIXES:
        if host.startswith(prefix):
            host = host[len(prefix) :]
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{host}{path}{query}".casefold()


def looks_like_link(value: str) -> bool:
    v = value.strip().casefold()
    return v.startswith(("http://", "https://", "www.")) or ("/" in v and "." in v.split("/", 1)[0])


def like_pattern(needle: str) -> str:
    """A LIKE pattern for a substring of folded text, with `/` as the escape character."""
    escaped = needle.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"
