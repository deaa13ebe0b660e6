"""The durable map between aiogram's message ids and MAX's `mid`s (issue 15), for the MAX session.

aiogram names a message by (chat id, integer message id); MAX edits, deletes and replies by a string `mid`.
The session hands aiogram the message's `seq` and writes here which `mid` it stands for before aiogram sees the
id, so a card posted days ago, before any number of restarts, is still edited in place.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import SQLITE_BEGIN
from storage.outage import translated
from storage.tables import max_messages
from storage.writer import write_with


class MaxMessageMap:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def remember(self, rows: Iterable[tuple[int, int, str]]) -> None:
        """Write (chat id, message id, mid) rows in one transaction; a row already there takes the new mid."""
        values = [{"chat_id": c, "message_id": m, "mid": mid} for c, m, mid in dict.fromkeys(rows)]
        if not values:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(max_messages)
        stmt = stmt.on_conflict_do_update(
            index_elements=["chat_id", "message_id"], set_={"mid": stmt.excluded.mid}
        )
        # On SQLite through the file's writer: MAX answers are recorded while a burst's cards go out.
        async with translated():
            await write_with(self.engine, lambda conn: conn.execute(stmt, values))

    async def mid_of(self, chat_id: int, message_id: int) -> str | None:
        """The mid the message id stands for in the chat; None when it was never handed out."""
        async with translated(), self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            value = await conn.scalar(
                select(max_messages.c.mid).where(
                    tuple_(max_messages.c.chat_id, max_messages.c.message_id) == (chat_id, message_id)
                )
            )
            await conn.rollback()
        return None if value is None else str(value)
