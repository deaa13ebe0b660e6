"""SQLite's writes through one writer: one thread, one stdlib sqlite3 connection, group commit.

Through aiosqlite every statement of a use case is a hop to the connection's thread and back to the event loop,
and every writer waits for SQLite's write lock on its own. Here a use case hands its whole transaction (one
closure, `SqlRepository.write`) to the writer's thread, which runs it to its end on a synchronous SQLAlchemy
connection (`sqlite+pysqlite`, the same file, PRAGMAs and type processing, so the same bytes are stored): the
transaction's `async def` methods never suspend there, so the thread drives the use case's coroutine itself.

Group commit: the thread takes every job waiting (up to `BATCH_CAP`), begins IMMEDIATE once, runs each job inside
its own SAVEPOINT (a job's exception undoes that job's work only and reaches its caller as raised, the others
still commit) and commits once. Only after the COMMIT is each caller answered (durable first, then confirmed);
a failing COMMIT fails every job of the batch. Reads stay on the async engine's pooled connections (WAL: they
never wait for the writer).

Transactions on the engine's own pooled connections (`SqlRepository.transaction`, whose body may await other
things) take a turn of the file from the writer (`exclusive_turn`): the writer hands it over between two batches
and waits until that transaction has ended. Without the turn, the two would contend for SQLite's write lock, and
a contended BEGIN IMMEDIATE waits in SQLite's busy handler, sleeping up to 100 ms a time: under a burst of
registrations both sides spent most of their time asleep.

Lifecycle: a writer starts with the first write on an engine and stops when the engine is disposed; jobs queued
by then still run, a write after that starts a new writer. A caller cancelled while its job runs does not stop
the job: it runs to its end in the thread (committed or not), only its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import SqliteSettings, sqlite_settings, sync_sqlite_engine
from workflow.ports import StorageUnavailable

log = logging.getLogger(__name__)

_T = TypeVar("_T")
BATCH_CAP = 64
"""Jobs at most in one transaction: bounds how long a batch holds the write lock and waits for its COMMIT."""

Body = Callable[[Connection, sqlite3.Connection], Awaitable[_T]]


class SuspendedWrite(RuntimeError):
    """A write's body awaited something other than its transaction: a bug, it cannot run in the writer."""


class _Job(Generic[_T]):
    __slots__ = ("body", "future", "loop")

    def __init__(self, body: Body[_T], loop: asyncio.AbstractEventLoop) -> None:
        self.body = body
        self.loop = loop
        self.future: asyncio.Future[_T] = loop.create_future()

    def run(self, conn: Connection, raw: sqlite3.Connection) -> _T:
        """Drive the body's coroutine to its end in this thread (it never suspends on the writer)."""
        steps = self.body(conn, raw).__await__()
        try:
            steps.send(None)
        except StopIteration as done:
            result: _T = done.value
            return result
        close = getattr(steps, "close", None)
        if close is not None:
            with contextlib.suppress(RuntimeError):  # it awaited again while closing
                close()
        raise SuspendedWrite(
            "a write's body awaited something other than its transaction; it was rolled back"
        )


class _Turn:
    """A turn of the file for a transaction on a pooled connection: granted by the writer's thread between two
    batches, which then waits until `released` is set."""

    __slots__ = ("granted", "loop", "released")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.granted: asyncio.Future[None] = loop.create_future()
        self.released = threading.Event()

    def grant(self) -> None:  # in the event loop
        if self.granted.done():  # its caller gave up waiting (cancelled): nothing to hand over
            self.released.set()
        else:
            self.granted.set_result(None)

    def fail(self, exc: BaseException) -> None:  # in the event loop
        if not self.granted.done():
            self.granted.set_exception(exc)


class NestedWrite(RuntimeError):
    """A write on the file while this task holds its turn: it would wait for itself (a bug)."""


# The writer whose file a task holds a turn of, and that task: a write or turn of its own on that file would
# deadlock. (A task started inside the turn inherits the variable; it is not the holder, so it just waits.)
_HOLDING: contextvars.ContextVar[tuple[SqliteWriter, asyncio.Task[Any] | None] | None] = contextvars.ContextVar(
    "otklik_sqlite_turn", default=None
)

