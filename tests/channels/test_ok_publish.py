"""Answers out to Odnoklassniki through the real client (channels/ok.py) against the OK emulator, on the
publication queue over real SQLite and PostgreSQL: a comment answered as the group once, across a crash after
the call and before the row was marked (the operator is asked; «publish again» finds the answer already there
and posts nothing); a cut-off message call is «unclear»; OK's refusals are one clear line each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from channels.ok import ChatTarget, CommentTarget, OkApi, OkBot, OkPublisher, ok_target
from emulators.ok import OkEmulator
from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.engine.conftest import at
from tests.fakes import FakeClock, RecordingNotifier
from tests.storage.conftest import fresh_engine
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload, Status
from workflow.model import Actor, ChannelItem, ItemKind, Network, Role
from workflow.ports import Answer, PublisherRegistry, PublishFailed, PublishLater
from workflow.rules import DEFAULT_RULES
from workflow.services import Services
from workflow.services.publishing import AMBIGUOUS, answer_of

NOW = at(2026, 12, 2, 9, 12)
OPERATOR = Actor(11, frozenset({Role.OPERATOR}), name="Мария Иванова")
OFFICE_HEAD = Actor(12, frozenset({Role.OFFICE_HEAD}))
HOUSING = Actor(13, frozenset({Role.UNIT_OFFICIAL}), frozenset({"housing"}))
CURATOR = Actor(14, frozenset({Role.REGION_CURATOR}))
TOPIC = "155000000001"
DRAFT = "Здравствуйте! Яму у дома 5 заделают до 10 декабря."


@pytest.fixture
async def emu() -> AsyncIterator[OkEmulator]:
    async with OkEmulator() as emulator:
        emulator.add_topic(TOPIC)
        yield emulator


@pytest.fixture
async def publisher(emu: OkEmulator) -> AsyncIterator[OkPublisher]:
    api = OkApi(
        emu.application_key, emu.application_secret, emu.user_token(), base_url=emu.base_url, timeout=5
    )
    bot = OkBot(emu.bot_token(), base_url=emu.base_url, timeout=5)
    yield OkPublisher(emu.group_id, api, bot)
    await api.close()
    await bot.close()


@pytest.fixture(params=["sqlite", "pg"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        yield engine


def services_on(engine: AsyncEngine, publisher: OkPublisher) -> Services:
    registry = PublisherRegistry()
    registry.register(publisher)
    clock = FakeClock(NOW)
    return Services(repo=SqlRepository(engine, clock=clock), clock=clock, calendar=WorkingCalendar(),
                    rules=DEFAULT_RULES, notifier=RecordingNotifier(), publishers=registry)  # fmt: skip


async def approved_case(s: Services, emu: OkEmulator) -> tuple[int, int, str]:
    """A citizen's OK comment's case, approved: its id, version and the comment's id."""
    comment = emu.comment(TOPIC, "577123", "Яма у дома 5", name="Иван Петров")
    item = ChannelItem(network=Network.OK, key=f"{TOPIC}:{comment.id}", kind=ItemKind.NEW, seen_at=NOW,
                       text=comment.text, link=f"https://ok.ru/group/{emu.group_id}/topic/{TOPIC}?comment={comment.id}",
                       author_id=577123)  # fmt: skip
    outcome = await s.take_in(item)
    assert outcome is not None
    case = outcome.case.id
    await s.act(case, Action.ROUTE, OPERATOR, payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.APPROVE_ROUTING, OFFICE_HEAD, payload=ActionPayload(units=("housing",)))
    await s.act(case, Action.INFO, HOUSING, payload=ActionPayload(text="Ремонт 10.12", unit="housing"))
    await s.act(case, Action.SUBMIT, OPERATOR, payload=ActionPayload(text=DRAFT))
    done = await s.act(case, Action.APPROVE, CURATOR)
    return case, done.case.version, comment.id


async def test_an_answer_goes_under_the_comment_as_the_group_once(
    engine: AsyncEngine, emu: OkEmulator, publisher: OkPublisher
) -> None:
    s = services_on(engine, publisher)
    case, version, comment_id = await approved_case(s, emu)
    await s.request_publication(case, OPERATOR, version)
    [claimed] = await s.claim_publications("run", 10)
    done = await s.publish_claimed(claimed)
    [(topic, answer)] = emu.answers()
    assert (topic, answer.reply_to_comment_id, answer.text) == (TOPIC, comment_id, DRAFT)
    assert done.state == "published" and done.link.endswith(f"?comment={answer.id}")
    assert (await s.case(case)).status == Status.ANSWERED.value
    calls = [m for m, p in emu.requests if m == "discussions.addDiscussionComment"]
    assert len(calls) == 1 and [p["as_admin"] for m, p in emu.requests if m == calls[0]] == ["true"]


