"""A real `otklik run` process against the Telegram emulator in a process of its own, for the crash tests and
bench/crash_bench.py (which imports this module: nothing here needs pytest).

A `Rig` owns one folder: it starts the emulator (`python -m emulators.telegram`) with the demo's people and
chats, writes a config.toml pointing `telegram.api_base` at it and the database at a SQLite file in the folder
(or a PostgreSQL database of its own), and starts, kills and restarts `otklik run --config …` through the
console script beside `sys.executable`. Citizens' messages are pushed by the emulator itself (a burst at an exact
pace runs in its process), so a kill of the bot never slows the citizens down.

Nothing here sleeps to wait for the bot: every wait polls the emulator's control API or the database until a
condition holds, with a bound and a message naming what did not happen. The only sleeps are a scenario's own
pace (a kill at a chosen moment, a lock held for its seconds).

`Rig.figures()` compares message by message: each pushed message carries a unique tag, so a case is found by
the message's source id and a duplicate by its tag; a card is a bot message of a card chat whose text starts
with the card's title «Сообщение № N ·» (views/texts.py CARD_TITLE_HTML).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from bot.demo import (
    CHAT_TITLES,
    HEAD,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    PEOPLE,
    POS_CURATOR,
    REGION_CURATOR,
    SOCIAL_CHAT,
)
from emulators.telegram import DEFAULT_TOKEN

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
# The console script of this interpreter's environment, never whatever `otklik` is first on PATH.
OTKLIK = Path(sys.executable).with_name("otklik")
# Where a new open-source case keeps its card (bot/directory.py card_chats): the intake chat only; the office
# head gets a card once a routing waits for his approval, which no message of the rig's reaches.
CARD_CHATS: tuple[int, ...] = (INTAKE_CHAT,)
SOURCE = "intake"  # what an operator's post in the intake chat is registered as (handlers/intake.py)

_CARD = re.compile(r"^Сообщение № (\d+) ·")
# The reply to a ЦУР card registered at once (views/texts.py INTAKE_REGISTERED_AT_ONCE): the operator's notice
# that the message is in (delivery posts no «Новое сообщение» notice under the card just posted for it).
_REGISTERED = re.compile(r"^Зарегистрировано: сообщение № (\d+) ·")
_TAG = re.compile(r"\[(crash-[0-9a-f]+-\d+)\]")
_ALREADY = "Это сообщение уже зарегистрировано"  # views/texts.py ALREADY_REGISTERED: a message handled twice


class RigError(AssertionError):
    """A wait that ran out, or a process that misbehaved: says what did not happen."""


# ----------------------------------------------------------------------------------------- the emulator


class EmulatorProcess:
    """`python -m emulators.telegram` in a process of its own, driven over its control API."""

    def __init__(self, popen: subprocess.Popen[str], base_url: str, token: str) -> None:
        self.popen = popen
        self.base_url = base_url
        self.token = token

    @classmethod
    def start(
        cls, folder: Path, *, rate_limits: str = "off", token: str = DEFAULT_TOKEN, timeout: float = 30.0
    ) -> EmulatorProcess:
        """Start it with the demo's people and chats; returns once it printed its URL."""
        people = folder / "people.json"
        people.write_text(json.dumps(people_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        log = (folder / "emulator.log").open("w", encoding="utf-8")
        command = [sys.executable, "-m", "emulators.telegram", "--port", "0", "--config", str(people),
                   "--rate-limits", rate_limits, "--token", token, "--watch-stdin"]  # fmt: skip
        # stdin stays open as long as we live: the emulator exits when it closes (we died without stopping it).
        popen = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            env=_child_env(),
        )  # fmt: skip
        log.close()
        assert popen.stdout is not None
        url = _read_line(popen.stdout, timeout)
        if not url.startswith("http://"):
            popen.kill()
            popen.wait()
            tail = (folder / "emulator.log").read_text(encoding="utf-8")[-2000:]
            raise RigError(f"the emulator did not print its URL (got {url!r}):\n{tail}")
        return cls(popen, url.strip(), token)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()

    # --- the control API ---------------------------------------------------------------------------------

    def request(self, verb: str, path: str, body: Any = None, **query: Any) -> Any:
        url = f"{self.base_url}/_control/{path}"
        if query:
            url += "?" + "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url, data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise RigError(f"emulator control {verb} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "status")
        return result

    def push(self, chat_id: int, user_id: int, text: str, reply_to: int | None = None) -> int:
        body = {"chat_id": chat_id, "user_id": user_id, "text": text, "reply_to_message_id": reply_to}
        return int(self.request("POST", "messages", body)["message_id"])

    def burst(self, chat_id: int, user_id: int, texts: Sequence[str], rate: float | None) -> int:
        """Start pushing `texts` at `rate` a second (None: all at once, done when this returns); the burst id."""
        body = {"chat_id": chat_id, "user_id": user_id, "texts": list(texts), "rate": rate}
        return int(self.request("POST", "bursts", body)["id"])

    def burst_state(self, burst_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"bursts/{burst_id}")
        if result.get("error"):
            raise RigError(f"burst {burst_id} failed in the emulator: {result['error']}")
        return result

    def limits(self, limits: str | dict[str, float] | None) -> None:
        """Flood control from now on: None (none), "telegram" or RateLimits fields."""
        self.request("POST", "limits", {"limits": limits})

    def history(self, chat_id: int, *, from_bot: bool | None = None) -> list[dict[str, Any]]:
        flag = None if from_bot is None else int(from_bot)
        result: list[dict[str, Any]] = self.request("GET", "history", chat_id=chat_id, from_bot=flag)
        return result

    def calls(self, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "calls", method=method, since=since)
        return result


