"""workflow/clusters.py: stems, addresses, similarity, the sliding window and repeats, as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from views.cards import render_notification
from workflow.calendar import WorkingCalendar
from workflow.clusters import (
    Earlier,
    Recent,
    Signature,
    Window,
    find_address,
    in_window,
    near_same,
    peak,
    place,
    repeat_of,
    signature,
    similar,
    stem,
    topic,
)
from workflow.model import Role
from workflow.ports import Notification, SignatureRow
from workflow.quiet import silent
from workflow.rules import DEFAULT_RULES
from workflow.services.clusters import SPIKE, SPIKE_GREW

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WINDOW = Window(threshold=5, minutes=120, cap=500)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("Октябрьская", "октябрь"),
        ("октябрьской", "октябрь"),
        ("Октябрьскую", "октябрь"),
        ("трубу", "труб"),
        ("трубы", "труб"),
        ("ёлка", "елк"),
        ("ямы", "ям"),
        ("яма", "ям"),
        ("дом", "дом"),  # nothing to cut
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("На ул. Октябрьская, 14 прорвало трубу", "октябрь 14", "ул. Октябрьская, 14"),
        ("Улица Октябрьская 14 - нет воды", "октябрь 14", "Улица Октябрьская 14"),
        ("у дома 14 на улице Октябрьской течёт вода", "октябрь 14", "у дома 14 на улице Октябрьской"),
        ("Октябрьская, 14: когда починят?", "октябрь 14", "Октябрьская, 14"),
        ("На Октябрьской улице возле дома 14 авария", "октябрь 14", "Октябрьской улице возле дома 14"),
        ("Ямы по улице Ленина, д. 5", "ленин 5", "улице Ленина, д. 5"),
        ("пр-т Мира д. 12а", "мир 12а", "пр-т Мира д. 12а"),
        ("Садовая, 3к1 — снег", "садов 3к1", "Садовая, 3к1"),
        ("Во дворе дома 7 на улице Ленина темно", "ленин 7", "дома 7 на улице Ленина"),
    ],
)
def test_addresses(text: str, key: str, shown: str) -> None:
    address = find_address(text)
    assert address is not None and (address.key, address.shown) == (key, shown)


@pytest.mark.parametrize(
    "text",
    ["Здравствуйте, 5 дней нет света", "Когда починят дорогу?", "", "🙂🙂🙂", "улица", "дом 5"],
)
def test_no_address(text: str) -> None:
    assert find_address(text) is None


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # The same address, whatever the words.
        ("ул. Октябрьская, 14: прорвало трубу", "Октябрьская, 14 — третий час нет света", True),
        # The same problem in the same words, no address.
        ("Прорвало трубу, вода заливает двор", "Во дворе прорвало трубу, вода везде", True),
        # One word in common is not enough.
        ("Прорвало трубу отопления", "Когда заменят трубу в школе", False),
        # Another house of the same street is another address.
        ("На улице Ленина у дома 5 яма", "Во дворе дома 7 на улице Ленина не горят фонари", False),
        ("Спасибо за уборку снега", "Не вывозят мусор уже неделю", False),
        ("", "", False),
    ],
)
def test_similar(a: str, b: str, expected: bool) -> None:
    assert similar(signature(a), signature(b)) is expected
    assert similar(signature(b), signature(a)) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (
            "Прорвало трубу на Садовой, вода заливает подвал",
            "Прорвало трубу на Садовой, вода заливает подвал!",
            True,
        ),
        (
            "Прорвало трубу на Садовой, вода заливает подвал",
            "Прорвало трубу на Садовой, когда починят?",
            False,
        ),
    ],
)
def test_near_same(a: str, b: str, expected: bool) -> None:
    assert near_same(signature(a), signature(b)) is expected


def sig(*stems: str, address: str = "") -> Signature:
    return Signature(frozenset(stems), address)


PIPE = sig("труб", "прорвал", "вод")


def recent(case_id: int, minutes_before: int, cluster: int | None = None, s: Signature = PIPE) -> Recent:
    return Recent(case_id, T0 - timedelta(minutes=minutes_before), s, cluster)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ([], None),
        ([recent(1, 10, s=sig("снег", "двор"))], None),  # nothing similar
        ([recent(1, 10)], (None, (1,))),  # a new cluster with the similar one
        ([recent(1, 130)], None),  # out of the window
        ([recent(1, 10, 7), recent(2, 5)], (7, (2,))),  # joins the cluster, pulls the unclustered one in
        # The cluster with most similar members wins; then the newest.
        ([recent(1, 50, 7), recent(2, 40, 8), recent(3, 30, 8)], (8, ())),
        ([recent(1, 50, 7), recent(2, 40, 8)], (8, ())),
    ],
)
def test_place(window: list[Recent], expected: tuple[int | None, tuple[int, ...]] | None) -> None:
    placed = place(PIPE, T0, window, WINDOW)
    assert (None if placed is None else (placed.join, placed.pull)) == expected


def test_place_compares_with_the_newest_cap_only() -> None:
    similar_but_old = recent(1, 100)
    others = [recent(10 + i, i % 50, s=sig("снег", f"w{i}")) for i in range(5)]
    assert place(PIPE, T0, [similar_but_old, *others], Window(cap=5)) is None
    assert place(PIPE, T0, [similar_but_old, *others], Window(cap=6)) is not None


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([], 0),
        ([0], 1),
        ([0, 10, 20, 30, 40], 5),
        ([0, 30, 60, 90, 121], 4),  # the fifth is a minute late
        ([0, 30, 60, 90, 120], 5),  # exactly the window
        ([121, 0, 90, 60, 30, 200], 4),  # order does not matter
    ],
)
def test_peak(minutes: list[int], expected: int) -> None:
    assert peak([T0 + timedelta(minutes=m) for m in minutes], WINDOW) == expected


def test_topic_names_the_words_most_share_as_written() -> None:
    texts = [
        "На ул. Октябрьская, 14 прорвало трубу",
        "Октябрьская 14: трубу прорвало, вода",
        "Октябрьская, 14 — нет воды",
    ]
    assert topic(texts) == ["октябрьская", "прорвало", "трубу", "вода"]  # by count, then as first met


def earlier(case_id: int, days: int, author: str, text: str) -> Earlier:
    return Earlier(case_id, T0 - timedelta(days=days), author, signature(text))


@pytest.mark.parametrize(
    ("author", "text", "expected"),
    [
        ("vk:42", "Совсем другой вопрос про снег", 3),  # the same author: the newest of his
        ("", "Яма у дома 5 на Ленина, машины бьют колёса", 2),  # nearly the same text
        ("vk:99", "Не вывозят мусор", None),
        ("", "", None),
    ],
)
def test_repeat_of(author: str, text: str, expected: int | None) -> None:
    cases = [
        earlier(1, 20, "vk:42", "Не горят фонари во дворе"),
        earlier(2, 10, "vk:7", "Яма у дома 5 на Ленина, машины бьют колёса!"),
        earlier(3, 5, "vk:42", "Когда уберут снег"),
    ]
    assert repeat_of(signature(text), author, cases) == expected


texts_ = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(max_examples=200, deadline=None)
@given(texts_, texts_)
def test_similarity_is_symmetric_reflexive_and_never_raises(a: str, b: str) -> None:
    sa, sb = signature(a), signature(b)
    assert similar(sa, sb) == similar(sb, sa)
    assert near_same(sa, sb) == near_same(sb, sa)
    if len(sa.stems) >= 2 or sa.address:
        assert similar(sa, sa)
    assert Signature.from_stored(sa.stored(), sa.address) == sa


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=600), max_size=40))
def test_peak_is_the_best_window_by_brute_force(minutes: list[int]) -> None:
    times = [T0 + timedelta(minutes=m) for m in minutes]
    brute = max((sum(1 for t in times if start <= t <= start + WINDOW.span) for start in times), default=0)
    assert peak(times, WINDOW) == brute


def test_the_spike_report_rings_at_night_its_growth_does_not() -> None:
    night = datetime(2026, 12, 1, 23, 0, tzinfo=ZoneInfo("Asia/Novosibirsk"))
    calendar = WorkingCalendar()
    assert silent(SPIKE, Role.HEAD, night, calendar) is False
    assert silent(SPIKE_GREW, Role.HEAD, night, calendar) is True


def test_the_spike_report_is_rendered_escaped_and_within_the_limit() -> None:
    cases = [{"id": 100 + i, "at": T0.isoformat(), "text": f"<b>Труба</b> & вода {i}" * 5} for i in range(20)]
    payload = {"count": 25, "minutes": 120, "address": "ул. Октябрьская, 14", "topic": ["труба", "вода"],
               "cases": cases, "more": 5}  # fmt: skip
    n = Notification("k", None, SPIKE, Role.HEAD, T0, payload=payload)
    text = render_notification(n, None, calendar=WorkingCalendar(), rules=DEFAULT_RULES, units={}, now=T0)
    lines = text.splitlines()
    assert lines[0] == "🚨 <b>Повышенная социальная активность (п.17)</b>: 25 похожих сообщений за 2 ч"
    assert lines[1:3] == ["Адрес: ул. Октябрьская, 14", "Тема: труба, вода"]
    assert lines[3].startswith("• № 100 · 17:00 · &lt;b&gt;Труба&lt;/b&gt; &amp; вода 0")
    assert lines[-1] == "…и ещё 5" and len(lines) == 24
    broken = Notification(
        "k", None, SPIKE, Role.HEAD, T0, payload={"cases": "x", "count": "y", "minutes": None}
    )
    assert render_notification(
        broken, None, calendar=WorkingCalendar(), rules=DEFAULT_RULES, units={}, now=T0
    )


@pytest.mark.parametrize(
    ("listed", "more", "first"),
    [
        (1, 0, "🚨 <b>Повышенная социальная активность</b>: ещё одно похожее сообщение, всего 6"),
        (4, 0, "🚨 <b>Повышенная социальная активность</b>: ещё похожих сообщений: 4, всего 6"),
        (20, 3, "🚨 <b>Повышенная социальная активность</b>: ещё похожих сообщений: 23, всего 6"),
    ],
)
def test_a_growth_notice_counts_the_members_since_the_last(listed: int, more: int, first: str) -> None:
    cases = [{"id": 100 + i, "at": T0.isoformat(), "text": "Труба"} for i in range(listed)]
    payload = {"count": 6, "minutes": 120, "cases": cases, "more": more}
    n = Notification("k", 100, SPIKE_GREW, Role.HEAD, T0, payload=payload)
    text = render_notification(n, None, calendar=WorkingCalendar(), rules=DEFAULT_RULES, units={}, now=T0)
    assert text.splitlines()[0] == first


# --- stored rows compared as they are (issue 16) ----------------------------------------------------------------

_STEMS = ["труб", "прорвал", "вод", "снег", "двор", "ям", "дорог"]
_rows = st.lists(
    st.builds(
        SignatureRow,
        case_id=st.integers(1, 60),
        at=st.integers(-200, 200).map(lambda m: T0 + timedelta(minutes=m)),
        stems=st.sets(st.sampled_from(_STEMS), max_size=5).map(lambda s: " ".join(sorted(s))),
        address=st.sampled_from(["", "ленин 5", "октябрьск 14"]),
        author=st.sampled_from(["", "vk:1", "vk:2"]),
        cluster_id=st.sampled_from([None, 1, 2, 3]),
    ),
    max_size=40,
    unique_by=lambda r: r.case_id,
)


@given(_rows, st.sets(st.sampled_from(_STEMS), min_size=1, max_size=5), st.sampled_from(["", "ленин 5"]),
       st.sampled_from(["", "vk:1"]), st.sampled_from([ZoneInfo("Asia/Novosibirsk"), UTC]))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_place_and_repeat_of_decide_on_stored_rows_as_on_their_own_objects(
    rows: list[SignatureRow], stems: set[str], address: str, author: str, zone: ZoneInfo
) -> None:
    new, at = Signature(frozenset(stems), address), T0.astimezone(zone)
    recents = [Recent(r.case_id, r.at, Signature.from_stored(r.stems, r.address), r.cluster_id) for r in rows]
    earliers = [Earlier(r.case_id, r.at, r.author, Signature.from_stored(r.stems, r.address)) for r in rows]
    window = Window(cap=25)
    assert place(new, at, rows, window) == place(new, at, recents, window)
    assert repeat_of(new, author, rows) == repeat_of(new, author, earliers)


def test_a_stored_signature_is_parsed_once_and_shared() -> None:
    row = SignatureRow(1, T0, "вод прорвал труб", "ленин 5")
    assert row.signature == Signature.from_stored("вод прорвал труб", "ленин 5")
    assert SignatureRow(2, T0, "вод прорвал труб", "ленин 5").signature is row.signature
    assert SignatureRow(3, T0, "вод прорвал труб").signature == Signature(frozenset({"вод", "прорвал", "труб"}))


_BERLIN = ZoneInfo("Europe/Berlin")
_SHIFT = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # Berlin's clocks go from 02:00 to 03:00


@given(st.lists(st.tuples(st.integers(-300, 300), st.booleans()), max_size=30), st.integers(-200, 200),
       st.sampled_from([_BERLIN, UTC, ZoneInfo("Asia/Novosibirsk")]))  # fmt: skip
@example([(-20, True), (-20, False)], 90, _BERLIN)  # 01:40 CET and 04:30 CEST: 2 h 50 min apart by the clock
def test_the_window_is_the_messages_within_its_span_as_python_subtracts_them(
    offsets: list[tuple[int, bool]], minutes: int, zone: ZoneInfo
) -> None:
    # Instants in the new message's zone are subtracted by the wall clock, others in UTC: the window keeps that.
    at = (_SHIFT + timedelta(minutes=minutes)).astimezone(zone)
    rows = [
        Recent(i, (_SHIFT + timedelta(minutes=m)).astimezone(_BERLIN if local else UTC), PIPE)
        for i, (m, local) in enumerate(offsets)
    ]
    window = Window(minutes=120, cap=20)
    expected = sorted((r for r in rows if abs(r.at - at) <= window.span), key=lambda r: (r.at, r.case_id))
    assert in_window(at, rows, window) == expected[::-1][: window.cap]
