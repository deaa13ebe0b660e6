"""Telegram's HTML parse mode as the Bot API applies it: entities, error texts, UTF-16 lengths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

JsonDict = dict[str, Any]


# ----------------------------------------------------------------------------------------- HTML parse mode


class HtmlParseError(ValueError):
    """Telegram's reason for refusing HTML text; the API prefixes it with "can't parse entities: "."""


_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
}
# Telegram decodes only these named entities plus numeric ones; any other "&..." stays literal text.
_NAMED_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE: Final = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
_UNQUOTED_VALUE_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram's entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    match = _ENTITY_RE.match(source, pos)
    if match is None:
        return None
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES[name], match.end()
    code = int(decimal, 10) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int  # UTF-16 offset in the parsed text where the tag's content starts


def _tag_entity(tag: _OpenTag, offset: int, length: int, entities: list[JsonDict]) -> JsonDict | None:
    if tag.name in _SIMPLE_ENTITY_TYPES:
        entity: JsonDict = {"type": _SIMPLE_ENTITY_TYPES[tag.name], "offset": offset, "length": length}
        if tag.name == "code" and tag.argument:
            entity["language"] = tag.argument
        return entity
    if tag.name == "a":
        if not tag.argument:
            return None
        return {"type": "text_link", "offset": offset, "length": length, "url": tag.argument}
    if tag.name == "pre":
        entity = {"type": "pre", "offset": offset, "length": length}
        # <pre><code class="language-x">…</code></pre> becomes one pre entity with a language, as in Telegram.
        if entities and entities[-1]["type"] == "code" and entities[-1]["offset"] == offset:
            inner = entities.pop()
            if inner["length"] == length and "language" in inner:
                entity["language"] = inner["language"]
        return entity
    if tag.name == "blockquote":
        kind = "expandable_blockquote" if tag.argument == "expandable" else "blockquote"
        return {"type": kind, "offset": offset, "length": length}
    if tag.name == "tg-emoji":
        if not tag.argument:
            return None
        return {"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": tag.argument}
    return None  # pragma: no cover - every tag in _HTML_TAGS is handled above


def parse_html(source: str) -> tuple[str, list[JsonDict]]:
    """Parse Telegram HTML into (plain text, entities) following Telegram's parser and its error texts.

    The text is stripped as Telegram does; entity offsets and lengths are in UTF-16 code units.
    Raises HtmlParseError with Telegram's description (without the "can't parse entities: " prefix).
    """
    text = source.strip()
    n = len(text)

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode("utf-8", "surrogatepass"))

    out: list[str] = []
    units = 0
    entities: list[JsonDict] = []
    stack: list[_OpenTag] = []
    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                units += utf16_len(decoded[0])
                i = decoded[1]
                continue
        if ch != "<":
            out.append(ch)
            units += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue

        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            i += 1
            name_start = i
            while i < n and not text[i].isspace() and text[i] != ">":
                i += 1
            end_name = text[name_start:i].lower()
            while i < n and text[i].isspace():
                i += 1
            if i >= n or text[i] != ">":
                raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            i += 1
            tag = stack.pop()
            if end_name and end_name != tag.name:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {byte_offset(begin)}, expected "</{tag.name}>", '
                    f'found "</{end_name}>"'
                )
            if units > tag.offset:
                entity = _tag_entity(tag, tag.offset, units - tag.offset, entities)
                if entity is not None:
                    entities.append(entity)
            continue

        name_start = i
        while i < n and not text[i].isspace() and text[i] != ">":
            i += 1
        if i >= n:
            raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = text[name_start:i].lower()
        if name not in _HTML_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}')
        argument = ""
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
            if text[i] == ">":
                i += 1
                break
            attr_start = i
            while i < n and not text[i].isspace() and text[i] not in "=>/\"'":
                i += 1
            attr = text[attr_start:i].lower()
            if not attr:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {byte_offset(begin)}'
                )
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
            if text[i] != "=":
                if name == "blockquote" and attr == "expandable":
                    argument = "expandable"
                    continue
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{name}" '
                    f"at byte offset {byte_offset(begin)}"
                )
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
            if text[i] in "\"'":
                quote = text[i]
                i += 1
                value_chars: list[str] = []
                while i < n and text[i] != quote:
                    decoded = _decode_entity(text, i) if text[i] == "&" else None
                    if decoded is not None:
                        value_chars.append(decoded[0])
                        i = decoded[1]
                    else:
                        value_chars.append(text[i])
                        i += 1
                if i >= n:
                    raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
                i += 1
                value = "".join(value_chars)
            else:
                value_start = i
                while i < n and text[i] in _UNQUOTED_VALUE_CHARS:
                    i += 1
                value = text[value_start:i].lower()
                if i >= n:
                    raise HtmlParseError(f'Unclosed start tag "{name}" at byte offset {byte_offset(begin)}')
                if not text[i].isspace() and text[i] != ">":
                    raise HtmlParseError(f"Unexpected end of name token at byte offset {byte_offset(i)}")
            if name == "a" and attr == "href":
                argument = value
            elif name == "code" and attr == "class" and value.startswith("language-"):
                argument = value.removeprefix("language-")
            elif name == "span" and attr == "class" and value == "tg-spoiler":
                argument = "spoiler"
            elif name == "tg-emoji" and attr == "emoji-id":
                argument = value
        if name == "span" and argument != "spoiler":
            raise HtmlParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        stack.append(_OpenTag(name=name, argument=argument, offset=units))

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return _rstrip_entities("".join(out), entities)


def _rstrip_entities(text: str, entities: list[JsonDict]) -> tuple[str, list[JsonDict]]:
    """Trim trailing whitespace (Telegram trims the parsed text) and fit the entities to what is left."""
    stripped = text.rstrip()
    end = utf16_len(stripped)
    fitted: list[JsonDict] = []
    for entity in entities:
        length = min(entity["offset"] + entity["length"], end) - entity["offset"]
        if length > 0:
            fitted.append({**entity, "length": length})
    fitted.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped, fitted


def html_to_text(source: str) -> str:
    """The text a user sees for HTML ``source``: tags dropped, entities unescaped. Raises HtmlParseError."""
    return parse_html(source)[0]


# ------------------------------------------------------------------------------------------------- records