def people_json() -> dict[str, Any]:
    users = []
    for person in PEOPLE:
        first, _, last = person.name.partition(" ")
        users.append({"id": person.user_id, "first_name": first, "last_name": last or None})
    chats = [
        {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "title": title}
        for chat_id, title in CHAT_TITLES.items()
    ]
    return {"users": users, "chats": chats}


# ------------------------------------------------------------------------------------------- otklik run


class OtklikProcess:
    """One `otklik run --config …`: its output goes to files in the rig's folder."""

    def __init__(self, popen: subprocess.Popen[bytes], number: int, out: Path, err: Path) -> None:
        self.popen = popen
        self.number = number
        self.out = out
        self.err = err
        self.started_at = time.monotonic()
        self.exit_seconds: float | None = None  # from a signal to the exit, when `stop` measured it

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """SIGKILL, as `kill -9` or the OOM killer: nothing of the process runs after it."""
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a container manager stops it; waits at most `timeout` s, then SIGKILL (and says so)."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RigError(
                f"otklik run #{self.number} did not exit within {timeout:.0f} s of SIGTERM"
            ) from None
        self.exit_seconds = time.monotonic() - started
        return code

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after `timeout` s."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_text(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout_text(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------- database


class Database:
    """Reads what the bot stored, from the test's own connection (SQLite file or PostgreSQL database)."""

    url: str

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        """Drop what the rig created (a PostgreSQL database)."""

    def registered(self) -> list[tuple[str, int, str]]:
        """(source id, case id, text) of every message registered from the intake chat."""
        return [
            (str(s), int(c), str(t))
            for s, c, t in self.rows(
                f"SELECT source_id, case_id, text FROM messages WHERE source = '{SOURCE}'"
            )
        ]

    def pending_outbox(self) -> int:
        return int(self.rows("SELECT count(*) FROM outbox WHERE delivered_at IS NULL")[0][0])


class SqliteDatabase(Database):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA query_only = 1")  # a reader: it must never take the write lock from the bot
            try:
                return list(conn.execute(sql).fetchall())
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # the bot has not migrated yet
                raise
        finally:
            conn.close()


