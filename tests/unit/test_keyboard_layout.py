"""Keyboards of one button per unit within each messenger's limits (issue 15): packed, then paged, every unit
reachable, no label cut, a page the keyboard does not have refused (views/layout.py, views/keyboards.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiogram.types import InlineKeyboardMarkup

from bot import max_convert
from views import texts
from views.callbacks import MAX_UNITS, RouteCb
from views.keyboards import responsible_keyboard, route_keyboard, route_pages
from views.layout import TELEGRAM_KEYBOARD, KeyboardLimits
from workflow.model import Case, Procedure

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MAX = max_convert.KEYBOARD_LIMITS
LIMITS = [pytest.param(TELEGRAM_KEYBOARD, id="telegram"), pytest.param(MAX, id="max")]

# A regional deployment (issue 16): long Russian names, some differing only at their end.
_LONG = [
    "Администрация {n}-го сельского поселения",
    "Управление ЖКХ, строительства и дорожного хозяйства округа {n}",
    "Отдел социальной защиты населения района {n}",
]
_SHORT = ["ЕДДС-{n}", "МФЦ {n}", "ГИБДД {n}"]


def units(count: int, names: list[str]) -> dict[str, str]:
    return {f"u{n}": names[n % len(names)].format(n=n) for n in range(count)}


def case(procedure: Procedure = Procedure.OPEN_SOURCES) -> Case:
    return Case(7, procedure, "new", 3, AT)


def check_within(markup: InlineKeyboardMarkup, limits: KeyboardLimits) -> None:
    rows = markup.inline_keyboard
    assert len(rows) <= limits.rows
    assert all(1 <= len(row) <= limits.per_row for row in rows)
    assert sum(len(row) for row in rows) <= limits.total
    for row in rows:
        for button in row:
            assert button.callback_data is not None and len(button.callback_data.encode()) <= 64
    if limits == MAX:
        max_convert.keyboard_attachment(markup)  # the adapter's own check: raises KeyboardRefused past MAX's


def toggles(markup: InlineKeyboardMarkup) -> dict[str, RouteCb]:
    """The unit buttons of a route keyboard page: label -> data."""
    found = {}
    for row in markup.inline_keyboard:
        for button in row:
            assert button.callback_data is not None
            if button.callback_data.startswith("r2:"):
                cb = RouteCb.unpack(button.callback_data)
                if not cb.done and button.text not in (texts.BTN_PAGE_MORE, texts.BTN_PAGE_BACK):
                    found[button.text] = cb
    return found


def nav(markup: InlineKeyboardMarkup, label: str) -> RouteCb | None:
    for row in markup.inline_keyboard:
        for button in row:
            if button.text == label:
                assert button.callback_data is not None
                return RouteCb.unpack(button.callback_data)
    return None


def walk(c: Case, mask: int, table: dict[str, str], limits: KeyboardLimits) -> list[InlineKeyboardMarkup]:
    """Every page, reached from the first by «Ещё ▸» and each one's «◂ Назад» leading back."""
    first = route_keyboard(c, mask, table, limits)
    assert first is not None and nav(first, texts.BTN_PAGE_BACK) is None
    pages = [first]
    while (more := nav(pages[-1], texts.BTN_PAGE_MORE)) is not None:
        assert more.page == len(pages) and more.mask == mask and not more.done
        page = route_keyboard(c, more.mask, table, limits, more.page)
        assert page is not None
        back = nav(page, texts.BTN_PAGE_BACK)
        assert back is not None and back.page == len(pages) - 1 and back.mask == mask
        pages.append(page)
    assert len(pages) == route_pages(c, mask, table, limits)
    return pages


