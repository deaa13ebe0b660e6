"""Fitting a keyboard of many like buttons (one per unit, one per person) into a messenger's button limits.

The sender knows its messenger's limits (`KeyboardLimits`; Telegram's here, MAX's in bot/max_convert) and
bot/delivery and the handlers hand them to views/ as they hand over the text limit. A keyboard that would not
fit one button a row is packed two or three to a row where the labels are short enough to stay readable (a
label is never cut: two units must never look the same); if it still does not fit, it is paged: «◂ Назад» /
«Ещё ▸» buttons whose data (the caller's, parsed and checked like any other) redraw it at the neighbouring page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton

from views import texts


@dataclass(frozen=True)
class KeyboardLimits:
    """One messenger's inline keyboard: at most `rows` rows, `per_row` buttons in a row, `total` in all."""

    rows: int
    per_row: int
    total: int

    def __post_init__(self) -> None:
        # The smallest keyboard that can still page: one item row, a navigation row, a closing row of two.
        if self.rows < 3 or self.per_row < 2 or self.total < 5:
            raise ValueError("keyboard limits too small to lay out a paged keyboard")


# Telegram Bot API: 100 buttons on an inline keyboard, 8 in a row (what clients draw; the rows follow).
TELEGRAM_KEYBOARD = KeyboardLimits(rows=100, per_row=8, total=100)

# How many characters a label may have to share its row with one or two others and stay readable on a phone.
_WIDTH = {1: 10_000, 2: 22, 3: 13}

Row = list[InlineKeyboardButton]


@dataclass(frozen=True)
class Item:
    """One button of the list, with the label length it is laid out by: the longest it can be (a unit
    chosen or not), so a press never moves buttons from one page to another."""

    button: InlineKeyboardButton
    width: int


def _pack(items: Sequence[Item], per_row: int, cap: int) -> list[list[Item]]:
    """Items in order, up to `per_row` in a row while every label in it is short enough for that many."""
    rows: list[list[Item]] = []
    for item in items:
        row = rows[-1] if rows else None
        if row is not None and len(row) < min(per_row, cap) and _short(row, item):
            row.append(item)
        else:
            rows.append([item])
    return rows


def _short(row: list[Item], item: Item) -> bool:
    return max(i.width for i in [*row, item]) <= _WIDTH[len(row) + 1]


def _pages(items: Sequence[Item], tail: Sequence[Row], limits: KeyboardLimits) -> list[list[list[Item]]]:
    """The item rows of each page: one page if they fit with the closing rows, else pages with a nav row."""
    tail_rows, tail_buttons = len(tail), sum(len(row) for row in tail)
    packed: list[list[Item]] = []
    for per_row in (1, 2, 3):
        packed = _pack(items, per_row, limits.per_row)
        if len(packed) + tail_rows <= limits.rows and len(items) + tail_buttons <= limits.total:
            return [packed]
    rows_room = limits.rows - tail_rows - 1  # a navigation row on every page
    buttons_room = limits.total - tail_buttons - 2
    if rows_room < 1 or buttons_room < 1:
        raise ValueError("the closing rows leave no room for the list")
    pages: list[list[list[Item]]] = [[]]
    used = 0
    for row in packed:
        if len(pages[-1]) == rows_room or used + len(row) > buttons_room:
            pages.append([])
            used = 0
        if len(row) > buttons_room:  # only with absurd limits: one row never fits; split it
            row = row[:buttons_room]
        pages[-1].append(row)
        used += len(row)
    return pages


def page_count(items: Sequence[Item], tail: Sequence[Row], limits: KeyboardLimits) -> int:
    """How many pages the list takes: a page number in a button's data is valid below it."""
    return len(_pages(items, tail, limits))


def laid_out(
    items: Sequence[Item],
    tail: Sequence[Row],
    limits: KeyboardLimits,
    *,
    page: int,
    to_page: Callable[[int], str],
) -> list[Row] | None:
    """The keyboard's rows at `page`: its items, «◂ Назад» / «Ещё ▸» when paged (`to_page(n)`: the data of a
    button that redraws page n), then the closing `tail` rows. None for a page the list does not have."""
    pages = _pages(items, tail, limits)
    if not 0 <= page < len(pages):
        return None
    rows: list[Row] = [[item.button for item in row] for row in pages[page]]
    if len(pages) > 1:
        nav: Row = []
        if page > 0:
            nav.append(InlineKeyboardButton(text=texts.BTN_PAGE_BACK, callback_data=to_page(page - 1)))
        if page < len(pages) - 1:
            nav.append(InlineKeyboardButton(text=texts.BTN_PAGE_MORE, callback_data=to_page(page + 1)))
        rows.append(nav)
    return [*rows, *(list(row) for row in tail)]

