"""What the п.15 / п.17 screening found at intake, read back from the registration event (issue 13, item 2).

Pure: events in, a note out. `open_case` keeps the findings in the registration event's data (lifecycle.SCREENING);
the card shows them and offers one-tap «Исключить» (the ordinary exclusion, its reason written from the findings)
or «Не исключать» (Action.SCREEN_KEEP). A person always decides; both the findings and the decision are history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workflow.lifecycle import REGISTER, SCREENING
from workflow.model import Event, Procedure
from workflow.screening import FLAGS

# The grounds of п.15 (open sources) / п.17 (ПОС), as the card and the exclusion reason name them.
FLAG_NAMES: Mapping[str, str] = {
    "obscenity": "нецензурная брань",
    "insult": "оскорбление",
    "threat": "угроза должностному лицу",
    "harm": "намерение причинить вред",
}
WORDS_SHOWN = 3  # triggering words named per ground


@dataclass(frozen=True)
class ScreenNote:
    """The findings of one message: per ground the words that triggered it, and the significant phrases."""

    grounds: tuple[tuple[str, tuple[str, ...]], ...]  # (flag, words), in FLAGS order
    significant: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return bool(self.grounds)


def point(procedure: Procedure) -> str:
    """The point of the Порядок that excludes such messages: п.15 for open sources, п.17 for ПОС."""
    return "п.17" if procedure is Procedure.POS else "п.15"


def _words(matches: Iterable[object], flag: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in matches:
        if isinstance(match, Mapping) and match.get("flag") == flag:
            text = match.get("text")
            if isinstance(text, str) and text and text not in found:
                found.append(text)
    return tuple(found[:WORDS_SHOWN])


def screen_note(events: Iterable[Event]) -> ScreenNote | None:
    """The registration's findings, or None when it found nothing (or the data is not what open_case writes)."""
    register = next((e for e in events if e.action == REGISTER), None)
    data = register.data.get(SCREENING) if register is not None else None
    if not isinstance(data, Mapping):
        return None
    flags = data.get("flags")
    matches = data.get("matches")
    if not isinstance(flags, list) or not isinstance(matches, list):
        return None
    grounds = tuple((f, _words(matches, f)) for f in FLAGS if f in flags)
    significant = _words(matches, "significant") if data.get("significant") is True else ()
    if not grounds and not significant:
        return None
    return ScreenNote(grounds=grounds, significant=significant)


def quoted(words: Iterable[str]) -> str:
    return ", ".join(f"«{w}»" for w in words)


def ground_line(flag: str, words: tuple[str, ...]) -> str:
    """«угроза должностному лицу — «убью»»."""
    name = FLAG_NAMES.get(flag, flag)
    return f"{name} — {quoted(words)}" if words else name


def exclusion_reason(note: ScreenNote, procedure: Procedure) -> str:
    """The reason of a one-tap exclusion: «п.15: угроза должностному лицу — «убью»; нецензурная брань — «…»»."""
    grounds = "; ".join(ground_line(flag, words) for flag, words in note.grounds)
    return f"{point(procedure)}: {grounds} (по проверке текста, подтверждено)"
