"""`otklik backup PATH` while the bot writes, and the bot started from the copy (issue 14 item 6).

The copies are taken through the command itself (bot.cli.main, in a thread, as a second process would) while
the running app registers message after message: each copy is a whole database as of one commit (every case
with its message, its registration event and its terms), passes SQLite's integrity check, and the app's
startup path (OtklikApp.build: migrations, then long polling) starts from it and shows a case kept in it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from emulators.staff import visible_text
from tests.e2e.conftest import OFFICE_CHAT, OFFICE_HEAD, OPERATOR, World
from workflow.model import Actor, InboundMessage, Procedure, Role, Source

WRITES = 120


def consistent(path: Path) -> int:
    """The copy's cases, each whole; fails on a torn copy."""
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        cases = [r[0] for r in conn.execute("SELECT id FROM cases ORDER BY id")]
        with_message = {r[0] for r in conn.execute("SELECT case_id FROM messages")}
        registered = {r[0] for r in conn.execute("SELECT case_id FROM events WHERE action = 'register'")}
        with_terms = {r[0] for r in conn.execute("SELECT case_id FROM terms")}
    assert cases == list(range(1, len(cases) + 1))  # a prefix of the commits, nothing missing in between
    assert set(cases) == with_message == registered == with_terms
    return len(cases)


async def test_backups_while_writing_are_whole_and_the_bot_starts_from_one(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.start()
    first = await world.register_os("Во дворе дома 7 по ул. Мира не горят фонари.")
    operator = Actor(OPERATOR.user_id, frozenset({Role.OPERATOR}), name="Оператор")
    done = asyncio.Event()

    async def write() -> None:
        for n in range(WRITES):
            message = InboundMessage(Source.VK, f"wall-1_{n}", Procedure.OPEN_SOURCES, f"Сообщение {n}",
                                     world.clock.now(), author="Автор")  # fmt: skip
            await world.app.services.register(message, operator)
        done.set()

    writer = asyncio.create_task(write())
    copies: list[Path] = []
    while not done.is_set() or not copies:
        copy = tmp_path / f"copy-{len(copies)}.sqlite3"
        assert await asyncio.to_thread(main, ["backup", str(copy), "--db", str(world.db_path)]) == 0
        copies.append(copy)
    await writer
    out, err = capsys.readouterr()
    assert err == "" and out.count("Резервная копия записана: ") == len(copies)
    sizes = [consistent(c) for c in copies]
    assert sizes == sorted(sizes) and sizes[0] >= 1 and sizes[-1] <= WRITES + 1
    assert sizes[0] < WRITES + 1, "the first copy was taken while writing"
    final = tmp_path / "final.sqlite3"
    assert main(["backup", str(final), "--db", str(world.db_path)]) == 0
    assert consistent(final) == WRITES + 1
    await world.stop()

    # The bot starts from a copy (the database file is simply the copy) and knows the case kept in it.
    restored = World(world.emu, world.clock, final)
    await restored.start()
    try:
        before = len(world.emu.sent(OFFICE_CHAT))
        await restored.write(OFFICE_CHAT, OFFICE_HEAD, f"/case {first}")
        shown = [visible_text(m) for m in world.emu.sent(OFFICE_CHAT)[before:]]
        assert shown[0].startswith(f"Сообщение № {first} ·") and "ул. Мира" in shown[0]
    finally:
        await restored.stop()


def test_an_unwritable_or_taken_path_is_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "otklik.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY)")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    taken = tmp_path / "taken.sqlite3"
    taken.write_bytes(b"yesterday's copy")
    # A folder this user cannot write; root writes anywhere but in /proc.
    unwritable = locked if not os.access(locked, os.W_OK) else Path("/proc")
    try:
        cases = [
            (unwritable / "copy.sqlite3", "не удалось записать копию"),
            (tmp_path / "no-such-folder" / "copy.sqlite3", "папки"),
            (taken, "уже есть"),
            (db, "уже есть"),
        ]
        for target, words in cases:
            assert main(["backup", str(target), "--db", str(db)]) == 2
            out, err = capsys.readouterr()
            assert out == "" and err.count("\n") == 1 and words in err and "Traceback" not in err, err
        assert sorted(p.name for p in locked.iterdir()) == []
        assert taken.read_bytes() == b"yesterday's copy"
    finally:
        locked.chmod(0o700)


def test_postgresql_is_explained_not_copied(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTKLIK_DATABASE__URL", "postgresql+asyncpg://otklik@localhost/otklik")
    assert main(["backup", "/nonexistent/copy.dump"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "pg_dump" in err and "pg_restore" in err