@pytest.mark.parametrize("limits", LIMITS)
@pytest.mark.parametrize("names", [_LONG, _SHORT, _LONG + _SHORT], ids=["long", "short", "mixed"])
def test_sixty_units_fit_and_every_unit_is_reachable(limits: KeyboardLimits, names: list[str]) -> None:
    table = units(60, names)
    c = case()
    mask = 0b101  # two chosen
    pages = walk(c, mask, table, limits)
    seen: dict[int, str] = {}
    for number, page in enumerate(pages):
        check_within(page, limits)
        for label, cb in toggles(page).items():
            flipped = cb.mask ^ mask
            assert flipped and flipped & (flipped - 1) == 0, "a toggle flips exactly one unit"
            bit = flipped.bit_length() - 1
            name = table[f"u{bit}"]
            chosen = bool(mask >> bit & 1)
            # The whole name, never cut: no two units can look the same.
            assert label == (texts.BTN_SELECTED.format(name=name) if chosen else name)
            assert cb.page == number, "a toggle redraws the page it is on"
            assert bit not in seen
            seen[bit] = label
    assert sorted(seen) == list(range(60))
    last = pages[-1].inline_keyboard[-1]
    assert [b.text for b in last] == [texts.BTN_DONE, texts.BTN_CANCEL]
    done = last[0].callback_data
    assert done is not None and RouteCb.unpack(done) == RouteCb(
        case_id=c.id, version=c.version, mask=mask, page=0, done=True
    )


def test_what_fits_one_to_a_row_stays_so_and_telegram_needs_no_pages_for_sixty() -> None:
    small = route_keyboard(case(), 0, units(6, _LONG), MAX)
    assert small is not None and [len(row) for row in small.inline_keyboard] == [1] * 6 + [2]
    telegram = walk(case(), 0, units(60, _LONG), TELEGRAM_KEYBOARD)
    assert len(telegram) == 1 and [len(r) for r in telegram[0].inline_keyboard] == [1] * 60 + [2]


def test_short_names_are_packed_before_anything_is_paged() -> None:
    """40 short names: one a row would need 41 rows on MAX; two or three a row fit one page."""
    [page] = walk(case(), 0, units(40, _SHORT), MAX)
    assert max(len(row) for row in page.inline_keyboard[:-1]) in (2, 3)
    assert nav(page, texts.BTN_PAGE_MORE) is None
    # Long names are never squeezed beside others: they page instead.
    for row in walk(case(), 0, units(60, _LONG), MAX)[0].inline_keyboard[:-2]:
        assert len(row) == 1


def test_a_toggle_never_moves_units_between_pages() -> None:
    table = units(60, _LONG + _SHORT)
    c = case()
    before = [set(toggles(p)) for p in walk(c, 0, table, MAX)]
    everything = (1 << 60) - 1
    after = [
        {label.removeprefix(texts.BTN_SELECTED.format(name="")) for label in toggles(p)}
        for p in walk(c, everything, table, MAX)
    ]
    assert before == after


@pytest.mark.parametrize("limits", LIMITS)
def test_a_page_the_keyboard_does_not_have_is_none(limits: KeyboardLimits) -> None:
    table = units(60, _LONG)
    c = case()
    pages = route_pages(c, 0, table, limits)
    assert route_keyboard(c, 0, table, limits, pages) is None
    assert route_keyboard(c, 0, table, limits, -1) is None
    assert route_keyboard(c, 0, table, limits, pages - 1) is not None


def test_the_pos_responsible_choice_among_many_units_pages_through_done() -> None:
    table = units(MAX_UNITS, _LONG)
    c = case(Procedure.POS)
    everything = (1 << MAX_UNITS) - 1
    first = responsible_keyboard(c, everything, table, MAX)
    assert first is not None
    check_within(first, MAX)
    more = nav(first, texts.BTN_PAGE_MORE)
    assert more is not None and more.done and more.page == 1 and more.mask == everything
    chosen: set[str] = set()
    page: InlineKeyboardMarkup | None = first
    number = 0
    while page is not None:
        check_within(page, MAX)
        chosen |= {b.text for row in page.inline_keyboard for b in row if b.text.startswith("Ответственный")}
        number += 1
        page = responsible_keyboard(c, everything, table, MAX, number)
    assert len(chosen) == MAX_UNITS
