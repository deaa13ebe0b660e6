"""draft_review.review: the answer checks get the case's procedure, repeat flag, network limit and the draft's own
photos or video (issue 13, item 5). Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from workflow.draft_review import network_of, review
from workflow.model import Attachment, Case, InboundMessage, Network, Procedure, Source

AT = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Novosibirsk"))
GOOD = "Здравствуйте! Яму у дома 5 отремонтирует ЖКХ 5 марта."


def case(procedure: Procedure = Procedure.OPEN_SOURCES, repeat_of: int | None = None) -> Case:
    return Case(7, procedure, "in_units", 3, AT, repeat_of=repeat_of)


def message(network: Network | None) -> InboundMessage:
    return InboundMessage(Source.INTAKE, "1:1", Procedure.OPEN_SOURCES, "яма", AT, network=network)


def codes(c: Case, m: InboundMessage | None, text: str, files: tuple[Attachment, ...]) -> list[str]:
    return [f.code for f in review(c, m, text, files)]


def test_a_good_draft_has_no_findings() -> None:
    assert codes(case(), message(Network.VK), GOOD, ()) == []


def test_a_repeat_needs_a_concrete_measure_with_a_date() -> None:
    vague = "Здравствуйте! Вопрос на контроле ЖКХ."
    assert "no_measures" not in codes(case(), message(Network.VK), vague, ())
    assert "no_measures" in codes(case(repeat_of=3), message(Network.VK), vague, ())
    assert codes(case(repeat_of=3), message(Network.VK), GOOD, ()) == []


@pytest.mark.parametrize(("network", "limit"), [(Network.OK, 3_000), (Network.TELEGRAM, 4_096), (Network.VK, 16_384)])
def test_the_length_limit_is_the_networks(network: Network, limit: int) -> None:
    text = GOOD + " " + "а" * (limit - len(GOOD))
    assert len(text) > limit and "too_long" in codes(case(), message(network), text, ())
    assert "too_long" not in codes(case(), message(network), text[:limit], ())


def test_no_limit_without_a_known_network_or_in_pos() -> None:
    long = GOOD + " " + "а" * 20_000
    assert network_of(message(Network.OTHER)) is None and network_of(None) is None
    assert "too_long" not in codes(case(), message(Network.OTHER), long, ())
    assert "too_long" not in codes(case(Procedure.POS), None, long, ())


def test_a_promised_photo_must_be_a_photo_or_video_of_the_draft() -> None:
    promise = GOOD + " Фото прилагаем."
    assert "no_media" in codes(case(), message(Network.VK), promise, ())
    assert "no_media" in codes(case(), message(Network.VK), promise, (Attachment("document", "f1", "акт.pdf"),))
    assert "no_media" not in codes(case(), message(Network.VK), promise, (Attachment("photo", "f2"),))
    assert "no_media" not in codes(case(), message(Network.VK), promise, (Attachment("video", "f3"),))
