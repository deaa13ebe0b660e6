"""Similar-message clusters (п.17 «повышенная социальная активность») and repeat suggestions: pure, text in.

A message becomes a `Signature`: its pseudo-stems (lower case, ё→е, stop words dropped, the commonest Russian
endings cut) and the address it names (street + house number), if any. Two messages are similar when they name
the same address, or when their stems overlap enough (Jaccard ≥ 0.25 with at least two shared stems). A new
message joins the cluster of the similar recent messages within the sliding window (default 2 hours); a cluster
whose members reach the threshold within one window (default 5) is reported to the head once.

No morphology library: a light suffix stripper puts «Октябрьская» / «Октябрьской» / «октябрьскую» on one stem,
which is all a similarity of short citizens' messages needs, at a few microseconds a message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar


def _listed(text: str) -> list[str]:
    """A word list written as text, one blank between words."""
    return text.split()


# Longest first: the first ending that leaves a stem of MIN_STEM letters or more is cut.
_ENDINGS = sorted(
    _listed("""
    иями ями ами ого его ому ему ыми ими ешь ете ишь ите ется ются ится ятся ать ять еть ить уть ают яют
    ает яет ала яла ила ела али яли или ели ило ело ала ует уют ств ство ства ские ский ская ское ской
    скую ских ском ного ному ной ный ная ное ную ных ним ней ний няя нее ние ния нию нием ниях ов ев ей
    ий ый ой ая яя ое ее ую юю ые ие ых их ом ем ам ям ах ях ию ья ье ьи ью ы и а я о е у ю ь й
    """),
    key=len,
    reverse=True,
)
# Letters a multi-letter ending must leave; a one-letter ending leaves at least two («ямы» → «ям»).
MIN_STEM = 3
_WORD = re.compile(r"[а-яa-z0-9]+(?:-[а-яa-z0-9]+)*")
_STOP = frozenset(
    _listed("""
    и в во на не нет но а о об от до по под над за из к ко с со у же ли бы то это этот эта эти тот та те
    как так что чтобы кто где когда уже еще ещё очень все всё весь вся мы вы они он она оно я ты нас вас
    нам вам им их его ее её мне меня мой наш ваш свой уже был была было были будет есть быть там тут здесь
    сколько почему зачем можно нужно надо пожалуйста просим прошу добрый день здравствуйте спасибо
    который которая которые или либо даже только при для без про между через около возле рядом
    улица улице улицы улицу ул дом дома доме домом д пр пр-т проспект переулок пер один одна два две три
    """)
)

# Street types, then the street's name (one or two words), then the house: «ул. Октябрьская, 14»,
# «улице Ленина у дома 5», «пр-т Мира д. 12а». The reverse order: «у дома 5 на улице Ленина».
_STREET_TYPE = (
    r"(?:ул(?:\.|ица|ице|ицы|ицу|ицей)?|пр(?:\.|-т|оспект|оспекте|оспекта)|пер(?:\.|еулок|еулке|еулка)"
    r"|б-р|бульвар(?:е|а)?|пл(?:\.|ощадь|ощади)|шоссе|мкр(?:\.|-н)?|микрорайон(?:е|а)?|наб(?:\.|ережная|ережной))"
)
_NAME = r"((?:\d+-?(?:я|й|го)\s+)?[а-яa-z][а-яa-z-]+(?:\s+[а-яa-z][а-яa-z-]+)?)"
_HOUSE = r"(\d{1,4}(?:\s?[а-я](?![а-я]))?(?:/\d{1,4}|к\d{1,2})?)"
_HOUSE_WORD = r"(?:д\.|дом|дома|доме|домом|у\s+дома|около\s+дома|возле\s+дома)"
# The name before its type: «на Октябрьской улице возле дома 14».
_NAME_FIRST = r"([а-яa-z][а-яa-z-]+)\s+" + _STREET_TYPE
_PATTERNS = (
    # (pattern, group of the street's name, group of the house)
    (re.compile(rf"(?<![а-яa-z]){_STREET_TYPE}\s*{_NAME}[\s,]*(?:{_HOUSE_WORD}\s*)?{_HOUSE}(?!\d)"), 1, 2),
    (re.compile(rf"(?<![а-яa-z]){_NAME_FIRST}[\s,]*(?:{_HOUSE_WORD}\s*)?{_HOUSE}(?!\d)"), 1, 2),
    (
        re.compile(
            rf"(?<![а-яa-z]){_HOUSE_WORD}\s*{_HOUSE}(?!\d)[\s,]*(?:на|по)?\s*{_STREET_TYPE}\s*([а-яa-z][а-яa-z-]+)"
        ),
        2,
        1,
    ),
)
# «Октябрьская, 14», «Ленина, 5»: a capitalised name (an adjective or a genitive) and a house after a comma.
_BARE = re.compile(
    r"(?<![\w-])([А-ЯЁ][а-яё-]{2,}(?:ая|яя|ой|ий|ый|а|я|ого))\s*,\s*(?:д\.\s*|дом\s*)?(\d{1,4}(?:к\d{1,2}|[а-я])?)(?![\d\w])"
)
# What the name group may catch that names no street: «улице возле дома 14».
_NOT_NAMES = frozenset(
    {"возле", "около", "у", "дома", "дом", "доме", "д", "рядом", "напротив", "на", "по", "в"}
)

JACCARD = 0.25  # similar: at least this share of the two messages' stems in common ...
SHARED = 2  # ... and at least this many in common
NEAR_JACCARD = 0.6  # a repeat by text: nearly the same words
NEAR_SHARED = 3


# The endings by length, longest first: a word has one ending of each length, so the first length whose ending is
# known and leaves enough letters is the cut `_ENDINGS`' order makes (a set lookup per length, not ~100 endswith).
_ENDINGS_BY_LENGTH = tuple(
    (size, frozenset(e for e in _ENDINGS if len(e) == size))
    for size in sorted({len(e) for e in _ENDINGS}, reverse=True)
)


def stem(word: str) -> str:
    """A pseudo-stem: the word lower-cased, ё as е, its longest known ending cut while MIN_STEM letters stay."""
    word = word.lower().replace("ё", "е")
    for size, endings in _ENDINGS_BY_LENGTH:
        if len(word) - size >= (MIN_STEM if size > 1 else 2) and word[-size:] in endings:
            return word[:-size]
    return word


def words(text: str) -> list[tuple[str, str]]:
    """(word as written, lower-cased; its stem) for every content word: no stop words, no bare numbers."""
    found: list[tuple[str, str]] = []
    for token in _WORD.findall(text.lower().replace("ё", "е")):
        if token in _STOP or token[0].isdigit() or len(token) < 3:
            continue
        found.append((token, stem(token)))
    return found


@dataclass(frozen=True, slots=True)
class Address:
    key: str  # "октябрьск 14": the street's stem and the house, as compared
    shown: str  # "ул. Октябрьская, 14": as the first message wrote it


def find_address(text: str) -> Address | None:
    """The first street + house number the text names, or None."""
    low = text.lower().replace("ё", "е")
    found: list[tuple[int, int, str, str]] = []  # start, end, street, house
    for pattern, name_group, house_group in _PATTERNS:
        for match in pattern.finditer(low):
            street = match.group(name_group)
            if street.split()[0] in _NOT_NAMES or street in _STOP:
                continue
            found.append((match.start(), match.end(), street, match.group(house_group)))
            break
    bare = _BARE.search(text)
    if bare is not None:
        found.append((bare.start(), bare.end(), bare.group(1).lower().replace("ё", "е"), bare.group(2)))
    if not found:
        return None
    start, end, street, house = min(found)
    name = " ".join(stem(part) for part in street.split())
    return Address(key=f"{name} {house.replace(' ', '')}", shown=text[start:end].strip(" ,"))


@dataclass(frozen=True, slots=True)
class Signature:
    """What clustering and repeats compare: the message's stems and its address key ("" for none)."""

    stems: frozenset[str]
    address: str = ""

    def stored(self) -> str:
        """The stems as one text column: sorted, space-separated."""
        return " ".join(sorted(self.stems))

    @classmethod
    def from_stored(cls, stems: str, address: str | None) -> Signature:
        return cls(frozenset(stems.split()), address or "")