class PgDatabase(Database):
    """A database of its own on the server (asyncpg takes no search_path from a URL, so no scratch schema)."""

    def __init__(self, server_url: str) -> None:
        base, _, _ = server_url.rpartition("/")
        self.admin_dsn = _dsn(server_url)
        self.name = f"otklik_crash_{uuid.uuid4().hex[:10]}"
        self.url = f"{base}/{self.name}"
        self.dsn = _dsn(self.url)
        _pg(self.admin_dsn, f'CREATE DATABASE "{self.name}"')

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return _pg(self.dsn, sql)
        except Exception as exc:
            if "does not exist" in str(exc) and "relation" in str(exc):
                return []
            raise

    def close(self) -> None:
        _pg(self.admin_dsn, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _pg(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg  # only the PostgreSQL variant needs it

    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(go())


class SqliteLock:
    """Another process holding SQLite's exclusive lock on the database for `seconds` (the bot cannot write)."""

    SCRIPT = (
        "import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
        "conn.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "conn.execute('ROLLBACK')\n"
        "print('released', flush=True)\n"
    )

    def __init__(self, path: Path, seconds: float) -> None:
        self.seconds = seconds
        self.popen = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path), str(seconds)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.popen.stdout is not None
        line = _read_line(self.popen.stdout, 60.0)
        if line.strip() != "locked":
            self.popen.kill()
            raise RigError(f"the lock holder did not take the lock: {line!r}")
        self.locked_at = time.monotonic()

    def wait_released(self) -> None:
        code = self.popen.wait(timeout=self.seconds + 30)
        if code != 0:
            raise RigError(f"the lock holder ended with {code}")

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()


# --------------------------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """The comparison, message by message, after a run."""

    pushed: int
    kills: int
    lost: list[str] = field(default_factory=list)  # tags of pushed messages with no case
    duplicated_cases: int = 0  # cases beyond the first for one pushed message
    missing_cards: list[tuple[int, int]] = field(default_factory=list)  # (case, chat) without its card
    doubled_cards: dict[int, int] = field(default_factory=dict)  # chat -> card messages beyond the first
    missing_notices: int = 0  # cases without their «Зарегистрировано: сообщение № N» reply in the intake chat
    doubled_notices: int = 0
    already_registered: int = 0  # «уже зарегистрировано» replies: a message handled twice, visibly
    pending_updates: int = 0
    pending_outbox: int = 0
    refused_restarts: int = 0  # starts after a kill that exited 2 before one ran
    refused_seconds: float = 0.0  # how long restarts were refused in all

    @property
    def doubled_total(self) -> int:
        return sum(self.doubled_cards.values())

    def problems(self, *, doubled_per_chat: int | None = None, doubled_total: int | None = None) -> list[str]:
        """What breaks the goal: 0 lost, 0 duplicated cases, 0 missing cards, doubled cards within bounds
        (by default the issue's: at most one per chat per kill, and no more than the kills in all)."""
        per_chat = self.kills if doubled_per_chat is None else doubled_per_chat
        total = self.kills if doubled_total is None else doubled_total
        found = []
        if self.lost:
            found.append(f"{len(self.lost)} of {self.pushed} messages lost (e.g. {', '.join(self.lost[:5])})")
        if self.duplicated_cases:
            found.append(f"{self.duplicated_cases} duplicated cases")
        if self.missing_cards:
            sample = ", ".join(f"№ {c} in {chat}" for c, chat in self.missing_cards[:5])
            found.append(f"{len(self.missing_cards)} cards missing (e.g. {sample})")
        worst = {chat: n for chat, n in self.doubled_cards.items() if n > per_chat}
        if worst:
            found.append(f"doubled cards per chat over {per_chat}: {worst}")
        if self.doubled_total > total:
            found.append(f"{self.doubled_total} doubled cards in all, over {total}")
        return found

    def summary(self) -> str:
        return (
            f"pushed {self.pushed}, kills {self.kills}: lost {len(self.lost)}, duplicated cases "
            f"{self.duplicated_cases}, missing cards {len(self.missing_cards)}, doubled cards {self.doubled_total} "
            f"{dict(self.doubled_cards)}; notices missing {self.missing_notices}, doubled {self.doubled_notices}; "
            f"«уже зарегистрировано» replies {self.already_registered}; left: {self.pending_updates} updates "
            f"unconfirmed, {self.pending_outbox} outbox rows undelivered; restarts refused "
            f"{self.refused_restarts} times, {self.refused_seconds:.0f} s"
        )


@dataclass(frozen=True)
class Drain:
    drained: bool
    why: str  # how the wait ended
    ended_at: float  # time.monotonic() of the bot's last call when drained, of giving up otherwise


# -------------------------------------------------------------------------------------------------- rig


class Rig:
    """The emulator process, a config and a database in `folder`, and the `otklik run` processes on them."""

    def __init__(
        self,
        folder: Path,
        *,
        pg_server_url: str | None = None,
        emulator_limits: str = "off",
        bot_rate_limits: bool = False,
        card_chats: Sequence[int] = CARD_CHATS,
        extra_toml: str = "",
    ) -> None:
        """`emulator_limits`: the emulator's flood control (off, telegram or RateLimits JSON);
        `bot_rate_limits`: the bot's own pacing (`telegram.rate_limits`); `extra_toml`: appended to config."""
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.card_chats = tuple(card_chats)
        self.emulator_limits = emulator_limits
        self.bot_rate_limits = bot_rate_limits
        self.extra_toml = extra_toml
        self.tag = uuid.uuid4().hex[:8]
        self.db: Database = (
            PgDatabase(pg_server_url) if pg_server_url else SqliteDatabase(folder / "otklik.sqlite3")
        )
        self.emu: EmulatorProcess | None = None
        self.processes: list[OtklikProcess] = []
        self.pushed: dict[int, str] = {}  # message id in the intake chat -> its tag
        self.kills = 0
        self.refusals: list[str] = []  # what refused restarts said (see `start`)
        self.refused_seconds = 0.0
        self._bursts: list[int] = []

    # --- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> Rig:
        try:
            self.emu = EmulatorProcess.start(self.folder, rate_limits=self.emulator_limits)
            self.config = self.write_config()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for proc in self.processes:
            proc.kill()
        if self.emu is not None:
            self.emu.stop()
        self.db.close()

    @property
    def emulator(self) -> EmulatorProcess:
        assert self.emu is not None, "the rig is not entered"
        return self.emu

    @property
    def current(self) -> OtklikProcess:
        assert self.processes, "no otklik run started yet"
        return self.processes[-1]

    def write_config(self) -> Path:
        emu = self.emulator
        lines = [
            "# Written by tests/support/process.py for one crash run.",
            "[database]",
            f"url = {_toml(self.db.url)}",
            "[telegram]",
            f"token = {_toml(emu.token)}",
            f"api_base = {_toml(emu.base_url)}",
            f"rate_limits = {'true' if self.bot_rate_limits else 'false'}",
            "[chats]",
            f"intake = {INTAKE_CHAT}",
            f"office_head = {OFFICE_HEAD.user_id}",
            f"region_curator = {REGION_CURATOR.user_id}",
            f"pos_curator = {POS_CURATOR.user_id}",
            f"head = {HEAD.user_id}",
            "[chats.units]",
            f"housing = {HOUSING_CHAT}",
            f"social = {SOCIAL_CHAT}",
        ]
        for person in PEOPLE:
            lines += [
                "[[staff]]",
                f"telegram_id = {person.user_id}",
                f"name = {_toml(person.name)}",
                f"roles = {json.dumps(list(person.roles))}",
                f"units = {json.dumps(list(person.units))}",
            ]
        path = self.folder / "config.toml"
        path.write_text("\n".join(lines) + "\n" + self.extra_toml, encoding="utf-8")
        return path

    def spawn(self) -> OtklikProcess:
        """Start one more `otklik run` (without waiting for it)."""
        number = len(self.processes) + 1
        out, err = self.folder / f"run-{number}.out", self.folder / f"run-{number}.err"
        with out.open("wb") as out_file, err.open("wb") as err_file:
            popen = subprocess.Popen(
                [str(OTKLIK), "run", "--config", str(self.config)], cwd=self.folder, stdin=subprocess.DEVNULL,
                stdout=out_file, stderr=err_file, env=_child_env(),
            )  # fmt: skip
        proc = OtklikProcess(popen, number, out, err)
        self.processes.append(proc)
        return proc

    def start(self, timeout: float = 60.0, *, refused_for: float = 0.0) -> OtklikProcess:
        """Start `otklik run` and wait until it polls the emulator.

        `refused_for`: how long to keep starting it again while it refuses (exit 2: e.g. the lock of a killed
        run not yet taken over); the seconds spent so are added to `refused_seconds`, with the line it said.
        """
        began = time.monotonic()
        refused = False
        while True:
            polls = self._polls()
            proc = self.spawn()
            what = f"otklik run #{proc.number} polling"
            self.wait(lambda: self._polls() > polls or not proc.alive, what, timeout)  # noqa: B023
            if proc.alive:
                if refused:
                    self.refused_seconds += time.monotonic() - began
                return proc
            if proc.returncode != 2 or time.monotonic() - began >= refused_for:
                raise RigError(f"otklik run #{proc.number} exited with {proc.returncode}:\n{proc.tail()}")
            line = proc.stderr_text().strip().splitlines()
            self.refusals.append(line[-1] if line else "")
            refused = True
            time.sleep(1.0)  # a refused start is retried at a supervisor's pace, not in a tight loop

    def kill(self) -> None:
        """SIGKILL the running process."""
        self.current.kill()
        self.kills += 1

    def restart(self, timeout: float = 60.0, refused_for: float = 120.0) -> OtklikProcess:
        """After a kill: a new process on the same config and database (started again while it refuses)."""
        assert not self.current.alive, "the current process is still running"
        return self.start(timeout, refused_for=refused_for)

    def _polls(self) -> int:
        return int(self.emulator.status()["calls_by_method"].get("getupdates", 0))

    # --- waiting -----------------------------------------------------------------------------------------

    def wait(self, predicate: Callable[[], T], what: str, timeout: float, interval: float = 0.05) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise RigError(f"within {timeout:.0f} s: no {what}")
            time.sleep(interval)

    def idle_seconds(self, status: dict[str, Any] | None = None) -> float:
        """Seconds since the bot's last call other than getUpdates (0 while one is in progress)."""
        status = status or self.emulator.status()
        last = status["last_call_at"]
        return float(status["now"]) - float(last) if last is not None else float("inf")

    # --- citizens ----------------------------------------------------------------------------------------

    def citizen_texts(self, count: int, first: int = 0) -> list[str]:
        """Messages an operator posts in the intake chat, each with a tag that finds its case."""
        streets = ("Ленина", "Советская", "Мира", "Школьная", "Заречная", "Садовая")
        troubles = ("яма на дороге", "не вывозят мусор", "нет освещения", "упало дерево", "нет воды")
        # ЦУР IM cards stating their detection time: registered at once, no question (handlers/intake.py).
        detected = (datetime.now(ZoneInfo("Asia/Novosibirsk")) - timedelta(minutes=1)).strftime(
            "%d.%m.%Y %H:%M"
        )
        texts = []
        for n in range(first, first + count):
            texts.append(
                f"Житель ул. {streets[n % len(streets)]}, д. {n % 97 + 1}: {troubles[n % len(troubles)]}. "
                f"[crash-{self.tag}-{n}]\nВыявлено: {detected}"
            )
        return texts

    def burst(self, texts: Sequence[str], rate: float | None) -> int:
        """The operator posts `texts` in the intake chat at `rate` a second (the emulator keeps the pace)."""
        burst_id = self.emulator.burst(INTAKE_CHAT, OPERATOR.user_id, texts, rate)
        self._bursts.append(burst_id)
        if rate is None:
            self._record(burst_id, texts)
        return burst_id

    def burst_done(self, burst_id: int) -> bool:
        return bool(self.emulator.burst_state(burst_id)["done"])

    def wait_burst(self, burst_id: int, texts: Sequence[str], timeout: float) -> None:
        self.wait(lambda: self.burst_done(burst_id), f"end of burst {burst_id}", timeout, interval=0.1)
        self._record(burst_id, texts)

    def _record(self, burst_id: int, texts: Sequence[str]) -> None:
        state = self.emulator.burst_state(burst_id)
        ids = state["message_ids"]
        if len(ids) != len(texts):
            raise RigError(f"burst {burst_id}: {len(ids)} of {len(texts)} messages pushed")
        for message_id, text in zip(ids, texts, strict=True):
            found = _TAG.search(text)
            assert found is not None
            self.pushed[int(message_id)] = found.group(1)

    # --- draining and comparing --------------------------------------------------------------------------

    def complete(self) -> bool:
        """Every pushed message has its case, and every case its card in every card chat."""
        by_source = {source_id: case_id for source_id, case_id, _ in self.db.registered()}
        cases = []
        for message_id in self.pushed:
            case_id = by_source.get(f"{INTAKE_CHAT}:{message_id}")
            if case_id is None:
                return False
            cases.append(case_id)
        for chat_id in self.card_chats:
            shown = self._cards(chat_id)
            if any(shown[case_id] == 0 for case_id in cases):
                return False
        return True

    def drain(self, timeout: float, *, quiet: float = 1.5, stall: float | None = 20.0) -> Drain:
        """Wait until the bot is done: every update confirmed, the outbox empty, every message a case with its
        cards, and no call to the Bot API for `quiet` s (so a late duplicate would still show).

        Gives up early (drained False) when the bot has made no call for `stall` s since the wait began, with
        nothing unconfirmed: where a bot that lost work stays. At `timeout` in any case.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            status = self.emulator.status()
            now = time.monotonic()
            idle = self.idle_seconds(status)
            pending = int(status["pending_updates"])
            if pending == 0 and idle >= quiet and self.db.pending_outbox() == 0 and self.complete():
                return Drain(True, "done", now - min(idle, now - started))
            if stall is not None and pending == 0 and min(idle, now - started) >= stall:
                return Drain(False, f"stalled: no Bot API call for {stall:.0f} s, work missing", now)
            if now >= deadline:
                return Drain(False, f"not done within {timeout:.0f} s", now)
            time.sleep(0.2)

    def _cards(self, chat_id: int) -> Counter[int]:
        """case id -> how many card messages of it the chat holds."""
        found: Counter[int] = Counter()
        for msg in self.emulator.history(chat_id, from_bot=True):
            match = _CARD.match(msg["text"])
            if match is not None and not msg["deleted"]:
                found[int(match.group(1))] += 1
        return found

    def figures(self) -> Figures:
        emu = self.emulator
        registered = self.db.registered()
        by_source = {source_id: case_id for source_id, case_id, _ in registered}
        by_tag: Counter[str] = Counter()
        for _, _, text in registered:
            found = _TAG.search(text)
            if found is not None:
                by_tag[found.group(1)] += 1
        status = emu.status()
        fig = Figures(
            pushed=len(self.pushed), kills=self.kills, pending_updates=int(status["pending_updates"]),
            pending_outbox=self.db.pending_outbox(), refused_restarts=len(self.refusals),
            refused_seconds=self.refused_seconds,
        )  # fmt: skip
        cases = []
        for message_id, tag in sorted(self.pushed.items()):
            case_id = by_source.get(f"{INTAKE_CHAT}:{message_id}")
            if case_id is None:
                fig.lost.append(tag)
            else:
                cases.append(case_id)
            fig.duplicated_cases += max(0, by_tag[tag] - 1)
        for chat_id in self.card_chats:
            shown = self._cards(chat_id)
            extra = sum(max(0, shown[case_id] - 1) for case_id in cases)
            if extra:
                fig.doubled_cards[chat_id] = extra
            fig.missing_cards += [(case_id, chat_id) for case_id in cases if shown[case_id] == 0]
        notices: Counter[int] = Counter()
        for msg in emu.history(INTAKE_CHAT, from_bot=True):
            text = msg["text"]
            if (number := _REGISTERED.match(text)) is not None:
                notices[int(number.group(1))] += 1
            if text.startswith(_ALREADY):
                fig.already_registered += 1
        fig.missing_notices = sum(1 for case_id in cases if notices[case_id] == 0)
        fig.doubled_notices = sum(max(0, notices[case_id] - 1) for case_id in cases)
        return fig

    # --- the crash scenario ------------------------------------------------------------------------------

    def burst_with_kills(
        self,
        count: int,
        rate: float,
        kills: int,
        *,
        seed: int,
        min_up: float = 0.5,
        log: Callable[[str], None] | None = None,
    ) -> tuple[float, float]:
        """Push `count` messages at `rate` a second with the bot running, SIGKILL it `kills` times at seeded
        random moments of the burst and restart it each time; returns (when the burst ended, when the last
        process was up), both time.monotonic().

        A kill waits until the restarted process has polled for at least `min_up` s, so every kill hits a
        working process; the moments are drawn in the middle 80 % of the burst.
        """
        say = log or (lambda _: None)
        rng = random.Random(seed)
        duration = count / rate
        moments = sorted(rng.uniform(0.1, 0.9) * duration for _ in range(kills))
        if not self.processes or not self.current.alive:
            self.start()
        texts = self.citizen_texts(count, first=len(self.pushed))
        began = time.monotonic()
        burst_id = self.burst(texts, rate)
        up_at = time.monotonic()
        for moment in moments:
            at = max(began + moment, up_at + min_up)
            time.sleep(max(0.0, at - time.monotonic()))  # the scenario's own pace: kill at this moment
            if not self.current.alive:
                raise RigError(f"otklik run #{self.current.number} died by itself:\n{self.current.tail()}")
            self.kill()
            say(f"  kill -9 #{self.current.number} at {time.monotonic() - began:5.1f} s")
            self.restart()
            up_at = time.monotonic()
        self.wait_burst(burst_id, texts, timeout=duration + 60)
        return time.monotonic(), up_at


# ---------------------------------------------------------------------------------------------- helpers


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _child_env() -> dict[str, str]:
    """Our environment without OTKLIK_* overrides (they would beat the config file), unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTKLIK_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _read_line(stream: IO[str], timeout: float) -> str:
    """One line from a child's stdout within `timeout` s ('' if it closed or stayed silent)."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline()


@contextlib.contextmanager
def rig(folder: Path, **kwargs: Any) -> Iterator[Rig]:
    with Rig(folder, **kwargs) as r:
        yield r
