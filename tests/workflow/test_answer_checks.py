"""Answer checks against the labelled drafts corpus, per-code tables, and a never-raises property."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.answer_checks import TEXTS, check

CORPUS = Path(__file__).resolve().parents[1] / "data" / "screening" / "drafts.jsonl"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _codes(row: dict[str, Any]) -> set[str]:
    findings = check(
        row["text"],
        procedure=row.get("procedure", "open_sources"),
        repeat=bool(row.get("repeat", False)),
        media_count=int(row.get("media", 0)),
        network=row.get("network"),
    )
    return {f.code for f in findings}


def test_corpus_is_big_and_covers_every_code() -> None:
    rows = _rows()
    assert len(rows) >= 100
    covered = {code for row in rows for code in row["codes"]}
    assert covered == set(TEXTS)
    assert any(not row["codes"] for row in rows)


def test_checks_agree_with_labels_on_90_percent() -> None:
    rows = _rows()
    misses = [
        (row["text"][:80], sorted(_codes(row)), row["codes"])
        for row in rows
        if _codes(row) != set(row["codes"])
    ]
    share = 1 - len(misses) / len(rows)
    assert share >= 0.9, misses


OK = "Здравствуйте! Яма у дома 12 будет заделана подрядчиком до 15.12.2026."


@pytest.mark.parametrize(
    ("text", "kwargs", "code", "expected"),
    [
        ("Яма у дома 12 будет заделана подрядчиком до 15.12.2026.", {}, "no_greeting", True),
        (OK, {}, "no_greeting", False),
        ("Иван, добрый день! Яма заделана 1 декабря.", {}, "no_greeting", False),
        ("Уважаемая Мария! Яма заделана 1 декабря.", {}, "no_greeting", False),
        ("Здравствуйте! Не морочьте голову, яма заделана 1 декабря.", {}, "impolite", True),
        (OK, {}, "impolite", False),
        ("Здравствуйте! Ты зря волнуешься, яма заделана 1 декабря.", {}, "familiar", True),
        ("Добрый день, Машенька! Яма заделана 1 декабря.", {}, "familiar", True),
        (OK, {}, "familiar", False),
        ("Здравствуйте! Информация принята к сведению.", {}, "formal_reply", True),
        (
            "Здравствуйте! В соответствии с ФЗ № 59-ФЗ, согласно ст. 12, обращение рассмотрено подрядчиком.",
            {},
            "formal_reply",
            True,
        ),
        (OK, {}, "formal_reply", False),
        ("Здравствуйте! Вопрос на контроле управления.", {"repeat": True}, "no_measures", True),
        (OK, {"repeat": True}, "no_measures", False),
        ("Здравствуйте! Вопрос на контроле управления.", {"repeat": False}, "no_measures", False),
        (OK + " Фото прилагаем.", {"media_count": 0}, "no_media", True),
        (OK + " Фото прилагаем.", {"media_count": 1}, "no_media", False),
        (OK + " x" * 1600, {"network": "ok"}, "too_long", True),
        (OK + " x" * 1600, {"network": "telegram"}, "too_long", False),
        (OK + " x" * 2100, {"network": "telegram"}, "too_long", True),
        (OK + " x" * 9000, {"network": "vk"}, "too_long", True),
        (OK + " x" * 9000, {"network": "vk", "procedure": "pos"}, "too_long", False),
        (OK + " x" * 9000, {"network": None}, "too_long", False),
    ],
)
def test_each_code(text: str, kwargs: dict[str, Any], code: str, expected: bool) -> None:
    args: dict[str, Any] = {"procedure": "open_sources", "repeat": False, "media_count": 0, "network": None}
    args.update(kwargs)
    findings = check(text, **args)
    assert (code in {f.code for f in findings}) is expected
    assert all(f.text for f in findings)


@pytest.mark.parametrize("text", ["", " ", "\x00\x01\x7f", "😀" * 500, "а" * 100_000, "\u200b\ufeff"])
def test_bad_input_does_not_raise(text: str) -> None:
    for network in ("vk", "ok", "telegram", None, "zzz"):
        check(text, procedure="open_sources", repeat=True, media_count=-1, network=network)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.booleans(), st.integers(), st.sampled_from(["vk", "ok", "telegram", None, ""]))
def test_never_raises(text: str, repeat: bool, media: int, network: str | None) -> None:
    findings = check(text, procedure="pos", repeat=repeat, media_count=media, network=network)
    assert all(f.code in TEXTS for f in findings)