_STORED: dict[tuple[str, str], Signature] = {}
_STORED_CAP = 8_192  # distinct stored signatures kept; past it the cache starts again (it only saves parsing)


def stored_signature(stems: str, address: str | None) -> Signature:
    """`Signature.from_stored`, one shared object per (stems, address): a registration compares a few hundred
    stored signatures, and in a storm most carry the same words. A Signature is immutable, so sharing is safe."""
    key = (stems, address or "")
    found = _STORED.get(key)
    if found is None:
        if len(_STORED) >= _STORED_CAP:
            _STORED.clear()
        found = _STORED[key] = Signature.from_stored(stems, address)
    return found


# Beyond this a message is no citizen's note; its start says what it is about.
MAX_CHARS = 5_000


def signature(text: str) -> Signature:
    text = text[:MAX_CHARS]
    address = find_address(text)
    return Signature(frozenset(s for _, s in words(text)), address.key if address else "")


def jaccard(a: frozenset[str], b: frozenset[str]) -> tuple[float, int]:
    """The share of stems in common and how many there are."""
    if not a or not b:
        return 0.0, 0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared), shared


def similar(a: Signature, b: Signature) -> bool:
    """The same address, or the same problem in enough of the same words."""
    if a.address and a.address == b.address:
        return True
    share, shared = jaccard(a.stems, b.stems)
    return shared >= SHARED and share >= JACCARD


