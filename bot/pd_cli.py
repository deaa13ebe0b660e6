"""`otklik pd export --author ID` and `otklik pd erase --author ID`: a citizen's request about his personal data
(152-ФЗ ст. 14 — what is kept about him and who saw it; ст. 21 — erasure), issue 14.

The author is named as workflow.retention.author_matches reads it: the network's id of the author, or the name
as the message gives it, whole. An erasure leaves the cases still in work whole and says so: their answer is
being prepared from the message (the office head may close one first). Each run is recorded as an event on every case it touched (`pd_exported`,
`pd_erased`) in the transaction that reads or erases, so nothing is handed out or erased unrecorded; an
author with no message kept changes nothing and is one Russian line (exit code 2).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from bot.app import SystemClock
from bot.database_choice import chosen_database
from bot.domain_setup import build_calendar
from bot.settings import Settings
from bot.startup import StartupError
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.personal_data import PersonalData
from storage.repository import SqlRepository
from workflow.model import Actor, Role
from workflow.ports import Clock, StorageUnavailable
from workflow.retention import BY_REQUEST

# Who acts: the system on the citizen's request, run by whoever ran the command (the history names it).
PD_ACTOR = Actor(user_id=0, roles=frozenset({Role.SYSTEM}), name="по запросу гражданина (otklik pd)")

T = TypeVar("T")


class PdError(Exception):
    """A request that changes nothing: printed as one line, exit code 2."""


def _author(value: str) -> str:
    author = " ".join(value.split())
    if not author:
        raise PdError("--author: укажите id автора в соцсети или его имя, как оно в сообщении")
    return author


def _unknown(author: str) -> PdError:
    return PdError(
        f"автор «{author}» не найден: сообщений с ним нет или его данные уже удалены; ничего не изменено"
    )


async def _with_pd(
    settings: Settings, db: str | None, clock: Clock, work: Callable[[PersonalData], Awaitable[T]]
) -> T:
    url = chosen_database(settings, db)
    try:
        await upgrade(url.render_as_string(hide_password=False))
        engine = create_engine(url)
        try:
            return await work(PersonalData(SqlRepository(engine, clock=clock)))
        finally:
            await engine.dispose()
    except (StorageUnavailable, SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StartupError(f"база данных недоступна ({first}); ничего не изменено, повторите позже") from None


def run_pd_export(settings: Settings, *, author: str, db: str | None, clock: Clock | None = None) -> int:
    """Print one JSON object: the author as asked, the instant, and everything kept about each of his cases."""
    query, now_of = _author(author), clock or SystemClock(build_calendar(settings).tz)

    async def work(pd: PersonalData) -> list[dict[str, object]]:
        found = await pd.cases_of_author(query)
        if not found.case_ids:
            raise _unknown(query)
        return await pd.export(found.case_ids, at=now_of.now(), actor=PD_ACTOR)

    exported = asyncio.run(_with_pd(settings, db, now_of, work))
    print(json.dumps({"author": query, "exported_at": now_of.now().isoformat(), "cases": exported},
                     ensure_ascii=False, indent=2))  # fmt: skip
    return 0


def _numbers(ids: Sequence[int]) -> str:
    return ", ".join(f"№ {i}" for i in ids)


def _still_open(ids: Sequence[int]) -> str:
    return (f"{_numbers(ids)} ещё в работе — их данные не удалены (без текста сообщения ответ не подготовить): "
            "закройте их (/close N причина) или дождитесь ответа и повторите команду")  # fmt: skip


def run_pd_erase(settings: Settings, *, author: str, db: str | None, clock: Clock | None = None) -> int:
    """Erase the author's personal data from every case of his whose handling ended; say which cases, and which
    are still in work (those are left whole: their answer is being prepared from the message)."""
    query, now_of = _author(author), clock or SystemClock(build_calendar(settings).tz)

    async def work(pd: PersonalData) -> tuple[list[int], tuple[int, ...]]:
        found = await pd.cases_of_author(query)
        if not found.case_ids:
            raise _unknown(query)
        if not found.ended_ids:
            raise PdError(f"у автора «{query}» {_still_open(found.open_ids)}; ничего не изменено")
        erased = await pd.erase(found.ended_ids, at=now_of.now(), actor=PD_ACTOR, reason=BY_REQUEST)
        if not erased:  # erased meanwhile by the retention job
            raise _unknown(query)
        return erased, found.open_ids

    erased, still_open = asyncio.run(_with_pd(settings, db, now_of, work))
    line = f"Персональные данные автора «{query}» удалены из сообщений: {_numbers(erased)}. Отметка — в истории каждого."
    print(line + (f" Сообщения {_still_open(still_open)}." if still_open else ""))
    return 0
