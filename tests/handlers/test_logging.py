"""Logs for an administrator: one INFO line per business event with the case number; the libraries' chatter
(APScheduler's «Running job» every couple of seconds, aiogram, aiosqlite, SQLAlchemy) at WARNING unless
`otklik run --verbose`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.app import LIBRARY_LOGGERS, configure_logging
from bot.events import LoggedServices
from tests.handlers.conftest import INTAKE, OPERATOR, Harness, button
from views import texts


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in LIBRARY_LOGGERS}
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_library_chatter_is_silenced_unless_verbose() -> None:
    configure_logging()
    for name in ("apscheduler.executors.default", "aiogram.event", "aiosqlite", "sqlalchemy.engine"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    assert logging.getLogger("otklik.events").isEnabledFor(logging.INFO)
    assert logging.getLogger("bot.delivery").isEnabledFor(logging.INFO)
    assert not logging.getLogger("bot.delivery").isEnabledFor(logging.DEBUG)
    configure_logging(verbose=True)
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("bot.delivery").isEnabledFor(logging.DEBUG)


async def test_one_line_per_business_event(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    s = h.services
    logged = LoggedServices(
        repo=s.repo,
        clock=s.clock,
        calendar=s.calendar,
        rules=s.rules,
        notifier=s.notifier,
        people=s.people,
        reach=s.reach,
    )
    h.dp.workflow_data["services"] = logged
    caplog.set_level(logging.INFO)
    # INTAKE: an intake message is registered once its network is chosen under the bot's question.
    await h.intake("Во дворе не вывозят мусор")
    events = [r.getMessage() for r in caplog.records if r.name == "otklik.events"]
    assert events == [f"№ 1: зарегистрировано (intake), Сотрудник {OPERATOR}, id {OPERATOR}"]
    sent = [r.getMessage() for r in caplog.records if r.name == "bot.delivery" and "№ 1" in r.getMessage()]
    assert all(line.startswith("№ 1: отправлено") for line in sent)
    caplog.clear()
    card = await h.card(INTAKE, 1)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_SIGNIFICANT))
    lines = [r.getMessage() for r in caplog.records if r.name in ("otklik.events", "bot.delivery")]
    assert lines and all(line.startswith("№ 1") for line in lines), lines
    assert any(line.startswith("№ 1: «Доложить Главе района» — Сотрудник 11") for line in lines), lines