Outcome = tuple[_Job[Any], Any, BaseException | None]


def _answer(outcomes: list[Outcome]) -> None:
    """Give each job's caller its result or exception: one wake-up of each event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, items)


def _settle(outcomes: list[Outcome]) -> None:
    for job, result, exc in outcomes:
        if job.future.done():  # its caller was cancelled: the job ran, its result has no taker
            continue
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)


class SqliteWriter:
    """One thread with one sqlite3 connection that runs every `SqlRepository.write` on one SQLite file."""

    def __init__(self, settings: SqliteSettings, *, batch_cap: int = BATCH_CAP) -> None:
        self._settings = settings
        self._batch_cap = batch_cap
        self._jobs: deque[_Job[Any] | _Turn] = deque()
        # Jobs someone is waiting on with a window held (a card's record, bot/sender.py): they go first, and a
        # batch under way commits early for them (the rest of it runs in the next transaction).
        self._urgent: deque[_Job[Any]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # transactions committed or tried, for tests and benches
        self.jobs_run = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def _submit(self, job: _Job[Any] | _Turn, *, urgent: bool = False) -> bool:
        with self._ready:
            if self._closed:
                return False
            if urgent and isinstance(job, _Job):
                self._urgent.append(job)
            else:
                self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="otklik-sqlite-writer", daemon=True)
                self._thread.start()
            self._ready.notify()
        return True

    def close(self, timeout: float | None = None) -> None:
        """Take no more jobs; the queued ones still run. Waits up to `timeout` seconds for the thread's end."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and timeout is not None and thread is not threading.current_thread():
            thread.join(timeout)

    async def aclose(self, timeout: float = 30.0) -> None:
        """`close`, waiting for the queued jobs without blocking the event loop."""
        self.close()
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, timeout)

    # --- the thread ---------------------------------------------------------------------------------------------

    def _serve(self) -> None:
        engine: Engine | None = None
        conn: Connection | None = None
        try:
            try:
                engine = sync_sqlite_engine(self._settings)
                conn = engine.connect()
                raw = conn.connection.driver_connection
                assert isinstance(raw, sqlite3.Connection)
            except Exception as exc:
                # Cannot open the file (an outage): this writer fails what it holds and ends; the next write
                # starts another one, which tries again.
                self._close_failing(exc)
                return
            while True:
                with self._ready:
                    while not self._jobs and not self._urgent and not self._closed:
                        self._ready.wait()
                    if not self._jobs and not self._urgent:
                        return  # closed, and nothing is left
                    head = None if self._urgent else self._jobs[0]
                    batch: list[_Job[Any]] = []
                    if head is None:
                        batch = [self._urgent.popleft() for _ in range(min(len(self._urgent), self._batch_cap))]
                    elif isinstance(head, _Turn):
                        self._jobs.popleft()
                    else:
                        while self._jobs and len(batch) < self._batch_cap:
                            job = self._jobs[0]
                            if isinstance(job, _Turn):
                                break  # its turn comes after this batch, in the order it asked
                            batch.append(job)
                            self._jobs.popleft()
                if isinstance(head, _Turn):
                    self._hand_over(head)
                else:
                    self._run_batch(conn, raw, batch, yielding=head is not None)
        except BaseException as exc:  # a bug in the writer itself: fail everything rather than drop it
            log.exception("SQLite writer failed")
            self._close_failing(exc)
            raise
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    log.exception("SQLite writer: closing its connection failed")
            if engine is not None:
                engine.dispose()

    def _hand_over(self, turn: _Turn) -> None:
        """Let the turn's transaction have the file, and wait until it has ended."""
        try:
            turn.loop.call_soon_threadsafe(turn.grant)
        except RuntimeError:  # its loop is closed: nobody is waiting any more
            return
        turn.released.wait()

    def _close_failing(self, exc: BaseException) -> None:
        with self._ready:
            self._closed = True
            left = [*self._urgent, *self._jobs]
            self._jobs.clear()
            self._urgent.clear()
        _forget(self)
        error = _unavailable(exc)
        _answer([(job, None, error) for job in left if isinstance(job, _Job)])
        for turn in (t for t in left if isinstance(t, _Turn)):
            with contextlib.suppress(RuntimeError):
                turn.loop.call_soon_threadsafe(turn.fail, error)

    def _run_batch(
        self, conn: Connection, raw: sqlite3.Connection, jobs: list[_Job[Any]], *, yielding: bool = False
    ) -> None:
        outcomes: list[Outcome] = []
        try:
            self._transactions(conn, raw, deque(jobs), outcomes, yielding=yielding)
        finally:
            _answer(outcomes)

    def _transactions(
        self, conn: Connection, raw: sqlite3.Connection, pending: deque[_Job[Any]], outcomes: list[Outcome],
        *, yielding: bool = False,
    ) -> None:
        """Run the jobs in one transaction (more only when SQLite dropped one); each job's outcome is added.

        `yielding`: when an urgent job arrives meanwhile, commit what ran and give the rest back to the front
        of the queue (the urgent job runs next, then they do)."""
        while pending:
            self.batches += 1
            try:
                raw.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # locked past busy_timeout, cannot read the file ...
                _rollback(raw)
                outcomes += [(job, None, _wrapped("BEGIN IMMEDIATE", exc)) for job in pending]
                return
            done: list[tuple[_Job[Any], Any]] = []
            lost: BaseException | None = None
            while pending:
                job = pending.popleft()
                self.jobs_run += 1
                # A job alone in its transaction needs no savepoint: its failure rolls the transaction back.
                alone = not done and not pending
                try:
                    if not alone:
                        raw.execute("SAVEPOINT job")
                    result = job.run(conn, raw)
                    if not alone:
                        raw.execute("RELEASE job")
                except BaseException as exc:
                    outcomes.append((job, None, exc))
                    if alone or not _undo_job(raw):
                        # SQLite rolled the whole transaction back (a full disk, an I/O error): the jobs run
                        # before this one lost their work too. The ones still waiting get a new transaction.
                        lost = exc
                        break
                    continue
                done.append((job, result))
                if yielding and pending and self._urgent:  # (a length read: no lock needed to look)
                    break
            if lost is not None:
                _rollback(raw)
                outcomes += [(job, None, _unavailable(lost)) for job, _ in done]
                continue
            try:
                raw.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(raw)
                outcomes += [(job, None, _wrapped("COMMIT", exc)) for job, _ in done]
                continue
            outcomes += [(job, result, None) for job, result in done]
            if pending and yielding and self._urgent:
                with self._ready:
                    self._jobs.extendleft(reversed(pending))
                return


