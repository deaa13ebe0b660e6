"""The fast measures of views/html.py agree with the token-by-token ones they replace (so splitting and
trimming cut exactly where they did)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from views.html import _tokens, _width, split_html, split_plain, trim_html, trim_plain, utf16_len

# Text made of what the tokenizer tells apart: tags (known, unknown, broken), references (named, numeric,
# out of range, unknown), surrogates and astral characters, spaces and line breaks.
_PIECES = st.sampled_from(
    ["<b>", "</b>", "<i>", "</i>", "<a href='x'>", "</a>", "<>", "< b>", "</ i>", "<1>", "<", ">", "&",
     "&amp;", "&lt;", "&gt;", "&quot;", "&nbsp;", "&#65;", "&#x1F600;", "&#0;", "&#99999999;", "&#xZZ;",
     "&bogus;", " ", "\n", "я", "a", "😀", "\ud800", "\U0010ffff"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=60).map("".join)


def _old_utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@given(_TEXT)
def test_utf16_len_counts_as_before(text: str) -> None:
    assert utf16_len(text) == _old_utf16_len(text)


@given(_TEXT, st.booleans())
def test_width_is_the_sum_of_the_token_widths(text: str, html: bool) -> None:
    tokens = _tokens(text, html)
    assert "".join(t.text for t in tokens) == text
    assert _width(text, html) == sum(t.width for t in tokens)
    assert all(t.width <= utf16_len(t.text) for t in tokens)  # why the raw length is an upper bound


@settings(max_examples=300)
@given(_TEXT, st.integers(min_value=1, max_value=40))
def test_text_that_fits_is_returned_unchanged(text: str, limit: int) -> None:
    for html, split, trim in ((True, split_html, trim_html), (False, split_plain, trim_plain)):
        if sum(t.width for t in _tokens(text, html)) <= limit:
            assert split(text, limit) == [text]
            assert trim(text, limit) == text


def test_long_card_text_still_splits() -> None:
    text = "<b>Обращение</b>\n" + "слово " * 2000
    pieces = split_html(text)
    assert len(pieces) > 1 and all(p.startswith("<b>") or "<b>" not in p for p in pieces)
    assert all(sum(t.width for t in _tokens(p, True)) <= 4096 for p in pieces)
