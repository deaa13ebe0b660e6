"""Pure checks of a draft answer before it goes to a citizen (issue 13, item 5; RULES.md п.13/п.14, ПОС п.15/п.16).

Heuristics over word lists kept as data (workflow/data/answers/*.txt) so staff wording can be tuned without code.
No clock, no I/O beyond reading the packaged lists once; bad input yields findings, never an exception.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from workflow.model import Procedure

# Per-network text limits. VK wall comments: 16,384 characters is the figure in the brief, not confirmed from
# VK docs here [?]; OK comment 3,000; Telegram message 4,096; MAX message 4,000 (dev.max.ru). ПОС has no known limit, so it is skipped.
LIMITS: dict[str, int] = {"vk": 16_384, "ok": 3_000, "telegram": 4_096, "max": 4_000}

TEXTS: dict[str, str] = {
    "no_greeting": "Нет приветствия или обращения к автору в начале ответа.",
    "impolite": "В ответе есть грубые или пренебрежительные слова.",
    "familiar": "Обращение на «ты» или уменьшительное имя — нужен вежливый тон на «вы».",
    "formal_reply": "Похоже на отписку: нет конкретной меры, срока или ответственного подразделения.",
    "no_measures": "Повторное обращение: нужна конкретная мера со сроком.",
    "no_media": "В ответе обещаны фото или видео, но вложений нет.",
    "too_long": "Ответ длиннее, чем позволяет сеть",
}

_WORD = re.compile(r"[а-яёa-z0-9]+(?:-[а-яёa-z0-9]+)*")
_MONTHS = "января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
_DATE = re.compile(
    r"\b\d{1,2}\.\d{1,2}(?:\.\d{2,4})?\b"
    rf"|\b\d{{1,2}}\s+(?:{_MONTHS})\b"
    r"|\bв течение\s+(?:\d+|одного|двух|трёх|трех|пяти|десяти|недели|месяца|суток|дня)"
    r"|\bдо конца\s+(?:недели|месяца|года|дня)"
    r"|\b(?:сегодня|завтра|вчера|послезавтра)\b"
    r"|\bдо\s+\d{1,2}\b"
    r"|\b\d{4}\s+год"
    r"|\bв\s+(?:январе|феврале|марте|апреле|мае|июне|июле|августе|сентябре|октябре|ноябре|декабре)\b"
    r"|\b(?:на этой|на следующей|на текущей) неделе\b"
)


@dataclass(frozen=True)
class Finding:
    code: str
    text: str


@cache
def _words(name: str) -> tuple[str, ...]:
    """One packaged list, lowercase, comments and blanks dropped; cached: the lists never change at run time."""
    raw = resources.files("workflow").joinpath("data", "answers", f"{name}.txt").read_text(encoding="utf-8")
    return tuple(
        line.strip().lower() for line in raw.splitlines() if line.strip() and not line.startswith("#")
    )


def _normalise(text: str) -> str:
    # Control characters would split words unpredictably; emoji and others are kept (harmless to the regexes).
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text)
    return " ".join(cleaned.lower().replace("ё", "е").split())


def _norm_list(name: str) -> tuple[str, ...]:
    return tuple(w.replace("ё", "е") for w in _words(name))


def _has_stem(tokens: list[str], phrase_text: str, stems: tuple[str, ...]) -> bool:
    for stem in stems:
        if " " in stem or not stem.isalnum():
            if stem in phrase_text:
                return True
        elif any(token.startswith(stem) for token in tokens):
            return True
    return False


def _greeted(norm: str) -> bool:
    head = norm[:80]
    if any(head.startswith(g) for g in _norm_list("greetings")):
        return True
    # «Иван, добрый день» / «Мария Ивановна, здравствуйте»: a name then a greeting in the first clause.
    first = head.split(".")[0].split("!")[0]
    return any(g in first for g in _norm_list("greetings")) and first.find(",") >= 0


def _has_measure(tokens: list[str], norm: str) -> bool:
    return _has_stem(tokens, norm, _norm_list("measures"))


def check(
    text: str, *, procedure: Procedure | str, repeat: bool, media_count: int, network: str | None
) -> list[Finding]:
    """Findings for one draft, in a fixed order; an empty list means nothing to flag."""
    if not isinstance(text, str):
        return [Finding("no_greeting", TEXTS["no_greeting"])]
    norm = _normalise(text)
    tokens = _WORD.findall(norm)
    found: list[str] = []
    if not _greeted(norm):
        found.append("no_greeting")
    if _has_stem(tokens, norm, _norm_list("impolite")):
        found.append("impolite")
    familiar = set(_norm_list("familiar"))
    if any(token in familiar for token in tokens):
        found.append("familiar")
    measure = _has_measure(tokens, norm)
    dated = _DATE.search(norm) is not None
    unit = _has_stem(tokens, norm, _norm_list("units"))
    legal = sum(norm.count(ref) for ref in _norm_list("legal"))
    if (not measure and not dated and not unit) or (legal >= 2 and not measure):
        found.append("formal_reply")
    if repeat and not (measure and dated):
        found.append("no_measures")
    if media_count <= 0 and any(p in norm for p in _norm_list("media_promises")):
        found.append("no_media")
    result = [Finding(code, TEXTS[code]) for code in found]
    limit = LIMITS.get(network or "")
    if str(procedure) != Procedure.POS.value and limit is not None and len(text) > limit:
        result.append(Finding("too_long", f"{TEXTS['too_long']}: {len(text)} знаков при пределе {limit}."))
    return result