def _undo_job(raw: sqlite3.Connection) -> bool:
    """Undo the current job's work (to its savepoint); False when the whole transaction is gone already."""
    if not raw.in_transaction:
        return False
    try:
        raw.execute("ROLLBACK TO job")
        raw.execute("RELEASE job")
    except sqlite3.Error:
        return False
    return True


def _rollback(raw: sqlite3.Connection) -> None:
    if raw.in_transaction:
        try:
            raw.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("SQLite writer: ROLLBACK failed")


def _wrapped(sql: str, exc: sqlite3.Error) -> BaseException:
    """The driver's error as SQLAlchemy would raise it (storage/outage.py sorts outages from faults)."""
    return DBAPIError.instance(sql, (), exc, sqlite3.Error)


def _unavailable(exc: BaseException) -> StorageUnavailable:
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    error = StorageUnavailable(f"SQLite writer: {type(exc).__name__}: {text[0] if text else ''}"[:300])
    error.__cause__ = exc
    return error


# --- one writer per engine -------------------------------------------------------------------------------------

_WRITERS: weakref.WeakKeyDictionary[Engine, SqliteWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()
_DISPOSE_WAIT_SECONDS = 2.0


def writer_for(engine: AsyncEngine) -> SqliteWriter:
    """The engine's writer (started with its first job); a new one after the engine was disposed."""
    settings = sqlite_settings(engine)
    if settings is None:
        raise ValueError("a SQLite writer needs an engine from storage.engine.create_engine on SQLite")
    key = engine.sync_engine
    with _WRITERS_LOCK:
        writer = _WRITERS.get(key)
        if writer is None or writer.closed:
            writer = SqliteWriter(settings)
            _WRITERS[key] = writer
            if not event.contains(key, "engine_disposed", _on_dispose):
                event.listen(key, "engine_disposed", _on_dispose)
            weakref.finalize(key, writer.close)
        return writer


async def run_write(engine: AsyncEngine, body: Body[_T], *, urgent: bool = False) -> _T:
    """Run `body` on the engine's writer (`SqliteWriter.run`), starting one if none runs. `urgent`: before the
    jobs waiting, the batch under way committing early for it (a caller holding a window open till it ends)."""
    for _ in range(
        3
    ):  # a writer closing just now (a dispose, a failed open) takes nothing more: the next one
        writer = writer_for(engine)
        _refuse_nested(writer)
        job: _Job[_T] = _Job(body, asyncio.get_running_loop())
        if writer._submit(job, urgent=urgent):
            return await job.future
    raise StorageUnavailable("SQLite writer stopped")


@contextlib.asynccontextmanager
async def exclusive_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the file for a transaction on the engine's pooled connections: the writer hands it over after the
    batch it is running and waits, so the transaction's BEGIN IMMEDIATE never contends with the writer."""
    loop = asyncio.get_running_loop()
    for _ in range(3):  # as run_write: a writer closing just now takes nothing more
        writer = writer_for(engine)
        _refuse_nested(writer)
        turn = _Turn(loop)
        if writer._submit(turn):
            break
    else:
        raise StorageUnavailable("SQLite writer stopped")
    try:
        await turn.granted
    except BaseException:
        turn.released.set()  # cancelled or failed while waiting: a grant coming later is handed straight back
        raise
    holding = _HOLDING.set((writer, asyncio.current_task()))
    try:
        yield
    finally:
        _HOLDING.reset(holding)
        turn.released.set()


def writes_through_writer(engine: AsyncEngine) -> bool:
    """Whether the engine's writes go through its writer: a SQLite file (an in-memory database is private to its
    connection, and `create_engine(sqlite_writer=False)` turns the writer off)."""
    settings = sqlite_settings(engine)
    return settings is not None and settings.shared and settings.writer


async def write_with(engine: AsyncEngine, work: Callable[[Connection], _T]) -> _T:
    """Run `work` (SQLAlchemy Core on a synchronous connection) in one writing transaction: on the writer's
    thread where the engine has one, else on a pooled connection (`run_sync`). Callers wrap it in
    storage.outage.translated, as every write."""
    if writes_through_writer(engine):

        async def body(conn: Connection, _raw: sqlite3.Connection) -> _T:
            return work(conn)

        return await run_write(engine, body)
    async with engine.begin() as conn:
        return await conn.run_sync(work)


def _refuse_nested(writer: SqliteWriter) -> None:
    held = _HOLDING.get()
    if held is not None and held[0] is writer and held[1] is asyncio.current_task():
        raise NestedWrite(
            "a write on the SQLite file inside a transaction that holds it would wait for itself"
        )


def current_writer(engine: AsyncEngine) -> SqliteWriter | None:
    """The engine's running writer, if a write started one."""
    with _WRITERS_LOCK:
        return _WRITERS.get(engine.sync_engine)


async def stop_writer(engine: AsyncEngine, timeout: float = 30.0) -> None:
    """Stop the engine's writer once its queued jobs have run (before `engine.dispose()` at shutdown)."""
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(engine.sync_engine, None)
    if writer is not None:
        await writer.aclose(timeout)


def _on_dispose(engine: Engine) -> None:
    # Disposal from anywhere (tests, CLIs): the queued jobs still run; a brief wait lets an idle thread end.
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(engine, None)
    if writer is not None:
        writer.close(_DISPOSE_WAIT_SECONDS)


def _forget(writer: SqliteWriter) -> None:
    with _WRITERS_LOCK:
        for key, value in list(_WRITERS.items()):
            if value is writer:
                del _WRITERS[key]
