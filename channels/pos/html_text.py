"""HTML mail bodies as plain text, with the standard library's html.parser only.

ПОС notifications are labelled HTML fields (`<b>Телефон:</b> …`, table rows). Nothing of the HTML is rendered
or kept: script, style and the like are dropped with everything inside them, tags go, entities are decoded;
block elements and table rows end a line, table cells are separated by a space, so «Телефон:» and its value
stay on one line as the label patterns expect. HTMLParser never raises on broken markup, so a hostile body
yields text or nothing, never an error.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Dropped with their content: executable or invisible.
_SKIPPED = frozenset({"script", "style", "head", "title", "noscript", "template", "iframe", "object", "svg"})
_BLOCKS = frozenset({
    "br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "section",
    "article", "header", "footer", "blockquote", "pre", "dd", "dt", "dl",
})  # fmt: skip
_CELLS = frozenset({"td", "th"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_MAX_DEPTH = 1000  # nesting beyond this is markup abuse; the skip counter just stops growing


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping = min(self.skipping + 1, _MAX_DEPTH)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(self.skipping - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data.replace("\n", " "))


def html_to_text(html: str) -> str:
    """The visible text of `html`: one line per block, spaces collapsed, no empty lines."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)
