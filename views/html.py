"""Telegram HTML, rendered safely: escaping, UTF-16 lengths, and trimming or splitting without breaking a tag.

Telegram counts a message's length in UTF-16 code units of the text the user sees (tags dropped, character
references decoded) and refuses more than 4096; everything here measures that way.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aiogram.utils.text_decorations import html_decoration

TEXT_LIMIT: Final = 4096
ELLIPSIS: Final = "…"
_TAG: Final = re.compile(r"<[^>]*>")


def utf16_len(text: str) -> int:
    """Telegram counts text length in UTF-16 code units."""
    # The codec counts in C (a lone surrogate passes through as the one unit it is).
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def visible_length(html_text: str) -> int:
    """What Telegram counts against the limit: the text with tags dropped and entities decoded."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def escape_trimmed(text: str, budget: int) -> str:
    """`text` escaped and cut (on the raw text, never inside an entity) to `budget` visible UTF-16 units."""
    if utf16_len(text) <= budget:
        return escape(text)
    if budget <= 1:
        return ""
    # The longest prefix that fits with the ellipsis (surrogate pairs make the ratio uneven: search).
    lo, hi = 0, min(len(text), budget)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf16_len(text[:mid]) <= budget - 1:
            lo = mid
        else:
            hi = mid - 1
    return escape(text[:lo]) + ELLIPSIS


def escape(text: object) -> str:
    """Escape user text for HTML parse mode: ``&``, ``<``, ``>`` (what aiogram's html decoration does)."""
    return html_decoration.quote(str(text))


# ------------------------------------------------------------------------------------------- splitting text

# One token is a tag, a character reference or a single character: the units a split may fall between.
_HTML_TOKEN_RE: Final = re.compile(
    r"<[^<>]*>|&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z][a-zA-Z0-9]{1,31});|.", re.S
)
_TAG_NAME_RE: Final = re.compile(r"</?\s*([a-zA-Z][a-zA-Z0-9-]*)")
_NAMED_REFERENCES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass(frozen=True)
class _Token:
    text: str
    width: int  # UTF-16 code units the user sees; 0 for tags
    tag: str | None = None  # tag name for tags
    closing: bool = False


def _referenceutf16_len(ref: str) -> int:
    body = ref[1:-1]
    if body in _NAMED_REFERENCES:
        return 1
    if body.startswith("#"):
        digits = body[1:]
        code = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits)
        if 0 < code <= 0x10FFFF:
            return 2 if code > 0xFFFF else 1
    return len(ref)  # Telegram leaves unknown references as literal text


def _tokens(text: str, html: bool) -> list[_Token]:
    if not html:
        return [_Token(ch, utf16_len(ch)) for ch in text]
    tokens: list[_Token] = []
    for match in _HTML_TOKEN_RE.finditer(text):
        piece = match.group()
        if len(piece) > 1 and piece[0] == "<":
            name = _TAG_NAME_RE.match(piece)
            if name is not None:
                tokens.append(_Token(piece, 0, name.group(1).lower(), piece.startswith("</")))
                continue
        if len(piece) > 1 and piece[0] == "&":
            tokens.append(_Token(piece, _referenceutf16_len(piece)))
            continue
        tokens.append(_Token(piece, utf16_len(piece)))
    return tokens


# The tokens that are not one character: matched at the same places as in _HTML_TOKEN_RE (its last branch
# only steps over one character), so the width is known without building a token per character.
_SPECIAL_RE: Final = re.compile(r"<[^<>]*>|&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[a-zA-Z][a-zA-Z0-9]{1,31});")


def _width(text: str, html: bool) -> int:
    """sum(t.width for t in _tokens(text, html)), without the tokens."""
    total = utf16_len(text)
    if not html:
        return total
    for match in _SPECIAL_RE.finditer(text):
        piece = match.group()
        if piece[0] == "<":
            if _TAG_NAME_RE.match(piece) is not None:
                total -= utf16_len(piece)
        else:
            total -= len(piece) - _referenceutf16_len(piece)  # a reference is ASCII: len is its width
    return total


def _fits(text: str, limit: int, html: bool) -> bool:
    # No token is wider than its text, so text no longer than the limit fits without being measured.
    return utf16_len(text) <= limit or _width(text, html) <= limit


def _advance(stack: list[_Token], token: _Token) -> None:
    """Track the open tags: push a start tag, pop through its matching end tag."""
    if token.tag is None:
        return
    if not token.closing:
        stack.append(token)
        return
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth].tag == token.tag:
            del stack[depth:]
            return


def _closing(stack: Sequence[_Token]) -> str:
    return "".join(f"</{tag.tag}>" for tag in reversed(stack))


def _cut(tokens: Sequence[_Token], start: int, budget: int) -> int:
    """The end index of the piece starting at ``start`` with at most ``budget`` visible units.

    Prefers to end after a newline, then after whitespace, as long as that keeps at least half the budget;
    otherwise cuts hard at the budget (a single word longer than half a message).
    """
    used = 0
    end = start
    last_newline = last_space = -1
    while end < len(tokens) and used + tokens[end].width <= budget:
        used += tokens[end].width
        end += 1
        ch = tokens[end - 1].text
        if used * 2 >= budget:
            if ch == "\n":
                last_newline = end
            elif ch.isspace():
                last_space = end
    if end == len(tokens):
        return end
    if last_newline > start:
        return last_newline
    if last_space > start:
        return last_space
    return max(end, start + 1)  # always progress, even if one character exceeds a tiny budget


def _split(text: str, limit: int, html: bool) -> list[str]:
    if _fits(text, limit, html):
        return [text]
    tokens = _tokens(text, html)
    parts: list[str] = []
    open_tags: list[_Token] = []
    start = 0
    while start < len(tokens):
        end = _cut(tokens, start, limit)
        # A piece cut inside <b>…</b> closes the tags it leaves open; the next piece reopens them.
        prefix = "".join(tag.text for tag in open_tags)
        for token in tokens[start:end]:
            _advance(open_tags, token)
        body = "".join(token.text for token in tokens[start:end])
        if any(t.width and not t.text.isspace() for t in tokens[start:end]):
            parts.append(prefix + body + _closing(open_tags))
        start = end
    return parts


def split_html(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split HTML-formatted text into pieces of at most ``limit`` visible characters each.

    Cuts after a line break where possible, else after a space, never inside a tag or a character reference;
    tags open at a cut are closed at the end of the piece and reopened at the start of the next one.
    Text that fits is returned unchanged as the only piece. Blank pieces are dropped (Telegram refuses them).
    """
    return _split(text, limit, html=True)


def split_plain(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """split_html for text sent without a parse mode: every character is literal."""
    return _split(text, limit, html=False)


def _trim(text: str, limit: int, html: bool) -> str:
    if _fits(text, limit, html):
        return text
    tokens = _tokens(text, html)
    end = _cut(tokens, 0, limit - utf16_len(ELLIPSIS))
    open_tags: list[_Token] = []
    for token in tokens[:end]:
        _advance(open_tags, token)
    body = "".join(token.text for token in tokens[:end]).rstrip()
    return body + ELLIPSIS + _closing(open_tags)


def trim_html(text: str, limit: int = TEXT_LIMIT) -> str:
    """Shorten HTML text to ``limit`` visible characters ending with "…", closing the tags left open."""
    return _trim(text, limit, html=True)


def trim_plain(text: str, limit: int = TEXT_LIMIT) -> str:
    return _trim(text, limit, html=False)