def near_same(a: Signature, b: Signature) -> bool:
    """Nearly the same text: what a repeat by text is."""
    share, shared = jaccard(a.stems, b.stems)
    return shared >= NEAR_SHARED and share >= NEAR_JACCARD


# --- the sliding window -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """When a cluster is a spike: `threshold` similar messages within `minutes`; at most `cap` recent messages
    are compared with a new one (the newest). The stored lookup hands `place` only the window's messages that
    share a stem or the address with the new one (issue 16), so `cap` bounds those candidates, not the window."""

    threshold: int = 5
    minutes: int = 120
    cap: int = 500

    @property
    def span(self) -> timedelta:
        return timedelta(minutes=self.minutes)


class Compared(Protocol):
    """What `place` reads of a message of the window: a `Recent`, or a stored row (workflow.ports.SignatureRow)
    as it is, so a registration builds no second object per row it compares."""

    @property
    def case_id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def signature(self) -> Signature: ...
    @property
    def cluster_id(self) -> int | None: ...


_Compared = TypeVar("_Compared", bound=Compared)


@dataclass(frozen=True, slots=True)
class Recent:
    """A message of the window: its case, when it came, its signature and the cluster it is in (None: none)."""

    case_id: int
    at: datetime
    signature: Signature
    cluster_id: int | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a new message goes: into cluster `join` (None: a new cluster), with the similar recent messages
    not yet in any cluster (`pull`) joining along."""

    join: int | None
    pull: tuple[int, ...] = ()


def in_window(at: datetime, recent: Sequence[_Compared], window: Window) -> list[_Compared]:
    """The recent messages within the window of `at` (either side), the newest `cap` of them."""
    span = window.span
    # `r.at - at` as Python computes it (by the wall clock when both share a tzinfo, else in UTC), with the UTC
    # side taken once: stored instants are UTC, and a difference across zones asks both for their offsets.
    zone, at_utc = at.tzinfo, at.astimezone(UTC)
    near = [r for r in recent if abs(r.at - (at if r.at.tzinfo is zone else at_utc)) <= span]
    near.sort(key=lambda r: (r.at, r.case_id), reverse=True)
    return near[: window.cap]