async def test_a_crash_after_the_call_asks_the_operator_and_publish_again_posts_nothing_twice(
    engine: AsyncEngine, emu: OkEmulator, publisher: OkPublisher
) -> None:
    s = services_on(engine, publisher)
    case, version, comment_id = await approved_case(s, emu)
    await s.request_publication(case, OPERATOR, version)
    [claimed] = await s.claim_publications("dead-run", 10)
    await publisher.publish(answer_of(claimed))  # OK posted it; the run died before the row was marked
    assert len(emu.answers()) == 1
    # The next start: no idempotency key, so nobody knows whether it went; the operator is asked.
    assert await s.take_over_publications("new-run") == 1
    async with s.repo.reading() as tx:
        row = await tx.latest_publication(case)
    assert row is not None and row.state == "unclear"
    assert row.error == AMBIGUOUS.format(network="Одноклассники")
    # «Опубликовать» again: the topic is read first, the group's answer is there, nothing is posted again.
    current = (await s.case(case)).version
    await s.request_publication(case, OPERATOR, current)
    [again] = await s.claim_publications("new-run", 10)
    done = await s.publish_claimed(again)
    [(_topic, answer)] = emu.answers()
    assert done.state == "published" and done.link.endswith(f"?comment={answer.id}")
    assert answer.reply_to_comment_id == comment_id


async def test_a_comment_call_cut_off_after_posting_is_reconciled_not_retried(
    emu: OkEmulator, publisher: OkPublisher
) -> None:
    comment = emu.comment(TOPIC, "577123", "Яма")
    emu.faults["discussions.addDiscussionComment"] = ["drop"]
    link = await publisher.publish(Answer(1, f"{TOPIC}:{comment.id}", DRAFT, 7))
    [(_t, answer)] = emu.answers()
    assert link.endswith(f"?comment={answer.id}")
    # Cut off before OK did anything: not found, so «unclear» for the operator, not a blind second call.
    other = emu.comment(TOPIC, "577124", "Ещё яма")
    emu.faults["discussions.addDiscussionComment"] = ["hang"]
    with pytest.raises(PublishFailed) as failed:
        await publisher.publish(Answer(2, f"{TOPIC}:{other.id}", DRAFT, 8))
    assert failed.value.unclear and "проверьте" in failed.value.reason
    assert len(emu.answers()) == 1


async def test_a_message_goes_by_the_bot_api_and_a_cut_off_send_is_unclear(
    emu: OkEmulator, publisher: OkPublisher
) -> None:
    link = f"https://ok.ru/group/{emu.group_id}/messages?chat_id=chat:C3ec01"
    assert ok_target("mid:C3ec01.15ce", link) == ChatTarget("chat:C3ec01")
    assert ok_target(f"{TOPIC}:99", "") == CommentTarget(TOPIC, "99")
    sent = await publisher.publish(Answer(1, "mid:C3ec01.15ce", "Ответ", 3, item_link=link))
    assert [(m.chat_id, m.text) for m in emu.sent] == [
        ("chat:C3ec01", "Ответ")
    ] and "chat_id=chat:C3ec01" in sent
    emu.faults["messages"] = ["drop"]
    with pytest.raises(PublishFailed) as failed:
        await publisher.publish(Answer(2, "mid:C3ec01.15cf", "Ответ 2", 4, item_link=link))
    assert failed.value.unclear and len(emu.sent) == 2  # it went; only the operator can tell


async def test_wrong_signature_expired_token_and_rate_errors_are_one_clear_line(
    emu: OkEmulator, publisher: OkPublisher
) -> None:
    comment = emu.comment(TOPIC, "577123", "Яма")
    answer = Answer(1, f"{TOPIC}:{comment.id}", DRAFT, 7)
    wrong = OkApi(emu.application_key, "not-the-secret", emu.user_token("t2"), base_url=emu.base_url)
    with pytest.raises(PublishFailed) as bad_sig:
        await OkPublisher(emu.group_id, wrong, None).publish(answer)
    await wrong.close()
    assert bad_sig.value.alert and "подпись" in bad_sig.value.reason and "\n" not in bad_sig.value.reason
    emu.faults["discussions.addDiscussionComment"] = [8]
    with pytest.raises(PublishLater) as later:
        await publisher.publish(answer)
    assert "частоту" in later.value.reason
    emu.now += 31 * 86400  # a month without a call: the long-lived token lapsed
    with pytest.raises(PublishFailed) as expired:
        await publisher.publish(answer)
    assert expired.value.alert and "истёк" in expired.value.reason
    assert emu.answers() == []


def test_refusals_before_any_call(publisher: OkPublisher) -> None:
    assert publisher.refusal(Answer(1, f"{TOPIC}:5", "x" * 3001, 1)) is not None
    assert "3000" in (publisher.refusal(Answer(1, f"{TOPIC}:5", "x" * 3001, 1)) or "")
    assert publisher.refusal(Answer(1, f"{TOPIC}:5", "   ", 1)) == "текст ответа пуст"
    assert publisher.refusal(Answer(1, "../etc/passwd", "ответ", 1)) is not None
    assert publisher.refusal(Answer(1, "mid:C3ec01.15ce", "ответ", 1)) is not None  # no chat in the link
    assert publisher.refusal(Answer(1, f"{TOPIC}:5", "ответ", 1)) is None
