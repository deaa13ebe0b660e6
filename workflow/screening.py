"""Screening of an incoming message under п.15 (open sources) and п.17 (ПОС): pure, text in, findings out.

п.15 excludes from work a message with obscenity, insults, threats to an official's life/health/property or family,
or intent to harm others; `significant` marks a socially significant topic (п.17) so staff see it first.
Word lists live in workflow/data/screening/*.txt so linguists can extend them without touching code.
No morphology library: roots and exact forms over a normalised text are enough for the corpus thresholds and keep
the throughput far above the goal (a lemmatiser would cost a dictionary load and a per-word lookup).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Flag = Literal["obscenity", "insult", "threat", "harm"]
FLAGS: tuple[Flag, ...] = ("obscenity", "insult", "threat", "harm")

# Beyond this a message is surely not a citizen's note; screening a prefix keeps the cost bounded.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Match:
    flag: Flag | Literal["significant"]
    text: str


@dataclass(frozen=True)
class Findings:
    flags: tuple[Flag, ...]
    significant: bool
    matches: tuple[Match, ...]

    @property
    def exclude(self) -> bool:
        """п.15: any finding excludes the message from work; significance alone never does."""
        return bool(self.flags)

    def as_json(self) -> dict[str, object]:
        return {
            "flags": list(self.flags),
            "exclude": self.exclude,
            "significant": self.significant,
            "matches": [{"flag": m.flag, "text": m.text} for m in self.matches],
        }


# Latin and digit look-alikes used to disguise Cyrillic letters.
_LOOKALIKE = str.maketrans(
    {
        "a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "k": "к", "m": "м",
        "t": "т", "h": "н", "3": "з", "0": "о", "6": "б", "4": "ч", "@": "а", "u": "и", "n": "п",
        "r": "г", "i": "и", "і": "и", "ї": "и", "ë": "е", "ё": "е", "$": "с", "l": "л", "d": "д",
        "z": "з", "s": "с", "v": "в", "j": "й", "g": "г", "f": "ф", "w": "ш", "q": "я",
    }
)
_CYR = re.compile(r"[а-яё]")
_LATIN_ONLY = re.compile(r"^[a-z]+$")
_TOKEN = re.compile(r"[\w@*$.\-]+")
_INNER = re.compile(r"[._\-]+")
_REPEAT = re.compile(r"(.)\1+")
_SPACED = re.compile(r"(?<![\w*])(?:[\w*@][ .]{1,2}){2,}[\w*@](?![\w*])")
_WORD = re.compile(r"[а-яa-z0-9]+")
_SENTENCE = re.compile(r"[.!?;\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2060\ufeff]")


def _lines(name: str) -> list[str]:
    text = resources.files("workflow").joinpath("data", "screening", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class _Lists:
    obscene: re.Pattern[str]
    latin: re.Pattern[str]
    exceptions: tuple[str, ...]
    masked: tuple[str, ...]
    strong: tuple[str, ...]
    weak: frozenset[str]
    official_exact: frozenset[str]
    official_stems: tuple[str, ...]
    other_exact: frozenset[str]
    other_stems: tuple[str, ...]
    violent: frozenset[str]
    threats: re.Pattern[str]
    harms: re.Pattern[str]
    idioms: re.Pattern[str]
    significant: re.Pattern[str]


@lru_cache(maxsize=1)
def _lists() -> _Lists:
    official = _lines("targets_official.txt")
    other = _lines("targets_other.txt")
    return _Lists(
        obscene=re.compile("|".join(f"(?:{p})" for p in _lines("obscenity.txt"))),
        latin=re.compile("|".join(f"(?:{p})" for p in _lines("obscenity_latin.txt"))),
        exceptions=tuple(_lines("obscenity_exceptions.txt")),
        # Collapsed like the words they are compared with («ох*енно» → «ох*ено»).
        masked=tuple(_REPEAT.sub(r"\1", w) for w in _lines("obscenity_masked.txt")),
        strong=tuple(_lines("insult_strong.txt")),
        weak=frozenset(_lines("insult_weak.txt")),
        official_exact=frozenset(w[1:] for w in official if w.startswith("=")),
        official_stems=tuple(w for w in official if not w.startswith("=")),
        other_exact=frozenset(w[1:] for w in other if w.startswith("=")),
        other_stems=tuple(w for w in other if not w.startswith("=")),
        violent=frozenset(_lines("violent_verbs.txt")),
        threats=re.compile("|".join(f"(?:{p})" for p in _lines("threat_phrases.txt"))),
        harms=re.compile("|".join(f"(?:{p})" for p in _lines("harm_phrases.txt"))),
        idioms=re.compile("|".join(f"(?:{p})" for p in _lines("violence_idioms.txt"))),
        significant=re.compile("|".join(f"(?:{p})" for p in _lines("significant.txt"))),
    )


@lru_cache(maxsize=65_536)
def _obscene_token(token: str) -> bool:
    """One raw token (lowercase) — is it a disguised or plain obscene word?"""
    lists = _lists()
    bare = token.strip(".-_")
    if not bare:
        return False
    if _LATIN_ONLY.match(bare):
        # A purely Latin word is transliteration, not disguise: mapping it letter by letter would turn English
        # («ebay», «hui» in names) into false hits, so it gets its own short list.
        return bool(lists.latin.search(_REPEAT.sub(r"\1", bare)))
    if not _CYR.search(bare) and not any(ch in bare for ch in "*@0346$"):
        return False
    variants = {bare.translate(_LOOKALIKE)}
    if "b" in bare:  # «b» stands for «в», «б» or «ь» depending on the word
        variants = {bare.replace("b", ch).translate(_LOOKALIKE) for ch in "вбь"}
    for raw in variants:
        word = _REPEAT.sub(r"\1", _INNER.sub("", raw))
        if "*" in word:
            if _masked(word):
                return True
            continue
        if word.startswith(lists.exceptions):
            continue
        if lists.obscene.search(word):
            return True
    return False


def _masked(word: str) -> bool:
    """«б*я», «х*й», «п**да»: stars hide one or two letters each; at least two real letters must remain."""
    letters = sum(1 for ch in word if ch != "*")
    if letters < 2:
        return False
    pattern = re.compile(
        "".join("[а-я]{1,2}" if part.startswith("*") else re.escape(part) for part in re.split(r"(\*+)", word) if part)
    )
    return any(pattern.fullmatch(full) for full in _lists().masked)


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text[:MAX_CHARS]).lower().replace("ё", "е")


def _obscenity(text: str) -> list[str]:
    found: list[str] = []
    for spaced in _SPACED.finditer(text):  # «х у й», «п и з д а»: letters spelled apart
        joined = re.sub(r"[ .]", "", spaced.group())
        if len(joined) >= 3 and _obscene_token(joined):
            found.append(spaced.group())
    for token in _TOKEN.findall(text):
        if _obscene_token(token):
            found.append(token.strip(".-"))
    return found


def _targets_official(words: list[str]) -> bool:
    lists = _lists()
    return any(w in lists.official_exact or w.startswith(lists.official_stems) for w in words)


def _insults(text: str) -> list[str]:
    lists = _lists()
    found: list[str] = []
    for sentence in _SENTENCE.split(text):
        words = _WORD.findall(sentence)
        # «мы не быдло», «я не идиот»: a negated word describes nobody.
        strong = [w for i, w in enumerate(words) if w.startswith(lists.strong) and (i == 0 or words[i - 1] != "не")]
        found.extend(strong)
        weak = [w for w in words if w in lists.weak]
        if weak and _targets_official(words):
            found.extend(weak)
    return found


def _is_official(word: str) -> bool:
    lists = _lists()
    return word in lists.official_exact or word.startswith(lists.official_stems)


def _is_other(word: str) -> bool:
    lists = _lists()
    return word in lists.other_exact or word.startswith(lists.other_stems)


def _nearest(words: list[str], i: int, test: Callable[[str], bool]) -> int | None:
    distances = [abs(j - i) for j, w in enumerate(words) if j != i and test(w)]
    return min(distances) if distances else None


def _violence(text: str) -> tuple[list[str], list[str]]:
    """Threats (to an official, the family, their property, or nobody named — the message is addressed to the
    administration) and harm (the same verbs aimed at third parties). A verb goes to whichever kind of target is
    nearest in its sentence: «собак перестреляю, раз администрация не может» is about the dogs."""
    lists = _lists()
    threats = [m.group() for m in lists.threats.finditer(text)]
    harm = [m.group() for m in lists.harms.finditer(text)]
    text = lists.idioms.sub(" ", text)
    for sentence in _SENTENCE.split(text):
        words = _WORD.findall(sentence)
        for i, word in enumerate(words):
            if word not in lists.violent:
                continue
            official = _nearest(words, i, _is_official)
            other = _nearest(words, i, _is_other)
            if other is not None and (official is None or other < official):
                harm.append(word)
            else:
                threats.append(word)
    return threats, harm


def screen(text: object) -> Findings:
    """Screen one message; any input (not only str) gives findings or none, never an exception."""
    if not isinstance(text, str) or not text.strip():
        return Findings(flags=(), significant=False, matches=())
    clean = _clean(text)
    matches: list[Match] = []
    matches += [Match("obscenity", w) for w in _obscenity(clean)]
    matches += [Match("insult", w) for w in _insults(clean)]
    threats, harm = _violence(clean)
    matches += [Match("threat", w) for w in threats]
    matches += [Match("harm", w) for w in harm]
    significant = [m.group() for m in _lists().significant.finditer(clean)]
    matches += [Match("significant", w.strip()) for w in significant[:3]]
    flags = tuple(f for f in FLAGS if any(m.flag == f for m in matches))
    return Findings(flags=flags, significant=bool(significant), matches=tuple(matches))