def place(new: Signature, at: datetime, recent: Sequence[Compared], window: Window) -> Placement | None:
    """The cluster a new message joins, or None when nothing in its window is similar to it.

    Among the clusters of its similar messages it joins the one with most of them (the newest on a tie);
    clusters are never merged, so a report once sent stays about the messages it listed.
    """
    # `similar`, with the stems compared once per distinct stem set: a storm is many messages in the same words.
    overlaps: dict[frozenset[str], bool] = {}
    matches = []
    for r in in_window(at, recent, window):
        theirs = r.signature
        if new.address and new.address == theirs.address:
            matches.append(r)
            continue
        alike = overlaps.get(theirs.stems)
        if alike is None:
            share, shared = jaccard(new.stems, theirs.stems)
            alike = overlaps[theirs.stems] = shared >= SHARED and share >= JACCARD
        if alike:
            matches.append(r)
    if not matches:
        return None
    votes: dict[int, int] = {}
    newest: dict[int, datetime] = {}  # each cluster's newest match (the first of equal instants)
    for r in matches:
        cluster = r.cluster_id
        if cluster is not None:
            votes[cluster] = votes.get(cluster, 0) + 1
            seen = newest.get(cluster)
            if seen is None or r.at > seen:
                newest[cluster] = r.at
    join = max(votes, key=lambda c: (votes[c], newest[c], c)) if votes else None
    pull = tuple(sorted(r.case_id for r in matches if r.cluster_id is None))
    return Placement(join=join, pull=pull)


def peak(times: Iterable[datetime], window: Window) -> int:
    """The most of these instants within any one window span: a cluster is a spike when it reaches the
    threshold, whatever order its messages were registered in."""
    ordered = sorted(times)
    best = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] > window.span:
            start += 1
        best = max(best, end - start + 1)
    return best


def topic(texts: Iterable[str], limit: int = 4) -> list[str]:
    """The words most of the messages share, as first written: the cluster's subject for the head's report.

    By how many messages have the word, then by where it first appeared (the same order on every run)."""
    seen: Counter[str] = Counter()
    shown: dict[str, str] = {}  # stem -> the word as first met; dicts keep that order
    count = 0
    for text in texts:
        count += 1
        found = words(text[:MAX_CHARS])
        for word, s in found:
            shown.setdefault(s, word)
        seen.update(list(dict.fromkeys(s for _, s in found)))  # each message counts a word once
    order = {s: i for i, s in enumerate(shown)}
    common = sorted(
        (s for s, n in seen.items() if n >= max(2, (count + 1) // 2)), key=lambda s: (-seen[s], order[s])
    )
    return [shown[s] for s in common[:limit]]


# --- repeats ------------------------------------------------------------------------------------------------


class Prior(Protocol):
    """What `repeat_of` reads of an earlier message: an `Earlier`, or a stored row as it is."""

    @property
    def case_id(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def author(self) -> str: ...
    @property
    def signature(self) -> Signature: ...


@dataclass(frozen=True, slots=True)
class Earlier:
    """A case of the last `repeat_days`: who wrote it (network + author id, "" unknown) and its signature."""

    case_id: int
    at: datetime
    author: str
    signature: Signature


def repeat_of(new: Signature, author: str, earlier: Sequence[Prior]) -> int | None:
    """The earlier case a new message repeats: the newest by the same author, else the one nearest in text
    among those nearly the same; None for none."""
    ordered = sorted(earlier, key=lambda e: (e.at, e.case_id), reverse=True)
    if author:
        same = next((e for e in ordered if e.author == author), None)
        if same is not None:
            return same.case_id
    best: tuple[float, int] | None = None
    shares: dict[frozenset[str], float | None] = {}  # each distinct stem set scored once (near_same: stems only)
    for e in ordered:
        stems = e.signature.stems
        if stems in shares:
            share = shares[stems]
        else:
            share = shares[stems] = jaccard(new.stems, stems)[0] if near_same(new, e.signature) else None
        if share is not None and (best is None or share > best[0]):
            best = (share, e.case_id)
            if share >= 1.0:
                break  # the same stems: none later (older) can beat it, a tie keeps the newest
    return best[1] if best is not None else None
